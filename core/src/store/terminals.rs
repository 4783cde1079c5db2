//! Terminals the phone knows, and forgetting one.

use rusqlite::{params, OptionalExtension, Row};

use super::error::StoreError;
use super::model::{TerminalRow, TerminalState};
use super::Tx;

const TERMINAL_COLUMNS: &str = "sn, peripheral_id, model, firmware, device_key, state, \
    merchant_no, terminal_no, activated_at_ms, replaced_by, updated_at_ms";

impl Tx<'_> {
    /// Inserts `t`, or replaces the row with the same serial number — unless it names
    /// another device key than the one learnt for the SN (`DeviceKeyChanged`, nothing
    /// written). A first row teaches the phone its key.
    pub fn upsert_terminal(&self, t: &TerminalRow) -> Result<(), StoreError> {
        self.learn_device_key(&t.sn, &t.device_key, t.updated_at_ms)?;
        self.tx
            .prepare_cached(
                "INSERT INTO terminals (sn, peripheral_id, model, firmware, device_key, state, \
                 merchant_no, terminal_no, activated_at_ms, replaced_by, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (sn) DO UPDATE SET peripheral_id = excluded.peripheral_id, \
                 model = excluded.model, firmware = excluded.firmware, \
                 device_key = excluded.device_key, state = excluded.state, \
                 merchant_no = excluded.merchant_no, terminal_no = excluded.terminal_no, \
                 activated_at_ms = excluded.activated_at_ms, \
                 replaced_by = excluded.replaced_by, updated_at_ms = excluded.updated_at_ms",
            )?
            .execute(params![
                t.sn,
                t.peripheral_id,
                super::redact::text(&t.model),
                super::redact::text(&t.firmware),
                &t.device_key[..],
                t.state.as_str(),
                t.merchant_no,
                t.terminal_no,
                t.activated_at_ms,
                t.replaced_by,
                t.updated_at_ms,
            ])?;
        Ok(())
    }

    pub fn terminal(&self, sn: &str) -> Result<Option<TerminalRow>, StoreError> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {TERMINAL_COLUMNS} FROM terminals WHERE sn = ?1"
            ))?
            .query_row([sn], |r| Ok(terminal_row(r)))
            .optional()?
            .transpose()
    }

    /// All terminals, by serial number.
    pub fn terminals(&self) -> Result<Vec<TerminalRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {TERMINAL_COLUMNS} FROM terminals ORDER BY sn"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(terminal_row(row)?);
        }
        Ok(out)
    }

    /// Forgets a terminal: its row, sync cursor, settlements and the records still filed
    /// under it (records moved to a replacement stay with the replacement). Backups, flows
    /// and the audit log keep mentioning it: they are the history of what was done.
    /// Follow with [`Store::compact`](super::Store::compact) so the deleted data also
    /// leaves the WAL.
    pub fn delete_terminal(&self, sn: &str) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM records WHERE sn = ?1",
            "DELETE FROM settlements WHERE sn = ?1",
            "DELETE FROM sync_cursors WHERE sn = ?1",
            "DELETE FROM terminals WHERE sn = ?1",
        ] {
            self.tx.prepare_cached(sql)?.execute([sn])?;
        }
        Ok(())
    }
}

fn terminal_row(r: &Row<'_>) -> Result<TerminalRow, StoreError> {
    let device_key: Vec<u8> = r.get(4)?;
    let state: String = r.get(5)?;
    Ok(TerminalRow {
        sn: r.get(0)?,
        peripheral_id: r.get(1)?,
        model: r.get(2)?,
        firmware: r.get(3)?,
        device_key: <[u8; 32]>::try_from(device_key.as_slice())
            .map_err(|_| StoreError::bad_value("device key length", device_key.len()))?,
        state: state
            .parse::<TerminalState>()
            .map_err(|e| StoreError::bad_value("terminal state", e))?,
        merchant_no: r.get(6)?,
        terminal_no: r.get(7)?,
        activated_at_ms: r.get(8)?,
        replaced_by: r.get(9)?,
        updated_at_ms: r.get(10)?,
    })
}
