//! [`SecretStore`] over keyring-core 1.0 credential stores.
//!
//! Each secret is one credential: service `posmate:<namespace>`, user = the secret's name.
//! The namespace keeps two data directories (two installs, or tests) on one OS account apart.
//!
//! keyring-core cannot enumerate in general: `CredentialStoreApi::search` is optional and the
//! keyutils store does not implement it. So that "wipe this phone" can find everything posmate
//! wrote, each namespace keeps an index credential (user `#index`, a name posmate's own names
//! cannot take) listing the names it holds. The index is written before a secret and pruned
//! after a deletion, so a crash leaves at worst a listed name without a secret, never a secret
//! nobody knows about. The index exists only while it lists something.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry};
use sha2::{Digest, Sha256};

use super::backend::{self, Backend, BackendInfo, KeystoreChoice};
use super::error::{from_keyring, ErrorContext, KeystoreError, Result};
use super::{Secret, SecretStore};

const SERVICE_PREFIX: &str = "posmate:";
const INDEX_USER: &str = "#index";
const MAX_NAME_LEN: usize = 128;

/// Serialises index read-modify-write cycles within the process. (Two processes writing the
/// same namespace at once can still lose an index update; posmate runs one process per data
/// directory.)
static INDEX_LOCK: Mutex<()> = Mutex::new(());

