//! The messages of the sim link (`docs/sim-link.md`): JSON lines over loopback TCP, so that a
//! process other than the one hosting simulated terminals can reach them as if over BLE.
//!
//! Only the link operations and the acquirer pass-through live here, because the core's
//! [`TcpTransport`](super::TcpTransport) needs them; the simulator's control operations
//! (ring up a sale, drop a link, …) are the host's business and are defined where it lives.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the sim-link protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Requests a client sends, one JSON object per line, tagged by `op`. Its `Debug` leaves
/// out the run's token and the acquirer body (an activation code, a typed card number).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum LinkRequest {
    /// Asks which server this is and which protocol it speaks; `token` is the sim's
    /// per-run token. The first line of every connection.
    Hello {
        #[serde(default = "protocol_version")]
        version: u32,
        #[serde(default)]
        token: String,
    },
    /// Turns the connection into a stream of [`Event::Adv`] reports.
    Scan,
    /// Connects to the terminal advertising as `id`; the phone asks for `mtu`. After the
    /// reply the connection carries [`LinkRequest::Write`] one way and notifications back.
    Connect {
        id: String,
        #[serde(default = "max_mtu")]
        mtu: u16,
    },
    /// One ATT write without response to RX: `data` in lowercase hex.
    Write { data: String },
    /// Ends the GATT connection from the phone's side.
    Disconnect,
    /// One request to the simulated acquirer's JSON API; `body` is that API's request.
    Acquirer { body: Value },
}

impl std::fmt::Debug for LinkRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkRequest::Hello { version, .. } => f
                .debug_struct("Hello")
                .field("version", version)
                .finish_non_exhaustive(),
            LinkRequest::Scan => f.write_str("Scan"),
            LinkRequest::Disconnect => f.write_str("Disconnect"),
            LinkRequest::Connect { id, mtu } => f
                .debug_struct("Connect")
                .field("id", id)
                .field("mtu", mtu)
                .finish(),
            LinkRequest::Write { data } => f
                .debug_struct("Write")
                .field("bytes", &(data.len() / 2))
                .finish_non_exhaustive(),
            LinkRequest::Acquirer { .. } => f.debug_struct("Acquirer").finish_non_exhaustive(),
        }
    }
}

fn protocol_version() -> u32 {
    PROTOCOL_VERSION
}

fn max_mtu() -> u16 {
    posmate_proto::gatt::MAX_MTU
}

/// The one reply every request gets (a `write` gets none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

impl Reply {
    pub fn ok(result: Value) -> Self {
        Reply {
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Reply {
            ok: false,
            result: None,
            error: Some(ReplyError {
                code: code.into(),
                message: message.into(),
            }),
        }
    }
}

/// Why the server refused a request: a stable kebab-case `code` and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyError {
    pub code: String,
    pub message: String,
}

/// The result of `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHello {
    pub protocol: u32,
    /// Name and version of the server, e.g. `posmate-sim/0.1.0`.
    pub server: String,
    /// How many terminals it hosts.
    pub terminals: u32,
}

/// The result of `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    pub mtu: u16,
}

/// What the server sends unasked on a scan or connect stream, tagged by `ev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "kebab-case")]
pub enum Event {
    /// One advertising report, as a BLE scanner receives it.
    Adv(AdvReport),
    /// One ATT notification on TX, `data` in hex, at `at_us` of link time (µs since the
    /// connection was made).
    Notify { data: String, at_us: u64 },
    /// The link went down; always the last line of a connect stream.
    Disconnected { reason: WireReason, at_us: u64 },
}

/// An advertising report: what a BLE scanner hands the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvReport {
    /// The peripheral's address, stable for the server's lifetime and across restarts
    /// with the same state file.
    pub id: String,
    #[serde(default)]
    pub local_name: Option<String>,
    #[serde(default)]
    pub rssi: Option<i16>,
    /// Advertised 128-bit service UUIDs, hyphenated.
    #[serde(default)]
    pub services: Vec<String>,
    /// Manufacturer-specific data (hex, after the identifier) by company identifier in
    /// decimal. (String keys: serde cannot read integer keys inside a tagged enum.)
    #[serde(default)]
    pub manufacturer_data: BTreeMap<String, String>,
}

/// Why a link went down, on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireReason {
    LocalRequest,
    RemoteClosed,
    LinkLost,
}

impl From<WireReason> for posmate_core::transport::DisconnectReason {
    fn from(r: WireReason) -> Self {
        match r {
            WireReason::LocalRequest => posmate_core::transport::DisconnectReason::LocalRequest,
            WireReason::RemoteClosed => posmate_core::transport::DisconnectReason::RemoteClosed,
            WireReason::LinkLost => posmate_core::transport::DisconnectReason::LinkLost,
        }
    }
}

/// Lowercase hex, the encoding of every byte string on the sim link.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Parses hex (either case); `None` for odd length or a non-hex digit.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A hyphenated UUID string for a 128-bit service UUID.
pub fn uuid_string(uuid: u128) -> String {
    uuid::Uuid::from_u128(uuid).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001ABff").unwrap(), bytes);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn debug_leaves_out_the_token_and_the_acquirer_body() {
        let hello = LinkRequest::Hello {
            version: 1,
            token: "tok-5ec12e7".into(),
        };
        let body = serde_json::json!({"activation_code": "ACT07001"});
        let call = LinkRequest::Acquirer { body };
        let shown = format!("{hello:?} {call:?}");
        assert!(
            shown.contains("Hello") && shown.contains("Acquirer"),
            "{shown}"
        );
        assert!(
            !shown.contains("tok-5ec12e7") && !shown.contains("ACT07001"),
            "{shown}"
        );
    }

    #[test]
    fn requests_and_events_have_the_documented_shape() {
        let w: LinkRequest = serde_json::from_str(r#"{"op":"write","data":"00ff"}"#).unwrap();
        assert_eq!(
            w,
            LinkRequest::Write {
                data: "00ff".into()
            }
        );
        let c: LinkRequest = serde_json::from_str(r#"{"op":"connect","id":"F0"}"#).unwrap();
        assert_eq!(
            c,
            LinkRequest::Connect {
                id: "F0".into(),
                mtu: 517
            }
        );
        let ev = Event::Disconnected {
            reason: WireReason::LinkLost,
            at_us: 5,
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"ev":"disconnected","reason":"link-lost","at_us":5}"#
        );
        let mut md = BTreeMap::new();
        md.insert("65535".to_string(), "504d".to_string());
        let adv = Event::Adv(AdvReport {
            id: "F0:00:00:00:00:01".into(),
            local_name: Some("POSMATE-000001".into()),
            rssi: Some(-50),
            services: vec![uuid_string(posmate_proto::gatt::SERVICE_UUID)],
            manufacturer_data: md,
        });
        let text = serde_json::to_string(&adv).unwrap();
        assert!(
            text.contains(r#""manufacturer_data":{"65535":"504d"}"#),
            "{text}"
        );
        assert!(
            text.contains("7a6d0001-5f3c-4c1e-9b1a-706f736d6174"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), adv);
        let reply = Reply::error("not-found", "no such terminal");
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"ok":false,"error":{"code":"not-found","message":"no such terminal"}}"#
        );
    }
}
