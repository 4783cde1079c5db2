//! The user's recorded acceptance of a volatile keystore for a data directory's database key.
//!
//! A keystore that forgets at reboot (keyutils, the mock) loses the database key, and with it
//! every record. posmate keeps the key there only when the user said so explicitly, once, on
//! the call that first needed it; the answer is written next to the namespace anchor
//! ([`CONSENT_FILE`]) with the backend's name and the time, so later calls on the directory
//! need not repeat it and `doctor` can show when it was given. Consent covers only the
//! backend it names: choosing another volatile store asks again.
//!
//! The file holds no secret: a backend name and a time.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::backend::BackendInfo;
use super::error::{KeystoreError, Result};

/// The file in a data directory recording the consent (next to `keystore-namespace`).
pub const CONSENT_FILE: &str = "keystore-volatile-consent";

/// A recorded consent: which volatile backend the user accepted, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolatileConsent {
    /// The [`BackendInfo::name`] accepted.
    pub backend: String,
    /// When, in milliseconds since the Unix epoch.
    pub accepted_at_ms: u64,
}

/// Whether the database key may be kept in `backend` for a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// The backend is durable: nothing to accept.
    NotNeeded,
    /// The user accepted this backend earlier (recorded).
    Recorded(VolatileConsent),
    /// The user accepts it on this call; [`record`] it once the database opened.
    GivenNow,
    /// Not accepted: the database key must not go there.
    Missing,
}

impl Consent {
    /// Whether the database key may be kept in the backend.
    pub fn allows_volatile_key(&self) -> bool {
        !matches!(self, Consent::Missing)
    }
}

/// What applies to `backend` in `dir`: `explicit` is the user's acceptance on this call
/// (`--allow-volatile-key`). Reads only; nothing is written.
pub fn check(dir: &Path, backend: &BackendInfo, explicit: bool) -> Result<Consent> {
    if backend.durable {
        return Ok(Consent::NotNeeded);
    }
    match read(dir)? {
        Some(c) if c.backend == backend.name => Ok(Consent::Recorded(c)),
        _ if explicit => Ok(Consent::GivenNow),
        _ => Ok(Consent::Missing),
    }
}

/// The consent recorded in `dir`, if any. A file posmate cannot read back is reported as
/// corrupt (and left alone), never taken as consent.
pub fn read(dir: &Path) -> Result<Option<VolatileConsent>> {
    let path = dir.join(CONSENT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| KeystoreError::Corrupt {
                name: path.display().to_string(),
                reason: "it does not hold a recorded consent; delete it and accept again with \
                         --allow-volatile-key"
                    .into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeystoreError::InvalidInput {
            what: "data directory",
            reason: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

/// Records that the user accepted `backend` at `now_ms`, replacing any earlier record
/// (written to a temporary file and renamed, so a crash leaves the old record or the new).
pub fn record(dir: &Path, backend: &BackendInfo, now_ms: u64) -> Result<VolatileConsent> {
    let consent = VolatileConsent {
        backend: backend.name.to_string(),
        accepted_at_ms: now_ms,
    };
    let path = dir.join(CONSENT_FILE);
    let tmp = dir.join(format!("{CONSENT_FILE}.tmp"));
    let text = serde_json::to_vec(&consent).expect("two plain fields serialise");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| KeystoreError::InvalidInput {
            what: "data directory",
            reason: format!("cannot write {}: {e}", path.display()),
        })?;
    Ok(consent)
}
