//! A terminal's end of service: decommissioning it, replacing it with another, and the
//! acquirer's dormancy check and reopening.

use std::path::PathBuf;
use std::sync::Arc;

use posmate_core::backup::Passphrase;
use posmate_core::flows as core_flows;

use crate::activation::ActivationInput;
use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;
use crate::mirror::ffi_mirror;

posmate_core::replay_decommission_outcome!(ffi_mirror, core_flows, DecommissionOutcome);
posmate_core::replay_replacement_outcome!(ffi_mirror, core_flows, ReplacementOutcome);
posmate_core::replay_dormancy_report!(ffi_mirror, core_flows, DormancyReport);

#[uniffi::export]
impl PosmateCompanion {
    /// Backs up, deregisters and wipes a terminal, and forgets it on this phone.
    #[uniffi::method(default(control = None))]
    pub async fn decommission(
        &self,
        input: DecommissionInput,
        control: Option<Arc<FlowControl>>,
    ) -> Result<DecommissionOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            let input = core_flows::DecommissionInput {
                sn: input.sn,
                reason: input.reason,
                backup: input.backup.into(),
            };
            Ok(c.decommission(input, &ctl).await?.into())
        })
        .await
    }

    /// Moves a merchant from an old terminal to a new one (history and settlement card
    /// carried over, the old one decommissioned).
    #[uniffi::method(default(control = None))]
    pub async fn replace(
        &self,
        input: ReplacementInput,
        control: Option<Arc<FlowControl>>,
    ) -> Result<ReplacementOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.replace(input.into(), &ctl).await?.into())
        })
        .await
    }

    /// Whether the acquirer is about to shut the terminal down for lack of trading.
    pub async fn dormancy(&self, sn: String) -> Result<DormancyReport, PosmateError> {
        self.call(move |c| async move { Ok(c.dormancy(&sn).await?.into()) })
            .await
    }

    /// Asks the acquirer to reopen a dormant terminal; returns its answer (`pending`,
    /// `approved`).
    pub async fn reopen(&self, sn: String) -> Result<String, PosmateError> {
        self.call(move |c| async move { c.reopen(&sn).await }).await
    }
}

/// The backup a destructive flow takes first.
#[derive(Clone, uniffi::Enum)]
pub enum BackupChoice {
    /// Write a new encrypted archive to `path` (verified before anything is destroyed).
    Write { path: String, passphrase: String },
    /// A backup this phone already wrote and verified (by its id).
    Existing { backup_id: String },
}

impl From<BackupChoice> for core_flows::BackupSpec {
    fn from(b: BackupChoice) -> Self {
        match b {
            BackupChoice::Write { path, passphrase } => core_flows::BackupSpec::Write {
                path: PathBuf::from(path),
                passphrase: Passphrase::new(passphrase),
            },
            BackupChoice::Existing { backup_id } => core_flows::BackupSpec::Existing { backup_id },
        }
    }
}

#[derive(Clone, uniffi::Record)]
pub struct DecommissionInput {
    pub sn: String,
    /// Why (recorded with the acquirer and in the audit trail).
    pub reason: String,
    pub backup: BackupChoice,
}

#[derive(Clone, uniffi::Record)]
pub struct ReplacementInput {
    pub old_sn: String,
    /// The new terminal's activation (same merchant as the old one).
    pub new_terminal: ActivationInput,
    pub backup_path: String,
    pub passphrase: String,
}

impl From<ReplacementInput> for core_flows::ReplacementInput {
    fn from(r: ReplacementInput) -> Self {
        core_flows::ReplacementInput {
            old_sn: r.old_sn,
            new: r.new_terminal.into(),
            backup_path: PathBuf::from(r.backup_path),
            passphrase: Passphrase::new(r.passphrase),
        }
    }
}
