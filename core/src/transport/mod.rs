//! The link to the terminal at GATT level: scan for posmate terminals, connect, write to RX,
//! receive notifications from TX.
//!
//! In the manner of btleplug's `api` module this file holds only the traits and types every
//! implementation shares; each implementation lives in its own module:
//!
//! * [`btle`] — real radios through btleplug (BlueZ on Linux, CoreBluetooth, Android, WinRT).
//!
//! The simulated world's transports (the in-process radio, the sim link's client) implement
//! the same traits from outside the product, in `posmate-sim-world`.
//!
//! [`manager`] (re)establishes a connection under a documented reconnect policy;
//! [`observed`] publishes what happens to every connection, for the UI.
//!
//! Fragmentation is the caller's job: a [`Connection`] carries single ATT values of at most
//! `mtu() − 3` bytes and says so with [`TransportError::ValueTooLong`] otherwise.

pub mod btle;
pub mod manager;
pub mod observed;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use posmate_proto::gatt::{self, Advertisement, Lifecycle, Micros};
use tokio::sync::mpsc;

/// An opaque, stable name for a peripheral as the platform reports it (a BlueZ object path, a
/// CoreBluetooth UUID, a MAC address in simulation). Shown to users, kept in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeripheralId(String);

impl PeripheralId {
    pub fn new(id: impl Into<String>) -> Self {
        PeripheralId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeripheralId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::mirrored! {
    (replay_candidate, derive(Debug, Clone, PartialEq, Eq))
    /// A posmate terminal seen while scanning, as its advertisement describes it
    /// (`docs/protocol.md` §1.2).
    pub struct Candidate {
        /// The platform's handle for the terminal: what connecting and pairing take.
        pub peripheral_id: PeripheralId,
        pub local_name: String,
        /// Received signal strength in dBm, when the platform reports it.
        pub rssi: Option<i16>,
        /// Last (up to 8) characters of the terminal's serial number.
        pub sn_suffix: String,
        pub lifecycle: Lifecycle,
        /// Highest protocol version the terminal speaks.
        pub protocol_version: u8,
        /// The terminal's pairing window is open (it shows a code).
        pub pairing_open: bool,
        /// Too many wrong codes: pairing is locked for a while.
        pub pairing_locked: bool,
    }
}

impl Candidate {
    /// Builds a candidate from one advertising report. Reports that do not list the posmate
    /// service, carry no manufacturer data under [`gatt::COMPANY_ID`], or whose data is not a
    /// posmate advertisement are someone else's device: `None`, never an error.
    pub fn from_report(
        id: PeripheralId,
        local_name: Option<&str>,
        rssi: Option<i16>,
        services: &[u128],
        manufacturer_data: &HashMap<u16, Vec<u8>>,
    ) -> Option<Candidate> {
        if !services.contains(&gatt::SERVICE_UUID) {
            return None;
        }
        let data = manufacturer_data.get(&gatt::COMPANY_ID)?;
        let adv = Advertisement::parse(local_name, data).ok()?;
        Some(Candidate::from_advertisement(id, rssi, adv))
    }

    fn from_advertisement(id: PeripheralId, rssi: Option<i16>, adv: Advertisement) -> Self {
        Candidate {
            peripheral_id: id,
            local_name: adv.local_name,
            rssi,
            sn_suffix: adv.sn_suffix,
            lifecycle: adv.lifecycle,
            protocol_version: adv.protocol_version,
            pairing_open: adv.pairing_open,
            pairing_locked: adv.pairing_locked,
        }
    }
}

/// Narrows a scan beyond the posmate service UUID, which every scan filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFilter {
    /// Keep only terminals whose SN ends with this text (case-insensitive), e.g. the
    /// characters printed on the terminal's label.
    pub sn_suffix: Option<String>,
    /// Keep only terminals whose local name contains this text (case-insensitive).
    pub name_contains: Option<String>,
}

impl ScanFilter {
    /// Every posmate terminal.
    pub fn any() -> Self {
        ScanFilter::default()
    }

