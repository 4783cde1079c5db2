//! The real radio, through btleplug 0.13.5 (BlueZ on Linux, CoreBluetooth on Apple, the
//! Android and WinRT stacks elsewhere). Only error classification differs per platform; it
//! lives in [`classify`].
//!
//! MTU: btleplug has no call to request an MTU; the platform stacks exchange it themselves
//! and ask for their maximum (BlueZ: 517, iOS: 185..527, Android: btleplug requests 517).
//! [`Connection::mtu`] reports `btleplug::api::Peripheral::mtu()`, which on BlueZ is the
//! value the characteristics report after discovery and 23 when the stack does not say.

mod classify;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use btleplug::api::{
    Central, CentralEvent, CentralState, Characteristic, Manager as _, Peripheral as _, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures::{FutureExt, Stream, StreamExt};
use posmate_proto::gatt;
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use super::{
    Candidate, Connection, DisconnectReason, LinkEvent, LinkEvents, PeripheralId, ScanFilter,
    ScanStream, Stamped, Transport, TransportError,
};

pub(crate) use classify::unavailability;

/// How to open the radio.
#[derive(Debug, Clone)]
pub struct BtleOptions {
    /// Use the adapter with this name (`hci0` on Linux); by default the first by name.
    pub adapter: Option<String>,
    /// Longest wait for a connection to come up.
    pub connect_timeout: Duration,
}

impl Default for BtleOptions {
    fn default() -> Self {
        BtleOptions {
            adapter: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Maps a btleplug error to "Bluetooth is unavailable" when it says so, otherwise to what
/// `other` makes of it.
fn map_err(
    err: btleplug::Error,
    other: impl FnOnce(btleplug::Error) -> TransportError,
) -> TransportError {
    match unavailability(&err) {
        Some(cause) => TransportError::BluetoothUnavailable {
            cause,
            source: Some(Box::new(err)),
        },
        None => other(err),
    }
}

fn io(operation: &'static str) -> impl FnOnce(btleplug::Error) -> TransportError {
    move |err| match err {
        btleplug::Error::NotConnected => TransportError::Disconnected,
        btleplug::Error::TimedOut(after) => TransportError::Timeout { operation, after },
        err => TransportError::Io {
            operation,
            source: Box::new(err),
        },
    }
}

/// The adapter's short name from `Central::adapter_info` (`"hci0 (usb:…)"` on BlueZ).
fn adapter_name(info: &str) -> &str {
    info.split_whitespace().next().unwrap_or(info)
}

/// How often a scan start refused with an I/O error is tried, and the wait between tries.
const SCAN_START_ATTEMPTS: u32 = 4;
const SCAN_START_RETRY: Duration = Duration::from_millis(250);

/// A real Bluetooth radio.
pub struct BtleTransport {
    adapter: Adapter,
    connect_timeout: Duration,
    /// Platform ids of peripherals seen while scanning, by their displayed id.
    known: Arc<Mutex<HashMap<PeripheralId, btleplug::platform::PeripheralId>>>,
    /// The stop of the last scan, still under way: BlueZ refuses a second discovery from
    /// the same client (`org.bluez.Error.InProgress`) until the first one is stopped.
    stopping: Stopping,
}

type Stopping = Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>;

impl BtleTransport {
    /// Opens the platform's Bluetooth stack and picks the adapter: by name when
    /// `options.adapter` is set, otherwise the first by name (list order varies between
    /// runs). Fails with [`TransportError::BluetoothUnavailable`] saying what is missing.
    pub async fn new(options: BtleOptions) -> Result<Self, TransportError> {
        let manager = Manager::new().await.map_err(|e| map_err(e, io("start")))?;
        let adapters = manager
            .adapters()
            .await
            .map_err(|e| map_err(e, io("list adapters")))?;
        let mut named = Vec::with_capacity(adapters.len());
        for adapter in adapters {
            let info = adapter
                .adapter_info()
                .await
                .map_err(|e| map_err(e, io("read adapter")))?;
            named.push((adapter_name(&info).to_owned(), adapter));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let available: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
        let adapter = match &options.adapter {
            Some(want) => named.into_iter().find(|(n, _)| n == want).ok_or_else(|| {
                TransportError::AdapterNotFound {
                    name: want.clone(),
                    available,
                }
            })?,
            None => named.into_iter().next().ok_or(TransportError::unavailable(
                super::Unavailability::NoAdapter,
            ))?,
        }
        .1;
        ensure_powered(&adapter).await?;
        Ok(BtleTransport {
            adapter,
            connect_timeout: options.connect_timeout,
            known: Arc::default(),
            stopping: Arc::default(),
        })
    }

    async fn platform_id(
        &self,
        id: &PeripheralId,
    ) -> Result<btleplug::platform::PeripheralId, TransportError> {
        if let Some(pid) = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(pid.clone());
        }
        let peripherals = self
            .adapter
            .peripherals()
            .await
            .map_err(|e| map_err(e, io("list devices")))?;
        peripherals
            .into_iter()
            .map(|p| p.id())
            .find(|pid| pid.to_string() == id.as_str())
            .ok_or_else(|| TransportError::NotFound { id: id.clone() })
    }
}

/// Refuses an adapter the merchant switched off, with `AdapterPoweredOff` (opening the
/// transport, and before each scan: BlueZ would switch it back on by itself).
async fn ensure_powered(adapter: &Adapter) -> Result<(), TransportError> {
    let state = adapter
        .adapter_state()
        .await
        .map_err(|e| map_err(e, io("read adapter state")))?;
    if state == CentralState::PoweredOff {
        return Err(TransportError::unavailable(
            super::Unavailability::AdapterPoweredOff,
        ));
    }
    Ok(())
}

/// Stops the platform scan when the caller drops the stream.
struct BtleScan {
    inner: ScanStream,
    adapter: Adapter,
    stopping: Stopping,
}

impl Stream for BtleScan {
    type Item = Candidate;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl Drop for BtleScan {
    fn drop(&mut self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let adapter = self.adapter.clone();
            let stop = rt.spawn(async move {
                // Best effort: the adapter may be gone already.
                let _ = adapter.stop_scan().await;
            });
            *self.stopping.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
        }
    }
}

#[async_trait]
impl Transport for BtleTransport {
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError> {
        let events = self
            .adapter
            .events()
            .await
            .map_err(|e| map_err(e, io("scan")))?;
        let previous = self
            .stopping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(stop) = previous {
            let _ = stop.await;
        }
        // BlueZ's scan (bluez-async) switches a powered-off adapter on by itself; the
        // merchant switched it off, so say so instead.
        ensure_powered(&self.adapter).await?;
        let service = Uuid::from_u128(gatt::SERVICE_UUID);
        // BlueZ can refuse StartDiscovery for a moment after the previous discovery was
        // stopped (its own stop is still winding down inside bluetoothd), so a start that
        // fails with a plain I/O error is tried again a few times before the scan fails.
        let mut attempt = 1;
        loop {
            let started = self
                .adapter
                .start_scan(btleplug::api::ScanFilter {
                    services: vec![service],
                })
                .await
                .map_err(|e| map_err(e, io("scan")));
            match started {
                Ok(()) => break,
                Err(e @ TransportError::Io { .. }) if attempt < SCAN_START_ATTEMPTS => {
                    tracing::debug!(attempt, error = ?e, "scan start refused; retrying");
                    tokio::time::sleep(SCAN_START_RETRY).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        let adapter = self.adapter.clone();
        let known = self.known.clone();
        let last: Arc<Mutex<HashMap<PeripheralId, Candidate>>> = Arc::default();
        let candidates = events.filter_map(move |event| {
            let adapter = adapter.clone();
            let known = known.clone();
            let last = last.clone();
            let filter = filter.clone();
            async move {
                let pid = match event {
                    CentralEvent::DeviceDiscovered(id)
                    | CentralEvent::DeviceUpdated(id)
                    | CentralEvent::ManufacturerDataAdvertisement { id, .. }
                    | CentralEvent::ServicesAdvertisement { id, .. }
                    | CentralEvent::RssiUpdate { id, .. } => id,
                    _ => return None,
                };
                let props = adapter
                    .peripheral(&pid)
                    .await
                    .ok()?
                    .properties()
                    .await
                    .ok()??;
                let services: Vec<u128> = props.services.iter().map(Uuid::as_u128).collect();
                let id = PeripheralId::new(pid.to_string());
                let candidate = Candidate::from_report(
                    id.clone(),
                    props.local_name.as_deref(),
                    props.rssi,
                    &services,
                    &props.manufacturer_data,
                )?;
                if !filter.matches(&candidate) {
                    return None;
                }
                known
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), pid);
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if last.get(&id) == Some(&candidate) {
                    return None;
                }
                last.insert(id, candidate.clone());
                Some(candidate)
            }
        });
        Ok(Box::pin(BtleScan {
            inner: Box::pin(candidates),
            adapter: self.adapter.clone(),
            stopping: self.stopping.clone(),
        }))
    }

    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
        let pid = self.platform_id(id).await?;
        let peripheral = self
            .adapter
            .peripheral(&pid)
            .await
            .map_err(|e| map_err(e, |_| TransportError::NotFound { id: id.clone() }))?;
        let failed = |e: btleplug::Error| {
            map_err(e, |e| TransportError::ConnectFailed {
                id: id.clone(),
                source: Some(Box::new(e)),
            })
        };
        match tokio::time::timeout(self.connect_timeout, peripheral.connect()).await {
            Err(_) => {
                let _ = peripheral.disconnect().await;
                return Err(TransportError::Timeout {
                    operation: "connect",
                    after: self.connect_timeout,
                });
            }
            Ok(result) => result.map_err(failed)?,
        }
        match set_up(&self.adapter, &peripheral, id).await {
            Ok(conn) => Ok(Box::new(conn)),
            Err(e) => {
                let _ = peripheral.disconnect().await;
                Err(e)
            }
        }
    }
}

fn find_char(peripheral: &Peripheral, uuid: u128) -> Option<Characteristic> {
    let service = Uuid::from_u128(gatt::SERVICE_UUID);
    let uuid = Uuid::from_u128(uuid);
    peripheral
        .characteristics()
        .into_iter()
        .find(|c| c.uuid == uuid && c.service_uuid == service)
}

/// Discovery, notifications, and the task that forwards them in order.
async fn set_up(
    adapter: &Adapter,
    peripheral: &Peripheral,
    id: &PeripheralId,
) -> Result<BtleConnection, TransportError> {
    peripheral
        .discover_services()
        .await
        .map_err(|e| map_err(e, io("discover services")))?;
    let (Some(rx), Some(tx)) = (
        find_char(peripheral, gatt::RX_CHAR_UUID),
        find_char(peripheral, gatt::TX_CHAR_UUID),
    ) else {
        return Err(TransportError::ServiceMissing { id: id.clone() });
    };
    // Take the stream before subscribing so that no early notification is missed.
    let notifications = peripheral
        .notifications()
        .await
        .map_err(|e| map_err(e, io("subscribe")))?;
    // Disconnections are reported by the adapter, not the peripheral.
    let central_events = adapter
        .events()
        .await
        .map_err(|e| map_err(e, io("watch connection")))?;
    peripheral
        .subscribe(&tx)
        .await
        .map_err(|e| map_err(e, io("subscribe")))?;
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        down: AtomicBool::new(false),
        stop: Notify::new(),
    });
    tokio::spawn(forward(
        notifications,
        central_events,
        peripheral.id(),
        tx.uuid,
        events_tx,
        shared.clone(),
    ));
    Ok(BtleConnection {
        id: id.clone(),
        peripheral: peripheral.clone(),
        rx,
        shared,
        events: Mutex::new(Some(LinkEvents::new(events_rx, None))),
    })
}

type EventStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

struct Shared {
    down: AtomicBool,
    stop: Notify,
}

/// Forwards TX notifications, then one `Disconnected` when the adapter reports the link
/// gone or this side closes it. Notifications already received go first.
async fn forward(
    mut notifications: EventStream<btleplug::api::ValueNotification>,
    mut central: EventStream<CentralEvent>,
    pid: btleplug::platform::PeripheralId,
    tx_uuid: Uuid,
    out: mpsc::UnboundedSender<Stamped>,
    shared: Arc<Shared>,
) {
    let started = Instant::now();
    let at = || started.elapsed().as_micros() as u64;
    let send_value = |v: btleplug::api::ValueNotification| {
        if v.uuid == tx_uuid {
            let _ = out.send(Stamped {
                at: at(),
                event: LinkEvent::Notification(v.value),
            });
        }
    };
    let reason = loop {
        tokio::select! {
            biased;
            value = notifications.next() => match value {
                Some(v) => send_value(v),
                None => break DisconnectReason::RemoteClosed,
            },
            _ = shared.stop.notified() => break DisconnectReason::LocalRequest,
            event = central.next() => match event {
                Some(CentralEvent::DeviceDisconnected(id)) if id == pid => {
                    break if shared.down.load(Ordering::SeqCst) {
                        DisconnectReason::LocalRequest
                    } else {
                        DisconnectReason::RemoteClosed
                    };
                }
                Some(_) => {}
                None => break DisconnectReason::LinkLost,
            },
        }
    };
    while let Some(Some(v)) = notifications.next().now_or_never() {
        send_value(v);
    }
    shared.down.store(true, Ordering::SeqCst);
    let _ = out.send(Stamped {
        at: at(),
        event: LinkEvent::Disconnected(reason),
    });
}

/// A GATT connection through btleplug.
pub struct BtleConnection {
    id: PeripheralId,
    peripheral: Peripheral,
    rx: Characteristic,
    shared: Arc<Shared>,
    events: Mutex<Option<LinkEvents>>,
}

#[async_trait]
impl Connection for BtleConnection {
    fn id(&self) -> &PeripheralId {
        &self.id
    }

    fn mtu(&self) -> u16 {
        self.peripheral.mtu()
    }

    async fn write(&self, value: &[u8]) -> Result<(), TransportError> {
        if self.shared.down.load(Ordering::SeqCst) {
            return Err(TransportError::Disconnected);
        }
        TransportError::check_len(value, self.mtu())?;
        self.peripheral
            .write(&self.rx, value, WriteType::WithoutResponse)
            .await
            .map_err(|e| map_err(e, io("write")))
    }

    fn take_events(&self) -> Option<LinkEvents> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    async fn disconnect(&self) -> Result<(), TransportError> {
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.stop.notify_one();
        self.peripheral
            .disconnect()
            .await
            .map_err(|e| map_err(e, io("disconnect")))
    }
}

impl Drop for BtleConnection {
    fn drop(&mut self) {
        if self.shared.down.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared.stop.notify_one();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let peripheral = self.peripheral.clone();
            rt.spawn(async move {
                let _ = peripheral.disconnect().await;
            });
        }
    }
}
