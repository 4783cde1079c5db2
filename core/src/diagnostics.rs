//! What the phone knows, gathered for someone diagnosing it (the CLI's support bundle, an
//! app's "send diagnostics"): terminals, flows, cards, recent records and the audit trail's
//! state — each read-only, and each as the views the phone already shows its merchant, which
//! never hold a key or a full card number. A flow's saved inputs (`FlowRow::state`) are left
//! out: they are for resuming, and diagnosing needs only where the flow stands.

use serde::Serialize;

use crate::store::{
    AuditCheck, AuditEntry, CardRow, FlowRow, FlowStatus, HistoryQuery, Store, StoreError,
    StoredRecord, TerminalRow,
};

/// How many of the latest flows, records and audit entries are included.
pub const RECENT: u32 = 50;

/// One flow, without its saved inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSummary {
    pub id: String,
    pub kind: String,
    pub sn: Option<String>,
    pub step: String,
    pub status: FlowStatus,
    pub started_at_ms: u64,
    pub updated_at_ms: u64,
    pub error: Option<String>,
}

impl From<FlowRow> for FlowSummary {
    fn from(f: FlowRow) -> Self {
        FlowSummary {
            id: f.id,
            kind: f.kind,
            sn: f.sn,
            step: f.step,
            status: f.status,
            started_at_ms: f.started_at_ms,
            updated_at_ms: f.updated_at_ms,
            error: f.error,
        }
    }
}

/// The phone's data as a diagnosis needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhoneDiagnostics {
    pub terminals: Vec<TerminalRow>,
    pub open_flows: Vec<FlowSummary>,
    /// The [`RECENT`] flows changed last, finished ones included.
    pub recent_flows: Vec<FlowSummary>,
    /// The cards bound for the merchants of the phone's terminals (masked numbers only).
    pub cards: Vec<CardRow>,
    /// The [`RECENT`] newest records (masked numbers only).
    pub recent_records: Vec<StoredRecord>,
    /// The audit chain walked whole, unless it is broken ...
    pub audit_check: Option<AuditCheck>,
    /// ... and then why.
    pub audit_error: Option<String>,
    /// The [`RECENT`] last audit entries.
    pub recent_audit: Vec<AuditEntry>,
}

/// Reads the diagnostics from `store` (in one read-only transaction).
pub fn collect(store: &Store) -> Result<PhoneDiagnostics, StoreError> {
    store.read(|tx| {
        let terminals = tx.terminals()?;
        let mut merchants: Vec<&str> = terminals
            .iter()
            .filter_map(|t| t.merchant_no.as_deref())
            .collect();
        merchants.sort_unstable();
        merchants.dedup();
        let mut cards = Vec::new();
        for m in merchants {
            cards.extend(tx.cards(m)?);
        }
        let recent_records = tx
            .history(&HistoryQuery {
                limit: RECENT,
                ..HistoryQuery::default()
            })?
            .records;
        let (audit_check, audit_error) = match tx.verify_audit() {
            Ok(check) => (Some(check), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let entries = audit_check.as_ref().map_or(0, |c| c.entries);
        // Entries are numbered from 1.
        let first = (entries + 1).saturating_sub(u64::from(RECENT)).max(1);
        let recent_audit = tx.audit(first, RECENT)?;
        Ok(PhoneDiagnostics {
            open_flows: tx.open_flows()?.into_iter().map(Into::into).collect(),
            recent_flows: tx
                .recent_flows(RECENT)?
                .into_iter()
                .map(Into::into)
                .collect(),
            terminals,
            cards,
            recent_records,
            audit_check,
            audit_error,
            recent_audit,
        })
    })
}
