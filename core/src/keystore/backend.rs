//! Which credential store backs the keystore. Every `cfg` for platform selection lives here.
//!
//! Stores are created as objects and handed to [`KeyringStore`](super::KeyringStore), which
//! builds its entries through them. keyring-core's process-global default store
//! (`set_default_store`) is never used: two stores can coexist in one process (tests do
//! this) and which one a secret went to is always visible in the code.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::CredentialStore;

use super::error::{KeystoreError, Result};

/// The store a user or test asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreChoice {
    /// The platform's durable keystore: the Android Keystore, the iOS Keychain (protected
    /// data), the macOS login Keychain, and on Linux the Secret Service.
    Os,
    /// The freedesktop.org Secret Service on the session bus (Linux; durable). What `Os`
    /// is on Linux, by name.
    SecretService,
    /// The Linux kernel key-retention service (volatile: lost at reboot).
    LinuxKeyutils,
    /// keyring-core's in-memory mock, for tests: lost when the process exits.
    Mock,
}

impl std::str::FromStr for KeystoreChoice {
    type Err = KeystoreError;

    /// Parses the names the CLI accepts: `os`, `secret-service`, `keyutils`, `mock`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "os" => Ok(KeystoreChoice::Os),
            "secret-service" => Ok(KeystoreChoice::SecretService),
            "keyutils" => Ok(KeystoreChoice::LinuxKeyutils),
            "mock" => Ok(KeystoreChoice::Mock),
            other => Err(KeystoreError::InvalidInput {
                what: "keystore choice",
                reason: format!("'{other}' is not one of: os, secret-service, keyutils, mock"),
            }),
        }
    }
}

/// What the selected backend is and whether it keeps secrets across reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// Short stable name: `android-keystore`, `ios-keychain`, `macos-keychain`,
    /// `secret-service`, `linux-keyutils`, `mock`.
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
    /// keyring-core entry modifiers every entry is built with (the Keychain's access policy).
    pub modifiers: HashMap<&'static str, &'static str>,
}

pub(crate) fn open(choice: KeystoreChoice) -> Result<Backend> {
    match choice {
        KeystoreChoice::Os => os_default(),
        KeystoreChoice::SecretService => secret_service(),
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
        modifiers: HashMap::new(),
    }
}

#[cfg(target_os = "linux")]
fn os_default() -> Result<Backend> {
    // Durable, unlike the kernel store; when it cannot be reached the user is told why and
    // chooses, never moved silently to a store that forgets at reboot.
    secret_service()
}

#[cfg(target_os = "linux")]
fn secret_service() -> Result<Backend> {
    use super::secret_service::{probe, FIX, NAME};
    probe()?;
    let store = dbus_secret_service_keyring_store::Store::new().map_err(|e| {
        let reason = match &e {
            keyring_core::Error::PlatformFailure(p) | keyring_core::Error::NoStorageAccess(p) => p
                .downcast_ref::<dbus_secret_service::Error>()
                .and_then(super::secret_service::reason_for),
            _ => None,
        };
        KeystoreError::Unavailable {
            backend: NAME,
            reason: reason.unwrap_or_else(|| "opening a session with it failed".into()),
            fix: FIX.into(),
        }
    })?;
    Ok(Backend {
        store,
        info: BackendInfo {
            name: NAME,
            durable: true,
            description: "secrets are kept by the Secret Service on the session bus (e.g. \
                          gnome-keyring), in its default collection, encrypted on disk under \
                          the login password; they cross the bus encrypted."
                .into(),
        },
        fix: FIX,
        modifiers: HashMap::new(),
    })
}

#[cfg(not(target_os = "linux"))]
fn secret_service() -> Result<Backend> {
    Err(KeystoreError::Unavailable {
        backend: "secret-service",
        reason: "posmate reaches the Secret Service only on Linux".into(),
        fix: "choose the os keystore on this platform".into(),
    })
}

#[cfg(target_os = "macos")]
fn os_default() -> Result<Backend> {
    const FIX: &str = "unlock your login Keychain (Keychain Access, or `security \
                       unlock-keychain`) and allow posmate to use it";
    let store = apple_native_keyring_store::keychain::Store::new()
        .map_err(|e| unavailable("macos-keychain", e, FIX))?;
    Ok(Backend {
        store,
        info: BackendInfo {
            name: "macos-keychain",
            durable: true,
            description: "secrets are kept in the user's login Keychain as generic passwords."
                .into(),
        },
        fix: FIX,
        modifiers: HashMap::new(),
    })
}

