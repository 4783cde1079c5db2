//! Gathering an archive from the phone's store, and restoring one into it.
//!
//! Restore only adds what is missing and never rolls anything back: a terminal row is
//! replaced only by a newer one; a sync cursor is taken from the archive only for a
//! terminal the phone has none for; records go through the store's import, which adds only
//! the (terminal, epoch, seq) it does not hold; cards and settlements already present are
//! left as they are. So restoring the same archive twice, or an older archive after newer
//! syncs, changes no data (each restore is still recorded in the audit trail).
//!
//! The import keeps each record as the archive filed it — under its terminal, journal
//! epoch and origin — so records moved to a replacement terminal (`origin_sn != sn`) and
//! records of a terminal's earlier journal come back too, not only the current journal's.
//! A cursor moves only over records of its own epoch that follow it without a hole, so the
//! next sync neither fetches a restored record again nor collides with one.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

use super::{format, Archive, BackupError, CursorRow, Scope};
use crate::store::{
    AuditEntry, AuditEvent, HistoryQuery, Store, StoreError, StoredRecord, SyncCursor, Tx,
};

/// Audit entries read per query while collecting.
const AUDIT_PAGE: u32 = 1000;

crate::mirrored! {
    (replay_restore_summary, derive(Clone, Debug, Default, PartialEq, Eq, Serialize))
    /// What a restore changed.
    pub struct RestoreSummary {
        /// Terminal rows added, or replaced by the archive's newer row.
        pub terminals: u64,
        /// Terminals whose journal sync position was set from the archive.
        pub cursors: u64,
        pub records_inserted: u64,
        /// Records the phone already had.
        pub records_present: u64,
        pub cards: u64,
        pub settlements: u64,
        /// The archive's audit entries. They stay in the archive as evidence (the phone's own
        /// chain cannot absorb another chain); the restore's audit entry names their count and
        /// the hash of the last one.
        pub audit_entries: u64,
    }
}

/// Reads what `scope` covers from `store`, in one read transaction (a consistent snapshot).
///
/// `Scope::Terminal(sn)`: that terminal's row, sync cursor, the records filed under it,
/// its settlements and its merchant's cards. `Scope::Phone`: everything. Both carry the
/// whole audit trail, which is only verifiable whole. Records are oldest first.
pub fn collect(
    store: &Store,
    scope: &Scope,
    created_at_ms: u64,
    phone_id: Option<String>,
) -> Result<Archive, BackupError> {
    let (archive, expected) = store.read(|tx| {
        let terminals = match scope {
            Scope::Phone => tx.terminals()?,
            Scope::Terminal(sn) => tx.terminal(sn)?.into_iter().collect(),
        };
        let mut cursors = Vec::new();
        let mut settlements = Vec::new();
        for t in &terminals {
            if let Some(c) = tx.sync_cursor(&t.sn)? {
                cursors.push(CursorRow {
                    sn: t.sn.clone(),
                    epoch: c.epoch,
                    last_seq: c.last_seq,
                });
            }
            settlements.extend(tx.settlements(&t.sn)?);
        }
        let merchants: BTreeSet<&str> = terminals
            .iter()
            .filter_map(|t| t.merchant_no.as_deref())
            .collect();
        let mut cards = Vec::new();
        for merchant in &merchants {
            cards.extend(tx.cards(merchant)?);
        }
        let sn = match scope {
            Scope::Phone => None,
            Scope::Terminal(sn) => Some(sn.as_str()),
        };
        let expected = tx.record_count(sn)?;
        let archive = Archive {
            created_at_ms,
            phone_id,
            // Named only when every terminal in scope serves the same merchant.
            merchant_no: match merchants.len() {
                1 => merchants.first().map(|m| m.to_string()),
                _ => None,
            },
            scope: scope.clone(),
            records: all_records(tx, sn, expected)?,
            audit: audit_trail(tx)?,
            terminals,
            cursors,
            cards,
            settlements,
        };
        Ok((archive, expected))
    })?;
    // History pages are keyed on (at_ms, sn, seq); a tie across journal epochs could make a
    // page skip a record. A backup must not quietly lack one.
    let collected = archive.records.len() as u64;
    if collected != expected {
        return Err(BackupError::Incomplete {
            expected,
            collected,
        });
    }
    Ok(archive)
}

