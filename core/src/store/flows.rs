//! Persisted flow state machines, so an activation or decommission interrupted by a crash
//! or a closed app resumes where it stood.

use rusqlite::{params, OptionalExtension, Row};

use super::error::StoreError;
use super::model::{FlowRow, FlowStatus};
use super::Tx;

const FLOW_COLUMNS: &str = "id, kind, sn, step, state, status, started_at_ms, updated_at_ms, error";

impl Tx<'_> {
    /// Inserts `flow`, or replaces the row with the same id.
    pub fn flow_save(&self, flow: &FlowRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO flows (id, kind, sn, step, state, status, \
                 started_at_ms, updated_at_ms, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                flow.id,
                flow.kind,
                flow.sn,
                flow.step,
                flow.state.to_string(),
                flow.status.as_str(),
                flow.started_at_ms,
                flow.updated_at_ms,
                flow.error.as_deref().map(super::redact::text),
            ])?;
        Ok(())
    }

    pub fn flow(&self, id: &str) -> Result<Option<FlowRow>, StoreError> {
        self.tx
            .prepare_cached(&format!("SELECT {FLOW_COLUMNS} FROM flows WHERE id = ?1"))?
            .query_row([id], |r| Ok(flow_row(r)))
            .optional()?
            .transpose()
    }

    /// Flows still running or paused (to resume after a restart), oldest first.
    pub fn open_flows(&self) -> Result<Vec<FlowRow>, StoreError> {
        self.flows_where(
            &format!(
                "SELECT {FLOW_COLUMNS} FROM flows WHERE status IN ('{}', '{}') \
                 ORDER BY started_at_ms, id",
                FlowStatus::Running.as_str(),
                FlowStatus::Paused.as_str()
            ),
            [],
        )
    }

    /// The `limit` flows changed last, whatever their status, newest first.
    pub fn recent_flows(&self, limit: u32) -> Result<Vec<FlowRow>, StoreError> {
        self.flows_where(
            &format!("SELECT {FLOW_COLUMNS} FROM flows ORDER BY updated_at_ms DESC, id LIMIT ?1"),
            [limit],
        )
    }

    /// Every flow about terminal `sn`, oldest first.
    pub fn flows_for(&self, sn: &str) -> Result<Vec<FlowRow>, StoreError> {
        self.flows_where(
            &format!("SELECT {FLOW_COLUMNS} FROM flows WHERE sn = ?1 ORDER BY started_at_ms, id"),
            [sn],
        )
    }

    fn flows_where<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> Result<Vec<FlowRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(flow_row(row)?);
        }
        Ok(out)
    }
}

fn flow_row(r: &Row<'_>) -> Result<FlowRow, StoreError> {
    let state: String = r.get(4)?;
    let status: String = r.get(5)?;
    Ok(FlowRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        sn: r.get(2)?,
        step: r.get(3)?,
        state: serde_json::from_str(&state)?,
        status: status
            .parse::<FlowStatus>()
            .map_err(|e| StoreError::bad_value("flow status", e))?,
        started_at_ms: r.get(6)?,
        updated_at_ms: r.get(7)?,
        error: r.get(8)?,
    })
}
