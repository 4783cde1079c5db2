//! End of day: closing a terminal's batch and checking its totals against the phone's.

use std::sync::Arc;

use posmate_core::flows as core_flows;
use posmate_proto::message::Totals;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;

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

/// End of day: the batch the terminal closed, its totals and the phone's.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SettlementOutcome {
    pub flow_id: String,
    pub sn: String,
    pub batch_no: u32,
    pub first_seq: u64,
    pub last_seq: u64,
    pub terminal: Totals,
    pub phone: Totals,
    /// Whether the phone's records add up to the terminal's totals.
    pub matched: bool,
    pub records: u64,
}

impl From<core_flows::SettlementOutcome> for SettlementOutcome {
    fn from(s: core_flows::SettlementOutcome) -> Self {
        SettlementOutcome {
            flow_id: s.flow_id,
            sn: s.sn,
            batch_no: s.batch_no,
            first_seq: s.first_seq,
            last_seq: s.last_seq,
            terminal: s.terminal,
            phone: s.phone,
            matched: s.matched,
            records: s.records,
        }
    }
}
