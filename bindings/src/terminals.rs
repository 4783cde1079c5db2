//! Terminals nearby and on this phone: scanning, pairing, the connection states of every
//! link, the terminals this phone knows and each one's own report.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use posmate_core::store as st;
use posmate_core::transport::{
    self, PeripheralId as CorePeripheralId, ScanFilter as CoreScanFilter,
};
use posmate_proto::gatt::Lifecycle as CoreLifecycle;
use posmate_proto::message::Info;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::events::ConnectionState;
use crate::handles::{CodeEntry, ForeignCodeEntry, TaskHandle};
use crate::mirror::{ffi_mirror, FromCore};
use crate::runtime::runtime;

#[uniffi::export]
impl PosmateCompanion {
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
            Ok(c.pair(&CorePeripheralId::new(peripheral_id), &entry)
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
}

/// Where a terminal is in its life, as it advertises and reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Lifecycle {
    Factory,
    Activated,
    Suspended,
    Decommissioned,
}

impl FromCore<CoreLifecycle> for Lifecycle {
    fn from_core(l: CoreLifecycle) -> Self {
        l.into()
    }
}

impl From<CoreLifecycle> for Lifecycle {
    fn from(l: CoreLifecycle) -> Self {
        match l {
            CoreLifecycle::Factory => Lifecycle::Factory,
            CoreLifecycle::Activated => Lifecycle::Activated,
            CoreLifecycle::Suspended => Lifecycle::Suspended,
            CoreLifecycle::Decommissioned => Lifecycle::Decommissioned,
        }
    }
}

/// Narrows a scan (every scan already filters on the posmate service).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ScanFilter {
    /// The last characters of the serial number, as printed on the terminal.
    #[uniffi(default = None)]
    pub sn_suffix: Option<String>,
    #[uniffi(default = None)]
    pub name_contains: Option<String>,
}

impl From<ScanFilter> for CoreScanFilter {
    fn from(f: ScanFilter) -> Self {
        let mut filter = CoreScanFilter::any();
        filter.sn_suffix = f.sn_suffix;
        filter.name_contains = f.name_contains;
        filter
    }
}

/// What `pair` takes: the platform's handle for a terminal, as text.
pub type PeripheralId = String;

impl FromCore<CorePeripheralId> for String {
    fn from_core(id: CorePeripheralId) -> Self {
        id.as_str().into()
    }
}

posmate_core::replay_candidate!(ffi_mirror, transport, ScannedTerminal);

/// Where a terminal is in its life with this phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TerminalState {
    Paired,
    Activating,
    Activated,
    Suspended,
    Decommissioning,
    Decommissioned,
}

impl FromCore<st::TerminalState> for TerminalState {
    fn from_core(s: st::TerminalState) -> Self {
        s.into()
    }
}

impl From<st::TerminalState> for TerminalState {
    fn from(s: st::TerminalState) -> Self {
        match s {
            st::TerminalState::Paired => TerminalState::Paired,
            st::TerminalState::Activating => TerminalState::Activating,
            st::TerminalState::Activated => TerminalState::Activated,
            st::TerminalState::Suspended => TerminalState::Suspended,
            st::TerminalState::Decommissioning => TerminalState::Decommissioning,
            st::TerminalState::Decommissioned => TerminalState::Decommissioned,
        }
    }
}

/// A terminal's factory public key, in hex (what `posmate info` prints).
pub type DeviceKey = String;

posmate_core::replay_terminal_row!(ffi_mirror, st, Terminal);

/// The terminal's own report, over the secure session.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TerminalInfo {
    pub sn: String,
    pub model: String,
    pub firmware: String,
    pub battery_pct: u8,
    pub lifecycle: Lifecycle,
    pub protocol_version: u8,
    pub terminal_no: Option<String>,
    pub merchant_no: Option<String>,
    pub key_slots: u32,
    /// Sequence number of the last record in its journal.
    pub journal_head: u64,
    /// The open batch (what end-of-day settles).
    pub batch_no: u32,
}

impl From<Info> for TerminalInfo {
    fn from(i: Info) -> Self {
        TerminalInfo {
            sn: i.sn,
            model: i.model,
            firmware: i.firmware,
            battery_pct: i.battery_pct,
            lifecycle: i.lifecycle.into(),
            protocol_version: i.protocol_version,
            terminal_no: i.terminal_no,
            merchant_no: i.merchant_no,
            key_slots: i.key_slots.len() as u32,
            journal_head: i.journal_head,
            batch_no: i.batch_no,
        }
    }
}

/// Receives terminals as a scan sees them (the same terminal again when its signal or
/// state changes). Called on a posmate thread: hand work to the UI thread yourself.
#[uniffi::export(foreign)]
pub trait ScanListener: Send + Sync {
    fn on_terminal(&self, terminal: ScannedTerminal);
    /// The scan stopped because of `error` (Bluetooth off, permission missing, …).
    fn on_error(&self, error: PosmateError);
}

/// Receives connection states, in order. Called on a posmate thread.
#[uniffi::export(foreign)]
pub trait ConnectionListener: Send + Sync {
    fn on_state(&self, state: ConnectionState);
}