    /// Terminals whose SN ends with `suffix`.
    pub fn sn_suffix(suffix: impl Into<String>) -> Self {
        ScanFilter {
            sn_suffix: Some(suffix.into()),
            ..ScanFilter::default()
        }
    }

    pub fn matches(&self, candidate: &Candidate) -> bool {
        let ends = |hay: &str, needle: &str| {
            hay.to_ascii_uppercase()
                .ends_with(&needle.to_ascii_uppercase())
        };
        let contains = |hay: &str, needle: &str| {
            hay.to_ascii_uppercase()
                .contains(&needle.to_ascii_uppercase())
        };
        self.sn_suffix
            .as_deref()
            .is_none_or(|s| ends(&candidate.sn_suffix, s))
            && self
                .name_contains
                .as_deref()
                .is_none_or(|n| contains(&candidate.local_name, n))
    }
}

/// Candidates as they are seen. The same terminal may appear again when its advertisement or
/// RSSI changes. The stream ends when the caller drops it.
pub type ScanStream = Pin<Box<dyn Stream<Item = Candidate> + Send>>;

/// Why a link went down.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DisconnectReason {
    /// This side called [`Connection::disconnect`] or dropped the connection.
    LocalRequest,
    /// The terminal closed the link (after a CLOSE frame, say), or the platform reports a
    /// disconnection without saying who caused it.
    RemoteClosed,
    /// The radio link was lost: out of range, supervision timeout, interference.
    LinkLost,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DisconnectReason::LocalRequest => "disconnected by this device",
            DisconnectReason::RemoteClosed => "the terminal closed the connection",
            DisconnectReason::LinkLost => "the radio link was lost",
        })
    }
}

/// What a connection reports, in order: notifications as the terminal sent them, then exactly
/// one `Disconnected` as the last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// One ATT value notified on TX.
    Notification(Vec<u8>),
    Disconnected(DisconnectReason),
}

/// A [`LinkEvent`] with the link time at which it reached the phone (virtual microseconds in
/// simulation, microseconds since the connection was made on hardware).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    pub at: Micros,
    pub event: LinkEvent,
}

/// Told the time of each event a reader takes (see [`LinkEvents::new`]).
pub type ReadHook = Arc<dyn Fn(Micros) + Send + Sync>;
type Observer = Box<dyn Fn(&LinkEvent) + Send + Sync>;

/// The ordered receiver of a connection's events, taken once with
/// [`Connection::take_events`] by the one reader task that owns it.
pub struct LinkEvents {
    rx: mpsc::UnboundedReceiver<Stamped>,
    /// Told the time of every event the reader takes: the simulated link advances the phone's
    /// causal clock with it.
    on_read: Option<ReadHook>,
    /// Shown every event the reader takes, before the reader sees it (see [`LinkEvents::observe`]).
    observer: Option<Observer>,
}

impl LinkEvents {
    /// The events a transport's connection sends on `rx`; `on_read`, if any, is told the time
    /// of each one the reader takes (public for transports implemented outside the core).
    pub fn new(rx: mpsc::UnboundedReceiver<Stamped>, on_read: Option<ReadHook>) -> Self {
        LinkEvents {
            rx,
            on_read,
            observer: None,
        }
    }

    /// These events with `f` shown each one as the reader takes it, in order, before the
    /// reader gets it.
    ///
    /// For wrappers of a [`Connection`] that must learn of the link's events without owning
    /// the receiver: the session's reader task is always awaiting it, so [`observed`] reports
    /// a lost link (`Disconnected`) the moment that reader sees it, not at the next write.
    /// An observer set earlier is kept and called first.
    pub fn observe(mut self, f: impl Fn(&LinkEvent) + Send + Sync + 'static) -> LinkEvents {
        self.observer = Some(match self.observer.take() {
            None => Box::new(f),
            Some(earlier) => Box::new(move |event| {
                earlier(event);
                f(event);
            }),
        });
        self
    }

    fn taken(&self, stamped: &Stamped) {
        if let Some(hook) = &self.on_read {
            hook(stamped.at);
        }
        if let Some(observer) = &self.observer {
            observer(&stamped.event);
        }
    }

