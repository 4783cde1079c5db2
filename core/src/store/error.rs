//! The store's error type and the translation of SQLite's errors into it.
//!
//! No variant carries key bytes: the only statements that hold a key (`PRAGMA key`/`rekey`)
//! report failures by SQLite result code alone (see `key.rs`), and every other message comes
//! from SQLite's own text, which names tables and columns, never bound values.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::keystore::KeystoreError;

/// Why a store operation failed. Each message ends with what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The keystore would lose the database key at reboot, and with it every record.
    #[error("the {backend} keystore is not durable, so the database key would be lost at reboot. To fix: use a durable keystore, or accept a volatile one explicitly (tests, demos)")]
    KeystoreNotDurable { backend: &'static str },
    /// The database file exists but its key is gone from the keystore. A new key is never
    /// created over an existing file: that would make the old data unreadable for good.
    #[error("the database {path} exists but its key is missing from the keystore. To fix: restore the keystore this phone used, or restore the data from a backup into a fresh directory")]
    KeyMissing { path: PathBuf },
    /// The keystore holds a key, but it does not open this file (another install's key, or
    /// another install's file).
    #[error("the key in the keystore does not open the database {path}. To fix: restore the keystore or the database file that belong together, or restore from a backup into a fresh directory")]
    WrongKey { path: PathBuf },
    /// The file is damaged or is not posmate's database at all.
    #[error("the database {path} is damaged: {detail}. To fix: restore it from a backup into a fresh directory")]
    Corrupt { path: PathBuf, detail: String },
    /// The disk (or the configured quota) is full; the transaction was rolled back.
    #[error(
        "the storage is full; nothing was changed. To fix: free space on the phone, then retry"
    )]
    Full,
    /// The database was written by a newer posmate; it is left untouched.
    #[error("the database has schema version {found} but this posmate supports at most {supported}; it was left untouched. To fix: update posmate")]
    NewerSchema { found: u32, supported: u32 },
    /// The terminal's journal epoch changed: its journal was reset (wipe, repair), so
    /// sequence numbers start again and must not be merged with the old ones.
    #[error("terminal {sn} started a new journal. To fix: confirm the terminal's new journal, which resets its sync position")]
    JournalRewound { sn: String },
    /// Records would leave a hole in the synced journal.
    #[error("records from terminal {sn} skip ahead: expected seq {expected}, got {got}; nothing was stored. To fix: sync again from seq {expected}")]
    JournalGap { sn: String, expected: u64, got: u64 },
    /// An audit entry does not chain to its predecessor: the log was edited.
    #[error("the audit log was altered at entry {seq}. To fix: keep this database for investigation and restore a verified backup")]
    AuditBroken { seq: u64 },
    /// A terminal row names another device key than the one the phone learnt for its SN.
    #[error("terminal {sn} has another device key than the one this phone learnt when it first saw it; a factory device key never changes, so this may be an impostor and nothing was recorded. To fix: do not use it; report it to the acquirer")]
    DeviceKeyChanged { sn: String },
    /// Reading or writing the database's files failed.
    #[error(
        "storage input/output failed: {detail}. To fix: check the phone's storage, then retry"
    )]
    Io { detail: String },
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// Any other SQLite failure.
    #[error("database error: {detail}")]
    Sqlite { detail: String },
}

impl StoreError {
    /// A stable code for logs, the CLI and the FFI layer. Keystore errors keep their own.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::KeystoreNotDurable { .. } => "keystore-not-durable",
            StoreError::KeyMissing { .. } => "db-key-missing",
            StoreError::WrongKey { .. } => "db-wrong-key",
            StoreError::Corrupt { .. } => "db-corrupt",
            StoreError::Full => "storage-full",
            StoreError::NewerSchema { .. } => "db-newer-schema",
            StoreError::JournalRewound { .. } => "journal-rewound",
            StoreError::JournalGap { .. } => "journal-gap",
            StoreError::AuditBroken { .. } => "audit-broken",
            StoreError::DeviceKeyChanged { .. } => "device-key-changed",
            StoreError::Io { .. } => "storage-io",
            StoreError::Keystore(e) => e.code(),
            StoreError::Sqlite { .. } => "db-error",
        }
    }

    /// Whether the same call may succeed if simply tried again later: a storage hiccup, or a
    /// keystore that is locked until the user unlocks the phone. A full disk needs the user
    /// to act first, so it is not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Io { .. } | StoreError::Keystore(KeystoreError::Unavailable { .. })
        )
    }

    /// Fills in the database path of errors raised where it was not at hand (inside `Tx`).
    pub(crate) fn with_path(self, path: &Path) -> Self {
        match self {
            StoreError::Corrupt { path: p, detail } if p.as_os_str().is_empty() => {
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail,
                }
            }
            other => other,
        }
    }

    /// A value read back from the database that posmate never writes.
    pub(crate) fn bad_value(what: &str, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            path: PathBuf::new(),
            detail: format!("unexpected {what} in the database: {detail}"),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    /// Maps SQLite failures by result code; `Corrupt` gets its path from `with_path`.
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                path: PathBuf::new(),
                detail: err.to_string(),
            },
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => StoreError::Io {
                detail: err.to_string(),
            },
            _ => match err {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::IntegralValueOutOfRange(..) => {
                    StoreError::bad_value("value", err)
                }
                other => StoreError::Sqlite {
                    detail: other.to_string(),
                },
            },
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::StorageFull {
            return StoreError::Full;
        }
        StoreError::Io {
            detail: err.to_string(),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    /// Only JSON read back from the database is parsed; failing to parse it means damage.
    fn from(err: serde_json::Error) -> Self {
        StoreError::bad_value("JSON", err)
    }
}
