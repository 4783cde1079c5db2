//! The CLI's one error type and its exit codes (`docs/cli.md`). Every lower layer's error
//! is translated here once: a stable code, the exit status scripts branch on, the message
//! the layer wrote for people, and a hint for what to do next.

use posmate_core::backup::BackupError;
use posmate_core::error::Error as CoreError;
use posmate_core::keystore::KeystoreError;
use posmate_core::session::SessionError;
use posmate_core::store::StoreError;
use posmate_core::terminals::LinkError;
use posmate_core::transport::tcp::SimLinkError;
use posmate_core::transport::TransportError;
use serde::Serialize;

/// Exit statuses. Stable: scripts depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Exit {
    Ok = 0,
    /// Anything not covered below (a bug, an unexpected answer).
    Other = 1,
    /// Bad arguments (clap's own usage errors exit with 2 too).
    Usage = 2,
    /// No such terminal in range, or nothing found.
    NotFound = 3,
    /// The terminal or a precondition refused: wrong code, locked, not paired.
    Refused = 4,
    /// Bluetooth (or the sim link) is unavailable, or the link failed.
    Transport = 5,
    /// The keystore or the local data directory failed.
    Storage = 6,
    /// The acquirer refused or could not be reached.
    Acquirer = 7,
    /// The user cancelled.
    Cancelled = 8,
    /// A security check failed: possible impostor, tampered link.
    Security = 9,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failure as the user sees it.
#[derive(Debug, Serialize)]
pub struct CliError {
    /// Stable kebab-case code (the lower layer's code where it has one).
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub exit: u8,
    /// Whether doing the same again (after reconnecting, or later) can succeed; set for the
    /// flows' errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip)]
    pub status: Exit,
}

impl CliError {
    pub fn new(status: Exit, code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
            hint: None,
            exit: status.code(),
            retryable: None,
            status,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, "usage", message).hint("see `posmate help` for the commands")
    }

    pub fn storage(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        CliError::new(Exit::Storage, "io", format!("{what}: {err}"))
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

const TRY_SIM: &str = "to work without hardware, add --sim (simulated terminals in this \
                       process) or --connect-sim ADDR (a running `posmate sim`)";

fn transport_status(e: &TransportError) -> Exit {
    match e {
        TransportError::NotFound { .. } => Exit::NotFound,
        TransportError::ServiceMissing { .. } => Exit::Refused,
        TransportError::ValueTooLong { .. } => Exit::Other,
        _ => Exit::Transport,
    }
}

fn session_status(e: &SessionError) -> Exit {
    match e {
        SessionError::Transport(t) => transport_status(t),
        SessionError::WrongCode { .. }
        | SessionError::PairingLocked { .. }
        | SessionError::BadCode
        | SessionError::NotPaired
        | SessionError::VersionUnsupported { .. }
        | SessionError::Refused { .. } => Exit::Refused,
        SessionError::Cancelled => Exit::Cancelled,
        SessionError::PossibleImpostor { .. }
        | SessionError::HandshakeFailed
        | SessionError::Security(_) => Exit::Security,
        SessionError::Closed(_) | SessionError::Timeout(_) => Exit::Transport,
        _ => Exit::Other,
    }
}

fn keystore_status(e: &KeystoreError) -> Exit {
    match e {
        KeystoreError::PinConflict { .. } => Exit::Security,
        _ => Exit::Storage,
    }
}

fn store_status(e: &StoreError) -> Exit {
    match e {
        StoreError::Keystore(k) => keystore_status(k),
        StoreError::JournalRewound { .. } | StoreError::JournalGap { .. } => Exit::Refused,
        StoreError::AuditBroken { .. } => Exit::Security,
        _ => Exit::Storage,
    }
}

fn backup_status(e: &BackupError) -> Exit {
    match e {
        BackupError::WeakPassphrase { .. } => Exit::Usage,
        BackupError::WrongPassphrase
        | BackupError::NotABackup { .. }
        | BackupError::NewerFormat { .. }
        | BackupError::WorkFactorTooHigh { .. } => Exit::Refused,
        BackupError::Store(s) => store_status(s),
        _ => Exit::Storage,
    }
}

/// The exit status of a core error (`docs/cli.md`, "Exit codes").
fn core_status(e: &CoreError) -> Exit {
    match e {
        CoreError::Session(s) => session_status(s),
        CoreError::Store(s) => store_status(s),
        CoreError::Acquirer(_) | CoreError::ActivationRejected { .. } => Exit::Acquirer,
        CoreError::Backup(b) => backup_status(b),
        CoreError::Keystore(k) => keystore_status(k),
        CoreError::Card(_) | CoreError::InvalidInput { .. } => Exit::Usage,
        CoreError::UnknownTerminal { .. }
        | CoreError::FlowNotFound { .. }
        | CoreError::CardNotFound { .. } => Exit::NotFound,
        CoreError::Unreachable { .. } => Exit::Transport,
        CoreError::KeyCheckFailed { .. } | CoreError::ReceiptInvalid { .. } => Exit::Security,
        CoreError::Cancelled => Exit::Cancelled,
        _ => Exit::Refused,
    }
}

/// The core's errors keep their code and message; the hint is what the core says the user
/// should do next.
impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let mut err = CliError::new(core_status(&e), e.code(), e.to_string()).hint(e.user_action());
        err.retryable = Some(e.is_retryable());
        err
    }
}

impl From<TransportError> for CliError {
    fn from(e: TransportError) -> Self {
        let status = transport_status(&e);
        let err = CliError::new(status, e.code(), e.to_string());
        match e {
            TransportError::BluetoothUnavailable { .. }
            | TransportError::AdapterNotFound { .. } => err.hint(TRY_SIM),
            _ => err,
        }
    }
}

impl From<SessionError> for CliError {
    fn from(e: SessionError) -> Self {
        if let SessionError::Transport(t) = e {
            return t.into();
        }
        let status = session_status(&e);
        let hint = match &e {
            SessionError::NotPaired => Some("pair it again: posmate pair --sn <SN>"),
            SessionError::PossibleImpostor { .. } => Some(
                "if the terminal was wiped or replaced, forget it and pair again; otherwise \
                 do not use it and contact support",
            ),
            _ => None,
        };
        let err = CliError::new(status, e.code(), e.to_string());
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<KeystoreError> for CliError {
    fn from(e: KeystoreError) -> Self {
        CliError::new(keystore_status(&e), e.code(), e.to_string())
            .hint("`posmate doctor` checks the keystore; --keystore chooses another backend")
    }
}

impl From<LinkError> for CliError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Session(e) => e.into(),
            LinkError::Keystore(e) => e.into(),
            e @ LinkError::GaveUp { .. } => CliError::new(Exit::Transport, e.code(), e.to_string())
                .hint("check the terminal is on and in range, then retry"),
        }
    }
}

impl From<SimLinkError> for CliError {
    fn from(e: SimLinkError) -> Self {
        let status = match &e {
            SimLinkError::Refused { code, .. } if code == "not-found" => Exit::NotFound,
            SimLinkError::Refused { code, .. } if code.starts_with("acquirer") => Exit::Acquirer,
            SimLinkError::Refused { .. } => Exit::Refused,
            _ => Exit::Transport,
        };
        let code = match &e {
            SimLinkError::Refused { code, .. } => code.clone(),
            other => other.code().to_owned(),
        };
        CliError::new(status, code, e.to_string())
    }
}
