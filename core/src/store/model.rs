//! The rows the store reads and writes. Plain data: every type is `Clone`, `Debug`,
//! `PartialEq` and serde-serialisable so the CLI can print it as JSON and the flows can keep
//! it in their state. Byte arrays serialise as lowercase hex; protocol types (`Record`,
//! `Totals`, `MaskedPan`) with posmate-proto's `serde` feature.

use posmate_proto::message::{Record, RecordKind, Totals};
use posmate_proto::pan::MaskedPan;
use serde::{Deserialize, Serialize};

/// A text value in the database or in JSON that names no known variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

/// `$name` in lowercase, as a `&'static str` computed at compile time: the stored text of
/// a [`text_enum!`] variant is its name, so it is written once.
macro_rules! lowercase_name {
    ($name:ident) => {{
        const NAME: &str = stringify!($name);
        const BYTES: [u8; NAME.len()] = {
            let mut bytes = [0u8; NAME.len()];
            let mut i = 0;
            while i < NAME.len() {
                bytes[i] = NAME.as_bytes()[i].to_ascii_lowercase();
                i += 1;
            }
            bytes
        };
        const TEXT: &str = match std::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("a Rust identifier is ASCII"),
        };
        TEXT
    }};
}

/// Defines a fieldless enum stored as text (its variants' names in lowercase), with
/// `ALL`, `as_str` and `FromStr`; serde spells the variants the same way, so the database
/// and JSON cannot disagree.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The text stored in the database (and used in JSON).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => lowercase_name!($variant),)*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName { what: $what, value: s.to_string() })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// Where a terminal is in its life with this phone.
    TerminalState ("terminal state") {
        Paired, Activating, Activated, Suspended, Decommissioning, Decommissioned
    }
}

/// What a bound card is for: one type shared with the acquirer's API.
pub use crate::acquirer::CardPurposeKind;

text_enum! {
    /// Where a flow stands. Running and paused flows are "open": resumed after a restart.
    FlowStatus ("flow status") {
        Running,
        /// Waiting on something outside the phone (e.g. the acquirer's review).
        Paused,
        Done, Failed, Cancelled
    }
}

text_enum! {
    /// Where one row of a fleet run stands in the run's journal.
    FleetRowState ("fleet row state") {
        /// Listed, not started.
        Pending,
        /// Started: a re-run resumes it (its activation flow resumes from its saved step).
        Running,
        /// The acquirer is reviewing its activation: a re-run polls the review.
        Paused,
        Done,
        /// Refused or interrupted; a re-run retries it only when asked to.
        Failed
    }
}

/// One row of a fleet run as its journal keeps it, keyed by the run (the hash of the
/// source the rows came from) and the terminal's SN. No secret is ever part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetJournalRow {
    /// The run: lowercase hex SHA-256 of the source (a CSV file's bytes).
    pub run_id: String,
    pub sn: String,
    /// Where the row is in the source (a CSV's line number), for people.
    pub line: u64,
    pub state: FleetRowState,
    /// The activation flow the row ran, once it has one.
    pub flow_id: Option<String>,
    /// Why the row failed: the error's stable code, its message and what to do next.
    pub error_code: Option<String>,
    pub reason: Option<String>,
    pub next_step: Option<String>,
    /// What the row produced (the activation's outcome), as JSON.
    pub result: Option<serde_json::Value>,
    /// How many times a run started this row.
    pub attempts: u32,
    pub updated_at_ms: u64,
}

/// A terminal's factory Ed25519 public key. Named so that the bindings' mirror of
/// [`TerminalRow`] can carry it in its own spelling (hex).
pub type DeviceKey = [u8; 32];

crate::mirrored! {
    (replay_terminal_row, derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize))
    /// A terminal this phone knows.
    pub struct TerminalRow {
        pub sn: String,
        /// The BLE peripheral it was last reached at.
        pub peripheral_id: Option<String>,
        pub model: String,
        pub firmware: String,
        /// The factory Ed25519 public key (verifies wipe receipts); public, not a secret.
        #[serde(with = "hex_array")]
        pub device_key: DeviceKey,
        pub state: TerminalState,
        pub merchant_no: Option<String>,
        pub terminal_no: Option<String>,
        pub activated_at_ms: Option<u64>,
        /// The terminal that replaced this one (its records were moved there).
        pub replaced_by: Option<String>,
        pub updated_at_ms: u64,
    }
}

/// How far a terminal's journal has been synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    #[serde(with = "hex_array")]
    pub epoch: [u8; 16],
    /// The highest seq stored; 0 before the first record.
    pub last_seq: u64,
}

/// What one `append_records` call did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    pub inserted: u64,
    /// Records already stored (seq at or below the cursor): a retransmitted page.
    pub skipped: u64,
    /// The cursor after the call.
    pub last_seq: u64,
}

/// A history search. Filters combine with AND; `None`/empty means "any".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// The terminal the records are filed under (after a replacement: the new terminal).
    pub sn: Option<String>,
    pub merchant_no: Option<String>,
    pub from_ms: Option<u64>,
    /// Exclusive.
    pub to_ms: Option<u64>,
    /// Empty = all kinds.
    pub kinds: Vec<RecordKind>,
    pub min_minor: Option<u64>,
    pub max_minor: Option<u64>,
    /// Page size, 1..=500; values outside are clamped into that range.
    pub limit: u32,
    /// `HistoryPage::next` of the previous page; `None` for the newest page.
    pub after: Option<HistoryCursor>,
}

