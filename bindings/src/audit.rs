//! The tamper-evident audit trail: its entries and the check of its hash chain.

use posmate_core::store as st;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[uniffi::export]
impl PosmateCompanion {
    /// Audit entries from `from_seq` on, at most `limit`.
    pub fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, PosmateError> {
        self.read(|c| {
            Ok(c.audit_entries(from_seq, limit)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Checks the audit trail's hash chain end to end.
    pub async fn verify_audit(&self) -> Result<AuditCheck, PosmateError> {
        self.call(|c| async move { Ok(c.verify_audit()?.into()) })
            .await
    }
}

/// One entry of the tamper-evident audit trail.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: u64,
    pub action: String,
    pub sn: Option<String>,
    /// The action's inputs as JSON (secrets are never recorded).
    pub inputs_json: String,
    /// `ok`, `failed`, `pending`, …
    pub outcome: String,
    pub detail_json: String,
    /// Hex SHA-256 chaining this entry to the one before.
    pub hash: String,
}

impl From<st::AuditEntry> for AuditEntry {
    fn from(a: st::AuditEntry) -> Self {
        AuditEntry {
            seq: a.seq,
            at_ms: a.event.at_ms,
            action: a.event.action,
            sn: a.event.sn,
            inputs_json: a.event.inputs.to_string(),
            outcome: a.event.outcome,
            detail_json: a.event.detail.to_string(),
            hash: hex(&a.hash),
        }
    }
}

/// The audit chain checked end to end.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditCheck {
    pub entries: u64,
    /// The last entry's hash (hex): keep it elsewhere to detect entries cut off the end.
    pub head: String,
}

impl From<st::AuditCheck> for AuditCheck {
    fn from(a: st::AuditCheck) -> Self {
        AuditCheck {
            entries: a.entries,
            head: hex(&a.head),
        }
    }
}
