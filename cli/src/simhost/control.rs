//! The simulator's control operations on the sim link (`docs/sim-link.md` §4): what the
//! merchant does on the terminal itself (ring up a sale, hold a card to it), what its screen
//! shows, and fault knobs. They share the link's framing; only `posmate sim` serves them.

use posmate_proto::message::{CardPurpose, EntryMode};
use posmate_sim::serve::{Host, HostError, TerminalView};
use posmate_sim::terminal::{Card, CardOutcome, Sale, Screen, TxnKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Control requests, tagged by `op` like the link's. `sn` takes a serial number or a
/// terminal's address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Control {
    /// Every terminal with its state and screen.
    Terminals,
    /// One terminal's screen.
    Screen { sn: String },
    /// The merchant keys in a transaction and the customer's card is read.
    RingUp {
        sn: String,
        amount_minor: u64,
        #[serde(default = "default_currency")]
        currency: u16,
        #[serde(default = "default_pan")]
        pan: String,
        #[serde(default)]
        kind: KindArg,
        #[serde(default)]
        orig_seq: Option<u64>,
    },
    /// A card is held to the reader (answers a pending card read, or waits for one).
    PresentCard {
        sn: String,
        pan: String,
        #[serde(default = "default_expiry")]
        expiry: String,
    },
    /// Fault: the terminal's current link is lost now.
    Drop { sn: String },
    /// Signal strength and battery of one terminal.
    Set {
        sn: String,
        #[serde(default)]
        rssi: Option<i16>,
        #[serde(default)]
        battery: Option<u8>,
    },
    /// Latency and the drop fault for connections made from now on
    /// (`drop_after_writes: 0` turns the fault off).
    Link {
        #[serde(default)]
        latency_ms: Option<u64>,
        #[serde(default)]
        drop_after_writes: Option<u64>,
    },
}

/// ISO 4217 numeric for CNY, the simulated acquirer's currency.
pub const CNY: u16 = 156;
/// A test card number (Luhn-valid, Visa test range).
pub const TEST_PAN: &str = "4111111111111111";

fn default_currency() -> u16 {
    CNY
}

fn default_pan() -> String {
    TEST_PAN.into()
}

fn default_expiry() -> String {
    "1230".into()
}

/// Transaction kinds as the command line and the sim link name them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KindArg {
    #[default]
    Sale,
    Refund,
    PreAuth,
    PreAuthCompletion,
    BalanceInquiry,
    Void,
}

impl From<KindArg> for TxnKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Sale => TxnKind::Sale,
            KindArg::Refund => TxnKind::Refund,
            KindArg::PreAuth => TxnKind::PreAuth,
            KindArg::PreAuthCompletion => TxnKind::PreAuthCompletion,
            KindArg::BalanceInquiry => TxnKind::BalanceInquiry,
            KindArg::Void => TxnKind::Void,
        }
    }
}

/// A screen on the wire and in reports: `{"kind": "pairing-code", "code": "123456"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenView {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

impl ScreenView {
    pub fn of(screen: &Screen) -> Self {
        let kind = |k: &str| ScreenView {
            kind: k.into(),
            code: None,
            retry_after_ms: None,
            purpose: None,
        };
        match screen {
            Screen::Unactivated => kind("unactivated"),
            Screen::Idle => kind("idle"),
            Screen::Suspended => kind("suspended"),
            Screen::Wiped => kind("wiped"),
            Screen::PairingCode(code) => ScreenView {
                code: Some(code.clone()),
                ..kind("pairing-code")
            },
            Screen::Locked { retry_after_ms } => ScreenView {
                retry_after_ms: Some(*retry_after_ms),
                ..kind("locked")
            },
            Screen::PresentCard { purpose } => ScreenView {
                purpose: Some(
                    match purpose {
                        CardPurpose::Settlement => "settlement",
                        CardPurpose::Credit => "credit",
                    }
                    .into(),
                ),
                ..kind("present-card")
            },
        }
    }

    /// How the sim prints it: `pairing code 123456`.
    pub fn human(&self) -> String {
        match (
            self.kind.as_str(),
            &self.code,
            self.retry_after_ms,
            &self.purpose,
        ) {
            ("pairing-code", Some(code), _, _) => format!("pairing code {code}"),
            ("locked", _, Some(ms), _) => format!("locked (retry in {} s)", ms.div_ceil(1000)),
            ("present-card", _, _, Some(p)) => format!("present card ({p})"),
            (k, ..) => k.to_owned(),
        }
    }
}

