//! The audit log: an append-only hash chain of what the phone did.
//!
//! `hash = SHA-256(prev_hash ‖ canonical JSON of the entry without hash)`; the first
//! entry's `prev_hash` is 32 zero bytes. Canonical JSON here: object keys sorted by their
//! UTF-8 bytes, no whitespace, strings and numbers as serde_json writes them; the entry's
//! keys are action, at_ms, detail, inputs, outcome, prev_hash (lowercase hex), seq, sn.
//! `inputs` and `detail` are stored as that canonical text and hashed exactly as stored, so
//! verification never depends on re-serialising parsed values.
//!
//! Triggers refuse UPDATE and DELETE on the table, so a change needs deliberate effort
//! (dropping a trigger, editing the file); the chain then shows where. Entries cut off the
//! end leave a valid shorter chain: [`AuditCheck::head`] exists so a caller can compare it
//! with a head remembered elsewhere.

use rusqlite::{params, OptionalExtension, Row};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::StoreError;
use super::model::{to_hex, AuditCheck, AuditEntry, AuditEvent};
use super::Tx;

const AUDIT_COLUMNS: &str = "seq, at_ms, action, sn, inputs, outcome, detail, prev_hash, hash";

impl Tx<'_> {
    /// Chains `draft` onto the log and returns the stored entry.
    /// Full card numbers in its free text are masked first (`redact`).
    pub fn append_audit(&self, draft: &AuditEvent) -> Result<AuditEntry, StoreError> {
        let draft = &super::redact::event(draft);
        let last: Option<(u64, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash_from(hash)?),
            None => (1, [0u8; 32]),
        };
        let inputs = canonical_json(&draft.inputs);
        let detail = canonical_json(&draft.detail);
        let hash = entry_hash(&HashedFields {
            seq,
            at_ms: draft.at_ms,
            action: &draft.action,
            sn: draft.sn.as_deref(),
            inputs: &inputs,
            outcome: &draft.outcome,
            detail: &detail,
            prev_hash: &prev_hash,
        });
        self.tx
            .prepare_cached(
                "INSERT INTO audit (seq, at_ms, action, sn, inputs, outcome, detail, \
                 prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                seq,
                draft.at_ms,
                draft.action,
                draft.sn,
                inputs,
                draft.outcome,
                detail,
                &prev_hash[..],
                &hash[..],
            ])?;
        Ok(AuditEntry {
            seq,
            event: draft.clone(),
            prev_hash,
            hash,
        })
    }

    /// Up to `limit` entries from `from_seq` on, in order.
    pub fn audit(&self, from_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2"
        ))?;
        let mut rows = stmt.query(params![from_seq, limit])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let (entry, _) = audit_row(row)?;
            out.push(entry);
        }
        Ok(out)
    }

    /// Walks the whole chain: seqs run 1, 2, 3… without a gap, each entry names its
    /// predecessor's hash, and each hash matches the entry's content. The first entry
    /// where that fails is `AuditBroken { seq }` (for a removed entry: its seq).
    pub fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq"))?;
        let mut rows = stmt.query([])?;
        let mut head = [0u8; 32];
        let mut entries = 0u64;
        while let Some(row) = rows.next()? {
            let expected = entries + 1;
            let broken = StoreError::AuditBroken { seq: expected };
            let Ok((entry, (inputs, detail))) = audit_row(row) else {
                return Err(broken);
            };
            let recomputed = entry_hash(&HashedFields {
                seq: entry.seq,
                at_ms: entry.event.at_ms,
                action: &entry.event.action,
                sn: entry.event.sn.as_deref(),
                inputs: &inputs,
                outcome: &entry.event.outcome,
                detail: &detail,
                prev_hash: &entry.prev_hash,
            });
            if entry.seq != expected || entry.prev_hash != head || entry.hash != recomputed {
                return Err(broken);
            }
            head = entry.hash;
            entries = expected;
        }
        Ok(AuditCheck { entries, head })
    }
}

/// The fields an entry's hash covers, `inputs` and `detail` as stored canonical text.
struct HashedFields<'a> {
    seq: u64,
    at_ms: u64,
    action: &'a str,
    sn: Option<&'a str>,
    inputs: &'a str,
    outcome: &'a str,
    detail: &'a str,
    prev_hash: &'a [u8; 32],
}

fn entry_hash(f: &HashedFields<'_>) -> [u8; 32] {
    let sn = f.sn.map_or_else(|| "null".to_string(), json_string);
    let json = format!(
        "{{\"action\":{},\"at_ms\":{},\"detail\":{},\"inputs\":{},\"outcome\":{},\
         \"prev_hash\":\"{}\",\"seq\":{},\"sn\":{}}}",
        json_string(f.action),
        f.at_ms,
        f.detail,
        f.inputs,
        json_string(f.outcome),
        to_hex(f.prev_hash),
        f.seq,
        sn,
    );
    Sha256::new()
        .chain_update(f.prev_hash)
        .chain_update(json.as_bytes())
        .finalize()
        .into()
}

fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// JSON with object keys sorted at every level and no whitespace, whatever order the
/// value's maps keep (serde_json's `preserve_order` feature may be on in the build).
pub(crate) fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(key));
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// An entry and the stored canonical text of its inputs and detail.
fn audit_row(r: &Row<'_>) -> Result<(AuditEntry, (String, String)), StoreError> {
    let inputs: String = r.get(4)?;
    let detail: String = r.get(6)?;
    let entry = AuditEntry {
        seq: r.get(0)?,
        event: AuditEvent {
            at_ms: r.get(1)?,
            action: r.get(2)?,
            sn: r.get(3)?,
            inputs: serde_json::from_str(&inputs)?,
            outcome: r.get(5)?,
            detail: serde_json::from_str(&detail)?,
        },
        prev_hash: hash_from(r.get(7)?)?,
        hash: hash_from(r.get(8)?)?,
    };
    Ok((entry, (inputs, detail)))
}

fn hash_from(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::bad_value("audit hash length", bytes.len()))
}