#[cfg(target_os = "android")]
fn os_default() -> Result<Backend> {
    const FIX: &str = "call PosmateAndroid.init(context) once, before opening posmate: it hands \
                       posmate the app's Context, which the Android Keystore needs";
    if !super::android::has_context() {
        return Err(KeystoreError::Unavailable {
            backend: "android-keystore",
            reason: "the app has not handed posmate its Android Context".into(),
            fix: FIX.into(),
        });
    }
    // One named store: its own SharedPreferences file and its own Keystore key, so nothing
    // else in the app that uses keyring-core can read or wipe posmate's secrets.
    let config = HashMap::from([("name", "posmate")]);
    let store = android_native_keyring_store::Store::new_with_configuration(&config)
        .map_err(|e| unavailable("android-keystore", e, FIX))?;
    Ok(Backend {
        store: Arc::new(android_store::WithoutSearch(store)),
        info: BackendInfo {
            name: "android-keystore",
            durable: true,
            description: "secrets are sealed with AES-GCM under a key the Android Keystore keeps \
                          (in secure hardware where the phone has it) and stored in the app's \
                          private preferences file keyring-posmate."
                .into(),
        },
        fix: FIX,
        modifiers: HashMap::new(),
    })
}

#[cfg(target_os = "android")]
mod android_store {
    use std::any::Any;
    use std::collections::HashMap;
    use std::sync::Arc;

    use keyring_core::api::CredentialStoreApi;
    use keyring_core::{CredentialPersistence, Entry};

    /// The Android store with keyring-core's default `search` (not supported) instead of its
    /// own. posmate never searches (it keeps an index entry, see `keyring.rs`), and the
    /// store's search is the only user of the regex engine: behind `dyn` its vtable would
    /// link that in, measured at 1.4 MB of the library (docs/performance.md).
    #[derive(Debug)]
    pub(super) struct WithoutSearch(pub Arc<android_native_keyring_store::Store>);

    impl CredentialStoreApi for WithoutSearch {
        fn vendor(&self) -> String {
            self.0.vendor()
        }

        fn id(&self) -> String {
            self.0.id()
        }

        fn build(
            &self,
            service: &str,
            user: &str,
            modifiers: Option<&HashMap<&str, &str>>,
        ) -> keyring_core::Result<Entry> {
            self.0.build(service, user, modifiers)
        }

        fn as_any(&self) -> &dyn Any {
            self
        }

        fn persistence(&self) -> CredentialPersistence {
            self.0.persistence()
        }
    }
}

#[cfg(target_os = "ios")]
fn os_default() -> Result<Backend> {
    const FIX: &str = "check that the app is signed with a provisioning profile (the Keychain \
                       needs an access group) and that the phone has been unlocked since it \
                       started";
    let store = apple_native_keyring_store::protected::Store::new()
        .map_err(|e| unavailable("ios-keychain", e, FIX))?;
    Ok(Backend {
        store,
        info: BackendInfo {
            name: "ios-keychain",
            durable: true,
            description: "secrets are kept in the iOS Keychain (data protection class \
                          after-first-unlock, this device only)."
                .into(),
        },
        fix: FIX,
        // After first unlock: posmate reconnects and syncs terminals in the background while
        // the phone is locked. This device only: the phone's identity and its database key
        // must never reach another phone through an iCloud or computer backup (moving to a
        // new phone goes through posmate's own encrypted backup archive).
        modifiers: HashMap::from([("access-policy", "after-first-unlock-this-device-only")]),
    })
}

/// A store that could not be opened at all, in the keystore's terms.
#[cfg(any(target_os = "android", target_os = "ios", target_os = "macos"))]
fn unavailable(backend: &'static str, err: keyring_core::Error, fix: &str) -> KeystoreError {
    KeystoreError::Unavailable {
        backend,
        reason: format!("opening it failed: {err}"),
        fix: fix.into(),
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "ios",
    target_os = "macos"
)))]
fn os_default() -> Result<Backend> {
    Err(KeystoreError::Unavailable {
        backend: "os",
        reason: "posmate has no keystore backend for this platform yet".into(),
        fix: "use Linux, macOS, Android or iOS".into(),
    })
}

#[cfg(target_os = "linux")]
fn linux_keyutils() -> Result<Backend> {
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
        modifiers: HashMap::new(),
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