/// A terminal on the wire and in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalJson {
    pub id: String,
    pub sn: String,
    pub local_name: String,
    pub rssi: i16,
    pub lifecycle: String,
    pub screen: ScreenView,
    pub connected: bool,
}

impl From<&TerminalView> for TerminalJson {
    fn from(v: &TerminalView) -> Self {
        TerminalJson {
            id: v.id.clone(),
            sn: v.sn.clone(),
            local_name: v.local_name.clone(),
            rssi: v.rssi,
            lifecycle: v.lifecycle.name().into(),
            screen: ScreenView::of(&v.screen),
            connected: v.connected,
        }
    }
}

/// The result of `screen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenReply {
    pub sn: String,
    pub screen: ScreenView,
}

/// Carries out `control` on `host` at `now` and returns the reply's result, or the error's
/// code and message.
pub fn apply(host: &mut Host, now: u64, control: Control) -> Result<Value, HostError> {
    match control {
        Control::Terminals => {
            let list: Vec<TerminalJson> = host.terminals(now).iter().map(Into::into).collect();
            Ok(json!({ "terminals": list }))
        }
        Control::Screen { sn } => {
            let view = find(host, now, &sn)?;
            Ok(serde_json::to_value(ScreenReply {
                sn: view.sn,
                screen: ScreenView::of(&view.screen),
            })
            .expect("serialises"))
        }
        Control::RingUp {
            sn,
            amount_minor,
            currency,
            pan,
            kind,
            orig_seq,
        } => {
            let sale = Sale {
                kind: kind.into(),
                amount_minor,
                currency,
                pan,
                orig_seq,
            };
            let booked = host.ring_up(&sn, now, &sale)?;
            let sn = find(host, now, &sn)?.sn;
            Ok(json!({
                "sn": sn,
                "seq": booked.seq,
                "status": format!("{:?}", booked.status).to_lowercase(),
                "masked_pan": booked.masked_pan,
            }))
        }
        Control::PresentCard { sn, pan, expiry } => {
            let card = Card {
                pan,
                expiry,
                entry: EntryMode::Tap,
            };
            let outcome = host.present_card(&sn, now, card)?;
            Ok(json!({ "outcome": match outcome {
                CardOutcome::Answered => "answered",
                CardOutcome::Held => "held",
            }}))
        }
        Control::Drop { sn } => Ok(json!({ "dropped": host.drop_link(&sn, now)? })),
        Control::Set { sn, rssi, battery } => {
            if let Some(rssi) = rssi {
                host.set_rssi(&sn, rssi)?;
            }
            if let Some(pct) = battery {
                host.set_battery(&sn, pct)?;
            }
            Ok(json!({}))
        }
        Control::Link {
            latency_ms,
            drop_after_writes,
        } => {
            let mut config = host.config();
            if let Some(ms) = latency_ms {
                config.latency_us = ms.saturating_mul(1000);
            }
            if let Some(n) = drop_after_writes {
                config.drop_after_writes = (n > 0).then_some(n);
            }
            host.set_config(config);
            Ok(link_json(&config))
        }
    }
}

/// The link settings as `link` reports them.
pub fn link_json(config: &posmate_sim::serve::HostConfig) -> Value {
    json!({
        "mtu": config.mtu,
        "latency_ms": config.latency_us / 1000,
        "drop_after_writes": config.drop_after_writes,
    })
}

fn find(host: &mut Host, now: u64, who: &str) -> Result<TerminalView, HostError> {
    host.terminals(now)
        .into_iter()
        .find(|t| t.sn == who || t.id == who)
        .ok_or_else(|| HostError::NotFound(who.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_requests_parse_with_defaults() {
        let c: Control =
            serde_json::from_str(r#"{"op":"ring-up","sn":"SN1","amount_minor":1250}"#).unwrap();
        assert_eq!(
            c,
            Control::RingUp {
                sn: "SN1".into(),
                amount_minor: 1250,
                currency: CNY,
                pan: TEST_PAN.into(),
                kind: KindArg::Sale,
                orig_seq: None
            }
        );
        let v = ScreenView::of(&Screen::PairingCode("012345".into()));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"kind":"pairing-code","code":"012345"}"#
        );
        assert_eq!(v.human(), "pairing code 012345");
        let locked = ScreenView::of(&Screen::Locked {
            retry_after_ms: 1_500,
        });
        assert_eq!(locked.human(), "locked (retry in 2 s)");
    }
}
