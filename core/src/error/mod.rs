//! The core's public error: what the CLI and the bindings show a merchant or developer.
//!
//! Each layer keeps its own error (`SessionError`, `StoreError`, `AcquirerError`, …) in its
//! own terms; this type wraps them and adds the four things every caller needs (as in
//! mozilla application-services' public API errors): a stable `code`, whether a retry can
//! help, what the merchant should do next, and whether the internet is involved.

mod advice;
mod kind;

pub use advice::Advice;
pub use kind::ErrorKind;

use posmate_proto::message::ErrorCode;

use crate::acquirer::AcquirerError;
use crate::backup::BackupError;
use crate::cards::CardInputError;
use crate::keystore::KeystoreError;
use crate::session::SessionError;
use crate::store::StoreError;
use crate::terminals::LinkError;
use crate::transport::TransportError;

/// Everything a flow or the companion can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Acquirer(#[from] AcquirerError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error(transparent)]
    Card(#[from] CardInputError),

    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("no terminal {sn} is known on this phone; pair it first")]
    UnknownTerminal { sn: String },
    #[error("could not reach terminal {sn} after {attempts} attempts: {last}")]
    Unreachable {
        sn: String,
        attempts: u32,
        last: String,
    },
    #[error("the terminal in range is {found}, not {expected}")]
    WrongTerminal { expected: String, found: String },
    /// A terminal proved one SN in the handshake and named another in its own report.
    #[error("the terminal proved it is {sn} but reports itself as {found}; it may be an impostor and was not recorded")]
    IdentityMismatch { sn: String, found: String },
    #[error("terminal {sn} is {state}, not activated")]
    NotActivated { sn: String, state: String },
    #[error("terminal {sn} is already activated for merchant {merchant_no}")]
    AlreadyActivated { sn: String, merchant_no: String },
    #[error("the acquirer rejected the activation: {reason} ({reason_code})")]
    ActivationRejected { reason_code: String, reason: String },
    #[error("the keys installed on terminal {sn} do not match what the acquirer issued")]
    KeyCheckFailed { sn: String },
    #[error("the terminal refused: {message} ({})", code.code())]
    TerminalRefused { code: ErrorCode, message: String },
    #[error("batch {batch_no} on terminal {sn} holds {}", crate::plural::count(*records, "unsettled record", "unsettled records"))]
    UnsettledBatch {
        sn: String,
        batch_no: u32,
        records: u64,
    },
    #[error("the journal of terminal {sn} was rewound (wiped or swapped); its new records are not merged with the {held} already held")]
    JournalRewound { sn: String, held: u64 },
    #[error("the wipe receipt from terminal {sn} is not valid: {why}")]
    ReceiptInvalid { sn: String, why: String },
    #[error("terminal {sn} no longer knows this phone (it was wiped or unpaired)")]
    NeedsPairing { sn: String },
    #[error("{what} is needed to continue")]
    NeedsInput { what: &'static str },
    #[error("a {kind} flow ({flow_id}) is already in progress for this terminal")]
    FlowInProgress { flow_id: String, kind: String },
    #[error("no flow {id}")]
    FlowNotFound { id: String },
    #[error("flow {id} is already {status}; there is nothing to resume")]
    FlowFinished { id: String, status: &'static str },
    #[error("no card with binding {binding_id}")]
    CardNotFound { binding_id: String },
    #[error("cancelled")]
    Cancelled,
}

impl From<LinkError> for Error {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Session(e) => e.into(),
            LinkError::Keystore(e) => e.into(),
            LinkError::GaveUp { attempts, last } => Error::Unreachable {
                sn: String::new(),
                attempts,
                last,
            },
        }
    }
}

impl Error {
    /// The terminal's refusal, lifted out of the session layer.
    pub(crate) fn from_session(e: SessionError) -> Self {
        match e {
            SessionError::Refused { code, message } => Error::TerminalRefused { code, message },
            SessionError::NotPaired => Error::NeedsPairing { sn: String::new() },
            other => Error::Session(other),
        }
    }

