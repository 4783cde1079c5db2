//! End of day: closing a terminal's batch and checking its totals against the phone's.

use std::sync::Arc;

use posmate_core::flows as core_flows;
use posmate_proto::message::Totals;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;
use crate::mirror::ffi_mirror;

#[uniffi::export]
impl PosmateCompanion {
    /// End of day: syncs, closes the terminal's batch and checks its totals.
    #[uniffi::method(default(control = None))]
    pub async fn settle(
        &self,
        sn: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<SettlementOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.settle(&sn, &ctl).await?.into())
        })
        .await
    }
}

/// A batch's totals: the protocol's own type, exposed as is.
#[uniffi::remote(Record)]
pub struct Totals {
    pub sale_count: u32,
    pub sale_minor: u64,
    pub refund_count: u32,
    pub refund_minor: u64,
    pub void_count: u32,
    pub void_minor: u64,
}

posmate_core::replay_settlement_outcome!(ffi_mirror, core_flows, SettlementOutcome);
