//! Synced journal records, the sync cursor, history search, batch totals and settlements.
//!
//! The phone keeps an exact copy of each terminal's journal: records arrive in seq order,
//! each (terminal, epoch, seq) once. The cursor says how far the copy goes, so a page that
//! is sent again (the answer was lost with the link) is skipped rather than doubled, and a
//! page that would leave a hole is refused. A different epoch means the terminal started a
//! new journal; its seqs restart at 1 and are only accepted after an explicit
//! [`Tx::reset_cursor`].

use posmate_proto::message::{Record, RecordKind, RecordStatus, Totals};
use posmate_proto::pan::MaskedPan;
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row};

use super::error::StoreError;
use super::model::{
    AppendOutcome, HistoryCursor, HistoryPage, HistoryQuery, SettlementRow, StoredRecord,
    SyncCursor,
};
use super::Tx;

/// History page sizes accepted; others are clamped into this range.
const MAX_PAGE: u32 = 500;

/// The columns and placeholders [`insert_record`] binds, after `INSERT` or `INSERT OR IGNORE`.
const INTO_RECORDS: &str = "INTO records (sn, epoch, seq, origin_sn, merchant_no, batch_no, \
    kind, amount_minor, currency, at_ms, masked_pan, auth_code, rrn, status, orig_seq) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const RECORD_COLUMNS: &str = "sn, origin_sn, epoch, merchant_no, seq, batch_no, kind, \
    amount_minor, currency, at_ms, masked_pan, auth_code, rrn, status, orig_seq";

