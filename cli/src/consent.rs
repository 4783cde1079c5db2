//! The user's consent to a volatile keystore for the phone's database key, as the CLI asks
//! for it (`--allow-volatile-key` / POSMATE_ALLOW_VOLATILE_KEY) and records it
//! (`posmate_core::keystore::consent`). Nothing implies it: not `--sim`, not `--connect-sim`.
//! Only `posmate demo`, which makes and deletes its own data directory with the mock store,
//! opens without it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use posmate_core::keystore::consent::{self, Consent};
use posmate_core::keystore::{BackendInfo, SecretStore};
use posmate_core::store::StoreError;

use crate::context::Ctx;
use crate::error::CliError;

/// What applies to the database key in `dir` with `backend`; refuses, before anything is
/// created, when the store is volatile and the user accepted it neither now nor earlier.
pub fn require(ctx: &Ctx, dir: &Path, backend: &BackendInfo) -> Result<Consent, CliError> {
    let consent = consent::check(dir, backend, ctx.settings.allow_volatile_key)?;
    if consent.allows_volatile_key() {
        return Ok(consent);
    }
    let refused = StoreError::KeystoreNotDurable {
        backend: backend.name,
    };
    Err(CliError::from(posmate_core::error::Error::from(refused)))
}

/// Records consent given on this call, once the database opened with it, and says so.
pub fn record_if_given_now(
    ctx: &Ctx,
    dir: &Path,
    backend: &BackendInfo,
    consent: &Consent,
) -> Result<(), CliError> {
    if *consent != Consent::GivenNow {
        return Ok(());
    }
    consent::record(dir, backend, now_ms())?;
    ctx.out.note(&format!(
        "note: the phone's database key is kept in the {} keystore, which does not survive a \
         reboot; accepted for {} (recorded in {})",
        backend.name,
        dir.display(),
        consent::CONSENT_FILE
    ));
    Ok(())
}

/// `posmate demo` without `--data-dir`: the program itself chose the mock store, for a
/// directory it deletes at exit, and says so in its help and summary; recorded as its
/// choice, so no consent is asked of the user.
pub fn chosen_by_the_program(ctx: &Ctx, dir: &Path) -> Result<(), CliError> {
    let backend = ctx.keystore()?.backend();
    consent::record(dir, &backend, now_ms())?;
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
