//! The phone's database: terminals, synced journal records, settlements, cards, flows,
//! fleet run journals, backups and the audit log, in one SQLite file encrypted at rest with SQLCipher.
//!
//! - The key is 32 random bytes in the OS keystore (`key.rs`), never in the file, a log or
//!   an error. Destroying it is the wipe: on flash storage only cryptographic erasure is
//!   reliable, so [`Store::destroy`] deletes the key before the files.
//! - Every change goes through [`Store::write`], one `BEGIN IMMEDIATE` transaction: it all
//!   lands or none of it does, including when the disk fills up ([`StoreError::Full`]).
//! - Settings applied at open, and why:
//!   - `journal_mode = WAL`: readers never block the writer, and commits append instead of
//!     rewriting pages.
//!   - `synchronous = FULL` for everything, flows included: a committed flow step may
//!     already have been acted on (a request sent to the acquirer, a wipe started), so it
//!     must survive a power cut. The phone writes little; one extra fsync per commit is
//!     cheap next to a BLE round trip.
//!   - `secure_delete = ON`: deleted rows are zeroed inside the file, and [`Store::compact`]
//!     then truncates the WAL so old page images do not linger there.
//!   - `temp_store = MEMORY`: sorts and VACUUM never spill plaintext to temporary files.
//!   - `foreign_keys = ON`, `busy_timeout` 5 s (a second process, such as the CLI, waits
//!     instead of failing).
//!
//! One connection behind a mutex serves all threads: SQLite serialises writers anyway, and
//! the phone's load (a journal page at a time, a history page per screen) does not need a
//! reader pool.

mod audit;
mod backups;
mod cards;
mod cipher;
mod device_keys;
mod error;
mod fleet;
mod flows;
mod key;
mod model;
mod records;
mod redact;
mod schema;
mod terminals;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

pub use error::StoreError;
pub use model::{
    AppendOutcome, AuditCheck, AuditEntry, AuditEvent, BackupRow, CardPurposeKind, CardRow,
    DeviceKey, FleetJournalRow, FleetRowState, FlowRow, FlowStatus, HistoryCursor, HistoryPage,
    HistoryQuery, SettlementRow, StoredRecord, SyncCursor, TerminalRow, TerminalState, UnknownName,
};

use crate::keystore::SecretStore;
use key::{DbKey, KEY_NAME, NEXT_KEY_NAME};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "posmate.db";

/// How to open the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Accept a keystore backend that is not durable (BackendInfo.durable == false) for the
    /// database key. Without it, opening with such a backend fails with KeystoreNotDurable.
    pub allow_volatile_key: bool,
    /// Quota in pages (PRAGMA max_page_count); None = unlimited. Used to simulate a full disk.
    pub max_pages: Option<u32>,
}