impl Default for HistoryQuery {
    /// Everything, newest first, 50 per page.
    fn default() -> Self {
        HistoryQuery {
            sn: None,
            merchant_no: None,
            from_ms: None,
            to_ms: None,
            kinds: Vec::new(),
            min_minor: None,
            max_minor: None,
            limit: 50,
            after: None,
        }
    }
}

/// Where a history page ended: the sort key of its last (oldest) record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCursor {
    pub at_ms: u64,
    pub sn: String,
    pub seq: u64,
}

/// A record as stored on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The terminal it is filed under: the one it was synced from, or the one that replaced it.
    pub sn: String,
    /// The terminal whose journal it came from (kept across replacements).
    pub origin_sn: String,
    #[serde(with = "hex_array")]
    pub epoch: [u8; 16],
    pub merchant_no: Option<String>,
    pub record: Record,
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub records: Vec<StoredRecord>,
    /// Pass as `HistoryQuery::after` for the next page; `None` when this was the last.
    pub next: Option<HistoryCursor>,
}

/// A card bound at the acquirer for a merchant. Only the masked PAN is ever kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRow {
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurposeKind,
    pub masked_pan: MaskedPan,
    pub issuer: String,
    pub holder_name: String,
    /// "terminal" (read on the terminal) or "manual" (typed in).
    pub source: String,
    pub bound_at_ms: u64,
}

/// A settled batch: the terminal's totals next to the phone's own count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRow {
    pub sn: String,
    pub batch_no: u32,
    #[serde(with = "hex_array")]
    pub epoch: [u8; 16],
    pub first_seq: u64,
    pub last_seq: u64,
    pub terminal: Totals,
    pub phone: Totals,
    pub matched: bool,
    pub settled_at_ms: u64,
}

/// What happened, as the audit trail records it; the store chains it into an
/// [`AuditEntry`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at_ms: u64,
    pub action: String,
    pub sn: Option<String>,
    pub inputs: serde_json::Value,
    /// "ok", "failed", "pending", …
    pub outcome: String,
    pub detail: serde_json::Value,
}

/// A chained audit entry: `hash = SHA-256(prev_hash ‖ canonical JSON of the entry without
/// hash)`, with `prev_hash` all zeros for the first entry. Its JSON lists the event's
/// fields between `seq` and `prev_hash`, as entries always have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub event: AuditEvent,
    #[serde(with = "hex_array")]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex_array")]
    pub hash: [u8; 32],
}

/// The result of walking the whole audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheck {
    pub entries: u64,
    /// The last entry's hash (all zeros for an empty log). Remember it elsewhere (a backup,
    /// the acquirer) to detect entries cut off the end, which the chain alone cannot show.
    #[serde(with = "hex_array")]
    pub head: [u8; 32],
}

/// A long-running flow's persisted state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRow {
    pub id: String,
    pub kind: String,
    pub sn: Option<String>,
    pub step: String,
    pub state: serde_json::Value,
    pub status: FlowStatus,
    pub started_at_ms: u64,
    pub updated_at_ms: u64,
    pub error: Option<String>,
}

/// A backup archive the phone wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRow {
    pub id: String,
    pub path: String,
    #[serde(with = "hex_array")]
    pub sha256: [u8; 32],
    pub created_at_ms: u64,
    pub verified_at_ms: Option<u64>,
    /// How many records it holds.
    pub records: u64,
    /// The terminal it was made for (`None`: the whole phone).
    pub sn: Option<String>,
}

/// Lowercase hex for fixed-size byte arrays.
pub(crate) mod hex_array {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_hex(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        super::from_hex(&text)
            .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", N * 2)))
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are in phones' databases already: they must never change.
    #[test]
    fn text_enums_keep_their_stored_text_and_json_spelling() {
        let terminal: Vec<&str> = TerminalState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            terminal,
            [
                "paired",
                "activating",
                "activated",
                "suspended",
                "decommissioning",
                "decommissioned"
            ]
        );
        let flow: Vec<&str> = FlowStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(flow, ["running", "paused", "done", "failed", "cancelled"]);
        spelled_alike(TerminalState::ALL);
        spelled_alike(FlowStatus::ALL);
        let err = "Paired".parse::<TerminalState>().unwrap_err();
        assert_eq!(err.to_string(), "unknown terminal state 'Paired'");
    }

    /// Archives and `posmate audit --json` have always listed an entry's fields in this
    /// order; the event's fields sit flattened between `seq` and the hashes.
    #[test]
    fn audit_entry_json_keeps_its_shape() {
        let entry = AuditEntry {
            seq: 7,
            event: AuditEvent {
                at_ms: 1,
                action: "pair".into(),
                sn: None,
                inputs: serde_json::json!({}),
                outcome: "ok".into(),
                detail: serde_json::json!(null),
            },
            prev_hash: [0; 32],
            hash: [0xab; 32],
        };
        let json = serde_json::to_string(&entry).unwrap();
        let zeros = "00".repeat(32);
        let abs = "ab".repeat(32);
        assert_eq!(
            json,
            format!(
                "{{\"seq\":7,\"at_ms\":1,\"action\":\"pair\",\"sn\":null,\"inputs\":{{}},\
                 \"outcome\":\"ok\",\"detail\":null,\"prev_hash\":\"{zeros}\",\"hash\":\"{abs}\"}}"
            )
        );
        assert_eq!(serde_json::from_str::<AuditEntry>(&json).unwrap(), entry);
    }

    /// JSON spells each value as the database stores it, and the text parses back.
    fn spelled_alike<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + Serialize + std::fmt::Display,
        T: std::str::FromStr<Err = UnknownName>,
    {
        for &v in all {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{v}\""));
            assert_eq!(v.to_string().parse::<T>(), Ok(v));
        }
    }
}
