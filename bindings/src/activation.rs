//! Activating a paired terminal with the acquirer, and polling an activation under review.

use std::sync::Arc;

use posmate_core::acquirer as acq;
use posmate_core::flows as core_flows;
use zeroize::Zeroizing;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;
use crate::mirror::ffi_mirror;

posmate_core::replay_activation_outcome!(ffi_mirror, core_flows, ActivationOutcome);
posmate_core::replay_key_slot_proof!(ffi_mirror, core_flows, KeySlotProof);

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
