//! One simulated terminal served on a real Bluetooth adapter.
//!
//! The terminal is the same firmware the sim link serves (`posmate_sim::serve::Host` drives
//! it through the `proto::gatt::Peripheral` contract); only the link differs. The GATT
//! service is registered with BlueZ through `bluer`, with both characteristics in BlueZ's
//! socket mode ("acquired"): BlueZ hands over one socket for the central's writes to RX and
//! one for notifications on TX, each message one ATT value, and says the ATT MTU when it
//! does. Mapping onto the firmware contract:
//!
//! * notifications on TX enabled (BlueZ's `AcquireNotify`) → `connect` with the stack's MTU;
//! * each write to RX → `write`;
//! * the notification socket closed (the central disconnected or unsubscribed) →
//!   `disconnect`;
//! * the terminal closing the link (after CLOSE) or a simulated link loss → the central is
//!   disconnected through BlueZ.
//!
//! While nobody is connected the terminal advertises its current advertisement (lifecycle
//! and pairing flags change with the firmware's state) through [`crate::advertiser`].
//!
//! One limit of BlueZ's socket mode: `bluetoothd` reads each notification from the socket
//! into a 512-byte buffer, so at MTU 517 a full 514-byte value would lose its last two
//! bytes. The firmware is therefore given at most MTU 515 ([`NOTIFY_MAX`] + 3), and a
//! longer write from the central is handed to it in pieces of that size — the protocol is
//! a byte stream of segments that may split across values (`docs/protocol.md` §1.1).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use bluer::gatt::local::{
    characteristic_control, Application, ApplicationHandle, Characteristic, CharacteristicControl,
    CharacteristicControlEvent, CharacteristicNotify, CharacteristicNotifyMethod,
    CharacteristicWrite, CharacteristicWriteMethod, Service,
};
use bluer::gatt::{CharacteristicReader, CharacteristicWriter};
use bluer::Address;
use futures::StreamExt;
use posmate_proto::gatt::{self, Advertisement, Micros};
use posmate_sim::serve::{Host, HostConfig, LinkEnd, LinkId, Output};
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::advertiser::{self, AdvertiseError, Advertiser};

/// The host the terminal lives in, shared with whatever else serves it (`posmate sim`'s
/// control socket, say).
pub trait HostAccess: Send + Sync + 'static {
    /// Runs `f` on the host at the current host time (µs) and wakes the host's other users.
    fn change<T>(&self, f: impl FnOnce(&mut Host, Micros) -> T) -> T;
    /// Bumped after every change to the host.
    fn subscribe(&self) -> watch::Receiver<u64>;
}

/// Which terminal on which adapter.
#[derive(Debug, Clone)]
pub struct BleOptions {
    /// The BlueZ adapter name, `hci1`.
    pub adapter: String,
    /// The SN (or sim address) of the hosted terminal to put on the radio.
    pub terminal: String,
    /// Re-enable advertising this often while nobody is connected. Only for emulated
    /// controllers such as btvirt's, which report an advertisement to scanners once, when
    /// advertising is enabled (a report can arrive before the scanner's host is ready for
    /// it); real controllers advertise periodically by themselves.
    pub readvertise: Option<Duration>,
}

/// What the peripheral reports as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BleEvent {
    /// Advertising started (again): the terminal can be found.
    Advertising {
        adapter: String,
        address: String,
        sn: String,
        local_name: String,
    },
    /// A central enabled notifications on TX.
    Connected {
        sn: String,
        central: String,
        mtu: u16,
    },
    Disconnected {
        sn: String,
        central: String,
        reason: LinkEnd,
    },
}

/// Why the peripheral cannot run. The messages say what is missing and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum BleError {
    #[error(
        "cannot reach BlueZ over the system D-Bus ({0}); start the system bus and bluetoothd \
         (systemctl start bluetooth)"
    )]
    NoBlueZ(String),
    #[error("no Bluetooth adapter named {name:?}; available: {available:?} (see `btmgmt info`)")]
    AdapterNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "Bluetooth adapter {0} is switched off; switch it on (bluetoothctl power on, or \
         btmgmt --index N power on)"
    )]
    PoweredOff(String),
    #[error("no hosted terminal {0}")]
    NoTerminal(String),
    #[error("advertising on {adapter}: {source}")]
    Advertise {
        adapter: String,
        #[source]
        source: AdvertiseError,
    },
    #[error("Bluetooth {what} failed: {source}")]
    Bluetooth {
        what: &'static str,
        #[source]
        source: bluer::Error,
    },
}

