//! The phone's data as a whole: encrypted backups, restoring one, rotating the database
//! key, and wiping the phone.

use std::path::{Path, PathBuf};

use posmate_core::backup::{self as core_backup, Passphrase};
use posmate_core::companion::{self as comp, Companion};
use posmate_core::error::Error as CoreError;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::mirror::ffi_mirror;
use crate::runtime::run;

posmate_core::replay_backup_info!(ffi_mirror, comp, BackupInfo);
posmate_core::replay_restore_summary!(ffi_mirror, core_backup, RestoreSummary);

#[uniffi::export]
impl PosmateCompanion {
    /// Wipes this phone after a verified backup to `backup_path`: the database's key is
    /// destroyed before its files, then every keystore entry. The companion is closed.
    /// Fails with `busy` while another call is running on it.
    pub async fn wipe_phone(
        &self,
        backup_path: String,
        passphrase: String,
    ) -> Result<PhoneWipe, PosmateError> {
        let core = self.take_exclusive()?;
        run(async move {
            Ok(core
                .wipe_phone(&PathBuf::from(backup_path), &Passphrase::new(passphrase))
                .await?
                .into())
        })
        .await
    }

    /// Writes and verifies an encrypted backup of everything on this phone.
    pub async fn backup_create(
        &self,
        path: String,
        passphrase: String,
    ) -> Result<BackupInfo, PosmateError> {
        self.archive(path, passphrase, Companion::backup_create)
            .await
    }

    /// Decrypts and checks a backup end to end.
    pub async fn backup_verify(
        &self,
        path: String,
        passphrase: String,
    ) -> Result<BackupInfo, PosmateError> {
        self.archive(path, passphrase, Companion::backup_verify)
            .await
    }

    /// Restores a backup into this phone (what it already has is kept, nothing twice).
    pub async fn restore(
        &self,
        path: String,
        passphrase: String,
    ) -> Result<RestoreSummary, PosmateError> {
        self.archive(path, passphrase, Companion::restore).await
    }

    /// Rotates the database key.
    pub async fn rekey(&self) -> Result<(), PosmateError> {
        self.call(|c| async move { c.rekey() }).await
    }
}

impl PosmateCompanion {
    /// A backup-archive operation on the path and passphrase the app passed.
    async fn archive<T, U>(
        &self,
        path: String,
        passphrase: String,
        op: fn(&Companion, &Path, &Passphrase) -> Result<U, CoreError>,
    ) -> Result<T, PosmateError>
    where
        T: Send + 'static,
        U: Into<T> + 'static,
    {
        self.call(move |c| async move {
            Ok(op(&c, &PathBuf::from(path), &Passphrase::new(passphrase))?.into())
        })
        .await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhoneWipe {
    pub backup: BackupInfo,
    pub keystore_entries_deleted: u64,
    pub files_deleted: Vec<String>,
}

impl From<comp::PhoneWipe> for PhoneWipe {
    fn from(w: comp::PhoneWipe) -> Self {
        PhoneWipe {
            backup: w.backup.into(),
            keystore_entries_deleted: w.keystore_entries_deleted as u64,
            files_deleted: w.files_deleted,
        }
    }
}