    /// The next event; `None` once `Disconnected` has been taken.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        self.recv_stamped().await.map(|s| s.event)
    }

    /// The next event with its link time.
    pub async fn recv_stamped(&mut self) -> Option<Stamped> {
        let stamped = self.rx.recv().await?;
        self.taken(&stamped);
        Some(stamped)
    }

    /// The next event if one is ready now.
    pub fn try_recv(&mut self) -> Option<Stamped> {
        let stamped = self.rx.try_recv().ok()?;
        self.taken(&stamped);
        Some(stamped)
    }
}

impl fmt::Debug for LinkEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkEvents").finish_non_exhaustive()
    }
}

/// Finds posmate terminals and connects to them.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Starts scanning for advertisements of the posmate service that match `filter`.
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError>;

    /// Connects, discovers the posmate service, exchanges the MTU (requesting
    /// [`gatt::MAX_MTU`]) and enables notifications on TX. The returned connection is ready
    /// for writes.
    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError>;
}

/// One GATT connection to a terminal. Dropping it disconnects.
#[async_trait]
pub trait Connection: Send + Sync {
    fn id(&self) -> &PeripheralId;

    /// The negotiated ATT MTU; values carry at most `mtu() − 3` bytes.
    fn mtu(&self) -> u16;

    /// Writes one value to RX without response. Fails with [`TransportError::ValueTooLong`]
    /// for more than `mtu() − 3` bytes and with [`TransportError::Disconnected`] once the link
    /// is down.
    async fn write(&self, value: &[u8]) -> Result<(), TransportError>;

    /// The ordered event receiver; `Some` exactly once.
    fn take_events(&self) -> Option<LinkEvents>;

    /// Closes the link. The event receiver then yields
    /// `Disconnected(LocalRequest)` after any notifications already received.
    async fn disconnect(&self) -> Result<(), TransportError>;

    /// Says the phone is ending this link: its session says goodbye before [`disconnect`],
    /// and a terminal that hangs up on the goodbye first must not read as a lost link.
    /// Only observers of the link care; a transport has nothing to do.
    ///
    /// [`disconnect`]: Connection::disconnect
    fn closing(&self) {}
}

/// Scans for `duration` and returns the latest report of every terminal seen, strongest
/// signal first (then by id, so the order is stable). This is what `posmate scan` lists.
pub async fn scan_for(
    transport: &dyn Transport,
    filter: ScanFilter,
    duration: Duration,
) -> Result<Vec<Candidate>, TransportError> {
    let mut stream = transport.scan(filter).await?;
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Some(candidate)) = tokio::time::timeout_at(deadline, stream.next()).await {
        seen.insert(candidate.peripheral_id.clone(), candidate);
    }
    let mut found: Vec<Candidate> = seen.into_values().collect();
    found.sort_by(|a, b| {
        b.rssi
            .cmp(&a.rssi)
            .then_with(|| a.peripheral_id.cmp(&b.peripheral_id))
    });
    Ok(found)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What keeps the phone from using Bluetooth at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// No system D-Bus to reach BlueZ through (containers, minimal systems).
    NoSystemBus,
    /// The system bus runs but the BlueZ daemon is not installed or not registered.
    BlueZMissing,
    /// D-Bus tried to start BlueZ and it exited (usually: no Bluetooth in the kernel).
    BlueZCannotStart,
    /// No Bluetooth controller is present.
    NoAdapter,
    /// The controller exists but is switched off.
    AdapterPoweredOff,
    /// The OS refused access (missing permission or policy).
    PermissionDenied,
}

