//! What apps implement (code entry, the progress listener; the acquirer's HTTP client has
//! its own module, `acquirer_http`) and the handles they keep to stop work (`TaskHandle`
//! for subscriptions, `FlowControl` for flows). The scan and connection listeners live with the terminals they report.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use posmate_core::flows::{self as core_flows, CancelToken, ProgressSink};
use posmate_core::session::CodeEntry as CoreCodeEntry;
use tokio::task::JoinHandle;

/// Asks the merchant for the code the terminal shows while pairing.
#[uniffi::export(foreign)]
#[async_trait]
pub trait CodeEntry: Send + Sync {
    /// Show a dialog for terminal `sn`; return the digits typed, or none if the merchant
    /// cancelled (pairing then stops and nothing is stored).
    async fn enter_code(&self, sn: String) -> Option<String>;
}

/// The app's code entry as the core's.
pub(crate) struct ForeignCodeEntry(pub Arc<dyn CodeEntry>);

#[async_trait]
impl CoreCodeEntry for ForeignCodeEntry {
    async fn enter_code(&self, sn: &str) -> Option<String> {
        self.0.enter_code(sn.to_owned()).await
    }
}

/// Receives a flow's progress after each persisted step. Called on the flow's thread:
/// keep it quick.
#[uniffi::export(foreign)]
pub trait ProgressListener: Send + Sync {
    fn on_progress(&self, progress: FlowProgress);
}

/// Where a flow is, after each persisted step.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FlowProgress {
    pub flow_id: String,
    /// `activation`, `card-bind`, `card-unbind`, `settlement`, `decommission`, `replacement`.
    pub kind: String,
    /// The step about to be taken, or `done`.
    pub step: String,
    /// 0.0 at the start, 1.0 when done.
    pub fraction: f32,
    /// A sentence for the merchant.
    pub detail: String,
}

impl From<&core_flows::Progress> for FlowProgress {
    fn from(p: &core_flows::Progress) -> Self {
        FlowProgress {
            flow_id: p.flow_id.clone(),
            kind: p.kind.clone(),
            step: p.step.clone(),
            fraction: p.fraction,
            detail: p.detail.clone(),
        }
    }
}

/// A running background task (a scan, a subscription). Keep it while you want it to run:
/// `cancel()` stops it, and so does dropping the handle.
#[derive(uniffi::Object)]
pub struct TaskHandle {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TaskHandle {
    pub(crate) fn new(task: JoinHandle<()>) -> Arc<Self> {
        Arc::new(TaskHandle {
            task: Mutex::new(Some(task)),
        })
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the task: no callback starts after this returns (one already running
    /// finishes).
    pub fn cancel(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// Whether the task has stopped (cancelled, or ended by itself).
    pub fn is_finished(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A flow's progress listener and cancel switch. Pass one to a flow to follow it and to
/// stop it: `cancel()` stops the flow at its next step boundary (never inside a step), and
/// the flow then fails with code `cancelled`. A flow past its point of no return is paused
/// instead and shows in `open_flows()` to be resumed. Cancelling the calling coroutine or
/// task has the same effect where the language drops the call (Kotlin, Python); Swift may
/// not (bdk-ffi #1090), so Swift apps call `cancel()`.
#[derive(uniffi::Object)]
pub struct FlowControl {
    token: CancelToken,
    listener: Option<Arc<dyn ProgressListener>>,
}

#[uniffi::export]
impl FlowControl {
    #[uniffi::constructor(default(listener = None))]
    pub fn new(listener: Option<Arc<dyn ProgressListener>>) -> Arc<Self> {
        Arc::new(FlowControl {
            token: CancelToken::new(),
            listener,
        })
    }

    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl FlowControl {
    /// The core's flow control: progress to the listener, the shared cancel token.
    pub(crate) fn to_core(control: Option<&Arc<FlowControl>>) -> core_flows::FlowControl {
        match control {
            None => core_flows::FlowControl::default(),
            Some(c) => core_flows::FlowControl {
                progress: match &c.listener {
                    Some(l) => Arc::new(ToListener(l.clone())),
                    None => Arc::new(core_flows::NoProgress),
                },
                cancel: c.token.clone(),
            },
        }
    }
}

struct ToListener(Arc<dyn ProgressListener>);

impl ProgressSink for ToListener {
    fn on_progress(&self, progress: &core_flows::Progress) {
        self.0.on_progress(progress.into());
    }
}

/// Cancels a flow's token if the caller stops waiting for it (its future is dropped:
/// a cancelled Kotlin coroutine or Python task), so the flow stops at its next step.
pub(crate) struct CancelOnDrop {
    token: CancelToken,
    done: bool,
}

impl CancelOnDrop {
    pub(crate) fn new(control: &core_flows::FlowControl) -> Self {
        CancelOnDrop {
            token: control.cancel.clone(),
            done: false,
        }
    }

    pub(crate) fn finished(mut self) {
        self.done = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.done {
            self.token.cancel();
        }
    }
}
