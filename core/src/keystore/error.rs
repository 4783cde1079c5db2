//! The keystore's error type and the translation of keyring-core's errors into it.
//!
//! Every variant says what the user can do about it. None carries secret bytes:
//! keyring-core's `BadEncoding`/`BadDataFormat` hold the raw secret and `Ambiguous` holds
//! entries whose `Debug` may print it, so those are reduced to a description here.

use keyring_core::error::PlatformError;

/// Why a keystore operation failed. A missing entry is not an error (`Ok(None)`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The backend cannot be reached at all (no session keyring, no Secret Service, locked).
    #[error("the {backend} keystore is unavailable: {reason}. To fix: {fix}")]
    Unavailable {
        backend: &'static str,
        reason: String,
        fix: String,
    },
    /// The backend is reachable but refused this entry (permissions, policy).
    #[error("the {backend} keystore denied access to '{name}': {detail}. To fix: check that posmate runs as the user who created its keys")]
    Denied {
        backend: &'static str,
        name: String,
        detail: String,
    },
    /// The entry exists but does not hold what posmate wrote (wrong length, bad encoding).
    #[error("keystore entry '{name}' is corrupt: {reason}. To fix: reset this phone's keys (wipe) and pair the terminals again")]
    Corrupt { name: String, reason: String },
    /// A name, namespace or value posmate passed is not acceptable.
    #[error("invalid keystore {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },
    /// A terminal already has a different key pinned; replacing it silently would defeat pinning.
    #[error("terminal {sn} already has a different pinned key. To fix: forget the terminal, then pair it again")]
    PinConflict { sn: String },
    /// Any other failure of the backend.
    #[error("the {backend} keystore failed: {detail}")]
    Backend {
        backend: &'static str,
        detail: String,
    },
}

impl KeystoreError {
    /// A stable code for logs, the CLI and the FFI layer.
    pub fn code(&self) -> &'static str {
        match self {
            KeystoreError::Unavailable { .. } => "keystore.unavailable",
            KeystoreError::Denied { .. } => "keystore.denied",
            KeystoreError::Corrupt { .. } => "keystore.corrupt",
            KeystoreError::InvalidInput { .. } => "keystore.invalid_input",
            KeystoreError::PinConflict { .. } => "keystore.pin_conflict",
            KeystoreError::Backend { .. } => "keystore.backend",
        }
    }
}

pub type Result<T> = std::result::Result<T, KeystoreError>;

/// What the caller knows about where an error happened, for the translation below.
pub(crate) struct ErrorContext<'a> {
    pub backend: &'static str,
    /// Backend-specific advice for `Unavailable`.
    pub fix: &'a str,
    /// The posmate name of the entry involved.
    pub name: &'a str,
}

/// Translates a keyring-core error. `NoEntry` must be handled by the caller before this
/// (it means `None`/`false`); if it gets here it is reported as a backend failure.
pub(crate) fn from_keyring(err: keyring_core::Error, ctx: &ErrorContext<'_>) -> KeystoreError {
    use keyring_core::Error as K;
    let backend = ctx.backend;
    let name = ctx.name.to_string();
    match err {
        K::NoStorageAccess(platform) if is_permission_denied(&platform) => KeystoreError::Denied {
            backend,
            name,
            detail: platform.to_string(),
        },
        K::NoStorageAccess(platform) => KeystoreError::Unavailable {
            backend,
            reason: unavailable_reason(&platform).unwrap_or_else(|| platform.to_string()),
            fix: ctx.fix.to_string(),
        },
        K::PlatformFailure(platform) if is_permission_denied(&platform) => KeystoreError::Denied {
            backend,
            name,
            detail: platform.to_string(),
        },
        K::PlatformFailure(platform) => match unavailable_reason(&platform) {
            Some(reason) => KeystoreError::Unavailable {
                backend,
                reason,
                fix: ctx.fix.to_string(),
            },
            None => KeystoreError::Backend {
                backend,
                detail: platform.to_string(),
            },
        },
        K::BadEncoding(_) => KeystoreError::Corrupt {
            name,
            reason: "the stored value is not in the expected encoding".into(),
        },
        K::BadDataFormat(_, platform) => KeystoreError::Corrupt {
            name,
            reason: format!("the backend could not decode the stored value ({platform})"),
        },
        K::BadStoreFormat(reason) => KeystoreError::Corrupt { name, reason },
        K::TooLong(attr, limit) => KeystoreError::InvalidInput {
            what: "value",
            reason: format!("'{attr}' is longer than the backend's limit of {limit}"),
        },
        K::Invalid(attr, reason) => KeystoreError::InvalidInput {
            what: "value",
            reason: format!("'{attr}' {reason}"),
        },
        K::Ambiguous(entries) => KeystoreError::Backend {
            backend,
            detail: format!("{} credentials match '{name}'", entries.len()),
        },
        K::NoEntry => KeystoreError::Backend {
            backend,
            detail: format!("'{name}' vanished during the operation"),
        },
        K::NoDefaultStore => KeystoreError::Backend {
            backend,
            detail: "no credential store was selected".into(),
        },
        K::NotSupportedByStore(what) => KeystoreError::Backend {
            backend,
            detail: format!("not supported: {what}"),
        },
        // keyring-core's enum is non-exhaustive; a future variant might carry data, so its
        // text is not trusted to be free of secrets.
        _ => KeystoreError::Backend {
            backend,
            detail: "unrecognised keyring error".into(),
        },
    }
}

/// Why the keystore as a whole cannot be used now, for platform failures that mean that
/// rather than a problem with one entry, in one line (never the platform's own dump).
/// The iOS Keychain reports these as plain failures, by code.
#[cfg(target_os = "ios")]
fn unavailable_reason(platform: &PlatformError) -> Option<String> {
    let err = platform.downcast_ref::<security_framework::base::Error>()?;
    let reason = match err.code() {
        // errSecMissingEntitlement: no keychain access group (an unsigned build).
        -34018 => "the app has no keychain access group",
        // errSecInteractionNotAllowed: items are readable only after the first unlock.
        -25308 => "the phone has not been unlocked since it started",
        _ => return None,
    };
    Some(format!("{reason} ({platform})"))
}

/// The Secret Service reports D-Bus errors: a provider that quit, a bus that went away, a
/// collection locked meanwhile.
#[cfg(target_os = "linux")]
fn unavailable_reason(platform: &PlatformError) -> Option<String> {
    super::secret_service::reason_for(platform.downcast_ref::<dbus_secret_service::Error>()?)
}

#[cfg(not(any(target_os = "ios", target_os = "linux")))]
fn unavailable_reason(_platform: &PlatformError) -> Option<String> {
    None
}

/// Whether a platform error is a permission refusal rather than a missing service.
fn is_permission_denied(platform: &PlatformError) -> bool {
    if let Some(io) = platform.downcast_ref::<std::io::Error>() {
        return io.kind() == std::io::ErrorKind::PermissionDenied;
    }
    #[cfg(target_os = "linux")]
    if let Some(key) = platform.downcast_ref::<linux_keyutils::KeyError>() {
        return matches!(
            key,
            linux_keyutils::KeyError::AccessDenied | linux_keyutils::KeyError::PermissionDenied
        );
    }
    false
}
