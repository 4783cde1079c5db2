//! A simulated radio: any number of `proto::gatt::Peripheral`s "in range", reached only
//! through their byte interface, with a deterministic BLE timing model.
//!
//! # Clock and causality
//! Each connection has its own virtual link clock in µs, starting at 0 when the connection
//! is usable (connection set-up, discovery, MTU exchange and enabling notifications are not
//! timed). No background task decides anything; every timestamp follows from causality:
//!
//! * the phone's *causal time* is the later of its last write's slot and the arrival time of
//!   the latest event its reader took from [`LinkEvents`](posmate_core::transport::LinkEvents);
//! * a write gets the next free phone→terminal slot at or after the causal time and is
//!   delivered inside `write` via `on_write(arrival, value)`;
//! * the link then drains `poll_notification(arrival)` and places every notification in the
//!   next free terminal→phone slot at or after `max(not_before, arrival)`, in order.
//!
//! So the same sequence of writes and reads gives the same trace, whatever the thread
//! scheduling — provided the phone's writes depend only on what it has read (a reader task
//! that takes events the writer does not wait for can move a later write's timestamp; the
//! bytes stay the same). The terminal is polled only at connect and after each delivery, as
//! the `Peripheral` contract says: firmware output that is not a reaction to a delivery (a
//! timeout, the end of a stall) must be queued eagerly with a later `not_before`.
//!
//! See [`timing`] for the slot model, [`faults`] for fault injection and [`trace`] for
//! recording and replay.

pub mod faults;
pub mod timing;
pub mod trace;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::stream;
use posmate_proto::gatt::{self, Micros, Peripheral};
use tokio::sync::{mpsc, watch};

use self::faults::{Direction, FaultPlan, PacketRef};
use self::timing::{DirSchedule, LinkModel, IFS_US};
use self::trace::{Trace, TraceKind};
use posmate_core::transport::{
    Candidate, Connection, DisconnectReason, LinkEvent, LinkEvents, PeripheralId, ScanFilter,
    ScanStream, Stamped, Transport, TransportError,
};

type SharedPeripheral = Arc<Mutex<Box<dyn Peripheral>>>;

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a test's peripheral must not turn every later call into a second panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Traffic one direction carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// ATT values that went on air (including dropped, duplicated and injected ones).
    pub packets: u64,
    /// Value bytes of those packets.
    pub app_bytes: u64,
    /// ATT bytes: value bytes plus the 3-byte ATT header each.
    pub att_bytes: u64,
}

/// Traffic and virtual time of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub to_terminal: DirectionStats,
    pub to_phone: DirectionStats,
    /// End of the last packet's air time, in either direction (µs of link time).
    pub elapsed_us: Micros,
}

impl LinkStats {
    /// Value bytes per second of link time in `direction`.
    pub fn payload_rate(&self, direction: Direction) -> f64 {
        let d = match direction {
            Direction::ToTerminal => self.to_terminal,
            Direction::ToPhone => self.to_phone,
        };
        if self.elapsed_us == 0 {
            return 0.0;
        }
        d.app_bytes as f64 * 1e6 / self.elapsed_us as f64
    }
}

struct LinkState {
    peripheral: SharedPeripheral,
    model: LinkModel,
    mtu: u16,
    plan: FaultPlan,
    to_terminal: DirSchedule,
    to_phone: DirSchedule,
    /// The phone's causal time (see the module docs).
    phone_time: Micros,
    /// Time of the last event handed to the phone's channel (keeps them monotonic).
    last_event_at: Micros,
    offered: [u64; 2],
    stats: LinkStats,
    trace: Trace,
    events: Option<mpsc::UnboundedSender<Stamped>>,
    down: Option<DisconnectReason>,
    changed: watch::Sender<u64>,
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ToTerminal => 0,
        Direction::ToPhone => 1,
    }
}

impl LinkState {
    /// Puts one ATT value on air in `direction`, not before `ready`; returns the start of
    /// its first LL PDU and the end of its last.
    fn put_on_air(&mut self, direction: Direction, ready: Micros, len: usize) -> (Micros, Micros) {
        let offset = match direction {
            Direction::ToTerminal => 0,
            Direction::ToPhone => self.model.empty_pdu_air_us() + IFS_US,
        };
        let model = self.model;
        let sched = match direction {
            Direction::ToTerminal => &mut self.to_terminal,
            Direction::ToPhone => &mut self.to_phone,
        };
        let mut first = None;
        let mut at = ready;
        let mut end = ready;
        for frag in model.fragments(len) {
            let (s, e) = sched.place(&model, at, frag, offset);
            first.get_or_insert(s);
            at = s;
            end = e;
        }
        let stats = match direction {
            Direction::ToTerminal => &mut self.stats.to_terminal,
            Direction::ToPhone => &mut self.stats.to_phone,
        };
        stats.packets += 1;
        stats.app_bytes += len as u64;
        stats.att_bytes += (len + gatt::ATT_HEADER) as u64;
        self.stats.elapsed_us = self.stats.elapsed_us.max(end);
        (first.unwrap_or(ready), end)
    }

