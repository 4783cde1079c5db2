//! Activating a paired terminal with the acquirer, and polling an activation under review.

use std::sync::Arc;

use posmate_core::acquirer as acq;
use posmate_core::flows as core_flows;
use zeroize::Zeroizing;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;

#[uniffi::export]
impl PosmateCompanion {
    /// Activates a paired terminal with the acquirer: `Pending` while the acquirer reviews
    /// (poll `activation_status`), `Activated` once its keys are installed and checked.
    #[uniffi::method(default(control = None))]
    pub async fn activate(
        &self,
        input: ActivationInput,
        control: Option<Arc<FlowControl>>,
    ) -> Result<ActivationOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.activate(input.into(), &ctl).await?.into())
        })
        .await
    }

    /// Polls a pending activation (resumes its flow).
    #[uniffi::method(default(control = None))]
    pub async fn activation_status(
        &self,
        sn: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<ActivationOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.activation_status(&sn, &ctl).await?.into())
        })
        .await
    }
}

/// The merchant as the acquirer registered them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantDetails {
    pub legal_name: String,
    pub contact_phone: String,
    pub address: String,
}

impl From<MerchantDetails> for acq::MerchantDetails {
    fn from(m: MerchantDetails) -> Self {
        acq::MerchantDetails {
            legal_name: m.legal_name,
            contact_phone: m.contact_phone,
            address: m.address,
        }
    }
}

/// What activating a terminal needs (from the acquirer's letter).
#[derive(Clone, uniffi::Record)]
pub struct ActivationInput {
    pub sn: String,
    pub terminal_no: String,
    pub merchant_no: String,
    /// One-time code; kept out of the database and logs, wiped from memory after use.
    pub activation_code: String,
    pub merchant: MerchantDetails,
}

impl From<ActivationInput> for core_flows::ActivationInput {
    fn from(a: ActivationInput) -> Self {
        core_flows::ActivationInput {
            sn: a.sn,
            terminal_no: a.terminal_no,
            merchant_no: a.merchant_no,
            activation_code: Zeroizing::new(a.activation_code),
            merchant: a.merchant.into(),
        }
    }
}

/// A key the terminal installed, as it proved it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeySlotProof {
    pub slot: u8,
    pub kind: String,
    /// Key check value (hex).
    pub kcv: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ActivationOutcome {
    Activated {
        flow_id: String,
        sn: String,
        terminal_no: String,
        merchant_no: String,
        test_txn_ref: String,
        key_slots: Vec<KeySlotProof>,
    },
    /// The acquirer is reviewing: poll `activation_status` after `retry_after_ms`.
    Pending {
        flow_id: String,
        application_id: String,
        retry_after_ms: u64,
    },
}

impl From<core_flows::ActivationOutcome> for ActivationOutcome {
    fn from(o: core_flows::ActivationOutcome) -> Self {
        match o {
            core_flows::ActivationOutcome::Activated {
                flow_id,
                sn,
                terminal_no,
                merchant_no,
                test_txn_ref,
                key_slots,
            } => ActivationOutcome::Activated {
                flow_id,
                sn,
                terminal_no,
                merchant_no,
                test_txn_ref,
                key_slots: key_slots
                    .into_iter()
                    .map(|k| KeySlotProof {
                        slot: k.slot,
                        kind: k.kind,
                        kcv: k.kcv,
                    })
                    .collect(),
            },
            core_flows::ActivationOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            } => ActivationOutcome::Pending {
                flow_id,
                application_id,
                retry_after_ms,
            },
        }
    }
}
