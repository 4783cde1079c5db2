//! `PosmateCompanion`: the core's `Companion` for apps. Every method converts its
//! arguments, calls the core on the bindings' runtime and converts the answer back; the
//! rules (validation, preconditions, states) are the core's.
//!
//! Here: the object, opening and closing it, and the helpers every method runs through
//! (`call`, `flow`, `read`). Each concept's methods live beside the types they take and
//! return, one module each (`terminals`, `activation`, `cards`, `records`, `settlement`,
//! `decommission`, `flows`, `backup`, `audit`), as matrix-rust-sdk's `timeline/` does.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use posmate_core::acquirer::Gateway;
use posmate_core::backup::WriteOptions;
use posmate_core::companion::{Companion, CompanionConfig as CoreConfig};
use posmate_core::error::Error as CoreError;
use posmate_core::flows::{self as core_flows, SystemClock};
use posmate_core::transport::btle::BtleOptions;
use posmate_sim_world::open::{self, Mode};

use crate::acquirer_http::{self, AcquirerHttpClient};
use crate::error::PosmateError;
use crate::handles::{CancelOnDrop, FlowControl};
use crate::runtime::run;

mod config;
pub use config::{CompanionConfig, Keystore};

/// posmate's core, opened on one data directory, with one way of reaching terminals.
#[derive(uniffi::Object)]
pub struct PosmateCompanion {
    /// `None` once closed (or after `wipe_phone`).
    core: Mutex<Option<Arc<Companion>>>,
}

impl PosmateCompanion {
    /// The companion on the link and gateway `mode` opens (`posmate_sim_world::open`, as
    /// the CLI's), on the bindings' runtime.
    /// `acquirer`, when given, replaces the mode's own (the simulated world's terminals
    /// with the app's HTTP client to an acquirer).
    pub(crate) async fn open(
        config: CompanionConfig,
        mode: Mode,
        acquirer: Option<Arc<dyn Gateway>>,
    ) -> Result<Arc<Self>, PosmateError> {
        // The app's configuration is checked before any radio or socket is touched.
        let app_scan = config.scan_time_ms.is_some();
        let mut core_config = core_config(config)?;
        let core = run(async move {
            let opened = open::open(mode).await?;
            if let (false, Some(scan)) = (app_scan, opened.default_scan) {
                core_config.scan_time = scan;
            }
            Companion::open(
                core_config,
                opened.transport,
                acquirer.unwrap_or(opened.gateway),
                Arc::new(SystemClock),
            )
            .map_err(PosmateError::from)
        })
        .await?;
        Ok(Arc::new(PosmateCompanion {
            core: Mutex::new(Some(Arc::new(core))),
        }))
    }

    pub(crate) fn core(&self) -> Result<Arc<Companion>, PosmateError> {
        self.core
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                PosmateError::new(
                    "closed",
                    "this companion was closed",
                    false,
                    "open the companion again",
                )
            })
    }

    /// Runs `work` on the core, on the runtime.
    pub(crate) async fn call<T, F, Fut>(&self, work: F) -> Result<T, PosmateError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Companion>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, CoreError>> + Send + 'static,
    {
        let core = self.core()?;
        run(async move { work(core).await.map_err(PosmateError::from) }).await
    }

    /// Runs a flow: progress and cancel through `control`; if the caller stops waiting
    /// (its coroutine or task was cancelled), the flow is cancelled at its next step.
    pub(crate) async fn flow<T, F, Fut>(
        &self,
        control: Option<Arc<FlowControl>>,
        work: F,
    ) -> Result<T, PosmateError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Companion>, core_flows::FlowControl) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, CoreError>> + Send + 'static,
    {
        let core = self.core()?;
        let control = FlowControl::to_core(control.as_ref());
        let guard = CancelOnDrop::new(&control);
        let result =
            run(async move { work(core, control).await.map_err(PosmateError::from) }).await;
        guard.finished();
        result
    }

    /// A synchronous read of the store.
    pub(crate) fn read<T>(
        &self,
        work: impl FnOnce(&Companion) -> Result<T, CoreError>,
    ) -> Result<T, PosmateError> {
        Ok(work(&*self.core()?)?)
    }
}

/// The core's configuration from the app's; the scan time stays the core's unless the app
/// chose one (the mode may still shorten it for a simulated radio, see `open`).
fn core_config(c: CompanionConfig) -> Result<CoreConfig, PosmateError> {
    if c.data_dir.trim().is_empty() {
        return Err(PosmateError::invalid(
            "data_dir",
            "empty; pass the app's private files directory",
        ));
    }
    let mut config = CoreConfig::new(&c.data_dir, c.keystore.into());
    config.allow_volatile_key = c.allow_volatile_key;
    if let Some(ms) = c.scan_time_ms {
        config.scan_time = Duration::from_millis(ms);
    }
    if let Some(n) = c.reconnect_attempts {
        config.reconnect.max_attempts = n.max(1);
    }
    if let Some(ms) = c.request_timeout_ms {
        config.session.request_timeout = Duration::from_millis(ms);
    }
    if let Some(w) = c.backup_work_factor {
        config.backup = WriteOptions { work_factor: w };
    }
    Ok(config)
}

#[uniffi::export]
impl PosmateCompanion {
    /// Terminals on the phone's Bluetooth radio; the acquirer through the app's HTTPS
    /// client (OkHttp, URLSession), bound to the acquirer's base URL. Fails with
    /// `bluetooth-unavailable` (and what to do) when Bluetooth cannot be used.
    #[uniffi::constructor]
    pub async fn open_bluetooth(
        config: CompanionConfig,
        acquirer: Arc<dyn AcquirerHttpClient>,
    ) -> Result<Arc<Self>, PosmateError> {
        let mode = Mode::Bluetooth {
            options: BtleOptions::default(),
            acquirer: acquirer_http::gateway(acquirer),
        };
        Self::open(config, mode, None).await
    }

    /// Terminals and acquirer hosted by a running `posmate sim --listen ADDRESS`
    /// (`127.0.0.1:7878`): the same simulated world shared by several apps or a CLI.
    #[uniffi::constructor]
    pub async fn open_sim_server(
        config: CompanionConfig,
        address: String,
    ) -> Result<Arc<Self>, PosmateError> {
        Self::open(config, Mode::SimLink(address), None).await
    }

    /// Closes every session and releases the store. Calls after this fail with `closed`.
    /// (Not `close`: Kotlin's `AutoCloseable.close` frees the object itself.)
    pub async fn shutdown(&self) {
        let core = self.core.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(core) = core {
            let _ = run(async move {
                core.disconnect_all().await;
                Ok(())
            })
            .await;
        }
    }
}

impl PosmateCompanion {
    /// The core itself, taken out of this companion (which is closed from then on) for a
    /// step that must be the only user of the store: wiping the phone. Fails with `busy`
    /// while another call is running on it, leaving the companion open.
    pub(crate) fn take_exclusive(&self) -> Result<Companion, PosmateError> {
        let mut slot = self.core.lock().unwrap_or_else(|e| e.into_inner());
        let core = slot.take().ok_or_else(|| {
            PosmateError::new(
                "closed",
                "this companion was closed",
                false,
                "open it again",
            )
        })?;
        Arc::try_unwrap(core).map_err(|shared| {
            *slot = Some(shared);
            PosmateError::new(
                "busy",
                "another call is still running on this companion",
                true,
                "wait for it to finish, then wipe",
            )
        })
    }
}
