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

/// A terminal decommissioned: backed up, deregistered, wiped with a signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DecommissionOutcome {
    pub flow_id: String,
    pub sn: String,
    pub reason: String,
    pub backup_path: String,
    pub backup_sha256: String,
    pub backup_records: u64,
    pub deregistration_ref: String,
    pub deregistered_at_ms: u64,
    pub receipt_nonce: String,
    pub wiped_at_ms: u64,
    pub journal_head: u64,
    pub receipt_signature: String,
}

impl From<core_flows::DecommissionOutcome> for DecommissionOutcome {
    fn from(d: core_flows::DecommissionOutcome) -> Self {
        DecommissionOutcome {
            flow_id: d.flow_id,
            sn: d.sn,
            reason: d.reason,
            backup_path: d.backup_path,
            backup_sha256: d.backup_sha256,
            backup_records: d.backup_records,
            deregistration_ref: d.deregistration_ref,
            deregistered_at_ms: d.deregistered_at_ms,
            receipt_nonce: d.receipt_nonce,
            wiped_at_ms: d.wiped_at_ms,
            journal_head: d.journal_head,
            receipt_signature: d.receipt_signature,
        }
    }
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

// Handed across the FFI once, by value: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ReplacementOutcome {
    Replaced {
        flow_id: String,
        old_sn: String,
        new_sn: String,
        records_moved: u64,
        settlement_card: Option<String>,
        decommission: DecommissionOutcome,
    },
    /// The new terminal's activation is under review: run `replace` again later.
    Pending {
        flow_id: String,
        application_id: String,
        retry_after_ms: u64,
    },
}

impl From<core_flows::ReplacementOutcome> for ReplacementOutcome {
    fn from(o: core_flows::ReplacementOutcome) -> Self {
        match o {
            core_flows::ReplacementOutcome::Replaced {
                flow_id,
                old_sn,
                new_sn,
                records_moved,
                settlement_card,
                decommission,
            } => ReplacementOutcome::Replaced {
                flow_id,
                old_sn,
                new_sn,
                records_moved,
                settlement_card,
                decommission: (*decommission).into(),
            },
            core_flows::ReplacementOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            } => ReplacementOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            },
        }
    }
}

/// The acquirer's view of a terminal's activity.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DormancyReport {
    pub sn: String,
    /// `active`, `dormant`, `deregistered`, `pending`, `unknown`.
    pub state: String,
    pub last_trade_at_ms: Option<u64>,
    pub dormant_at_ms: Option<u64>,
    /// Whole days until dormancy (0 when dormant).
    pub days_left: Option<u64>,
    /// Whether the merchant should act now.
    pub warning: bool,
    pub message: String,
}

impl From<core_flows::DormancyReport> for DormancyReport {
    fn from(d: core_flows::DormancyReport) -> Self {
        DormancyReport {
            sn: d.sn,
            state: d.state,
            last_trade_at_ms: d.last_trade_at_ms,
            dormant_at_ms: d.dormant_at_ms,
            days_left: d.days_left,
            warning: d.warning,
            message: d.message,
        }
    }
}