    /// Applies the plan to the offered packet and returns what arrives, each with its
    /// arrival time (extra copies take the following slots).
    fn transmit(
        &mut self,
        direction: Direction,
        ready: Micros,
        value: &[u8],
    ) -> (PacketRef, Micros, Vec<(Micros, Vec<u8>)>) {
        let packet = PacketRef {
            direction,
            index: self.offered[dir_index(direction)],
        };
        self.offered[dir_index(direction)] += 1;
        let (start, end) = self.put_on_air(direction, ready, value.len());
        let latency = self.plan.latency(direction);
        let (arriving, notes) = self.plan.apply(packet, value);
        for what in notes {
            self.trace.push(
                end,
                TraceKind::Fault {
                    direction,
                    index: packet.index,
                    what,
                },
            );
        }
        let mut out = Vec::with_capacity(arriving.len());
        let (mut prev_start, mut prev_end) = (start, end);
        for (i, bytes) in arriving.into_iter().enumerate() {
            if i > 0 {
                (prev_start, prev_end) = self.put_on_air(direction, prev_start, bytes.len());
            }
            out.push((prev_end + latency, bytes));
        }
        (packet, start, out)
    }

    fn write(&mut self, value: &[u8]) -> Result<(), TransportError> {
        if self.down.is_some() {
            return Err(TransportError::Disconnected);
        }
        TransportError::check_len(value, self.mtu)?;
        let (packet, start, arriving) =
            self.transmit(Direction::ToTerminal, self.phone_time, value);
        self.phone_time = self.phone_time.max(start);
        let arrival = arriving.first().map(|a| a.0);
        if let (Some(at), Some(d)) = (arrival, self.plan.stall_for(packet)) {
            self.stall(at, at + d);
        }
        for (at, bytes) in arriving {
            if self.down.is_some() {
                break;
            }
            self.trace.push(
                at,
                TraceKind::Write {
                    data: bytes.clone(),
                },
            );
            lock(&self.peripheral).on_write(at, &bytes);
            if self.plan.disconnect_after == Some(packet) {
                self.go_down(DisconnectReason::LinkLost, at);
                break;
            }
            self.drain(at);
        }
        if arrival.is_none() && self.plan.disconnect_after == Some(packet) {
            let at = self.stats.elapsed_us;
            self.go_down(DisconnectReason::LinkLost, at);
        }
        self.changed.send_modify(|g| *g += 1);
        Ok(())
    }

    fn stall(&mut self, at: Micros, until: Micros) {
        self.trace.push(at, TraceKind::Stall { until });
        lock(&self.peripheral).stall_until(until);
    }

    /// Polls the terminal at `now` until it has nothing more, sending what it emits.
    fn drain(&mut self, now: Micros) {
        while self.down.is_none() {
            let Some(n) = lock(&self.peripheral).poll_notification(now) else {
                break;
            };
            let ready = n.not_before.max(now);
            let (packet, _, arriving) = self.transmit(Direction::ToPhone, ready, &n.data);
            let on_air_end = self.stats.elapsed_us;
            self.trace.push(
                now,
                TraceKind::Notify {
                    arrives: arriving.first().map_or(on_air_end, |a| a.0),
                    data: n.data,
                },
            );
            let mut last = None;
            for (at, bytes) in arriving {
                last = Some(self.send_event(at, LinkEvent::Notification(bytes)));
            }
            let at = last.unwrap_or(on_air_end);
            if let Some(d) = self.plan.stall_for(packet) {
                self.stall(at, at + d);
            }
            if self.plan.disconnect_after == Some(packet) {
                self.go_down(DisconnectReason::LinkLost, at);
            }
        }
        if self.down.is_none() && lock(&self.peripheral).wants_disconnect() {
            let at = self.last_event_at.max(now);
            self.go_down(DisconnectReason::RemoteClosed, at);
        }
    }

    fn send_event(&mut self, at: Micros, event: LinkEvent) -> Micros {
        let at = at.max(self.last_event_at);
        self.last_event_at = at;
        if let Some(tx) = &self.events {
            // The reader may have gone away; the link carries on regardless.
            let _ = tx.send(Stamped { at, event });
        }
        at
    }

    fn go_down(&mut self, reason: DisconnectReason, at: Micros) {
        if self.down.is_some() {
            return;
        }
        let at = at.max(self.last_event_at);
        self.down = Some(reason.clone());
        lock(&self.peripheral).on_disconnect(at);
        self.trace.push(
            at,
            TraceKind::Disconnect {
                reason: reason.clone(),
            },
        );
        self.send_event(at, LinkEvent::Disconnected(reason));
        self.events = None;
        self.changed.send_modify(|g| *g += 1);
    }
}

