//! The one error every export throws (matrix-rust-sdk style): the core's stable code, a
//! sentence for logs, whether retrying can help, what the merchant should do next, and
//! whether the internet is involved. Apps branch on `code`, never on the text.

use posmate_core::error::Error as CoreError;
use posmate_core::session::SessionError;
use posmate_core::transport::tcp::SimLinkError;
use posmate_core::transport::TransportError;

/// Why a posmate call failed.
///
/// The field is `detail`, not `message`: Kotlin exceptions already have a `message`
/// property (UniFFI fills it with every field, for logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PosmateError {
    #[error("{detail} ({code})")]
    Failed {
        /// Stable, machine-readable: `cancelled`, `needs-pairing`, `unreachable`,
        /// `activation-rejected`, `card-number-check-digit`, … (docs/cli.md lists them).
        code: String,
        /// One sentence for logs and support; never holds a key or a full card number.
        detail: String,
        /// Whether doing the same thing again (after reconnecting) can succeed.
        retryable: bool,
        /// What the merchant should do next, in plain words.
        user_action: String,
        /// Whether the failing step needs the acquirer over the internet.
        needs_internet: bool,
    },
}

impl PosmateError {
    pub(crate) fn new(
        code: &str,
        detail: impl Into<String>,
        retryable: bool,
        user_action: impl Into<String>,
    ) -> Self {
        PosmateError::Failed {
            code: code.into(),
            detail: detail.into(),
            retryable,
            user_action: user_action.into(),
            needs_internet: false,
        }
    }

    /// A bug inside posmate (a panic, a runtime that went away).
    pub(crate) fn internal(detail: &str) -> Self {
        Self::new(
            "internal",
            detail,
            false,
            "contact support with this error's code",
        )
    }

    /// Bad input caught in the bindings before anything reached the core.
    pub(crate) fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            "invalid-input",
            format!("{field}: {reason}"),
            false,
            "correct the input and try again",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            PosmateError::Failed { code, .. } => code,
        }
    }
}

impl From<CoreError> for PosmateError {
    fn from(e: CoreError) -> Self {
        PosmateError::Failed {
            code: e.code().into(),
            detail: e.to_string(),
            retryable: e.is_retryable(),
            user_action: e.user_action(),
            needs_internet: e.needs_internet(),
        }
    }
}

/// Opening the Bluetooth transport failed: said in the core's terms (its code, whether a
/// retry helps, and what to do, e.g. the platform's fix when Bluetooth is unavailable).
impl From<TransportError> for PosmateError {
    fn from(e: TransportError) -> Self {
        CoreError::from(SessionError::from(e)).into()
    }
}

impl From<SimLinkError> for PosmateError {
    fn from(e: SimLinkError) -> Self {
        let retryable = matches!(e, SimLinkError::Unreachable { .. });
        let action = match &e {
            SimLinkError::Unreachable { addr, .. } => {
                format!("start the simulator with `posmate sim --listen {addr}`, then try again")
            }
            SimLinkError::Version { .. } => "run the same posmate version on both sides".into(),
            _ => "check the simulator's address".into(),
        };
        PosmateError::Failed {
            code: e.code().into(),
            detail: e.to_string(),
            retryable,
            user_action: action,
            needs_internet: false,
        }
    }
}

/// A callback into the app failed in a way its signature does not allow (an unexpected
/// exception in Kotlin, Swift or Python).
impl From<uniffi::UnexpectedUniFFICallbackError> for PosmateError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::new(
            "callback-failed",
            format!("a callback in the app failed: {}", e.reason),
            false,
            "fix the app's callback; it must not throw",
        )
    }
}
