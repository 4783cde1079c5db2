//! What can go wrong with a backup, in words a merchant can act on.
//!
//! Messages never carry the passphrase, and never the archive's contents: a detail is at most
//! a position or a section name.

use std::io;

use crate::store::StoreError;

/// Why writing, reading, verifying or restoring a backup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The passphrase does not decrypt the file. age cannot tell a wrong passphrase from a
    /// damaged passphrase stanza in the file's header; the wrong passphrase is by far the
    /// likelier, so that is what the merchant is told.
    #[error(
        "the passphrase does not open this backup. Check it and try again (it is case-sensitive)"
    )]
    WrongPassphrase,
    /// The file is not a posmate backup at all: not an age file, an age file encrypted to a
    /// key rather than a passphrase, or an age file holding something else.
    #[error("this file is not a posmate backup ({detail}). Choose the .age file posmate wrote")]
    NotABackup { detail: String },
    /// The file is a posmate backup but its contents are damaged: truncated, altered, or its
    /// manifest does not match its sections.
    #[error("this backup is damaged ({detail}) and cannot be trusted. Use another copy of it")]
    Corrupt { detail: String },
    /// Written by a newer posmate whose format this version cannot read.
    #[error("this backup was written by a newer posmate (format version {found}; this version reads up to {supported}). Update posmate to restore it")]
    NewerFormat { found: u32, supported: u32 },
    /// The file asks for more scrypt work than this phone accepts. Someone else's tool made
    /// it, or it was crafted to exhaust memory: decrypting it would need 2^log_n KiB of RAM.
    #[error("this backup needs more work to open than posmate allows (scrypt work factor {found}, at most {max}). Re-encrypt it with a lower work factor")]
    WorkFactorTooHigh { found: u8, max: u8 },
    /// The passphrase chosen for a new backup is too easy to guess.
    #[error("a backup passphrase needs at least {min_chars} characters, not counting spaces at either end. Choose a longer one")]
    WeakPassphrase { min_chars: usize },
    /// The file is readable but is not the one recorded when the backup was made.
    #[error("this backup file changed since it was verified (its SHA-256 differs). Use the original copy, or make a new backup")]
    Changed,
    /// Gathering the backup from the store came out short; nothing was written.
    #[error("the backup would lack records ({collected} gathered of {expected}); nothing was written. Try again, and report this if it persists")]
    Incomplete { expected: u64, collected: u64 },
    /// No space left for the backup file.
    #[error("the disk is full: the backup could not be written. Free some space and try again")]
    Full,
    /// Any other failure of the file system.
    #[error("the backup file could not be read or written: {detail}")]
    Io { detail: String },
    /// The phone's database refused the restore (or the collection of a backup).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    /// A stable code for logs, the CLI and the FFI layer. Store failures keep the store's code.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::WrongPassphrase => "wrong-passphrase",
            BackupError::NotABackup { .. } => "not-a-backup",
            BackupError::Corrupt { .. } => "backup-corrupt",
            BackupError::NewerFormat { .. } => "backup-newer-format",
            BackupError::WorkFactorTooHigh { .. } => "backup-work-factor-too-high",
            BackupError::WeakPassphrase { .. } => "weak-passphrase",
            BackupError::Changed => "backup-changed",
            BackupError::Incomplete { .. } => "backup-incomplete",
            BackupError::Full => "storage-full",
            BackupError::Io { .. } => "backup-io",
            BackupError::Store(e) => e.code(),
        }
    }

    /// Whether trying the same operation again, unchanged, can succeed. A full disk can clear
    /// (the merchant frees space), a transient I/O error can; a wrong passphrase is retryable
    /// only with another passphrase, which is not "the same operation".
    pub fn is_retryable(&self) -> bool {
        match self {
            BackupError::Full | BackupError::Io { .. } | BackupError::Incomplete { .. } => true,
            BackupError::Store(e) => e.is_retryable(),
            BackupError::WrongPassphrase
            | BackupError::NotABackup { .. }
            | BackupError::Corrupt { .. }
            | BackupError::NewerFormat { .. }
            | BackupError::WorkFactorTooHigh { .. }
            | BackupError::WeakPassphrase { .. }
            | BackupError::Changed => false,
        }
    }

    /// Translates a file-system error: a full disk (or an exhausted quota) is its own variant
    /// because the merchant can fix it.
    pub(crate) fn from_io(err: &io::Error) -> BackupError {
        if is_full(err) {
            BackupError::Full
        } else {
            BackupError::Io {
                detail: err.to_string(),
            }
        }
    }
}

/// std classifies ENOSPC and EDQUOT from the OS into these kinds on every platform we ship.
fn is_full(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}
