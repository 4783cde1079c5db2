//! The terminal's life as resumable state machines: activation, cards, records sync,
//! end-of-day settlement, decommission, replacement, dormancy.
//!
//! Every flow follows one rule: **a step is persisted before it is taken.** The flow's row
//! (`flows` table) names the step about to run and carries what the step needs; only then
//! does the step talk to the terminal or the acquirer. Every step is safe to repeat — the
//! acquirer's calls carry an idempotency key chosen and saved before the first attempt, and
//! the terminal's requests are idempotent or checked against its state first — so a killed
//! app or a dropped link resumes from the saved step and never does anything twice that
//! matters (docs/architecture.md lists the steps and invariants of each flow).
//!
//! Progress goes to a [`ProgressSink`] after each persisted step; a [`CancelToken`] is
//! checked between steps, never inside one.

mod activation;
mod cards;
mod context;
mod decommission;
mod dormancy;
mod records;
mod replacement;
mod settlement;

pub use activation::{ActivationInput, ActivationOutcome, KeySlotProof};
pub use cards::{BindInput, CardSourceInput};
pub use context::{Clock, Ctx, SystemClock, TerminalLink};
pub use decommission::{DecommissionInput, DecommissionOutcome};
pub use dormancy::{DormancyReport, DORMANCY_WARNING_MS};
pub use records::SyncOutcome;
pub use replacement::{ReplacementInput, ReplacementOutcome};
pub use settlement::SettlementOutcome;

pub use decommission::BackupSpec;

pub(crate) use activation::{
    paired_row, resume as resume_activation, run as activate, validate_merchant_no, validate_sn,
    validate_terminal_no,
};
pub(crate) use cards::{bind, resume_bind, resume_unbind, unbind};
pub(crate) use context::{info, open_flow};
pub(crate) use decommission::run as decommission;
pub(crate) use dormancy::{check as dormancy_check, reopen};
pub(crate) use records::sync;
pub(crate) use replacement::run as replace;
pub(crate) use settlement::run as settle;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The kinds of flow, as stored in the `flows` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowKind {
    Activation,
    CardBind,
    CardUnbind,
    Settlement,
    Decommission,
    Replacement,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Activation => "activation",
            FlowKind::CardBind => "card-bind",
            FlowKind::CardUnbind => "card-unbind",
            FlowKind::Settlement => "settlement",
            FlowKind::Decommission => "decommission",
            FlowKind::Replacement => "replacement",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FlowKind::Activation,
            FlowKind::CardBind,
            FlowKind::CardUnbind,
            FlowKind::Settlement,
            FlowKind::Decommission,
            FlowKind::Replacement,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a flow is: reported after every persisted step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub flow_id: String,
    pub kind: String,
    /// The step about to be taken (or "done").
    pub step: String,
    /// 0.0 at the start, 1.0 when done.
    pub fraction: f32,
    /// A sentence for the merchant.
    pub detail: String,
}

/// Receives progress. Called on the flow's task; keep it quick.
pub trait ProgressSink: Send + Sync {
    fn on_progress(&self, progress: &Progress);
}

/// A sink that drops everything.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn on_progress(&self, _: &Progress) {}
}

impl<F: Fn(&Progress) + Send + Sync> ProgressSink for F {
    fn on_progress(&self, progress: &Progress) {
        self(progress)
    }
}

/// Cancels a flow between steps. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a caller hands a flow: where progress goes and how to cancel it.
#[derive(Clone)]
pub struct FlowControl {
    pub progress: Arc<dyn ProgressSink>,
    pub cancel: CancelToken,
}

impl FlowControl {
    pub fn new(progress: Arc<dyn ProgressSink>) -> Self {
        FlowControl {
            progress,
            cancel: CancelToken::new(),
        }
    }
}

impl Default for FlowControl {
    fn default() -> Self {
        FlowControl::new(Arc::new(NoProgress))
    }
}
