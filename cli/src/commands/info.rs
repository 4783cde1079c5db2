//! `posmate info`: a paired terminal's identity, state and journal position, read over the
//! encrypted session (reconnecting without a code).

use std::sync::Arc;
use std::time::Duration;

use posmate_core::session::{Session, SessionConfig, SessionError};
use posmate_core::terminals::{LinkError, Terminals};
use posmate_core::transport::manager::ReconnectPolicy;
use posmate_proto::message::{Info, KeyKind, Request, Response};
use serde::Serialize;

use super::{parse_duration, target};
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::{hex, Report};
use crate::transport_select::Link;

/// Show a paired terminal's info (model, firmware, state, keys, journal).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate info                       the paired terminal in range
  posmate info --sn SN2026000001
  posmate --sim --json info | jq .lifecycle")]
pub struct Args {
    /// The terminal whose serial number ends with this; without it, the first paired
    /// terminal in range (strongest signal first).
    #[arg(long, value_name = "SN")]
    pub sn: Option<String>,
    /// The terminal with this id (from `posmate scan`), without scanning.
    #[arg(long, conflicts_with = "sn")]
    pub id: Option<String>,
    /// How long to scan: 500ms, 5s [default: 5s over Bluetooth, less in simulation].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Serialize)]
pub struct InfoReport {
    pub id: String,
    pub sn: String,
    pub model: String,
    pub firmware: String,
    pub battery_pct: u8,
    pub lifecycle: &'static str,
    pub protocol_version: u8,
    pub terminal_no: Option<String>,
    pub merchant_no: Option<String>,
    /// The factory Ed25519 device key (public).
    pub device_key: String,
    pub key_slots: Vec<KeySlotView>,
    pub journal_epoch: String,
    pub journal_head: u64,
    pub batch_no: u32,
}

#[derive(Debug, Serialize)]
pub struct KeySlotView {
    pub slot: u8,
    pub kind: &'static str,
    pub kcv: String,
}

pub fn key_kind(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Tmk => "tmk",
        KeyKind::PinKey => "pin-key",
        KeyKind::MacKey => "mac-key",
        KeyKind::DataKey => "data-key",
    }
}

impl InfoReport {
    pub fn new(id: String, info: Info) -> Self {
        InfoReport {
            id,
            sn: info.sn,
            model: info.model,
            firmware: info.firmware,
            battery_pct: info.battery_pct,
            lifecycle: info.lifecycle.name(),
            protocol_version: info.protocol_version,
            terminal_no: info.terminal_no,
            merchant_no: info.merchant_no,
            device_key: hex(&info.device_key),
            key_slots: info
                .key_slots
                .iter()
                .map(|k| KeySlotView {
                    slot: k.slot,
                    kind: key_kind(k.kind),
                    kcv: hex(&k.kcv),
                })
                .collect(),
            journal_epoch: hex(&info.journal_epoch),
            journal_head: info.journal_head,
            batch_no: info.batch_no,
        }
    }
}

impl Report for InfoReport {
    fn human(&self) -> String {
        let none = || "-".to_owned();
        let slots = if self.key_slots.is_empty() {
            "none".to_owned()
        } else {
            self.key_slots
                .iter()
                .map(|k| format!("{}:{} (kcv {})", k.slot, k.kind, k.kcv))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "SN           {}\nmodel        {}\nfirmware     {}\nstate        {}\n\
             battery      {}%\nterminal no  {}\nmerchant no  {}\nkey slots    {}\n\
             journal      head {} (batch {}, epoch {})\ndevice key   {}\nid           {}\n",
            self.sn,
            self.model,
            self.firmware,
            self.lifecycle,
            self.battery_pct,
            self.terminal_no.clone().unwrap_or_else(none),
            self.merchant_no.clone().unwrap_or_else(none),
            slots,
            self.journal_head,
            self.batch_no,
            &self.journal_epoch,
            self.device_key,
            self.id,
        )
    }
}

/// Pairing and reconnecting for this phone, over `link`.
pub fn terminals(ctx: &Ctx, link: &Link) -> Result<Terminals, CliError> {
    Ok(Terminals::new(
        link.transport.clone(),
        ctx.keystore()?,
        SessionConfig::default(),
        ReconnectPolicy::default(),
    ))
}

/// Asks an open session for the terminal's info.
pub async fn get_info(session: &Session) -> Result<Info, CliError> {
    match session.request(Request::GetInfo).await? {
        Response::Info(info) => Ok(info),
        _ => Err(SessionError::UnexpectedResponse.into()),
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let link = ctx.link().await?;
    let candidates = target::candidates(
        ctx,
        link,
        args.sn.as_deref(),
        args.id.as_deref(),
        args.timeout,
    )
    .await?;
    let terminals = Arc::new(terminals(ctx, link)?);
    let spinner = ctx.out.spinner("connecting");
    let mut result = None;
    for candidate in &candidates {
        match terminals.connect(&candidate.id).await {
            // Not ours: without --sn, try the next terminal in range.
            Err(LinkError::Session(SessionError::NotPaired)) => continue,
            Err(e) => {
                result = Some(Err(e.into()));
                break;
            }
            Ok(session) => {
                let info = get_info(&session).await;
                session.close().await;
                result = Some(info.map(|info| (candidate.id.to_string(), info)));
                break;
            }
        }
    }
    spinner.finish_and_clear();
    let (id, info) = result.unwrap_or_else(|| {
        Err(CliError::new(
            Exit::Refused,
            "not-paired",
            "no terminal in range is paired with this phone",
        )
        .hint("pair one first: posmate pair"))
    })?;
    ctx.out.report(&InfoReport::new(id, info));
    Ok(Exit::Ok)
}