type Link = Arc<Mutex<LinkState>>;

/// One simulated connection. Besides [`Connection`] it exposes its [`Trace`] and
/// [`LinkStats`].
pub struct SimConnection {
    id: PeripheralId,
    mtu: u16,
    link: Link,
    events: Mutex<Option<LinkEvents>>,
}

impl SimConnection {
    /// Everything recorded on this connection so far.
    pub fn trace(&self) -> Trace {
        lock(&self.link).trace.clone()
    }

    pub fn stats(&self) -> LinkStats {
        lock(&self.link).stats
    }

    /// The phone's causal time: when its next write may go on air at the earliest.
    pub fn phone_time(&self) -> Micros {
        lock(&self.link).phone_time
    }
}

#[async_trait]
impl Connection for SimConnection {
    fn id(&self) -> &PeripheralId {
        &self.id
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    async fn write(&self, value: &[u8]) -> Result<(), TransportError> {
        lock(&self.link).write(value)
    }

    fn take_events(&self) -> Option<LinkEvents> {
        lock(&self.events).take()
    }

    async fn disconnect(&self) -> Result<(), TransportError> {
        let mut link = lock(&self.link);
        let at = link.phone_time;
        link.go_down(DisconnectReason::LocalRequest, at);
        Ok(())
    }
}

impl Drop for SimConnection {
    fn drop(&mut self) {
        let mut link = lock(&self.link);
        let at = link.phone_time;
        link.go_down(DisconnectReason::LocalRequest, at);
    }
}

struct Device {
    peripheral: SharedPeripheral,
    rssi: i16,
    model: Option<LinkModel>,
    faults: FaultPlan,
    /// Every connection made to it, the last one possibly still up.
    links: Vec<Link>,
}

impl Device {
    fn connected(&self) -> bool {
        self.links.last().is_some_and(|l| lock(l).down.is_none())
    }
}

struct RadioState {
    model: LinkModel,
    next_address: u64,
    devices: BTreeMap<PeripheralId, Device>,
}

struct RadioInner {
    state: Mutex<RadioState>,
    /// Bumped whenever what a scanner could see may have changed.
    changed: watch::Sender<u64>,
}

/// The simulated radio. Cheap to clone; clones share the same devices.
#[derive(Clone)]
pub struct SimRadio {
    inner: Arc<RadioInner>,
}

impl Default for SimRadio {
    fn default() -> Self {
        SimRadio::new(LinkModel::phone_2m())
    }
}

impl SimRadio {
    /// A radio whose connections follow `model` unless a device has its own.
    pub fn new(model: LinkModel) -> Self {
        SimRadio {
            inner: Arc::new(RadioInner {
                state: Mutex::new(RadioState {
                    model,
                    next_address: 1,
                    devices: BTreeMap::new(),
                }),
                changed: watch::channel(0).0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, RadioState> {
        lock(&self.inner.state)
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|g| *g += 1);
    }

    /// Brings `peripheral` into range, received at `rssi` dBm. Ids are MAC-like and
    /// assigned in order (`F0:00:00:00:00:01`, …), so runs are reproducible.
    pub fn add(&self, peripheral: Box<dyn Peripheral>, rssi: i16) -> PeripheralId {
        let mut state = self.state();
        let n = state.next_address;
        state.next_address += 1;
        let bytes = (0xF000_0000_0000u64 | n).to_be_bytes();
        let id = PeripheralId::new(
            bytes[2..]
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        );
        state.devices.insert(
            id.clone(),
            Device {
                peripheral: Arc::new(Mutex::new(peripheral)),
                rssi,
                model: None,
                faults: FaultPlan::default(),
                links: Vec::new(),
            },
        );
        drop(state);
        self.bump();
        id
    }

    /// Takes the device out of range; a connection to it is lost (`LinkLost`). Returns
    /// whether it was in range.
    pub fn remove(&self, id: &PeripheralId) -> bool {
        let removed = self.state().devices.remove(id);
        if let Some(link) = removed.as_ref().and_then(|d| d.links.last()) {
            let mut link = lock(link);
            let at = link.last_event_at.max(link.phone_time);
            link.go_down(DisconnectReason::LinkLost, at);
        }
        self.bump();
        removed.is_some()
    }

    pub fn set_rssi(&self, id: &PeripheralId, rssi: i16) {
        if let Some(d) = self.state().devices.get_mut(id) {
            d.rssi = rssi;
        }
        self.bump();
    }

    /// Faults for the device's next connections.
    pub fn set_faults(&self, id: &PeripheralId, plan: FaultPlan) {
        if let Some(d) = self.state().devices.get_mut(id) {
            d.faults = plan;
        }
    }

    /// Timing model for the device's next connections.
    pub fn set_link_model(&self, id: &PeripheralId, model: LinkModel) {
        if let Some(d) = self.state().devices.get_mut(id) {
            d.model = Some(model);
        }
    }

    /// Traces of all connections made to the device, oldest first.
    pub fn traces(&self, id: &PeripheralId) -> Vec<Trace> {
        self.state()
            .devices
            .get(id)
            .map(|d| d.links.iter().map(|l| lock(l).trace.clone()).collect())
            .unwrap_or_default()
    }

    /// Stats of all connections made to the device, oldest first.
    pub fn stats(&self, id: &PeripheralId) -> Vec<LinkStats> {
        self.state()
            .devices
            .get(id)
            .map(|d| d.links.iter().map(|l| lock(l).stats).collect())
            .unwrap_or_default()
    }

    /// Connects like [`Transport::connect`] but returns the concrete connection.
    pub fn connect_sim(&self, id: &PeripheralId) -> Result<SimConnection, TransportError> {
        let mut state = self.state();
        let default_model = state.model;
        let device = state
            .devices
            .get_mut(id)
            .ok_or_else(|| TransportError::NotFound { id: id.clone() })?;
        if device.connected() {
            return Err(TransportError::ConnectFailed {
                id: id.clone(),
                source: Some("the terminal already has a connection".into()),
            });
        }
        let model = device.model.unwrap_or(default_model);
        let plan = device.faults.clone();
        let mtu = if plan.mtu_stuck {
            gatt::MIN_MTU
        } else {
            model.mtu.clamp(gatt::MIN_MTU, gatt::MAX_MTU)
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let mut trace = Trace::default();
        trace.push(0, TraceKind::Connect { mtu });
        let link = Arc::new(Mutex::new(LinkState {
            peripheral: device.peripheral.clone(),
            model,
            mtu,
            plan,
            to_terminal: DirSchedule::default(),
            to_phone: DirSchedule::default(),
            phone_time: 0,
            last_event_at: 0,
            offered: [0; 2],
            stats: LinkStats::default(),
            trace,
            events: Some(tx),
            down: None,
            changed: self.inner.changed.clone(),
        }));
        device.links.push(link.clone());
        {
            let mut l = lock(&link);
            lock(&l.peripheral).on_connect(0, mtu);
            l.drain(0);
        }
        drop(state);
        self.bump();
        let reader = Arc::downgrade(&link);
        let on_read = Arc::new(move |at: Micros| {
            if let Some(link) = reader.upgrade() {
                let mut l = lock(&link);
                l.phone_time = l.phone_time.max(at);
            }
        });
        Ok(SimConnection {
            id: id.clone(),
            mtu,
            link,
            events: Mutex::new(Some(LinkEvents::new(rx, Some(on_read)))),
        })
    }

    /// What a scanner sees now: every device in range that is not connected.
    fn snapshot(&self, filter: &ScanFilter) -> Vec<Candidate> {
        let state = self.state();
        state
            .devices
            .iter()
            .filter(|(_, d)| !d.connected())
            .filter_map(|(id, d)| {
                let adv = lock(&d.peripheral).advertisement();
                // Through the on-air encoding, as a real scanner would see it.
                let mut data = std::collections::HashMap::new();
                data.insert(gatt::COMPANY_ID, adv.manufacturer_data());
                Candidate::from_report(
                    id.clone(),
                    Some(&adv.local_name),
                    Some(d.rssi),
                    &[gatt::SERVICE_UUID],
                    &data,
                )
            })
            .filter(|c| filter.matches(c))
            .collect()
    }
}

struct ScanState {
    radio: SimRadio,
    filter: ScanFilter,
    changes: watch::Receiver<u64>,
    last: BTreeMap<PeripheralId, Candidate>,
    pending: std::collections::VecDeque<Candidate>,
}

#[async_trait]
impl Transport for SimRadio {
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError> {
        let mut changes = self.inner.changed.subscribe();
        changes.mark_changed();
        let state = ScanState {
            radio: self.clone(),
            filter,
            changes,
            last: BTreeMap::new(),
            pending: Default::default(),
        };
        Ok(Box::pin(stream::unfold(state, |mut s| async move {
            loop {
                if let Some(c) = s.pending.pop_front() {
                    return Some((c, s));
                }
                // The radio outlives the stream (the stream holds a clone), so this only
                // waits; the stream ends when the caller drops it.
                s.changes.changed().await.ok()?;
                s.changes.borrow_and_update();
                for c in s.radio.snapshot(&s.filter) {
                    if s.last.get(&c.peripheral_id) != Some(&c) {
                        s.last.insert(c.peripheral_id.clone(), c.clone());
                        s.pending.push_back(c);
                    }
                }
            }
        })))
    }

    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
        Ok(Box::new(self.connect_sim(id)?))
    }
}