impl Unavailability {
    /// What the user can do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Unavailability::NoSystemBus => {
                "start the system D-Bus (systemctl start dbus) or use --sim"
            }
            Unavailability::BlueZMissing => {
                "install and start BlueZ (apt install bluez; systemctl start bluetooth) or use --sim"
            }
            Unavailability::BlueZCannotStart => {
                "BlueZ cannot start: check that the kernel has Bluetooth support and that \
                 `systemctl status bluetooth` shows no error, or use --sim"
            }
            Unavailability::NoAdapter => {
                "plug in a Bluetooth adapter (check `btmgmt info` or `hciconfig`), or use --sim"
            }
            Unavailability::AdapterPoweredOff => {
                "switch Bluetooth on (bluetoothctl power on, or the system settings)"
            }
            Unavailability::PermissionDenied => {
                "grant this app Bluetooth permission (Android: Nearby devices; iOS: Bluetooth; \
                 Linux: add the user to the bluetooth group)"
            }
        }
    }
}

impl fmt::Display for Unavailability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unavailability::NoSystemBus => "there is no system D-Bus",
            Unavailability::BlueZMissing => "the BlueZ Bluetooth service is not running",
            Unavailability::BlueZCannotStart => "the BlueZ Bluetooth service failed to start",
            Unavailability::NoAdapter => "no Bluetooth adapter was found",
            Unavailability::AdapterPoweredOff => "the Bluetooth adapter is switched off",
            Unavailability::PermissionDenied => "permission to use Bluetooth was denied",
        })
    }
}

/// Errors of the transport layer. Messages say what is missing and what to do; platform
/// error text (D-Bus names and messages) is kept in `source` for logs only.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("Bluetooth is unavailable: {cause}; to fix: {}", cause.fix())]
    BluetoothUnavailable {
        cause: Unavailability,
        #[source]
        source: Option<BoxError>,
    },
    #[error("no Bluetooth adapter named {name:?}; available: {available:?}")]
    AdapterNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("terminal {id} is not in range; check it is switched on and nearby, then scan again")]
    NotFound { id: PeripheralId },
    #[error("could not connect to terminal {id}; move closer and retry")]
    ConnectFailed {
        id: PeripheralId,
        #[source]
        source: Option<BoxError>,
    },
    #[error(
        "Bluetooth {operation} timed out after {after:?}; move closer to the terminal and retry"
    )]
    Timeout {
        operation: &'static str,
        after: Duration,
    },
    #[error("the connection to the terminal is closed; reconnect to continue")]
    Disconnected,
    #[error(
        "{id} does not offer the posmate service: it is not a posmate terminal, or its \
         firmware is faulty; choose another device"
    )]
    ServiceMissing { id: PeripheralId },
    #[error("a {len}-byte value exceeds the {max} bytes MTU {mtu} allows; fragment by mtu − 3")]
    ValueTooLong { len: usize, max: usize, mtu: u16 },
    #[error("Bluetooth {operation} failed; retry, or restart Bluetooth if it keeps failing")]
    Io {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
}

