//! `posmate scan`: the posmate terminals in range, strongest signal first.

use std::time::Duration;

use posmate_core::transport::{Candidate, ScanFilter};
use serde::Serialize;

use super::parse_duration;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::{list, Report};
use crate::transport_select::LinkKind;

/// List the posmate terminals in range.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate scan                       real terminals over Bluetooth (listens 5 s)
  posmate --sim scan                 the embedded simulated terminals
  posmate scan --sn 42A1 --timeout 10s
  posmate --json scan | jq '.terminals[0].id'")]
pub struct Args {
    /// Only terminals whose serial number ends with this (as printed on the label).
    #[arg(long, value_name = "SUFFIX")]
    pub sn: Option<String>,
    /// Only terminals whose advertised name contains this.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// How long to listen: 500ms, 5s, 1m [default: 5s over Bluetooth, less in simulation].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Serialize)]
pub struct ScanReport {
    pub transport: LinkKind,
    pub terminals: Vec<Found>,
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub id: String,
    pub local_name: String,
    pub sn_suffix: String,
    pub rssi: Option<i16>,
    pub lifecycle: &'static str,
    pub protocol_version: u8,
    pub pairing_open: bool,
    pub pairing_locked: bool,
}

impl From<Candidate> for Found {
    fn from(c: Candidate) -> Self {
        Found {
            id: c.peripheral_id.to_string(),
            local_name: c.local_name,
            sn_suffix: c.sn_suffix,
            rssi: c.rssi,
            lifecycle: c.lifecycle.name(),
            protocol_version: c.protocol_version,
            pairing_open: c.pairing_open,
            pairing_locked: c.pairing_locked,
        }
    }
}

impl Report for ScanReport {
    fn human(&self) -> String {
        list(
            &self.terminals,
            "no posmate terminal found",
            &["ID", "NAME", "SN", "RSSI", "STATE", "PAIRING"],
            |t| {
                let pairing = match (t.pairing_locked, t.pairing_open) {
                    (true, _) => "locked",
                    (false, true) => "open",
                    (false, false) => "-",
                };
                vec![
                    t.id.clone(),
                    t.local_name.clone(),
                    format!("…{}", t.sn_suffix),
                    t.rssi.map_or("?".into(), |r| format!("{r} dBm")),
                    t.lifecycle.into(),
                    pairing.into(),
                ]
            },
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let link = ctx.link().await?;
    let filter = ScanFilter {
        sn_suffix: args.sn,
        name_contains: args.name,
    };
    let found = link.scan(&ctx.out, filter, args.timeout).await?;
    ctx.out.report(&ScanReport {
        transport: link.kind,
        terminals: found.into_iter().map(Found::from).collect(),
    });
    Ok(Exit::Ok)
}