impl Tx<'_> {
    /// How far `sn`'s journal is synced; `None` before its first sync.
    pub fn sync_cursor(&self, sn: &str) -> Result<Option<SyncCursor>, StoreError> {
        let row = self
            .tx
            .prepare_cached("SELECT epoch, last_seq FROM sync_cursors WHERE sn = ?1")?
            .query_row([sn], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, u64>(1)?)))
            .optional()?;
        row.map(|(epoch, last_seq)| {
            Ok(SyncCursor {
                epoch: epoch_from(epoch)?,
                last_seq,
            })
        })
        .transpose()
    }

    /// Appends a page of `sn`'s journal (see the module documentation for the rules).
    ///
    /// No cursor yet: one is created with `epoch`. A cursor with another epoch:
    /// `JournalRewound`. Records at or below the cursor are skipped; the rest must run
    /// on from it without a hole, else `JournalGap` and nothing is stored.
    pub fn append_records(
        &self,
        sn: &str,
        merchant_no: Option<&str>,
        epoch: [u8; 16],
        records: &[Record],
    ) -> Result<AppendOutcome, StoreError> {
        let cursor = self.sync_cursor(sn)?;
        let last_seq = match &cursor {
            Some(c) if c.epoch != epoch => {
                return Err(StoreError::JournalRewound { sn: sn.to_string() })
            }
            Some(c) => c.last_seq,
            None => 0,
        };
        let fresh: Vec<&Record> = records.iter().filter(|r| r.seq > last_seq).collect();
        let skipped = (records.len() - fresh.len()) as u64;
        for (expected, record) in (last_seq + 1..).zip(&fresh) {
            if record.seq != expected {
                return Err(StoreError::JournalGap {
                    sn: sn.to_string(),
                    expected,
                    got: record.seq,
                });
            }
        }

        let mut insert = self.tx.prepare_cached(&format!("INSERT {INTO_RECORDS}"))?;
        for r in &fresh {
            insert_record(&mut insert, sn, &epoch, sn, merchant_no, r)?;
        }
        let mut new_last = last_seq + fresh.len() as u64;
        if cursor.is_none() || new_last != last_seq {
            self.put_cursor(sn, &epoch, new_last)?;
        }
        // Records a restore already put past this page (see `import_records`): the cursor
        // runs on over them. One primary-key probe per page when there are none.
        let ahead: Option<i64> = self
            .tx
            .prepare_cached("SELECT 1 FROM records WHERE sn = ?1 AND epoch = ?2 AND seq = ?3")?
            .query_row(params![sn, &epoch[..], new_last + 1], |r| r.get(0))
            .optional()?;
        if ahead.is_some() {
            new_last = self.advance_cursor(sn, epoch)?;
        }
        Ok(AppendOutcome {
            inserted: fresh.len() as u64,
            skipped,
            last_seq: new_last,
        })
    }

    /// Starts syncing `sn`'s journal afresh under `epoch` (after the merchant confirmed
    /// that the terminal began a new journal). Records already stored stay.
    pub fn reset_cursor(&self, sn: &str, epoch: [u8; 16]) -> Result<(), StoreError> {
        self.put_cursor(sn, &epoch, 0)
    }

    fn put_cursor(&self, sn: &str, epoch: &[u8; 16], last_seq: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO sync_cursors (sn, epoch, last_seq) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (sn) DO UPDATE SET epoch = excluded.epoch, \
                 last_seq = excluded.last_seq",
            )?
            .execute(params![sn, &epoch[..], last_seq])?;
        Ok(())
    }

    /// Sets `sn`'s cursor from a backup, but only if the terminal has none yet (a cursor the
    /// phone already keeps is never rolled back). Returns whether it was set.
    pub fn import_cursor(&self, sn: &str, cursor: &SyncCursor) -> Result<bool, StoreError> {
        if self.sync_cursor(sn)?.is_some() {
            return Ok(false);
        }
        self.put_cursor(sn, &cursor.epoch, cursor.last_seq)?;
        Ok(true)
    }

    /// Adds the records of a backup that the phone does not hold yet (same terminal, epoch
    /// and seq), keeping each one's terminal, origin and merchant. Returns how many were
    /// added. A cursor with the same epoch then moves up over the records now stored
    /// without a hole after it, so the next sync neither fetches them again nor collides
    /// with them.
    pub fn import_records(&self, records: &[StoredRecord]) -> Result<u64, StoreError> {
        let mut insert = self
            .tx
            .prepare_cached(&format!("INSERT OR IGNORE {INTO_RECORDS}"))?;
        let mut inserted = 0u64;
        let mut touched: Vec<(&str, [u8; 16])> = Vec::new();
        for s in records {
            let n = insert_record(
                &mut insert,
                &s.sn,
                &s.epoch,
                &s.origin_sn,
                s.merchant_no.as_deref(),
                &s.record,
            )?;
            if n > 0 {
                inserted += 1;
                if !touched.contains(&(s.sn.as_str(), s.epoch)) {
                    touched.push((s.sn.as_str(), s.epoch));
                }
            }
        }
        for (sn, epoch) in touched {
            self.advance_cursor(sn, epoch)?;
        }
        Ok(inserted)
    }

    /// Moves `sn`'s cursor, if it is on `epoch`, to the end of the run of stored records
    /// that follows it without a hole; returns the cursor's seq (0 without a cursor).
    fn advance_cursor(&self, sn: &str, epoch: [u8; 16]) -> Result<u64, StoreError> {
        let Some(cursor) = self.sync_cursor(sn)? else {
            return Ok(0);
        };
        if cursor.epoch != epoch {
            return Ok(cursor.last_seq);
        }
        let mut last = cursor.last_seq;
        {
            let mut stmt = self.tx.prepare_cached(
                "SELECT seq FROM records WHERE sn = ?1 AND epoch = ?2 AND seq > ?3 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![sn, &epoch[..], last])?;
            while let Some(row) = rows.next()? {
                let seq: u64 = row.get(0)?;
                if seq != last + 1 {
                    break;
                }
                last = seq;
            }
        }
        if last != cursor.last_seq {
            self.put_cursor(sn, &epoch, last)?;
        }
        Ok(last)
    }

    /// One page of records matching `q`, newest first, keyset-paged on (at_ms, sn, seq):
    /// pages neither repeat nor skip records while records are added between them.
    ///
    /// Two records under one terminal with the same at_ms and seq (possible only across
    /// journal epochs, at the very same millisecond) share a key; a page boundary falling
    /// exactly between them would skip the second.
    pub fn history(&self, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (sql, args) = history_sql(q, limit);
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut records = Vec::with_capacity(limit as usize + 1);
        while let Some(row) = rows.next()? {
            records.push(stored_record(row)?);
        }
        let next = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| HistoryCursor {
                at_ms: r.record.at_ms,
                sn: r.sn.clone(),
                seq: r.record.seq,
            })
        } else {
            None
        };
        Ok(HistoryPage { records, next })
    }

    /// The phone's totals of batch `batch_no` of `sn`'s journal `epoch`, computed as the
    /// terminal does (protocol.md §6.1): only approved records count; sales and pre-auth
    /// completions are sales; refunds; voids separately; pre-auths and balance inquiries
    /// not at all. Returns (totals, first_seq, last_seq, number of records of any kind and
    /// status). An empty batch gives `first_seq = last_seq + 1`, `last_seq` being the last
    /// record before it, as the terminal reports.
    pub fn batch_totals(
        &self,
        sn: &str,
        epoch: [u8; 16],
        batch_no: u32,
    ) -> Result<(Totals, u64, u64, u64), StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT seq, kind, status, amount_minor FROM records \
             WHERE sn = ?1 AND epoch = ?2 AND batch_no = ?3",
        )?;
        let mut rows = stmt.query(params![sn, &epoch[..], batch_no])?;
        let mut totals = Totals::default();
        let (mut first, mut last, mut count) = (u64::MAX, 0u64, 0u64);
        while let Some(row) = rows.next()? {
            let seq: u64 = row.get(0)?;
            let kind = kind_from(row.get(1)?)?;
            let status = status_from(row.get(2)?)?;
            let amount: u64 = row.get(3)?;
            first = first.min(seq);
            last = last.max(seq);
            count += 1;
            if status == RecordStatus::Approved {
                totals.add(kind, amount);
            }
        }
        if count == 0 {
            let before: Option<u64> = self
                .tx
                .prepare_cached(
                    "SELECT seq FROM records WHERE sn = ?1 AND epoch = ?2 AND batch_no < ?3 \
                     ORDER BY batch_no DESC, seq DESC LIMIT 1",
                )?
                .query_row(params![sn, &epoch[..], batch_no], |r| r.get(0))
                .optional()?;
            last = before.unwrap_or(0);
            first = last + 1;
        }
        Ok((totals, first, last, count))
    }

    /// Files every record held under `from_sn` under `to_sn` instead (a replaced terminal's
    /// history carries over; `origin_sn` keeps saying where each came from). Returns how
    /// many moved.
    pub fn move_records(&self, from_sn: &str, to_sn: &str) -> Result<u64, StoreError> {
        let moved = self
            .tx
            .prepare_cached("UPDATE records SET sn = ?2 WHERE sn = ?1")?
            .execute([from_sn, to_sn])?;
        Ok(moved as u64)
    }

    /// How many records are held under `sn`, or in total.
    pub fn record_count(&self, sn: Option<&str>) -> Result<u64, StoreError> {
        let count: u64 = match sn {
            Some(sn) => self
                .tx
                .prepare_cached("SELECT count(*) FROM records WHERE sn = ?1")?
                .query_row([sn], |r| r.get(0))?,
            None => self
                .tx
                .prepare_cached("SELECT count(*) FROM records")?
                .query_row([], |r| r.get(0))?,
        };
        Ok(count)
    }

    /// Stores a settled batch (replacing an earlier row for the same batch).
    pub fn put_settlement(&self, s: &SettlementRow) -> Result<(), StoreError> {
        let (t, p) = (&s.terminal, &s.phone);
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO settlements (sn, epoch, batch_no, first_seq, last_seq, \
                 terminal_sale_count, terminal_sale_minor, terminal_refund_count, \
                 terminal_refund_minor, terminal_void_count, terminal_void_minor, \
                 phone_sale_count, phone_sale_minor, phone_refund_count, phone_refund_minor, \
                 phone_void_count, phone_void_minor, matched, settled_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                 ?16, ?17, ?18, ?19)",
            )?
            .execute(params![
                s.sn,
                &s.epoch[..],
                s.batch_no,
                s.first_seq,
                s.last_seq,
                t.sale_count,
                t.sale_minor,
                t.refund_count,
                t.refund_minor,
                t.void_count,
                t.void_minor,
                p.sale_count,
                p.sale_minor,
                p.refund_count,
                p.refund_minor,
                p.void_count,
                p.void_minor,
                s.matched,
                s.settled_at_ms,
            ])?;
        Ok(())
    }

    /// `sn`'s settled batches, oldest first.
    pub fn settlements(&self, sn: &str) -> Result<Vec<SettlementRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT sn, epoch, batch_no, first_seq, last_seq, \
             terminal_sale_count, terminal_sale_minor, terminal_refund_count, \
             terminal_refund_minor, terminal_void_count, terminal_void_minor, \
             phone_sale_count, phone_sale_minor, phone_refund_count, phone_refund_minor, \
             phone_void_count, phone_void_minor, matched, settled_at_ms \
             FROM settlements WHERE sn = ?1 ORDER BY settled_at_ms, batch_no",
        )?;
        let mut rows = stmt.query([sn])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let totals = |at: usize| -> rusqlite::Result<Totals> {
                Ok(Totals {
                    sale_count: r.get(at)?,
                    sale_minor: r.get(at + 1)?,
                    refund_count: r.get(at + 2)?,
                    refund_minor: r.get(at + 3)?,
                    void_count: r.get(at + 4)?,
                    void_minor: r.get(at + 5)?,
                })
            };
            out.push(SettlementRow {
                sn: r.get(0)?,
                epoch: epoch_from(r.get(1)?)?,
                batch_no: r.get(2)?,
                first_seq: r.get(3)?,
                last_seq: r.get(4)?,
                terminal: totals(5)?,
                phone: totals(11)?,
                matched: r.get(17)?,
                settled_at_ms: r.get(18)?,
            });
        }
        Ok(out)
    }
}