impl TransportError {
    /// A stable, machine-readable code for logs, the CLI and the FFI layer.
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::BluetoothUnavailable { .. } => "bluetooth-unavailable",
            TransportError::AdapterNotFound { .. } => "adapter-not-found",
            TransportError::NotFound { .. } => "not-found",
            TransportError::ConnectFailed { .. } => "connect-failed",
            TransportError::Timeout { .. } => "timeout",
            TransportError::Disconnected => "disconnected",
            TransportError::ServiceMissing { .. } => "service-missing",
            TransportError::ValueTooLong { .. } => "value-too-long",
            TransportError::Io { .. } => "io",
        }
    }

    /// Whether trying again (possibly after a pause) can succeed without the user changing
    /// anything: the reconnect policy retries these.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TransportError::NotFound { .. }
                | TransportError::ConnectFailed { .. }
                | TransportError::Timeout { .. }
                | TransportError::Disconnected
                | TransportError::Io { .. }
        )
    }

    pub(crate) fn unavailable(cause: Unavailability) -> Self {
        TransportError::BluetoothUnavailable {
            cause,
            source: None,
        }
    }

    /// The error for a value that does not fit the MTU, if it does not: every transport's
    /// `write` checks it first.
    pub fn check_len(value: &[u8], mtu: u16) -> Result<(), TransportError> {
        let max = gatt::max_value_len(mtu);
        if value.len() > max {
            return Err(TransportError::ValueTooLong {
                len: value.len(),
                max,
                mtu,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(data: &[u8], services: &[u128]) -> Option<Candidate> {
        let mut md = HashMap::new();
        md.insert(gatt::COMPANY_ID, data.to_vec());
        Candidate::from_report(
            PeripheralId::new("x"),
            Some("POSMATE-0042A1"),
            Some(-50),
            services,
            &md,
        )
    }

    #[test]
    fn posmate_report_becomes_candidate() {
        let adv = Advertisement::for_terminal("SN20260042A1", 1, Lifecycle::Suspended);
        let c = report(&adv.manufacturer_data(), &[gatt::SERVICE_UUID]).unwrap();
        assert_eq!(c.sn_suffix, "260042A1");
        assert_eq!(c.lifecycle, Lifecycle::Suspended);
        assert_eq!(c.rssi, Some(-50));
    }

    #[test]
    fn foreign_reports_are_ignored() {
        let adv = Advertisement::for_terminal("SN20260042A1", 1, Lifecycle::Factory);
        assert_eq!(report(&adv.manufacturer_data(), &[0x1234]), None);
        assert_eq!(report(b"XX\x01\x00\x00AB", &[gatt::SERVICE_UUID]), None);
        let c = Candidate::from_report(
            PeripheralId::new("y"),
            None,
            None,
            &[gatt::SERVICE_UUID],
            &HashMap::new(),
        );
        assert_eq!(c, None);
    }

    #[test]
    fn filter_matches_suffix_and_name_case_insensitively() {
        let adv = Advertisement::for_terminal("SN20260042A1", 1, Lifecycle::Factory);
        let c = report(&adv.manufacturer_data(), &[gatt::SERVICE_UUID]).unwrap();
        assert!(ScanFilter::any().matches(&c));
        assert!(ScanFilter::sn_suffix("42a1").matches(&c));
        assert!(!ScanFilter::sn_suffix("42A2").matches(&c));
        let by_name = ScanFilter {
            name_contains: Some("posmate-00".into()),
            ..ScanFilter::default()
        };
        assert!(by_name.matches(&c));
    }

    #[test]
    fn too_long_value_is_typed() {
        let err = TransportError::check_len(&[0; 21], 23).unwrap_err();
        assert!(matches!(
            err,
            TransportError::ValueTooLong {
                len: 21,
                max: 20,
                mtu: 23
            }
        ));
        assert!(TransportError::check_len(&[0; 20], 23).is_ok());
    }

    #[tokio::test]
    async fn observer_sees_every_taken_event_in_order_and_read_hook_still_runs() {
        use std::sync::Mutex;

        let (tx, rx) = mpsc::unbounded_channel();
        let read_at = Arc::new(Mutex::new(Vec::new()));
        let hook: ReadHook = {
            let read_at = read_at.clone();
            Arc::new(move |at| read_at.lock().unwrap().push(at))
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut events = {
            let seen = seen.clone();
            LinkEvents::new(rx, Some(hook)).observe(move |e| seen.lock().unwrap().push(e.clone()))
        };
        let sent = [
            LinkEvent::Notification(vec![1]),
            LinkEvent::Notification(vec![2, 3]),
            LinkEvent::Disconnected(DisconnectReason::LinkLost),
        ];
        for (at, event) in sent.iter().enumerate() {
            tx.send(Stamped {
                at: at as Micros * 10,
                event: event.clone(),
            })
            .unwrap();
        }
        drop(tx);

        // Nothing is observed before the reader takes it.
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(events.try_recv().unwrap().event, sent[0]);
        assert_eq!(*seen.lock().unwrap(), sent[..1]);
        assert_eq!(events.recv().await, Some(sent[1].clone()));
        assert_eq!(events.recv_stamped().await.unwrap().event, sent[2]);
        assert_eq!(events.recv().await, None);
        assert_eq!(*seen.lock().unwrap(), sent);
        assert_eq!(*read_at.lock().unwrap(), [0, 10, 20]);
    }
}
