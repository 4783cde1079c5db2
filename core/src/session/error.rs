//! The session layer's errors, in the merchant's terms: what happened and what to do.

use std::time::Duration;

use posmate_proto::message::{CloseReason, ErrorCode};
use posmate_proto::wire::WireError;

use crate::transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Transport(#[from] TransportError),

    #[error("the code does not match the one on the terminal's screen; {} left before pairing locks — try again with the new code the terminal shows", crate::plural::count(*attempts_left, "attempt", "attempts"))]
    WrongCode { attempts_left: u8 },

    #[error("pairing is locked after too many wrong codes; try again in {} s", retry_after.as_secs().max(1))]
    PairingLocked { retry_after: Duration },

    #[error("the pairing code must be the 6 digits shown on the terminal")]
    BadCode,

    #[error("pairing was cancelled")]
    Cancelled,

    #[error(
        "the terminal does not know this phone any more (it was wiped or unpaired); pair again"
    )]
    NotPaired,

    #[error("terminal {sn} presents a different identity key than when it was paired — it may be an impostor. If you wiped or replaced it, forget it and pair again")]
    PossibleImpostor { sn: String },

    #[error("the terminal speaks protocol versions {min}..={max}, this app {ours}; update the app or the terminal firmware")]
    VersionUnsupported { min: u8, max: u8, ours: u8 },

    #[error("the secure handshake failed: the device could not prove its identity; move closer and retry, or forget and re-pair it")]
    HandshakeFailed,

    #[error("the link to the terminal was tampered with or corrupted ({0}); the session was closed for safety — reconnect")]
    Security(&'static str),

    #[error("the terminal closed the session: {0}")]
    Closed(String),

    #[error("the terminal did not answer within {0:?}; check it is on and in range, then retry")]
    Timeout(Duration),

    #[error("the terminal refused the request: {message} ({})", code.code())]
    Refused { code: ErrorCode, message: String },

    #[error(
        "the terminal answered with something unexpected; update its firmware or contact support"
    )]
    UnexpectedResponse,
}

impl SessionError {
    /// A stable code for logs, the CLI and the FFI layer.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Transport(e) => e.code(),
            SessionError::WrongCode { .. } => "wrong-code",
            SessionError::PairingLocked { .. } => "pairing-locked",
            SessionError::BadCode => "bad-code",
            SessionError::Cancelled => "cancelled",
            SessionError::NotPaired => "not-paired",
            SessionError::PossibleImpostor { .. } => "possible-impostor",
            SessionError::VersionUnsupported { .. } => "version-unsupported",
            SessionError::HandshakeFailed => "handshake-failed",
            SessionError::Security(_) => "link-tampered",
            SessionError::Closed(_) => "session-closed",
            SessionError::Timeout(_) => "terminal-timeout",
            SessionError::Refused { .. } => "terminal-refused",
            SessionError::UnexpectedResponse => "unexpected-response",
        }
    }

    /// Whether trying the same thing again (after reconnecting) can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SessionError::Transport(e) => e.is_transient(),
            SessionError::Timeout(_) | SessionError::Closed(_) | SessionError::Security(_) => true,
            SessionError::WrongCode { .. }
            | SessionError::PairingLocked { .. }
            | SessionError::HandshakeFailed => true,
            _ => false,
        }
    }

    /// The error for a CLOSE the terminal sent.
    pub(crate) fn from_close(close: &posmate_proto::message::Close) -> Self {
        match close.reason {
            CloseReason::WrongCode => SessionError::WrongCode {
                attempts_left: close.attempts_left.unwrap_or(0),
            },
            CloseReason::PairingLocked => SessionError::PairingLocked {
                retry_after: Duration::from_millis(u64::from(close.retry_after_ms.unwrap_or(0))),
            },
            CloseReason::NotPaired => SessionError::NotPaired,
            CloseReason::VersionUnsupported => SessionError::VersionUnsupported {
                min: close.min_version.unwrap_or(0),
                max: close.max_version.unwrap_or(0),
                ours: posmate_proto::handshake::PROTOCOL_VERSION,
            },
            CloseReason::HandshakeFailed => SessionError::HandshakeFailed,
            CloseReason::DecryptFailed => {
                SessionError::Security("the terminal could not authenticate our frames")
            }
            CloseReason::CorruptFrame => {
                SessionError::Security("the terminal received a corrupt frame")
            }
            CloseReason::Overrun => {
                SessionError::Security("flow-control overrun reported by the terminal")
            }
            _ => SessionError::Closed(if close.detail.is_empty() {
                format!("{:?}", close.reason)
            } else {
                close.detail.clone()
            }),
        }
    }

    pub(crate) fn from_wire(e: &WireError) -> Self {
        SessionError::Security(match e.close_reason() {
            Some(CloseReason::CorruptFrame) => "corrupt frame",
            Some(CloseReason::Overrun) => "flow-control overrun",
            Some(_) => "protocol violation",
            None => "internal flow-control error",
        })
    }
}