/// The history statement for `q` and its arguments. Only the filters present appear in the
/// SQL (a `? IS NULL OR …` form would keep SQLite from choosing an index), so each
/// combination is its own cached statement.
pub(super) fn history_sql(q: &HistoryQuery, limit: u32) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE 1");
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, value: Value| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(sn) = &q.sn {
        arg(&mut sql, " AND sn = ?", Value::Text(sn.clone()));
    }
    if let Some(merchant) = &q.merchant_no {
        arg(
            &mut sql,
            " AND merchant_no = ?",
            Value::Text(merchant.clone()),
        );
    }
    if let Some(from) = q.from_ms {
        arg(&mut sql, " AND at_ms >= ?", int(from));
    }
    if let Some(to) = q.to_ms {
        arg(&mut sql, " AND at_ms < ?", int(to));
    }
    if !q.kinds.is_empty() {
        let mask = q.kinds.iter().fold(0i64, |m, k| m | 1 << k.code());
        arg(&mut sql, " AND ((? >> kind) & 1) = 1", Value::Integer(mask));
    }
    if let Some(min) = q.min_minor {
        arg(&mut sql, " AND amount_minor >= ?", int(min));
    }
    if let Some(max) = q.max_minor {
        arg(&mut sql, " AND amount_minor <= ?", int(max));
    }
    if let Some(after) = &q.after {
        // The plain bound on at_ms is what lets the index seek; the row value breaks ties
        // within that millisecond.
        arg(&mut sql, " AND at_ms <= ?", int(after.at_ms));
        let n = args.len();
        args.push(Value::Text(after.sn.clone()));
        args.push(int(after.seq));
        sql.push_str(&format!(
            " AND (at_ms, sn, seq) < (?{n}, ?{}, ?{})",
            n + 1,
            n + 2
        ));
    }
    // One more than asked tells whether another page follows.
    args.push(Value::Integer(i64::from(limit) + 1));
    sql.push_str(&format!(
        " ORDER BY at_ms DESC, sn DESC, seq DESC LIMIT ?{}",
        args.len()
    ));
    (sql, args)
}