impl BleError {
    /// A stable code for the CLI's error output.
    pub fn code(&self) -> &'static str {
        match self {
            BleError::NoBlueZ(_) => "bluetooth-unavailable",
            BleError::AdapterNotFound { .. } => "adapter-not-found",
            BleError::PoweredOff(_) => "bluetooth-unavailable",
            BleError::NoTerminal(_) => "not-found",
            BleError::Advertise { .. } => "advertise-failed",
            BleError::Bluetooth { .. } => "io",
        }
    }
}

fn bt(what: &'static str) -> impl FnOnce(bluer::Error) -> BleError {
    move |source| BleError::Bluetooth { what, source }
}

/// How often the advertisement is compared with the firmware's state while nobody is
/// connected (a pairing lockout ends with time alone).
const ADVERTISEMENT_REFRESH: Duration = Duration::from_millis(200);

/// The longest notification BlueZ passes on from a notification socket (its read buffer).
pub const NOTIFY_MAX: usize = 512;

/// Serves the terminal on the adapter until an error: checks the adapter, registers the
/// GATT service, advertises, and drives connections. Dropping the future unregisters the
/// service and stops advertising.
pub async fn serve<H: HostAccess>(
    options: BleOptions,
    host: Arc<H>,
    events: mpsc::UnboundedSender<BleEvent>,
) -> Result<(), BleError> {
    let session = bluer::Session::new()
        .await
        .map_err(|e| BleError::NoBlueZ(e.to_string()))?;
    let available = session
        .adapter_names()
        .await
        .map_err(|e| BleError::NoBlueZ(e.to_string()))?;
    if !available.contains(&options.adapter) {
        return Err(BleError::AdapterNotFound {
            name: options.adapter.clone(),
            available,
        });
    }
    let adapter = session
        .adapter(&options.adapter)
        .map_err(bt("open adapter"))?;
    if !adapter.is_powered().await.map_err(bt("read adapter"))? {
        return Err(BleError::PoweredOff(options.adapter.clone()));
    }
    let address = adapter.address().await.map_err(bt("read adapter"))?;
    let index =
        advertiser::index_of(&options.adapter).ok_or_else(|| BleError::AdapterNotFound {
            name: options.adapter.clone(),
            available: Vec::new(),
        })?;
    let (id, sn) = host
        .change(|h, now| {
            h.terminals(now)
                .into_iter()
                .find(|t| t.id == options.terminal || t.sn == options.terminal)
                .map(|t| (t.id, t.sn))
        })
        .ok_or_else(|| BleError::NoTerminal(options.terminal.clone()))?;
    // The stack negotiates the MTU; the host must accept whatever it is.
    host.change(|h, _| {
        h.set_config(HostConfig {
            mtu: gatt::MAX_MTU,
            ..h.config()
        })
    });

    let (rx_control, rx_handle) = characteristic_control();
    let (tx_control, tx_handle) = characteristic_control();
    let app = Application {
        services: vec![Service {
            uuid: Uuid::from_u128(gatt::SERVICE_UUID),
            primary: true,
            characteristics: vec![
                Characteristic {
                    uuid: Uuid::from_u128(gatt::RX_CHAR_UUID),
                    write: Some(CharacteristicWrite {
                        write_without_response: true,
                        method: CharacteristicWriteMethod::Io,
                        ..Default::default()
                    }),
                    control_handle: rx_handle,
                    ..Default::default()
                },
                Characteristic {
                    uuid: Uuid::from_u128(gatt::TX_CHAR_UUID),
                    notify: Some(CharacteristicNotify {
                        notify: true,
                        method: CharacteristicNotifyMethod::Io,
                        ..Default::default()
                    }),
                    control_handle: tx_handle,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let app_handle = adapter
        .serve_gatt_application(app)
        .await
        .map_err(bt("register the GATT service"))?;
    let advertiser = run_blocking(move || Advertiser::open(index))
        .await
        .map_err(|source| BleError::Advertise {
            adapter: options.adapter.clone(),
            source,
        })?;
    let mut driver = Driver {
        host,
        adapter,
        _app: app_handle,
        advertiser: Some(advertiser),
        advertising: false,
        options,
        address: address.to_string(),
        id,
        sn,
        events,
        link: None,
        early_writes: None,
    };
    driver.run(rx_control, tx_control).await
}

/// Runs a blocking advertiser call off the async threads.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdvertiseError> + Send + 'static,
) -> Result<T, AdvertiseError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(AdvertiseError::Io {
            what: "advertiser task",
            source: io::Error::other(e.to_string()),
        })
    })
}

/// A central with notifications enabled.
struct Active {
    link: LinkId,
    central: Address,
    /// Whether the central's address is public (for the kernel's disconnect at shutdown).
    public: bool,
    /// BlueZ's notification socket: each message one notification.
    notify: UnixDatagram,
    /// BlueZ's socket of the central's writes, once it wrote.
    writes: Option<CharacteristicReader>,
    /// The longest value the firmware takes (its MTU − 3).
    piece: usize,
}

struct Driver<H> {
    host: Arc<H>,
    adapter: bluer::Adapter,
    _app: ApplicationHandle,
    /// `None` only while a blocking call has it.
    advertiser: Option<Advertiser>,
    advertising: bool,
    options: BleOptions,
    address: String,
    id: String,
    sn: String,
    events: mpsc::UnboundedSender<BleEvent>,
    link: Option<Active>,
    /// The central's write socket when BlueZ handed it over before the notification
    /// socket: BlueZ acknowledges the subscription to the central before it tells this
    /// process, so the first write can overtake it. Read once the link is up.
    early_writes: Option<CharacteristicReader>,
}

impl<H: HostAccess> Driver<H> {
    async fn run(
        &mut self,
        mut rx_control: CharacteristicControl,
        mut tx_control: CharacteristicControl,
    ) -> Result<(), BleError> {
        let mut changed = self.host.subscribe();
        let period = self
            .options
            .readvertise
            .map_or(ADVERTISEMENT_REFRESH, |r| r.min(ADVERTISEMENT_REFRESH));
        let mut refresh = tokio::time::interval(period);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut enabled_at = tokio::time::Instant::now();
        loop {
            changed.borrow_and_update();
            let next = self.pump().await;
            if self.link.is_none() {
                let again = self
                    .options
                    .readvertise
                    .is_some_and(|r| enabled_at.elapsed() >= r);
                if again {
                    enabled_at = tokio::time::Instant::now();
                }
                self.advertise(again).await?;
            }
            let now = self.host.change(|_, now| now);
            let wake = next.map(|t| Duration::from_micros(t.saturating_sub(now)));
            tokio::select! {
                event = tx_control.next() => match event {
                    Some(CharacteristicControlEvent::Notify(writer)) => self.on_subscribe(writer).await?,
                    Some(CharacteristicControlEvent::Write(req)) => req.reject(bluer::gatt::local::ReqError::NotSupported),
                    None => return Ok(()),
                },
                event = rx_control.next() => match event {
                    Some(CharacteristicControlEvent::Write(req)) => self.on_acquire_write(req),
                    Some(CharacteristicControlEvent::Notify(_)) => {}
                    None => return Ok(()),
                },
                value = recv(self.link.as_ref()) => self.on_write(value).await,
                () = closed(self.link.as_ref()) => {
                    if let Some(active) = &self.link {
                        let link = active.link;
                        self.host.change(|h, now| h.disconnect(link, now));
                    }
                }
                () = sleep(wake) => {}
                _ = changed.changed() => {}
                _ = refresh.tick(), if self.link.is_none() => {}
            }
        }
    }

    /// Notifications enabled: a new link with the stack's MTU. A central that subscribes
    /// again replaces its old link.
    async fn on_subscribe(&mut self, writer: CharacteristicWriter) -> Result<(), BleError> {
        if let Some(old) = self.link.take() {
            self.host.change(|h, now| h.disconnect(old.link, now));
            self.drain_link(old).await;
        }
        // bluer reports MTU − 5 (BlueZ's 512-byte notification buffer at MTU 517).
        let att_mtu = u16::try_from(writer.mtu() + 5)
            .unwrap_or(gatt::MAX_MTU)
            .clamp(gatt::MIN_MTU, gatt::MAX_MTU);
        let firmware_mtu = att_mtu.min(NOTIFY_MAX as u16 + gatt::ATT_HEADER as u16);
        let central = writer.device_address();
        let public = match self.adapter.device(central) {
            Ok(d) => d.address_type().await.ok() != Some(bluer::AddressType::LeRandom),
            Err(_) => true,
        };
        let notify = match into_socket(writer) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the notification socket");
                return Ok(());
            }
        };
        self.stop_advertising().await?;
        let id = self.id.clone();
        match self.host.change(|h, now| h.connect(&id, firmware_mtu, now)) {
            Ok((link, mtu)) => {
                let writes = self
                    .early_writes
                    .take()
                    .filter(|r| r.device_address() == central);
                self.link = Some(Active {
                    link,
                    central,
                    public,
                    notify,
                    writes,
                    piece: gatt::max_value_len(mtu),
                });
                let _ = self.events.send(BleEvent::Connected {
                    sn: self.sn.clone(),
                    central: central.to_string(),
                    mtu: att_mtu,
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "terminal refused the connection");
                self.disconnect_central(central).await;
            }
        }
        Ok(())
    }

    fn on_acquire_write(&mut self, req: bluer::gatt::local::CharacteristicWriteIoRequest) {
        match &mut self.link {
            Some(active) if active.central == req.device_address() => match req.accept() {
                Ok(reader) => active.writes = Some(reader),
                Err(e) => tracing::warn!(error = %e, "cannot accept the central's writes"),
            },
            // Another central while one is connected.
            Some(_) => req.reject(bluer::gatt::local::ReqError::NotPermitted),
            None => match req.accept() {
                Ok(reader) => self.early_writes = Some(reader),
                Err(e) => tracing::warn!(error = %e, "cannot accept the central's writes"),
            },
        }
    }

    async fn on_write(&mut self, value: io::Result<Vec<u8>>) {
        let Some(active) = &mut self.link else {
            return;
        };
        match value {
            Ok(value) if !value.is_empty() => {
                let link = active.link;
                let piece = active.piece;
                let written = self.host.change(|h, now| {
                    value
                        .chunks(piece)
                        .try_for_each(|chunk| h.write(link, now, chunk))
                });
                if let Err(e) = written {
                    tracing::warn!(error = %e, "refused a write; dropping the link");
                    self.host.change(|h, now| h.abort(link, now));
                }
            }
            // The write socket closed: the central went away; the notification socket
            // closing ends the link.
            _ => active.writes = None,
        }
    }

    /// Drives the link: sends what is due, handles its end. Returns when to look again.
    async fn pump(&mut self) -> Option<Micros> {
        let link = self.link.as_ref()?.link;
        let polled = self.host.change(|h, now| h.poll(link, now));
        for out in polled.outputs {
            match out {
                Output::Notify { data, .. } => {
                    let active = self.link.as_ref()?;
                    if let Err(e) = active.notify.send(&data).await {
                        tracing::debug!(error = %e, "notification socket failed");
                        self.host.change(|h, now| h.disconnect(link, now));
                    }
                }
                Output::Down { reason, .. } => {
                    let active = self.link.take()?;
                    self.end(active, reason).await;
                    return None;
                }
            }
        }
        polled.next
    }

    /// The link is over for the firmware: tell BlueZ if the terminal ended it.
    async fn end(&mut self, active: Active, reason: LinkEnd) {
        self.early_writes = None;
        if reason != LinkEnd::LocalRequest {
            self.disconnect_central(active.central).await;
        }
        let _ = self.events.send(BleEvent::Disconnected {
            sn: self.sn.clone(),
            central: active.central.to_string(),
            reason,
        });
    }

    /// Polls a link that was just disconnected in the host until its `Down`.
    async fn drain_link(&mut self, active: Active) {
        loop {
            let polled = self.host.change(|h, now| h.poll(active.link, now));
            if let Some(reason) = polled.outputs.iter().find_map(|o| match o {
                Output::Down { reason, .. } => Some(*reason),
                Output::Notify { .. } => None,
            }) {
                self.end(active, reason).await;
                return;
            }
            if polled.next.is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn disconnect_central(&self, central: Address) {
        match self.adapter.device(central) {
            Ok(device) => {
                if let Err(e) = device.disconnect().await {
                    tracing::debug!(error = %e, "disconnecting the central");
                }
            }
            Err(e) => tracing::debug!(error = %e, "no device for the central"),
        }
    }

    /// Advertises the terminal's current advertisement; unchanged, only if `again`
    /// (advertising is then enabled anew).
    async fn advertise(&mut self, again: bool) -> Result<(), BleError> {
        let id = self.id.clone();
        let adv: Option<Advertisement> = self.host.change(|h, now| {
            h.advertisements(now)
                .into_iter()
                .find(|a| a.id == id)
                .map(|a| a.adv)
        });
        let Some(adv) = adv else {
            return Ok(());
        };
        let local_name = adv.local_name.clone();
        self.with_advertiser(move |advertiser| advertiser.advertise(&adv, again))
            .await?;
        if !self.advertising {
            self.advertising = true;
            let _ = self.events.send(BleEvent::Advertising {
                adapter: self.options.adapter.clone(),
                address: self.address.clone(),
                sn: self.sn.clone(),
                local_name,
            });
        }
        Ok(())
    }

    async fn stop_advertising(&mut self) -> Result<(), BleError> {
        self.advertising = false;
        self.with_advertiser(Advertiser::stop).await
    }

    /// Runs `f` on the advertiser on a blocking thread (its calls to the kernel block) and
    /// puts the advertiser back for the next call. Should the thread die, the advertiser is
    /// lost with it and the call fails.
    async fn with_advertiser(
        &mut self,
        f: impl FnOnce(&mut Advertiser) -> Result<(), AdvertiseError> + Send + 'static,
    ) -> Result<(), BleError> {
        let mut advertiser = self.advertiser.take().expect("the advertiser is back");
        let ran = run_blocking(move || {
            let r = f(&mut advertiser);
            Ok((advertiser, r))
        })
        .await;
        let result = ran.and_then(|(advertiser, r)| {
            self.advertiser = Some(advertiser);
            r
        });
        result.map_err(|source| BleError::Advertise {
            adapter: self.options.adapter.clone(),
            source,
        })
    }
}

/// A terminal that stops serving drops its link, as one switched off would: BlueZ owns
/// the LE link and would keep it up after this process has gone. (Blocking, like the
/// advertiser's own stop that follows; both are local calls to the kernel.)
impl<H> Drop for Driver<H> {
    fn drop(&mut self) {
        if let (Some(active), Some(advertiser)) = (&self.link, &mut self.advertiser) {
            if let Err(e) = advertiser.disconnect(active.central.0, active.public) {
                tracing::debug!(error = %e, "dropping the link at shutdown");
            }
        }
    }
}

/// BlueZ's notification socket, without bluer's MTU − 5 cap on message size.
fn into_socket(writer: CharacteristicWriter) -> io::Result<UnixDatagram> {
    let fd = writer.into_raw_fd()?;
    // SAFETY: `into_raw_fd` gave up ownership of `fd`; nothing else holds it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let std = std::os::unix::net::UnixDatagram::from(owned);
    std.set_nonblocking(true)?;
    UnixDatagram::from_std(std)
}

async fn recv(active: Option<&Active>) -> io::Result<Vec<u8>> {
    match active.and_then(|a| a.writes.as_ref()) {
        Some(reader) => reader.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves when BlueZ closes the notification socket (the central unsubscribed or left).
async fn closed(active: Option<&Active>) {
    match active {
        Some(a) => {
            let mut probe = [0u8; 1];
            loop {
                if a.notify.readable().await.is_err() {
                    return;
                }
                match a.notify.try_recv(&mut probe) {
                    // EOF, or BlueZ wrote to a socket it only reads: either way, gone.
                    Ok(_) => return,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => return,
                }
            }
        }
        None => std::future::pending().await,
    }
}

async fn sleep(wake: Option<Duration>) {
    match wake {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
