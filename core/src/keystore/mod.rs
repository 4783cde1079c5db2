//! The phone's secrets, kept in the OS keystore and never in SQLite, logs or error text.
//!
//! [`SecretStore`] is the platform service trait (as in mozilla application-services): the
//! flows see only it. [`KeyringStore`] implements it over keyring-core 1.0, with the backend
//! chosen explicitly through [`KeystoreChoice`] (see `backend.rs`, the one place with platform
//! `cfg`s). On top sit the domain helpers: [`PhoneIdentity`], [`TerminalPins`], [`wipe_all`].
//!
//! Which backends exist and how long they keep secrets:
//! - `android-keystore` (`Os` on Android): values sealed with AES-GCM under a key held by the
//!   Android Keystore, kept in the app's private preferences; durable. Needs the app's
//!   Context first ([`android::provide_context`], called by the UniFFI layer's JNI init).
//! - `ios-keychain` (`Os` on iOS): the Keychain's protected data store, after first unlock,
//!   this device only; durable.
//! - `macos-keychain` (`Os` on macOS): the user's login Keychain; durable.
//! - `secret-service` (`Os` on Linux, also by name): the freedesktop.org Secret Service on the
//!   session bus (gnome-keyring, KeePassXC, KWallet), in its default collection; durable.
//!   Needs a session bus, a provider and an unlocked collection; when one is missing, opening
//!   fails with [`KeystoreError::Unavailable`] naming it (`secret_service.rs`), and nothing
//!   falls back to another store.
//! - `linux-keyutils` (Linux, by name only): kernel memory, **not durable**: lost at reboot,
//!   expires after days unused. Needs a session keyring ([`linux::join_session_keyring`]).
//! - `mock`: keyring-core's in-memory store, for tests; lost at process exit.
//!
//! The database key goes to a store that is not durable only with the user's explicit
//! consent, recorded in the data directory ([`consent`]); callers show
//! [`BackendInfo::warning`] whenever such a store is in use.
//!
//! Which namespace a data directory's secrets live under is recorded in the directory itself
//! ([`Namespace::anchored`]), so they stay found when the OS moves the directory.

#[cfg(target_os = "android")]
pub mod android;
mod backend;
pub mod consent;
mod error;
mod identity;
mod keyring;
#[cfg(target_os = "linux")]
pub mod linux;
mod secret;
#[cfg(target_os = "linux")]
mod secret_service;

pub use backend::{BackendInfo, KeystoreChoice};
pub use error::{KeystoreError, Result};
pub use identity::{wipe_all, PhoneIdentity, TerminalPins};
pub use keyring::{KeyringStore, Namespace, NAMESPACE_FILE};
pub use secret::Secret;

/// Where the phone keeps its secrets. Calls block on the platform keystore; call them from a
/// blocking context (e.g. `tokio::task::spawn_blocking`), not on an async executor thread.
pub trait SecretStore: Send + Sync {
    /// The secret stored under `name`, or `None` if there is none.
    fn get(&self, name: &str) -> Result<Option<Secret>>;
    /// Stores `secret` under `name`, replacing any previous value.
    fn set(&self, name: &str, secret: &Secret) -> Result<()>;
    /// Deletes `name`; returns whether it existed. Deleting a missing name is not an error.
    fn delete(&self, name: &str) -> Result<bool>;
    /// The names of all secrets stored through this store, sorted.
    fn list(&self) -> Result<Vec<String>>;
    /// What backs this store and whether it is durable.
    fn backend(&self) -> BackendInfo;
}

#[cfg(test)]
mod tests;
