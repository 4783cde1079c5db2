//! Fleet run journals (one row per terminal of a run, so a re-run skips what is done and
//! resumes what was running) and when each terminal's journal was last synced.

use rusqlite::{params, OptionalExtension, Row};

use posmate_proto::message::{RecordStatus, Totals};

use super::error::StoreError;
use super::model::{FleetJournalRow, FleetRowState};
use super::records::{kind_from, status_from};
use super::Tx;

const FLEET_COLUMNS: &str = "run_id, sn, line, state, flow_id, error_code, reason, next_step, \
    result, attempts, updated_at_ms";

impl Tx<'_> {
    /// Inserts `row`, or replaces the one of the same run and SN.
    pub fn fleet_put(&self, row: &FleetJournalRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO fleet_rows ({FLEET_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                row.run_id,
                row.sn,
                row.line,
                row.state.as_str(),
                row.flow_id,
                row.error_code,
                row.reason,
                row.next_step,
                row.result.as_ref().map(|v| v.to_string()),
                row.attempts,
                row.updated_at_ms,
            ])?;
        Ok(())
    }

    pub fn fleet_row(&self, run_id: &str, sn: &str) -> Result<Option<FleetJournalRow>, StoreError> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {FLEET_COLUMNS} FROM fleet_rows WHERE run_id = ?1 AND sn = ?2"
            ))?
            .query_row([run_id, sn], |r| Ok(fleet_row(r)))
            .optional()?
            .transpose()
    }

    /// Every row of run `run_id`, in source order.
    pub fn fleet_rows(&self, run_id: &str) -> Result<Vec<FleetJournalRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {FLEET_COLUMNS} FROM fleet_rows WHERE run_id = ?1 ORDER BY line, sn"
        ))?;
        let mut rows = stmt.query([run_id])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(fleet_row(row)?);
        }
        Ok(out)
    }

    /// Records that `sn`'s journal was synced at `at_ms`.
    pub fn mark_synced(&self, sn: &str, at_ms: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO sync_times (sn, synced_at_ms) VALUES (?1, ?2) \
                 ON CONFLICT (sn) DO UPDATE SET synced_at_ms = excluded.synced_at_ms",
            )?
            .execute(params![sn, at_ms])?;
        Ok(())
    }

    /// When `sn`'s journal was last synced, if ever.
    pub fn synced_at(&self, sn: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT synced_at_ms FROM sync_times WHERE sn = ?1")?
            .query_row([sn], |r| r.get(0))
            .optional()?)
    }
}

impl Tx<'_> {
    /// What the phone holds of `sn`'s batches not settled yet: the number of records (of
    /// any kind and status) and the totals of the approved ones, as settlement counts them.
    pub fn unsettled(&self, sn: &str) -> Result<(u64, Totals), StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT kind, status, amount_minor FROM records r WHERE r.sn = ?1 AND NOT EXISTS \
             (SELECT 1 FROM settlements s WHERE s.sn = r.sn AND s.epoch = r.epoch \
              AND s.batch_no = r.batch_no)",
        )?;
        let mut rows = stmt.query([sn])?;
        let (mut count, mut totals) = (0u64, Totals::default());
        while let Some(row) = rows.next()? {
            count += 1;
            if status_from(row.get(1)?)? == RecordStatus::Approved {
                totals.add(kind_from(row.get(0)?)?, row.get(2)?);
            }
        }
        Ok((count, totals))
    }
}

fn fleet_row(r: &Row<'_>) -> Result<FleetJournalRow, StoreError> {
    let state: String = r.get(3)?;
    let result: Option<String> = r.get(8)?;
    Ok(FleetJournalRow {
        run_id: r.get(0)?,
        sn: r.get(1)?,
        line: r.get(2)?,
        state: state
            .parse::<FleetRowState>()
            .map_err(|e| StoreError::bad_value("fleet row state", e))?,
        flow_id: r.get(4)?,
        error_code: r.get(5)?,
        reason: r.get(6)?,
        next_step: r.get(7)?,
        result: result.as_deref().map(serde_json::from_str).transpose()?,
        attempts: r.get(9)?,
        updated_at_ms: r.get(10)?,
    })
}
