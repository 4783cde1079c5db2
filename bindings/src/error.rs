//! The one error every export throws (matrix-rust-sdk style): the core's stable code and
//! kind, a sentence for logs, whether retrying can help, what the merchant should do next,
//! and whether the internet is involved. Every one of those is the core's answer; apps
//! branch on `kind` (or `code` for one case), never on the text.

use posmate_core::error::{self as core_error, Advice, Error as CoreError};
use posmate_core::session::SessionError;
use posmate_core::transport::TransportError;
use posmate_sim_world::link::SimLinkError;
use posmate_sim_world::open::OpenError;

use crate::mirror::ffi_mirror;

posmate_core::replay_error_kind!(ffi_mirror, core_error, ErrorKind);

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
        /// The category of `code`, for apps that decide by kind rather than by each code.
        kind: ErrorKind,
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
    fn failed(
        kind: ErrorKind,
        code: &str,
        detail: impl Into<String>,
        retryable: bool,
        user_action: impl Into<String>,
    ) -> Self {
        PosmateError::Failed {
            code: code.into(),
            kind,
            detail: detail.into(),
            retryable,
            user_action: user_action.into(),
            needs_internet: false,
        }
    }

    /// A refusal the bindings decide before the core is asked (a closed or busy companion,
    /// a simulated terminal out of range): kind `Refused`.
    pub(crate) fn new(
        code: &str,
        detail: impl Into<String>,
        retryable: bool,
        user_action: impl Into<String>,
    ) -> Self {
        Self::failed(ErrorKind::Refused, code, detail, retryable, user_action)
    }

    /// A bug inside posmate (a panic, a runtime that went away).
    pub(crate) fn internal(detail: &str) -> Self {
        Self::failed(
            ErrorKind::Internal,
            "internal",
            detail,
            false,
            "contact support with this error's code",
        )
    }

    /// Bad input caught in the bindings before anything reached the core.
    pub(crate) fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::failed(
            ErrorKind::InvalidInput,
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

impl PosmateError {
    /// Any failure the core's terms describe: its code, kind, text and advice as they are.
    fn advised(e: &impl Advice) -> Self {
        PosmateError::Failed {
            code: e.code().into(),
            kind: e.kind().into(),
            detail: e.to_string(),
            retryable: e.is_retryable(),
            user_action: e.user_action(),
            needs_internet: e.needs_internet(),
        }
    }
}

impl From<CoreError> for PosmateError {
    fn from(e: CoreError) -> Self {
        PosmateError::advised(&e)
    }
}

/// Opening the Bluetooth transport failed: said in the core's terms (its code, whether a
/// retry helps, and what to do, e.g. the platform's fix when Bluetooth is unavailable).
impl From<TransportError> for PosmateError {
    fn from(e: TransportError) -> Self {
        CoreError::from(SessionError::from(e)).into()
    }
}

/// The sim server could not be used: said in the core's terms, like every other error.
impl From<SimLinkError> for PosmateError {
    fn from(e: SimLinkError) -> Self {
        PosmateError::advised(&e)
    }
}

/// Opening the companion's link failed: Bluetooth or the sim server, as above.
impl From<OpenError> for PosmateError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Bluetooth(e) => e.into(),
            OpenError::SimLink(e) => e.into(),
        }
    }
}

/// A callback into the app failed in a way its signature does not allow (an unexpected
/// exception in Kotlin, Swift or Python).
impl From<uniffi::UnexpectedUniFFICallbackError> for PosmateError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::failed(
            ErrorKind::Internal,
            "callback-failed",
            format!("a callback in the app failed: {}", e.reason),
            false,
            "fix the app's callback; it must not throw",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every core kind has its own FFI kind, so no two categories look alike to an app.
    #[test]
    fn every_core_kind_has_its_own_ffi_kind() {
        let mut seen: Vec<ErrorKind> = Vec::new();
        for kind in core_error::ErrorKind::ALL {
            let ffi = ErrorKind::from(kind);
            assert!(!seen.contains(&ffi), "{kind} maps to {ffi:?}, already used");
            seen.push(ffi);
        }
    }

    /// The error carries the kind the core gave, beside its code.
    #[test]
    fn a_core_error_keeps_its_kind() {
        let e = PosmateError::from(CoreError::UnknownTerminal { sn: "X".into() });
        match e {
            PosmateError::Failed { code, kind, .. } => {
                assert_eq!(code, "unknown-terminal");
                assert_eq!(kind, ErrorKind::NotFound);
            }
        }
    }
}