    /// A stable code for logs, the CLI's `--json` and the FFI layer. Wrapped layer errors
    /// keep their own codes.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Session(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Acquirer(e) => e.code(),
            Error::Backup(e) => e.code(),
            Error::Keystore(e) => e.code(),
            Error::Card(e) => match e {
                CardInputError::Length(_) => "card-number-length",
                CardInputError::NotDigits => "card-number-not-digits",
                CardInputError::Luhn => "card-number-check-digit",
                CardInputError::Expiry => "card-expiry-invalid",
                CardInputError::HolderName => "card-holder-missing",
            },
            Error::InvalidInput { .. } => "invalid-input",
            Error::UnknownTerminal { .. } => "unknown-terminal",
            Error::Unreachable { .. } => "unreachable",
            Error::WrongTerminal { .. } => "wrong-terminal",
            Error::IdentityMismatch { .. } => "identity-mismatch",
            Error::NotActivated { .. } => "not-activated",
            Error::AlreadyActivated { .. } => "already-activated",
            Error::ActivationRejected { .. } => "activation-rejected",
            Error::KeyCheckFailed { .. } => "key-check-failed",
            Error::TerminalRefused { code, .. } => match code {
                ErrorCode::WrongLifecycleState => "terminal-wrong-state",
                ErrorCode::Busy => "terminal-busy",
                ErrorCode::CardReadTimeout => "card-read-timeout",
                ErrorCode::BatchMismatch => "terminal-batch-mismatch",
                ErrorCode::StorageFailure => "terminal-storage-failure",
                _ => "terminal-refused",
            },
            Error::UnsettledBatch { .. } => "unsettled-batch",
            Error::JournalRewound { .. } => "journal-rewound",
            Error::ReceiptInvalid { .. } => "receipt-invalid",
            Error::NeedsPairing { .. } => "needs-pairing",
            Error::NeedsInput { .. } => "needs-input",
            Error::FlowInProgress { .. } => "flow-in-progress",
            Error::FlowNotFound { .. } => "flow-not-found",
            Error::FlowFinished { .. } => "flow-finished",
            Error::CardNotFound { .. } => "card-not-found",
            Error::Cancelled => "cancelled",
        }
    }

    /// Whether doing the same thing again (possibly after reconnecting) can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Session(e) => e.is_retryable(),
            Error::Store(e) => e.is_retryable(),
            Error::Acquirer(e) => e.is_retryable(),
            Error::Backup(e) => e.is_retryable(),
            Error::Unreachable { .. } => true,
            Error::TerminalRefused { code, .. } => {
                matches!(code, ErrorCode::Busy | ErrorCode::CardReadTimeout)
            }
            _ => false,
        }
    }

    /// Whether the failing step talks to the acquirer over the internet (so retrying it, or
    /// finishing it, needs a connection); `AcquirerError::needs_internet` says whether the
    /// connection itself was the problem.
    pub fn needs_internet(&self) -> bool {
        matches!(self, Error::Acquirer(_) | Error::ActivationRejected { .. })
    }

    /// What the merchant should do next, in plain words.
    pub fn user_action(&self) -> String {
        match self {
            Error::Session(e) => match e {
                SessionError::WrongCode { .. } => {
                    "type the code the terminal shows now; it changes after each attempt".into()
                }
                SessionError::PairingLocked { .. } => {
                    "wait until the terminal unlocks pairing, then try again".into()
                }
                SessionError::PossibleImpostor { .. } => {
                    "if you wiped or replaced this terminal, forget it and pair again; otherwise do not use it".into()
                }
                SessionError::VersionUnsupported { .. } => {
                    "update the app or the terminal's firmware".into()
                }
                SessionError::Transport(TransportError::BluetoothUnavailable { cause, .. }) => {
                    cause.fix().into()
                }
                _ if e.is_retryable() => {
                    "keep the terminal on and close to the phone, then try again".into()
                }
                _ => "contact support with this error's code".into(),
            },
            Error::Store(e) => match e.code() {
                "storage-full" => "free some space on the phone, then try again".into(),
                "db-key-missing" | "db-wrong-key" => {
                    "restore this phone's data from a backup (posmate backup restore)".into()
                }
                "db-corrupt" => "restore from a backup; the local database cannot be read".into(),
                "keystore-not-durable" => {
                    "use a durable keystore, or accept the risk explicitly (--allow-volatile-key)"
                        .into()
                }
                "journal-rewound" => {
                    "the terminal was wiped or swapped: back up, then start a new journal for it"
                        .into()
                }
                _ if e.is_retryable() => "try again".into(),
                _ => "contact support with this error's code".into(),
            },
            Error::Acquirer(e) => e.user_action(),
            Error::Backup(e) => match e.code() {
                "wrong-passphrase" => "type the passphrase chosen when the backup was made".into(),
                "weak-passphrase" => "choose a passphrase of at least 8 characters".into(),
                "storage-full" => "free some space, then try again".into(),
                "backup-changed" | "backup-corrupt" => {
                    "use another copy of the backup, or make a new one".into()
                }
                _ if e.is_retryable() => "try again".into(),
                _ => "choose the .age file posmate wrote, or make a new backup".into(),
            },
            Error::Keystore(_) => {
                "check that the phone's keystore is unlocked and available, then try again".into()
            }
            Error::Card(CardInputError::Luhn) => {
                "check the card number for a typo, or read the card on the terminal".into()
            }
            Error::Card(_) => "correct the card details and try again".into(),
            Error::InvalidInput { .. } => "correct the input and try again".into(),
            Error::UnknownTerminal { .. } => "scan for the terminal and pair it first".into(),
            Error::Unreachable { .. } => {
                "switch the terminal on, bring it close to the phone and try again".into()
            }
            Error::WrongTerminal { .. } => "connect to the terminal with the right SN".into(),
            Error::IdentityMismatch { .. } => {
                "do not use this terminal; report it to the acquirer".into()
            }
            Error::NotActivated { .. } => "activate the terminal first".into(),
            Error::AlreadyActivated { .. } => {
                "nothing to do; a terminal used by another merchant must be deregistered by them first".into()
            }
            Error::ActivationRejected { .. } => {
                "correct the details the acquirer objected to and submit a new activation".into()
            }
            Error::KeyCheckFailed { .. } => {
                "retry the activation; if it fails again, contact the acquirer".into()
            }
            Error::TerminalRefused { code, .. } => match code {
                ErrorCode::Busy => "wait for the terminal to finish, then try again".into(),
                ErrorCode::CardReadTimeout => {
                    "present the card to the terminal when asked, then try again".into()
                }
                _ => "check the terminal's state, then try again".into(),
            },
            Error::UnsettledBatch { .. } => {
                "run end-of-day settlement first (posmate settle)".into()
            }
            Error::JournalRewound { .. } => {
                "the terminal was wiped or swapped; its old records stay on the phone".into()
            }
            Error::ReceiptInvalid { .. } => {
                "do not trust this terminal's wipe; contact support with the audit trail".into()
            }
            Error::NeedsPairing { .. } => {
                "pair the terminal again with the code on its screen, then resume".into()
            }
            Error::NeedsInput { what } => format!("resume and provide {what}"),
            Error::FlowInProgress { .. } => "resume or cancel the flow in progress".into(),
            Error::FlowNotFound { .. } | Error::CardNotFound { .. } => {
                "list what exists and pick one of those".into()
            }
            Error::FlowFinished { .. } => {
                "nothing to do: list the open flows to see what still needs finishing".into()
            }
            Error::Cancelled => "nothing was changed after the cancelled step".into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
