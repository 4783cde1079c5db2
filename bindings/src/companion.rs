//! `PosmateCompanion`: the core's `Companion` for apps. Every method converts its
//! arguments, calls the core on the bindings' runtime and converts the answer back; the
//! rules (validation, preconditions, states) are the core's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use posmate_core::acquirer::{AcquirerError, Exchange, Gateway, RemoteGateway};
use posmate_core::backup::{Passphrase, WriteOptions};
use posmate_core::companion::{Companion, CompanionConfig as CoreConfig};
use posmate_core::error::Error as CoreError;
use posmate_core::flows::{self as core_flows, SystemClock};
use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::tcp::{self, TcpTransport};
use posmate_core::transport::{PeripheralId, Transport};

use crate::error::PosmateError;
use crate::handles::{
    AcquirerClient, CancelOnDrop, CodeEntry, ConnectionListener, FlowControl, ForeignCodeEntry,
    ForeignExchange, ScanListener, TaskHandle,
};
use crate::runtime::{run, runtime};
use crate::simulation::Simulation;
use crate::types::*;

/// How long a scan for a terminal whose address changed listens in the simulations,
/// which report every terminal at once.
const SIM_SCAN: Duration = Duration::from_millis(200);

/// posmate's core, opened on one data directory, with one way of reaching terminals.
#[derive(uniffi::Object)]
pub struct PosmateCompanion {
    /// `None` once closed (or after `wipe_phone`).
    core: Mutex<Option<Arc<Companion>>>,
    simulation: Option<Arc<Simulation>>,
}

impl PosmateCompanion {
    async fn open(
        config: CompanionConfig,
        transport: Arc<dyn Transport>,
        gateway: Arc<dyn Gateway>,
        default_scan: Option<Duration>,
        simulation: Option<Arc<Simulation>>,
    ) -> Result<Arc<Self>, PosmateError> {
        let core_config = core_config(config, default_scan)?;
        let core = run(async move {
            Companion::open(core_config, transport, gateway, Arc::new(SystemClock))
                .map_err(PosmateError::from)
        })
        .await?;
        Ok(Arc::new(PosmateCompanion {
            core: Mutex::new(Some(Arc::new(core))),
            simulation,
        }))
    }

