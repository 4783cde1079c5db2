//! Flows as a whole: where one is after each step, the ones left open, and resuming one.

use std::sync::Arc;

use posmate_core::companion as comp;
use posmate_core::store as st;

use crate::activation::ActivationOutcome;
use crate::cards::Card;
use crate::companion::PosmateCompanion;
use crate::decommission::DecommissionOutcome;
use crate::error::PosmateError;
use crate::handles::FlowControl;
use crate::settlement::SettlementOutcome;

#[uniffi::export]
impl PosmateCompanion {
    /// Flows started and not finished (running, or paused for review or input).
    pub fn open_flows(&self) -> Result<Vec<FlowInfo>, PosmateError> {
        self.read(|c| Ok(c.open_flows()?.into_iter().map(Into::into).collect()))
    }

    /// Resumes an open flow that needs no new input and returns its outcome. A finished
    /// flow is refused with `flow-finished`.
    #[uniffi::method(default(control = None))]
    pub async fn resume(
        &self,
        flow_id: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<ResumeOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.resume(&flow_id, &ctl).await?.into())
        })
        .await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FlowStatus {
    Running,
    /// Waiting on something outside the phone, or stopped by a cancel past its point of no
    /// return: resume it.
    Paused,
    Done,
    Failed,
    Cancelled,
}

impl From<st::FlowStatus> for FlowStatus {
    fn from(s: st::FlowStatus) -> Self {
        match s {
            st::FlowStatus::Running => FlowStatus::Running,
            st::FlowStatus::Paused => FlowStatus::Paused,
            st::FlowStatus::Done => FlowStatus::Done,
            st::FlowStatus::Failed => FlowStatus::Failed,
            st::FlowStatus::Cancelled => FlowStatus::Cancelled,
        }
    }
}

/// A flow started and not finished, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FlowInfo {
    pub id: String,
    pub kind: String,
    pub sn: Option<String>,
    pub step: String,
    pub status: FlowStatus,
    pub started_at_ms: u64,
    pub updated_at_ms: u64,
    /// `code: sentence` of the failure that stopped it.
    pub error: Option<String>,
}

impl From<st::FlowRow> for FlowInfo {
    fn from(r: st::FlowRow) -> Self {
        FlowInfo {
            id: r.id,
            kind: r.kind,
            sn: r.sn,
            step: r.step,
            status: r.status.into(),
            started_at_ms: r.started_at_ms,
            updated_at_ms: r.updated_at_ms,
            error: r.error,
        }
    }
}

/// What finishing an open flow with `resume` produced, by the flow's kind.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ResumeOutcome {
    Activation { outcome: ActivationOutcome },
    Settlement { outcome: SettlementOutcome },
    CardBound { card: Card },
    CardUnbound { binding_id: String },
    Decommissioned { outcome: DecommissionOutcome },
}

impl From<comp::Resumed> for ResumeOutcome {
    fn from(r: comp::Resumed) -> Self {
        match r {
            comp::Resumed::Activation(o) => ResumeOutcome::Activation { outcome: o.into() },
            comp::Resumed::Settlement(o) => ResumeOutcome::Settlement { outcome: o.into() },
            comp::Resumed::CardBound(row) => ResumeOutcome::CardBound { card: row.into() },
            comp::Resumed::CardUnbound { binding_id } => ResumeOutcome::CardUnbound { binding_id },
            comp::Resumed::Decommissioned(o) => ResumeOutcome::Decommissioned { outcome: o.into() },
        }
    }
}
