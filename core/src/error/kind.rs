//! What kind of failure an error is, across every layer of the core.
//!
//! Each layer's error answers `kind()` in its own terms, and `Error::kind` defers to the
//! layer it wraps, so a front end decides what a failure means (the CLI's exit status, the
//! app's screen) with one match on this enum instead of matching nested layer errors.

use crate::backup::BackupError;
use crate::keystore::KeystoreError;
use crate::session::SessionError;
use crate::store::StoreError;
use crate::terminals::LinkError;
use crate::transport::TransportError;

use super::Error;

crate::mirrored! {
    (replay_error_kind, derive(Debug, Clone, Copy, PartialEq, Eq, Hash))
    /// The category of a failure. Stable: the CLI's exit codes (`docs/cli.md`) and the bindings'
    /// `ErrorKind` are this enum, one value each.
    pub enum ErrorKind {
        /// Not covered below: a bug, or an answer nobody expected.
        Internal,
        /// The input given (arguments, card details, a passphrase) is not acceptable.
        InvalidInput,
        /// The terminal, flow, card or record asked for does not exist.
        NotFound,
        /// The terminal or a precondition refused: wrong code, locked, not paired, wrong state.
        Refused,
        /// Bluetooth (or the sim link) is unavailable, or the link to the terminal failed.
        Unavailable,
        /// The keystore or the local data failed.
        Storage,
        /// The acquirer refused or could not be reached.
        Acquirer,
        /// The user cancelled.
        Cancelled,
        /// A security check failed: a possible impostor, a tampered link, a bad receipt.
        Security,
    }
}

impl ErrorKind {
    /// Every kind, in the order of their exit codes.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Internal,
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::Refused,
        ErrorKind::Unavailable,
        ErrorKind::Storage,
        ErrorKind::Acquirer,
        ErrorKind::Cancelled,
        ErrorKind::Security,
    ];

    /// A stable name for logs, `--json` and the FFI layer.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Internal => "internal",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Refused => "refused",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Storage => "storage",
            ErrorKind::Acquirer => "acquirer",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Security => "security",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TransportError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TransportError::NotFound { .. } => ErrorKind::NotFound,
            TransportError::ServiceMissing { .. } => ErrorKind::Refused,
            TransportError::ValueTooLong { .. } => ErrorKind::Internal,
            _ => ErrorKind::Unavailable,
        }
    }
}

impl SessionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SessionError::Transport(t) => t.kind(),
            SessionError::WrongCode { .. }
            | SessionError::PairingLocked { .. }
            | SessionError::BadCode
            | SessionError::NotPaired
            | SessionError::VersionUnsupported { .. }
            | SessionError::Refused { .. } => ErrorKind::Refused,
            SessionError::Cancelled => ErrorKind::Cancelled,
            SessionError::PossibleImpostor { .. }
            | SessionError::HandshakeFailed
            | SessionError::Security(_) => ErrorKind::Security,
            SessionError::Closed(_) | SessionError::Timeout(_) => ErrorKind::Unavailable,
            SessionError::UnexpectedResponse => ErrorKind::Internal,
        }
    }
}

impl KeystoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeystoreError::PinConflict { .. } => ErrorKind::Security,
            _ => ErrorKind::Storage,
        }
    }
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Keystore(k) => k.kind(),
            StoreError::JournalRewound { .. } | StoreError::JournalGap { .. } => ErrorKind::Refused,
            StoreError::AuditBroken { .. } | StoreError::DeviceKeyChanged { .. } => {
                ErrorKind::Security
            }
            _ => ErrorKind::Storage,
        }
    }
}

impl BackupError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            BackupError::WeakPassphrase { .. } => ErrorKind::InvalidInput,
            BackupError::WrongPassphrase
            | BackupError::NotABackup { .. }
            | BackupError::NewerFormat { .. }
            | BackupError::WorkFactorTooHigh { .. } => ErrorKind::Refused,
            BackupError::Store(s) => s.kind(),
            _ => ErrorKind::Storage,
        }
    }
}

impl LinkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LinkError::Session(e) => e.kind(),
            LinkError::Keystore(e) => e.kind(),
            LinkError::GaveUp { .. } => ErrorKind::Unavailable,
        }
    }
}

impl Error {
    /// What kind of failure this is; wrapped layer errors answer for themselves.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Session(s) => s.kind(),
            Error::Store(s) => s.kind(),
            Error::Backup(b) => b.kind(),
            Error::Keystore(k) => k.kind(),
            Error::Acquirer(_) | Error::ActivationRejected { .. } => ErrorKind::Acquirer,
            Error::Card(_) | Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::UnknownTerminal { .. }
            | Error::FlowNotFound { .. }
            | Error::CardNotFound { .. } => ErrorKind::NotFound,
            Error::Unreachable { .. } => ErrorKind::Unavailable,
            Error::KeyCheckFailed { .. }
            | Error::ReceiptInvalid { .. }
            | Error::IdentityMismatch { .. } => ErrorKind::Security,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::WrongTerminal { .. }
            | Error::NotActivated { .. }
            | Error::AlreadyActivated { .. }
            | Error::TerminalRefused { .. }
            | Error::UnsettledBatch { .. }
            | Error::JournalRewound { .. }
            | Error::NeedsPairing { .. }
            | Error::NeedsInput { .. }
            | Error::FlowInProgress { .. }
            | Error::FlowFinished { .. } => ErrorKind::Refused,
        }
    }
}
