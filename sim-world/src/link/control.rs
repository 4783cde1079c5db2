//! The views the control operations answer with (`docs/sim-link.md` §4): a terminal and its
//! screen as JSON, and the link settings. They are the sim's, shared by its server, the
//! embedded simulation and the clients that print them; the requests themselves (`ring-up`,
//! `drop`, …) are the CLI's, which parses them from its arguments too.

use posmate_proto::message::CardPurpose;
use posmate_sim::serve::{HostConfig, TerminalView};
use posmate_sim::terminal::Screen;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

/// The link settings as `link` reports them.
pub fn link_json(config: &HostConfig) -> Value {
    json!({
        "mtu": config.mtu,
        "latency_ms": config.latency_us / 1000,
        "drop_after_writes": config.drop_after_writes,
    })
}
