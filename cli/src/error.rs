//! The CLI's one error type and its exit codes (`docs/cli.md`). Every lower layer's error
//! is translated here once: a stable code, the exit status scripts branch on, the message
//! the layer wrote for people, and a hint for what to do next.

use posmate_core::error::{Error as CoreError, ErrorKind};
use posmate_core::keystore::KeystoreError;
use posmate_core::session::SessionError;
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

/// The exit status of each kind of core failure (`docs/cli.md`, "Exit codes"): the one place
/// the CLI decides what a failure means to a script.
impl From<ErrorKind> for Exit {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Internal => Exit::Other,
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::NotFound => Exit::NotFound,
            ErrorKind::Refused => Exit::Refused,
            ErrorKind::Unavailable => Exit::Transport,
            ErrorKind::Storage => Exit::Storage,
            ErrorKind::Acquirer => Exit::Acquirer,
            ErrorKind::Cancelled => Exit::Cancelled,
            ErrorKind::Security => Exit::Security,
        }
    }
}

/// The core's errors keep their code and message; the hint is what the core says the user
/// should do next.
impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let mut err = CliError::new(e.kind().into(), e.code(), e.to_string()).hint(e.user_action());
        err.retryable = Some(e.is_retryable());
        err
    }
}

impl From<TransportError> for CliError {
    fn from(e: TransportError) -> Self {
        let status = e.kind().into();
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
        let status = e.kind().into();
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
        CliError::new(e.kind().into(), e.code(), e.to_string())
            .hint("`posmate doctor` checks the keystore; --keystore chooses another backend")
    }
}

impl From<LinkError> for CliError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Session(e) => e.into(),
            LinkError::Keystore(e) => e.into(),
            e @ LinkError::GaveUp { .. } => CliError::new(e.kind().into(), e.code(), e.to_string())
                .hint("check the terminal is on and in range, then retry"),
        }
    }
}

impl From<SimLinkError> for CliError {
    fn from(e: SimLinkError) -> Self {
        let status = e.kind().into();
        let code = match &e {
            SimLinkError::Refused { code, .. } => code.clone(),
            other => other.code().to_owned(),
        };
        CliError::new(status, code, e.to_string())
    }
}
