//! Which credential store backs the keystore. Every `cfg` for platform selection lives here.
//!
//! Stores are created as objects and handed to [`KeyringStore`](super::KeyringStore), which
//! builds its entries through them. keyring-core's process-global default store
//! (`set_default_store`) is never used: two stores can coexist in one process (tests do
//! this) and which one a secret went to is always visible in the code.

use std::sync::Arc;

use keyring_core::CredentialStore;

use super::error::{KeystoreError, Result};

/// The store a user or test asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreChoice {
    /// The platform's default keystore (on Linux today: the kernel keyutils store).
    Os,
    /// The Linux kernel key-retention service (volatile: lost at reboot).
    LinuxKeyutils,
    /// keyring-core's in-memory mock, for tests: lost when the process exits.
    Mock,
}

impl std::str::FromStr for KeystoreChoice {
    type Err = KeystoreError;

    /// Parses the names the CLI accepts: `os`, `keyutils`, `mock`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "os" => Ok(KeystoreChoice::Os),
            "keyutils" => Ok(KeystoreChoice::LinuxKeyutils),
            "mock" => Ok(KeystoreChoice::Mock),
            other => Err(KeystoreError::InvalidInput {
                what: "keystore choice",
                reason: format!("'{other}' is not one of: os, keyutils, mock"),
            }),
        }
    }
}

/// What the selected backend is and whether it keeps secrets across reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// Short stable name: `linux-keyutils`, `mock`.
    pub name: &'static str,
    /// Whether secrets survive a reboot and stay until deleted.
    pub durable: bool,
    /// One sentence on where secrets are kept.
    pub description: String,
}

impl BackendInfo {
    /// What to tell the user before relying on a non-durable backend; `None` when durable.
    pub fn warning(&self) -> Option<String> {
        (!self.durable).then(|| {
            format!(
                "the {} keystore is not durable: {} If its keys are lost, this phone loses its \
                 identity and every paired terminal has to be paired again.",
                self.name, self.description
            )
        })
    }
}

/// A store object plus what we say about it.
pub(crate) struct Backend {
    pub store: Arc<CredentialStore>,
    pub info: BackendInfo,
    /// What to do when the backend reports it cannot be reached.
    pub fix: &'static str,
}

pub(crate) fn open(choice: KeystoreChoice) -> Result<Backend> {
    match choice {
        KeystoreChoice::Os => os_default(),
        KeystoreChoice::LinuxKeyutils => linux_keyutils(),
        KeystoreChoice::Mock => Ok(mock()),
    }
}

pub(crate) fn mock() -> Backend {
    let store = keyring_core::mock::Store::new().expect("the mock store cannot fail to build");
    Backend {
        store,
        info: BackendInfo {
            name: "mock",
            durable: false,
            description: "secrets are kept in this process's memory and vanish when it exits."
                .into(),
        },
        fix: "the mock store is always available; this is a bug in the test",
    }
}

#[cfg(target_os = "linux")]
fn os_default() -> Result<Backend> {
    // No Secret Service store is built in yet, so the kernel store is the only one on Linux.
    linux_keyutils()
}

#[cfg(not(target_os = "linux"))]
fn os_default() -> Result<Backend> {
    Err(KeystoreError::Unavailable {
        backend: "os",
        reason: "posmate has no keystore backend for this platform yet".into(),
        fix: "use a Linux build, or the mobile apps once their keystores land".into(),
    })
}

#[cfg(target_os = "linux")]
fn linux_keyutils() -> Result<Backend> {
    use std::collections::HashMap;
    // Forbid the '@' divider in service names so that two (service, user) pairs can never map
    // to the same kernel key description.
    let config = HashMap::from([("service_no_divider", "true")]);
    let store =
        linux_keyutils_keyring_store::Store::new_with_configuration(&config).map_err(|e| {
            KeystoreError::Backend {
                backend: "linux-keyutils",
                detail: e.to_string(),
            }
        })?;
    Ok(Backend {
        store,
        info: BackendInfo {
            name: "linux-keyutils",
            durable: false,
            description: "secrets are kept in kernel memory (session and persistent keyrings); \
                          they are gone after a reboot and expire after days unused."
                .into(),
        },
        fix: "give the process a session keyring: posmate calls \
              keystore::linux::join_session_keyring() at startup, or run it under \
              `keyctl session - <command>`",
    })
}

#[cfg(not(target_os = "linux"))]
fn linux_keyutils() -> Result<Backend> {
    Err(KeystoreError::Unavailable {
        backend: "linux-keyutils",
        reason: "the kernel keyutils store exists only on Linux".into(),
        fix: "choose the os keystore on this platform".into(),
    })
}