fn stored_record(row: &Row<'_>) -> Result<StoredRecord, StoreError> {
    let pan: String = row.get(10)?;
    Ok(StoredRecord {
        sn: row.get(0)?,
        origin_sn: row.get(1)?,
        epoch: epoch_from(row.get(2)?)?,
        merchant_no: row.get(3)?,
        record: Record {
            seq: row.get(4)?,
            batch_no: row.get(5)?,
            kind: kind_from(row.get(6)?)?,
            amount_minor: row.get(7)?,
            currency: row.get(8)?,
            at_ms: row.get(9)?,
            masked_pan: MaskedPan::parse(&pan)
                .map_err(|e| StoreError::bad_value("masked PAN", e))?,
            auth_code: row.get(11)?,
            rrn: row.get(12)?,
            status: status_from(row.get(13)?)?,
            orig_seq: row.get(14)?,
        },
    })
}

pub(crate) fn epoch_from(bytes: Vec<u8>) -> Result<[u8; 16], StoreError> {
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::bad_value("epoch length", bytes.len()))
}

/// A query bound as SQLite's signed integer. Stored values never exceed `i64::MAX`
/// (binding a larger one fails), so saturating keeps every comparison's meaning.
fn int(v: u64) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Binds one record to `insert` (a statement over [`INTO_RECORDS`]) and runs it; returns
/// the rows inserted. Syncing and restoring store a record the same way and differ only in
/// its origin and in whether a row already there is an error or skipped.
fn insert_record(
    insert: &mut rusqlite::CachedStatement<'_>,
    sn: &str,
    epoch: &[u8; 16],
    origin_sn: &str,
    merchant_no: Option<&str>,
    r: &Record,
) -> rusqlite::Result<usize> {
    insert.execute(params![
        sn,
        &epoch[..],
        r.seq,
        origin_sn,
        merchant_no,
        r.batch_no,
        r.kind.code(),
        r.amount_minor,
        r.currency,
        r.at_ms,
        r.masked_pan.as_str(),
        super::redact::text(&r.auth_code),
        super::redact::text(&r.rrn),
        r.status.code(),
        r.orig_seq,
    ])
}

/// The database keeps kinds and statuses as their protocol codes.
pub(super) fn kind_from(code: i64) -> Result<RecordKind, StoreError> {
    u8::try_from(code)
        .ok()
        .and_then(RecordKind::from_code)
        .ok_or_else(|| StoreError::bad_value("record kind", code))
}

pub(super) fn status_from(code: i64) -> Result<RecordStatus, StoreError> {
    u8::try_from(code)
        .ok()
        .and_then(RecordStatus::from_code)
        .ok_or_else(|| StoreError::bad_value("record status", code))
}
