//! The backup archives the phone has written (the archives themselves live outside the
//! database; see `core::backup`).

use rusqlite::{params, OptionalExtension, Row};

use super::error::StoreError;
use super::model::BackupRow;
use super::Tx;

const BACKUP_COLUMNS: &str = "id, path, sha256, created_at_ms, verified_at_ms, records, sn";

impl Tx<'_> {
    /// Inserts `backup`, or replaces the row with the same id (e.g. to record a verification).
    pub fn put_backup(&self, backup: &BackupRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO backups (id, path, sha256, created_at_ms, \
                 verified_at_ms, records, sn) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                backup.id,
                backup.path,
                &backup.sha256[..],
                backup.created_at_ms,
                backup.verified_at_ms,
                backup.records,
                backup.sn,
            ])?;
        Ok(())
    }

    /// All backups, oldest first.
    pub fn backups(&self) -> Result<Vec<BackupRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {BACKUP_COLUMNS} FROM backups ORDER BY created_at_ms, id"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(backup_row(row)?);
        }
        Ok(out)
    }

    pub fn backup(&self, id: &str) -> Result<Option<BackupRow>, StoreError> {
        self.tx
            .prepare_cached(&format!(
                "SELECT {BACKUP_COLUMNS} FROM backups WHERE id = ?1"
            ))?
            .query_row([id], |r| Ok(backup_row(r)))
            .optional()?
            .transpose()
    }
}

fn backup_row(r: &Row<'_>) -> Result<BackupRow, StoreError> {
    let sha256: Vec<u8> = r.get(2)?;
    Ok(BackupRow {
        id: r.get(0)?,
        path: r.get(1)?,
        sha256: <[u8; 32]>::try_from(sha256.as_slice())
            .map_err(|_| StoreError::bad_value("backup hash length", sha256.len()))?,
        created_at_ms: r.get(3)?,
        verified_at_ms: r.get(4)?,
        records: r.get(5)?,
        sn: r.get(6)?,
    })
}