    fn core(&self) -> Result<Arc<Companion>, PosmateError> {
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
    async fn call<T, F, Fut>(&self, work: F) -> Result<T, PosmateError>
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
    async fn flow<T, F, Fut>(
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

    /// A backup-archive operation on the path and passphrase the app passed.
    async fn archive<T, U>(
        &self,
        path: String,
        passphrase: String,
        op: fn(&Companion, &Path, &Passphrase) -> Result<U, CoreError>,
    ) -> Result<T, PosmateError>
    where
        T: Send + 'static,
        U: Into<T> + 'static,
    {
        self.call(move |c| async move {
            Ok(op(&c, &PathBuf::from(path), &Passphrase::new(passphrase))?.into())
        })
        .await
    }

    /// A synchronous read of the store.
    fn read<T>(
        &self,
        work: impl FnOnce(&Companion) -> Result<T, CoreError>,
    ) -> Result<T, PosmateError> {
        Ok(work(&*self.core()?)?)
    }
}

/// The acquirer hosted by the `posmate sim` server, over the same connection.
struct SimServerAcquirer(Arc<TcpTransport>);

#[async_trait::async_trait]
impl Exchange for SimServerAcquirer {
    async fn call(&self, body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        self.0.call(body).await
    }
}

/// The core's configuration; `default_scan` overrides the core's scan time (for radios
/// slower or faster than Bluetooth) unless the app chose one.
fn core_config(
    c: CompanionConfig,
    default_scan: Option<Duration>,
) -> Result<CoreConfig, PosmateError> {
    if c.data_dir.trim().is_empty() {
        return Err(PosmateError::invalid(
            "data_dir",
            "empty; pass the app's private files directory",
        ));
    }
    let mut config = CoreConfig::new(&c.data_dir, c.keystore.into());
    config.allow_volatile_key = c.allow_volatile_key;
    if let Some(scan) = c.scan_time_ms.map(Duration::from_millis).or(default_scan) {
        config.scan_time = scan;
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
    /// client. Fails with `bluetooth-unavailable` (and what to do) when Bluetooth cannot
    /// be used.
    #[uniffi::constructor]
    pub async fn open_bluetooth(
        config: CompanionConfig,
        acquirer: Arc<dyn AcquirerClient>,
    ) -> Result<Arc<Self>, PosmateError> {
        let btle = run(async {
            BtleTransport::new(BtleOptions::default())
                .await
                .map_err(PosmateError::from)
        })
        .await?;
        Self::open(
            config,
            Arc::new(btle),
            Arc::new(RemoteGateway::new(ForeignExchange(acquirer))),
            None,
            None,
        )
        .await
    }

    /// Terminals and acquirer hosted by a running `posmate sim --listen ADDRESS`
    /// (`127.0.0.1:7878`): the same simulated world shared by several apps or a CLI.
    #[uniffi::constructor]
    pub async fn open_sim_server(
        config: CompanionConfig,
        address: String,
    ) -> Result<Arc<Self>, PosmateError> {
        let remote = run(async move {
            TcpTransport::open(&address)
                .await
                .map(Arc::new)
                .map_err(PosmateError::from)
        })
        .await?;
        let transport: Arc<dyn Transport> = remote.clone();
        Self::open(
            config,
            transport,
            Arc::new(RemoteGateway::new(SimServerAcquirer(remote))),
            Some(tcp::DEFAULT_SCAN),
            None,
        )
        .await
    }

    /// Simulated mode: the terminals and acquirer of `simulation`, in this process.
    #[uniffi::constructor]
    pub async fn open_simulated(
        config: CompanionConfig,
        simulation: Arc<Simulation>,
    ) -> Result<Arc<Self>, PosmateError> {
        let gateway = Arc::new(RemoteGateway::new(simulation.acquirer().exchange()));
        Self::open(
            config,
            Arc::new(simulation.transport()),
            gateway,
            Some(SIM_SCAN),
            Some(simulation),
        )
        .await
    }

    /// The simulated world this companion was opened on, if any.
    pub fn simulation(&self) -> Option<Arc<Simulation>> {
        self.simulation.clone()
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

    // ---- terminals ------------------------------------------------------------------------

    /// Scans until the handle is cancelled (or dropped), reporting terminals to `listener`.
    #[uniffi::method(default(filter = None))]
    pub fn scan(
        &self,
        listener: Arc<dyn ScanListener>,
        filter: Option<ScanFilter>,
    ) -> Arc<TaskHandle> {
        let core = self.core();
        let filter = filter.unwrap_or_default().into();
        TaskHandle::new(runtime().spawn(async move {
            let stream = match core {
                Ok(core) => core.scan_live(filter).await.map_err(PosmateError::from),
                Err(closed) => Err(closed),
            };
            match stream {
                Ok(mut stream) => {
                    while let Some(candidate) = stream.next().await {
                        listener.on_terminal(candidate.into());
                    }
                }
                Err(e) => listener.on_error(e),
            }
        }))
    }

    /// Scans for `duration_ms` and returns every terminal seen, strongest first.
    #[uniffi::method(default(filter = None))]
    pub async fn scan_for(
        &self,
        duration_ms: u64,
        filter: Option<ScanFilter>,
    ) -> Result<Vec<ScannedTerminal>, PosmateError> {
        let filter = filter.unwrap_or_default().into();
        self.call(move |c| async move {
            let found = c.scan(filter, Duration::from_millis(duration_ms)).await?;
            Ok(found.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Pairs with the terminal at `peripheral_id`: the merchant types the code it shows
    /// into `code_entry`. The terminal is then remembered (and its key pinned).
    pub async fn pair(
        &self,
        peripheral_id: String,
        code_entry: Arc<dyn CodeEntry>,
    ) -> Result<Terminal, PosmateError> {
        self.call(move |c| async move {
            let entry = ForeignCodeEntry(code_entry);
            Ok(c.pair(&PeripheralId::new(peripheral_id), &entry)
                .await?
                .into())
        })
        .await
    }

    /// Where codes come from when a flow must pair again (the terminal lost its pairing,
    /// e.g. after a wipe during replacement). Without one such flows fail with
    /// `needs-pairing`.
    pub fn set_code_entry(&self, code_entry: Arc<dyn CodeEntry>) -> Result<(), PosmateError> {
        self.core()?
            .set_code_entry(Arc::new(ForeignCodeEntry(code_entry)));
        Ok(())
    }

    /// Connection states of every link the companion opens, in order, until the handle is
    /// cancelled (or dropped); the handle finishes when the companion is closed.
    pub fn subscribe_connection_states(
        &self,
        listener: Arc<dyn ConnectionListener>,
    ) -> Arc<TaskHandle> {
        let states = self.core().map(|core| core.link_states());
        TaskHandle::new(runtime().spawn(async move {
            let Ok(mut states) = states else { return };
            loop {
                match states.recv().await {
                    Ok(state) => listener.on_state(state.into()),
                    // A listener too slow for the events misses some; the next ones come.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        }))
    }

    /// Terminals this phone knows.
    pub fn terminals(&self) -> Result<Vec<Terminal>, PosmateError> {
        self.read(|c| Ok(c.terminals()?.into_iter().map(Into::into).collect()))
    }

    pub fn terminal(&self, sn: String) -> Result<Terminal, PosmateError> {
        self.read(|c| Ok(c.terminal(&sn)?.into()))
    }

    /// The terminal's own report, over the secure session (connecting if needed).
    pub async fn info(&self, sn: String) -> Result<TerminalInfo, PosmateError> {
        self.call(move |c| async move { Ok(c.info(&sn).await?.into()) })
            .await
    }

    /// Closes every open session (the next call reconnects, without a code).
    pub async fn disconnect(&self) -> Result<(), PosmateError> {
        self.call(|c| async move {
            c.disconnect_all().await;
            Ok(())
        })
        .await
    }

    // ---- flows ----------------------------------------------------------------------------

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

    /// Binds a card (read on the terminal, or typed in) to the merchant.
    #[uniffi::method(default(control = None))]
    pub async fn bind_card(
        &self,
        input: BindInput,
        control: Option<Arc<FlowControl>>,
    ) -> Result<Card, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.bind_card(input.into(), &ctl).await?.into())
        })
        .await
    }

    #[uniffi::method(default(control = None))]
    pub async fn unbind_card(
        &self,
        merchant_no: String,
        binding_id: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<(), PosmateError> {
        self.flow(control, move |c, ctl| async move {
            c.unbind_card(&merchant_no, &binding_id, &ctl).await
        })
        .await
    }

    /// The merchant's cards as this phone keeps them.
    pub fn cards(&self, merchant_no: String) -> Result<Vec<Card>, PosmateError> {
        self.read(|c| Ok(c.cards(&merchant_no)?.into_iter().map(Into::into).collect()))
    }

    /// The merchant's cards as the acquirer has them.
    pub async fn acquirer_cards(
        &self,
        merchant_no: String,
    ) -> Result<Vec<AcquirerCard>, PosmateError> {
        self.call(move |c| async move {
            Ok(c.acquirer_cards(&merchant_no)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }

    /// Fetches the terminal's new transaction records (never one twice).
    #[uniffi::method(default(control = None))]
    pub async fn sync(
        &self,
        sn: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<SyncOutcome, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.sync(&sn, &ctl).await?.into())
        })
        .await
    }

    /// One page of records, newest first; pass `page.next` as `query.after` for the next.
    pub fn history(&self, query: HistoryQuery) -> Result<HistoryPage, PosmateError> {
        self.read(|c| Ok(c.history(&query.into())?.into()))
    }

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

    // ---- backup, export, audit --------------------------------------------------------

    /// Writes and verifies an encrypted backup of everything on this phone.
    pub async fn backup_create(
        &self,
        path: String,
        passphrase: String,
    ) -> Result<BackupInfo, PosmateError> {
        self.archive(path, passphrase, Companion::backup_create)
            .await
    }

    /// Decrypts and checks a backup end to end.
    pub async fn backup_verify(
        &self,
        path: String,
        passphrase: String,
    ) -> Result<BackupInfo, PosmateError> {
        self.archive(path, passphrase, Companion::backup_verify)
            .await
    }

    /// Restores a backup into this phone (what it already has is kept, nothing twice).
    pub async fn restore(
        &self,
        path: String,
        passphrase: String,
    ) -> Result<RestoreSummary, PosmateError> {
        self.archive(path, passphrase, Companion::restore).await
    }

    /// Writes the records matching `query` (all pages) as CSV to `path`; returns the row
    /// count.
    pub async fn export_csv(&self, path: String, query: HistoryQuery) -> Result<u64, PosmateError> {
        let target = PathBuf::from(&path);
        self.call(move |c| async move {
            let file = std::fs::File::create(&target).map_err(|e| CoreError::InvalidInput {
                field: "csv path",
                reason: format!("{}: {e}", target.display()),
            })?;
            c.export_csv(std::io::BufWriter::new(file), &query.into())
        })
        .await
    }

    /// Audit entries from `from_seq` on, at most `limit`.
    pub fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, PosmateError> {
        self.read(|c| {
            Ok(c.audit_entries(from_seq, limit)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Checks the audit trail's hash chain end to end.
    pub async fn verify_audit(&self) -> Result<AuditCheck, PosmateError> {
        self.call(|c| async move { Ok(c.verify_audit()?.into()) })
            .await
    }

    /// Rotates the database key.
    pub async fn rekey(&self) -> Result<(), PosmateError> {
        self.call(|c| async move { c.rekey() }).await
    }

    /// Wipes this phone after a verified backup to `backup_path`: the database's key is
    /// destroyed before its files, then every keystore entry. The companion is closed.
    /// Fails with `busy` while another call is running on it.
    pub async fn wipe_phone(
        &self,
        backup_path: String,
        passphrase: String,
    ) -> Result<PhoneWipe, PosmateError> {
        let core = {
            let mut slot = self.core.lock().unwrap_or_else(|e| e.into_inner());
            let core = slot.take().ok_or_else(|| {
                PosmateError::new(
                    "closed",
                    "this companion was closed",
                    false,
                    "open it again",
                )
            })?;
            match Arc::try_unwrap(core) {
                Ok(core) => core,
                Err(shared) => {
                    *slot = Some(shared);
                    return Err(PosmateError::new(
                        "busy",
                        "another call is still running on this companion",
                        true,
                        "wait for it to finish, then wipe",
                    ));
                }
            }
        };
        run(async move {
            Ok(core
                .wipe_phone(&PathBuf::from(backup_path), &Passphrase::new(passphrase))
                .await?
                .into())
        })
        .await
    }
}