/// The whole audit trail, oldest first, read [`AUDIT_PAGE`] entries at a time.
fn audit_trail(tx: &Tx) -> Result<Vec<AuditEntry>, StoreError> {
    let mut audit = Vec::new();
    loop {
        let from = audit.last().map_or(1, |e: &AuditEntry| e.seq + 1);
        let page = tx.audit(from, AUDIT_PAGE)?;
        let done = page.len() < AUDIT_PAGE as usize;
        audit.extend(page);
        if done {
            return Ok(audit);
        }
    }
}

/// Every record filed under `sn` (or all of them), oldest first, read page by page.
fn all_records(tx: &Tx, sn: Option<&str>, expected: u64) -> Result<Vec<StoredRecord>, StoreError> {
    let mut records = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let mut query = HistoryQuery {
        sn: sn.map(str::to_owned),
        limit: 500,
        ..HistoryQuery::default()
    };
    loop {
        let page = tx.history(&query)?;
        records.extend(page.records);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    records.reverse();
    Ok(records)
}

/// Imports `archive` into `store` in one transaction, and records the restore in the audit
/// trail. A store error rolls the whole restore back.
pub fn restore_into(store: &Store, archive: &Archive) -> Result<RestoreSummary, BackupError> {
    let mut summary = RestoreSummary {
        audit_entries: archive.audit.len() as u64,
        ..RestoreSummary::default()
    };
    store.write(|tx| {
        for terminal in &archive.terminals {
            let newer = match tx.terminal(&terminal.sn)? {
                Some(present) => terminal.updated_at_ms > present.updated_at_ms,
                None => true,
            };
            if newer {
                tx.upsert_terminal(terminal)?;
                summary.terminals += 1;
            }
        }
        restore_journals(tx, archive, &mut summary)?;
        for card in &archive.cards {
            let present = tx
                .cards(&card.merchant_no)?
                .iter()
                .any(|c| c.binding_id == card.binding_id);
            if !present {
                tx.upsert_card(card)?;
                summary.cards += 1;
            }
        }
        for settlement in &archive.settlements {
            let present = tx
                .settlements(&settlement.sn)?
                .iter()
                .any(|s| s.batch_no == settlement.batch_no && s.epoch == settlement.epoch);
            if !present {
                tx.put_settlement(settlement)?;
                summary.settlements += 1;
            }
        }
        tx.append_audit(&audit_draft(archive, &summary))?;
        Ok(())
    })?;
    Ok(summary)
}

/// Sets the sync position of terminals the phone has none for, then imports every
/// archived record the phone does not hold (moved and earlier-epoch records included).
fn restore_journals(
    tx: &Tx,
    archive: &Archive,
    summary: &mut RestoreSummary,
) -> Result<(), StoreError> {
    // Cursors first: the import then moves each one on over the records that follow it.
    for c in &archive.cursors {
        let cursor = SyncCursor {
            epoch: c.epoch,
            last_seq: c.last_seq,
        };
        if tx.import_cursor(&c.sn, &cursor)? {
            summary.cursors += 1;
        }
    }
    let inserted = tx.import_records(&archive.records)?;
    summary.records_inserted = inserted;
    summary.records_present = archive.records.len() as u64 - inserted;
    Ok(())
}

fn audit_draft(archive: &Archive, summary: &RestoreSummary) -> AuditEvent {
    AuditEvent {
        at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        action: "restore".to_owned(),
        sn: match &archive.scope {
            Scope::Terminal(sn) => Some(sn.clone()),
            Scope::Phone => None,
        },
        inputs: json!({
            "created_at_ms": archive.created_at_ms,
            "phone_id": archive.phone_id,
            "merchant_no": archive.merchant_no,
            "scope": archive.scope,
        }),
        outcome: "ok".to_owned(),
        detail: json!({
            "terminals": summary.terminals,
            "cursors": summary.cursors,
            "records_inserted": summary.records_inserted,
            "records_present": summary.records_present,
            "cards": summary.cards,
            "settlements": summary.settlements,
            "archived_audit_entries": summary.audit_entries,
            "archived_audit_head": archive.audit.last().map(|e| format::hex(&e.hash)),
        }),
    }
}