/// Separates the secrets of one data directory from those of another on the same account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    /// A namespace from a label of 1 to 64 ASCII letters, digits, `-` or `_`.
    pub fn new(label: &str) -> Result<Self> {
        let ok = (1..=64).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Namespace(label.to_string()))
        } else {
            Err(KeystoreError::InvalidInput {
                what: "namespace",
                reason: format!("'{label}' must be 1 to 64 ASCII letters, digits, '-' or '_'"),
            })
        }
    }

    /// The namespace for a data directory: a hash of its absolute, canonical path, so the same
    /// directory always maps to the same keys and different directories never share them.
    /// This is what [`Namespace::anchored`] records the first time it sees a directory.
    pub fn for_data_dir(dir: &Path) -> Result<Self> {
        let absolute = std::path::absolute(dir).map_err(|e| KeystoreError::InvalidInput {
            what: "data directory",
            reason: format!("cannot resolve {}: {e}", dir.display()),
        })?;
        let canonical = absolute.canonicalize().unwrap_or(absolute);
        let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Namespace(format!("dir-{hex}")))
    }

    /// The namespace recorded in an existing data directory's [`NAMESPACE_FILE`], written
    /// from [`Namespace::for_data_dir`] when the directory has none yet.
    ///
    /// Why a file and not the path alone: a path is not a stable identity on the phones. iOS
    /// moves an app's container to a new path when the app is updated, and Android moves
    /// it when the user moves the app to adopted storage. Keys found through the path would
    /// then be lost with the database they unlock. The file moves with the directory.
    pub fn anchored(dir: &Path) -> Result<Self> {
        let path = dir.join(NAMESPACE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Namespace::new(text.trim_end_matches('\n')).map_err(|_| KeystoreError::Corrupt {
                    name: path.display().to_string(),
                    reason: "it does not hold a namespace label".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let namespace = Namespace::for_data_dir(dir)?;
                write_anchor(dir, &path, &namespace).map_err(|e| KeystoreError::InvalidInput {
                    what: "data directory",
                    reason: format!("cannot write {}: {e}", path.display()),
                })?;
                Ok(namespace)
            }
            Err(e) => Err(KeystoreError::InvalidInput {
                what: "data directory",
                reason: format!("cannot read {}: {e}", path.display()),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file in a data directory that names its keystore namespace (not a secret: a label).
pub const NAMESPACE_FILE: &str = "keystore-namespace";

/// Writes the anchor file so that a crash leaves either no file or a complete one.
fn write_anchor(dir: &Path, path: &Path, namespace: &Namespace) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{NAMESPACE_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(format!("{}\n", namespace.0).as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself must reach the disk before keys are written under this namespace.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Secrets in a keyring-core credential store, under one namespace.
pub struct KeyringStore {
    backend: Backend,
    namespace: Namespace,
    service: String,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("backend", &self.backend.info.name)
            .field("namespace", &self.namespace.0)
            .finish()
    }
}

impl KeyringStore {
    /// Opens the chosen store and checks that it answers (by reading this namespace's index),
    /// so an unreachable backend is reported here rather than at the first secret.
    pub fn open(choice: KeystoreChoice, namespace: Namespace) -> Result<Self> {
        let store = Self::with_backend(backend::open(choice)?, namespace);
        store.read_index()?;
        Ok(store)
    }

    pub(crate) fn with_backend(backend: Backend, namespace: Namespace) -> Self {
        let service = format!("{SERVICE_PREFIX}{}", namespace.0);
        KeyringStore {
            backend,
            namespace,
            service,
        }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The credential store object entries are built from (tests use it to inject errors).
    #[cfg(test)]
    pub(crate) fn credential_store(&self) -> &Arc<CredentialStore> {
        &self.backend.store
    }

    /// The keyring-core service string this namespace maps to.
    #[cfg(test)]
    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    fn ctx<'a>(&'a self, name: &'a str) -> ErrorContext<'a> {
        ErrorContext {
            backend: self.backend.info.name,
            fix: self.backend.fix,
            name,
        }
    }

    fn entry(&self, user: &str) -> Result<Entry> {
        let store: &Arc<CredentialStore> = &self.backend.store;
        let modifiers = &self.backend.modifiers;
        store
            .build(
                &self.service,
                user,
                (!modifiers.is_empty()).then_some(modifiers),
            )
            .map_err(|e| from_keyring(e, &self.ctx(user)))
    }

    fn read(&self, user: &str) -> Result<Option<Secret>> {
        match self.entry(user)?.get_secret() {
            Ok(bytes) => Ok(Some(Secret::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(from_keyring(e, &self.ctx(user))),
        }
    }

    fn remove(&self, user: &str) -> Result<bool> {
        match self.entry(user)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(from_keyring(e, &self.ctx(user))),
        }
    }

    /// Reads the index leniently: lines that are not valid names (posmate never writes such)
    /// are dropped with a warning, so a damaged index can never block "wipe this phone".
    fn read_index(&self) -> Result<BTreeSet<String>> {
        let Some(raw) = self.read(INDEX_USER)? else {
            return Ok(BTreeSet::new());
        };
        let text = String::from_utf8_lossy(raw.expose());
        let (valid, invalid): (Vec<&str>, Vec<&str>) =
            text.split('\n').partition(|name| check_name(name).is_ok());
        if !invalid.is_empty() {
            tracing::warn!(
                namespace = %self.namespace,
                dropped = invalid.len(),
                "keystore index listed invalid names; ignoring them"
            );
        }
        Ok(valid.into_iter().map(str::to_string).collect())
    }

    fn write_index(&self, names: &BTreeSet<String>) -> Result<()> {
        if names.is_empty() {
            self.remove(INDEX_USER)?;
            return Ok(());
        }
        let text = names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        self.entry(INDEX_USER)?
            .set_secret(text.as_bytes())
            .map_err(|e| from_keyring(e, &self.ctx(INDEX_USER)))
    }

    fn index_guard() -> std::sync::MutexGuard<'static, ()> {
        // The lock guards no data of its own, so a poisoned lock is still usable.
        INDEX_LOCK.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, name: &str) -> Result<Option<Secret>> {
        check_name(name)?;
        self.read(name)
    }

    fn set(&self, name: &str, secret: &Secret) -> Result<()> {
        check_name(name)?;
        if secret.is_empty() {
            return Err(KeystoreError::InvalidInput {
                what: "secret",
                reason: format!("'{name}' would be empty, which keystores cannot hold"),
            });
        }
        let _guard = Self::index_guard();
        let mut names = self.read_index()?;
        if names.insert(name.to_string()) {
            self.write_index(&names)?;
        }
        self.entry(name)?
            .set_secret(secret.expose())
            .map_err(|e| from_keyring(e, &self.ctx(name)))
    }

    fn delete(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let _guard = Self::index_guard();
        let existed = self.remove(name)?;
        let mut names = self.read_index()?;
        if names.remove(name) {
            self.write_index(&names)?;
        }
        Ok(existed)
    }

    fn list(&self) -> Result<Vec<String>> {
        Ok(self.read_index()?.into_iter().collect())
    }

    fn backend(&self) -> BackendInfo {
        self.backend.info.clone()
    }
}

/// Secret names: 1 to 128 ASCII letters, digits, `.`, `_` or `-`.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::InvalidInput {
            what: "secret name",
            reason: format!(
                "{name:?} must be 1 to {MAX_NAME_LEN} ASCII letters, digits, '.', '_' or '-'"
            ),
        })
    }
}