/// The open database. `Send + Sync`: share it behind an `Arc`.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// One transaction: every query and change of the store is a method of `Tx`.
pub struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl Store {
    /// dir/posmate.db (+ -wal, -shm). DB key: 32 random bytes, keystore entry "db-key",
    /// applied as a raw key (no KDF: opening must be < 50 ms).
    /// Neither file nor key: create both. File but no key: KeyMissing (never create a new
    /// key over an existing file). Key but wrong: WrongKey. Garbage file: Corrupt. A
    /// database written by a newer posmate: NewerSchema, left untouched.
    pub fn open(
        dir: &Path,
        secrets: &dyn SecretStore,
        opts: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let backend = secrets.backend();
        if !backend.durable && !opts.allow_volatile_key {
            return Err(StoreError::KeystoreNotDurable {
                backend: backend.name,
            });
        }
        crate::private_dir::create_private_dir(dir)?;
        let path = dir.join(DB_FILE);
        let mut conn = key::unlock(&path, secrets)?;
        configure(&conn, opts).map_err(|e| e.with_path(&path))?;
        schema::migrate(&mut conn).map_err(|e| e.with_path(&path))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-encrypts the database under a new random key. Crash-safe: the new key is stored
    /// as "db-key.next" before `PRAGMA rekey` and replaces "db-key" only after it, and
    /// `open` completes whichever step a crash interrupted.
    pub fn rekey(&self, secrets: &dyn SecretStore) -> Result<(), StoreError> {
        let conn = self.lock();
        let new = DbKey::generate();
        new.save(secrets, NEXT_KEY_NAME)?;
        let rekeyed = new.rekey(&conn).and_then(|()| checkpoint(&conn));
        if let Err(e) = rekeyed {
            // SQLCipher's rekey is all or nothing: the old key still opens the file. If
            // this cleanup fails too, open() discards the stale entry later.
            let _ = secrets.delete(NEXT_KEY_NAME);
            return Err(e.with_path(&self.path));
        }
        new.save(secrets, KEY_NAME)?;
        secrets.delete(NEXT_KEY_NAME)?;
        Ok(())
    }

    /// Runs `f` in one atomic `BEGIN IMMEDIATE` transaction: committed if `f` returns `Ok`,
    /// rolled back otherwise.
    pub fn write<T>(&self, f: impl FnOnce(&Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let run = || {
            let tx = Tx {
                tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)?,
            };
            let value = f(&tx)?;
            tx.tx.commit()?;
            Ok(value)
        };
        run().map_err(|e: StoreError| e.with_path(&self.path))
    }

    /// Runs `f` in a deferred transaction with the connection set to `query_only`, so a
    /// reader cannot change anything by mistake.
    pub fn read<T>(&self, f: impl FnOnce(&Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let run = || {
            conn.pragma_update(None, "query_only", true)?;
            let result = (|| {
                let tx = Tx {
                    tx: conn.transaction_with_behavior(TransactionBehavior::Deferred)?,
                };
                let value = f(&tx)?;
                tx.tx.commit()?;
                Ok(value)
            })();
            conn.pragma_update(None, "query_only", false)?;
            result
        };
        run().map_err(|e: StoreError| e.with_path(&self.path))
    }

    /// Rebuilds the file without free space (VACUUM) and checkpoints the WAL with TRUNCATE,
    /// so deleted data lingers neither in free pages nor in old page images in -wal.
    pub fn compact(&self) -> Result<(), StoreError> {
        let conn = self.lock();
        checkpoint(&conn)
            .and_then(|()| Ok(conn.execute_batch("VACUUM")?))
            .and_then(|()| checkpoint(&conn))
            .map_err(|e| e.with_path(&self.path))
    }

    /// Cryptographic erasure of the whole phone database: deletes the "db-key" (and ".next")
    /// keystore entries first, then the db, -wal and -shm files. Once the keys are gone the
    /// data is unreadable even if removing a file fails (that error is still returned).
    pub fn destroy(self, secrets: &dyn SecretStore) -> Result<(), StoreError> {
        secrets.delete(KEY_NAME)?;
        secrets.delete(NEXT_KEY_NAME)?;
        let Store { conn, path } = self;
        let conn = conn.into_inner().unwrap_or_else(|p| p.into_inner());
        // A failed close still releases the handle; the files go regardless.
        let _ = conn.close();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            key::remove_if_present(&key::sidecar(&path, suffix))?;
        }
        Ok(())
    }

    /// The connection. A panic inside a transaction rolled it back while unwinding, so a
    /// poisoned lock still guards a consistent connection; only a panicking `read` may have
    /// left it in `query_only` mode, which is undone here.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| {
            self.conn.clear_poison();
            let conn = poisoned.into_inner();
            if let Err(e) = conn.pragma_update(None, "query_only", false) {
                tracing::warn!(error = %e, "could not leave query_only mode after a panic");
            }
            conn
        })
    }
}

/// Per-connection settings (see the module documentation for why each).
fn configure(conn: &Connection, opts: &StoreOptions) -> Result<(), StoreError> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Sqlite {
            detail: format!("the database refused WAL mode (it is in {mode} mode)"),
        });
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if let Some(pages) = opts.max_pages {
        let _: i64 = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get(0)
        })?;
    }
    Ok(())
}

/// Moves every WAL frame into the database file and truncates the WAL to zero bytes.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        return Err(StoreError::Sqlite {
            detail: "the WAL could not be checkpointed because another connection is using \
                     the database; close other posmate processes and retry"
                .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
