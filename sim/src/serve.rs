//! Simulated terminals driven in real time, for `posmate sim`: the sans-IO core of a server
//! that lets another process reach the terminals as if over BLE.
//!
//! [`Host`] owns the terminals and their links and knows nothing of sockets or clocks: the
//! caller passes `now` (µs on one monotonic clock) into every call and sleeps until
//! [`Polled::next`]. Each link is driven through the [`Peripheral`] contract — `on_connect`,
//! `on_write`, then `poll_notification` until `None` — and each notification is released
//! no earlier than its `not_before` plus the link's one-way latency, in order. Writes travel
//! the same latency before the terminal sees them. Card-read timeouts are honoured by waking
//! at [`SimTerminal::next_wakeup`].
//!
//! Link times reported to the client start at 0 when the connection is made, as on
//! hardware; the terminals' own clock is the host's.

use std::collections::{BTreeMap, VecDeque};

use proto::gatt::{self, Advertisement, Lifecycle, Micros, Peripheral};
use serde::{Deserialize, Serialize};

use crate::terminal::{
    Booked, Card, CardOutcome, KeypadError, Nvm, RequestKind, Sale, Screen, SimTerminal,
};

/// Identifies one link for its whole life.
pub type LinkId = u64;

/// Link behaviour for new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostConfig {
    /// The ATT MTU the terminal side accepts (the phone asks for up to 517).
    pub mtu: u16,
    /// One-way latency added to every write and notification.
    pub latency_us: Micros,
    /// Fault: every connection is lost right after the terminal received this many writes.
    pub drop_after_writes: Option<u64>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            mtu: 247,
            latency_us: 0,
            drop_after_writes: None,
        }
    }
}

/// Why a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEnd {
    /// The phone disconnected.
    LocalRequest,
    /// The terminal closed the link.
    RemoteClosed,
    /// The radio link was lost (fault injection).
    LinkLost,
}

/// What a link delivers to the phone; `at` is link time (µs since connecting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Notify { at: Micros, data: Vec<u8> },
    Down { at: Micros, reason: LinkEnd },
}

/// What is due on a link now, and when to look again.
#[derive(Debug, Default)]
pub struct Polled {
    pub outputs: Vec<Output>,
    /// When the link next has something to do (host clock); `None`: only on new input.
    pub next: Option<Micros>,
}

/// Why the host refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("no terminal {0} is in range")]
    NotFound(String),
    #[error("terminal {0} already has a connection")]
    Busy(String),
    #[error("a {len}-byte value exceeds the {max} bytes the MTU allows")]
    ValueTooLong { len: usize, max: usize },
    #[error("the link is down")]
    LinkDown,
    #[error("{0}")]
    BadFault(String),
    #[error(transparent)]
    Keypad(#[from] KeypadError),
}

impl HostError {
    /// A stable code for the sim link's error replies.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::NotFound(_) => "not-found",
            HostError::Busy(_) => "connect-failed",
            HostError::ValueTooLong { .. } => "value-too-long",
            HostError::LinkDown => "disconnected",
            HostError::BadFault(_) => "bad-request",
            HostError::Keypad(KeypadError::NotInService) => "not-in-service",
            HostError::Keypad(KeypadError::BadCard) => "bad-card",
            HostError::Keypad(KeypadError::DuplicateSwipe { .. }) => "duplicate-swipe",
            HostError::Keypad(KeypadError::Busy) => "busy",
            HostError::Keypad(KeypadError::Refused(_)) => "refused",
        }
    }
}

/// One terminal in range, as a scanner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub id: String,
    pub rssi: i16,
    pub adv: Advertisement,
}

/// One terminal, as the host's operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalView {
    pub id: String,
    pub sn: String,
    pub local_name: String,
    pub rssi: i16,
    pub lifecycle: Lifecycle,
    pub screen: Screen,
    pub connected: bool,
}

/// A simulated world as kept between runs: the terminals' flash contents and signal
/// strength, and the simulated acquirer's books ([`crate::acquirer::SimAcquirer::save`]).
#[derive(Clone, Serialize, Deserialize)]
pub struct SavedFleet {
    pub version: u32,
    pub terminals: Vec<SavedTerminal>,
    /// Absent in files written before the acquirer was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquirer: Option<serde_json::Value>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SavedTerminal {
    pub rssi: i16,
    pub nvm: Nvm,
}

impl SavedFleet {
    pub const VERSION: u32 = 1;

    /// Powers the terminals up from their flash, each with its signal strength.
    pub fn into_terminals(self) -> Vec<(SimTerminal, i16)> {
        self.terminals
            .into_iter()
            .map(|t| (SimTerminal::from_nvm(t.nvm), t.rssi))
            .collect()
    }

    /// The flash contents of `terminals` now.
    pub fn of(terminals: &[(SimTerminal, i16)]) -> Self {
        SavedFleet {
            version: Self::VERSION,
            terminals: terminals
                .iter()
                .map(|(t, rssi)| SavedTerminal {
                    rssi: *rssi,
                    nvm: t.nvm_snapshot(),
                })
                .collect(),
            acquirer: None,
        }
    }

    /// The same, with the acquirer's books.
    pub fn with_acquirer(mut self, books: serde_json::Value) -> Self {
        self.acquirer = Some(books);
        self
    }
}

/// The address of the `n`th terminal (from 1): MAC-like, as the simulated radio assigns.
pub fn address(n: usize) -> String {
    let bytes = (0xF000_0000_0000u64 | n as u64).to_be_bytes();
    bytes[2..]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct Slot {
    id: String,
    terminal: SimTerminal,
    rssi: i16,
    link: Option<LinkId>,
    /// The screen last reported by [`Host::screen_changes`].
    shown: Option<Screen>,
}

struct Link {
    slot: usize,
    mtu: u16,
    opened_at: Micros,
    drop_after_writes: Option<u64>,
    writes: u64,
    /// Writes on their way to the terminal: (arrival, value).
    inbound: VecDeque<(Micros, Vec<u8>)>,
    /// Outputs on their way to the phone, by host time; non-decreasing.
    outbound: VecDeque<(Micros, Output)>,
    last_out: Micros,
    /// The link has ended; its `Down` is the last of `outbound`.
    ended: bool,
}

/// The terminals and their links.
pub struct Host {
    config: HostConfig,
    slots: Vec<Slot>,
    links: BTreeMap<LinkId, Link>,
    next_link: LinkId,
}

impl Host {
    /// Hosts `terminals`, each received at its RSSI; addresses follow their order.
    pub fn new(terminals: Vec<(SimTerminal, i16)>, config: HostConfig) -> Self {
        let slots = terminals
            .into_iter()
            .enumerate()
            .map(|(i, (terminal, rssi))| Slot {
                id: address(i + 1),
                terminal,
                rssi,
                link: None,
                shown: None,
            })
            .collect();
        Host {
            config,
            slots,
            links: BTreeMap::new(),
            next_link: 1,
        }
    }

    pub fn config(&self) -> HostConfig {
        self.config
    }

    /// Latency and fault for connections made from now on.
    pub fn set_config(&mut self, config: HostConfig) {
        self.config = config;
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The terminals with their RSSI, to save them.
    pub fn saved(&self) -> SavedFleet {
        let list: Vec<(SimTerminal, i16)> = self
            .slots
            .iter()
            .map(|s| (s.terminal.clone(), s.rssi))
            .collect();
        SavedFleet::of(&list)
    }

    /// The slot of the terminal whose SN or address is `who`.
    fn find(&self, who: &str) -> Result<usize, HostError> {
        self.slots
            .iter()
            .position(|s| s.id == who || s.terminal.sn() == who)
            .ok_or_else(|| HostError::NotFound(who.to_owned()))
    }

    /// Every terminal that is advertising (not connected).
    pub fn advertisements(&mut self, now: Micros) -> Vec<Advert> {
        self.settle_all(now);
        self.slots
            .iter()
            .filter(|s| s.link.is_none())
            .map(|s| Advert {
                id: s.id.clone(),
                rssi: s.rssi,
                adv: s.terminal.advertisement(),
            })
            .collect()
    }

    /// Connects to the terminal at address (or SN) `who`; returns the link and its MTU.
    pub fn connect(
        &mut self,
        who: &str,
        requested_mtu: u16,
        now: Micros,
    ) -> Result<(LinkId, u16), HostError> {
        let slot = self.find(who)?;
        self.settle(slot, now);
        if self.slots[slot].link.is_some() {
            return Err(HostError::Busy(who.to_owned()));
        }
        let mtu = requested_mtu
            .min(self.config.mtu)
            .clamp(gatt::MIN_MTU, gatt::MAX_MTU);
        let id = self.next_link;
        self.next_link += 1;
        self.links.insert(
            id,
            Link {
                slot,
                mtu,
                opened_at: now,
                drop_after_writes: self.config.drop_after_writes,
                writes: 0,
                inbound: VecDeque::new(),
                outbound: VecDeque::new(),
                last_out: now,
                ended: false,
            },
        );
        self.slots[slot].link = Some(id);
        self.slots[slot].terminal.on_connect(now, mtu);
        self.pump(slot, now);
        Ok((id, mtu))
    }

    /// The phone writes `value` to RX; the terminal receives it after the latency. Writes
    /// on a link the terminal is closing are dropped, as the radio would.
    pub fn write(&mut self, link: LinkId, now: Micros, value: &[u8]) -> Result<(), HostError> {
        let latency = self.config.latency_us;
        let l = self.links.get_mut(&link).ok_or(HostError::LinkDown)?;
        let max = gatt::max_value_len(l.mtu);
        if value.len() > max {
            return Err(HostError::ValueTooLong {
                len: value.len(),
                max,
            });
        }
        if !l.ended {
            l.inbound.push_back((now + latency, value.to_vec()));
        }
        Ok(())
    }

    /// The phone disconnects: what was still in flight either way is lost.
    pub fn disconnect(&mut self, link: LinkId, now: Micros) {
        if let Some(slot) = self.links.get(&link).map(|l| l.slot) {
            self.settle(slot, now);
            self.end(link, LinkEnd::LocalRequest, now);
        }
    }

    /// Cuts a link whose phone misbehaves (a value too long, a malformed request): lost.
    pub fn abort(&mut self, link: LinkId, now: Micros) {
        if let Some(slot) = self.links.get(&link).map(|l| l.slot) {
            self.settle(slot, now);
            self.end(link, LinkEnd::LinkLost, now);
        }
    }

    /// Drives the link to `now` and returns what is due to the phone. After a `Down` output
    /// the link is gone.
    pub fn poll(&mut self, link: LinkId, now: Micros) -> Polled {
        let Some(slot) = self.links.get(&link).map(|l| l.slot) else {
            return Polled::default();
        };
        self.settle(slot, now);
        let wakeup = self.slots[slot].terminal.next_wakeup();
        let l = self
            .links
            .get_mut(&link)
            .expect("settling keeps ended links");
        let mut outputs = Vec::new();
        while l.outbound.front().is_some_and(|(due, _)| *due <= now) {
            let (_, out) = l.outbound.pop_front().expect("checked");
            outputs.push(out);
        }
        if l.ended && l.outbound.is_empty() {
            self.links.remove(&link);
            return Polled {
                outputs,
                next: None,
            };
        }
        let next = [
            l.inbound.front().map(|(t, _)| *t),
            l.outbound.front().map(|(t, _)| *t),
            wakeup.filter(|_| !l.ended),
        ]
        .into_iter()
        .flatten()
        .min();
        Polled { outputs, next }
    }

    /// Delivers the writes that have arrived by `now` and lets the terminal act on time.
    fn settle(&mut self, slot: usize, now: Micros) {
        let Some(link) = self.slots[slot].link else {
            return;
        };
        loop {
            let l = self.links.get_mut(&link).expect("a slot's link exists");
            if l.inbound.front().is_none_or(|(t, _)| *t > now) {
                break;
            }
            let (at, value) = l.inbound.pop_front().expect("checked");
            l.writes += 1;
            let counted_out = l.drop_after_writes.is_some_and(|n| l.writes >= n);
            self.slots[slot].terminal.on_write(at, &value);
            let lost = self.slots[slot].terminal.take_radio_lost() || counted_out;
            if lost {
                self.end(link, LinkEnd::LinkLost, at);
                return;
            }
            self.pump(slot, at);
            if self.slots[slot].link != Some(link) {
                return;
            }
        }
        if self.slots[slot]
            .terminal
            .next_wakeup()
            .is_some_and(|t| t <= now)
        {
            self.pump(slot, now);
        }
    }

    fn settle_all(&mut self, now: Micros) {
        for slot in 0..self.slots.len() {
            self.settle(slot, now);
        }
    }

    /// Takes everything the terminal has queued and schedules it for the phone.
    fn pump(&mut self, slot: usize, now: Micros) {
        let Some(link) = self.slots[slot].link else {
            return;
        };
        let latency = self.config.latency_us;
        let terminal = &mut self.slots[slot].terminal;
        let l = self.links.get_mut(&link).expect("a slot's link exists");
        while let Some(n) = terminal.poll_notification(now) {
            let due = (n.not_before.max(now) + latency).max(l.last_out);
            l.last_out = due;
            l.outbound.push_back((
                due,
                Output::Notify {
                    at: due - l.opened_at,
                    data: n.data,
                },
            ));
        }
        if terminal.wants_disconnect() {
            let at = l.last_out;
            self.end(link, LinkEnd::RemoteClosed, at);
        }
    }

    /// Ends `link` at `at`: the terminal sees the disconnection, the phone gets `Down` after
    /// what is already on its way (nothing, unless the terminal closed), and the terminal
    /// advertises again.
    fn end(&mut self, link: LinkId, reason: LinkEnd, at: Micros) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if l.ended {
            return;
        }
        l.ended = true;
        l.inbound.clear();
        if reason != LinkEnd::RemoteClosed {
            l.outbound.clear();
        }
        let at = at.max(l.outbound.back().map_or(0, |(t, _)| *t));
        l.outbound.push_back((
            at,
            Output::Down {
                at: at - l.opened_at.min(at),
                reason,
            },
        ));
        let slot = l.slot;
        self.slots[slot].link = None;
        self.slots[slot].terminal.on_disconnect(at);
    }

    /// Every terminal with its screen and state.
    pub fn terminals(&mut self, now: Micros) -> Vec<TerminalView> {
        self.settle_all(now);
        self.slots
            .iter()
            .map(|s| {
                let adv = s.terminal.advertisement();
                TerminalView {
                    id: s.id.clone(),
                    sn: s.terminal.sn(),
                    local_name: adv.local_name,
                    rssi: s.rssi,
                    lifecycle: adv.lifecycle,
                    screen: s.terminal.screen(),
                    connected: s.link.is_some(),
                }
            })
            .collect()
    }

    /// Screens that changed since the last call (all of them on the first), by SN.
    pub fn screen_changes(&mut self, now: Micros) -> Vec<(String, Screen)> {
        self.settle_all(now);
        let mut changed = Vec::new();
        for s in &mut self.slots {
            let screen = s.terminal.screen();
            if s.shown.as_ref() != Some(&screen) {
                s.shown = Some(screen.clone());
                changed.push((s.terminal.sn(), screen));
            }
        }
        changed
    }

    /// The merchant rings up `sale` on terminal `who`.
    pub fn ring_up(&mut self, who: &str, now: Micros, sale: &Sale) -> Result<Booked, HostError> {
        let slot = self.find(who)?;
        self.settle(slot, now);
        let booked = self.slots[slot].terminal.ring_up(now, sale)?;
        self.pump(slot, now);
        Ok(booked)
    }

    /// A card is held to terminal `who`'s reader.
    pub fn present_card(
        &mut self,
        who: &str,
        now: Micros,
        card: Card,
    ) -> Result<CardOutcome, HostError> {
        let slot = self.find(who)?;
        self.settle(slot, now);
        let outcome = self.slots[slot].terminal.present_card(now, card);
        self.pump(slot, now);
        Ok(outcome)
    }

    /// Fault: terminal `who`'s link is lost now. Returns whether it had one.
    pub fn drop_link(&mut self, who: &str, now: Micros) -> Result<bool, HostError> {
        let slot = self.find(who)?;
        self.settle(slot, now);
        let Some(link) = self.slots[slot].link else {
            return Ok(false);
        };
        self.end(link, LinkEnd::LinkLost, now);
        Ok(true)
    }

    pub fn set_rssi(&mut self, who: &str, rssi: i16) -> Result<(), HostError> {
        let slot = self.find(who)?;
        self.slots[slot].rssi = rssi;
        Ok(())
    }

    pub fn set_battery(&mut self, who: &str, pct: u8) -> Result<(), HostError> {
        let slot = self.find(who)?;
        self.slots[slot].terminal.set_battery(pct);
        Ok(())
    }

    /// Fault: terminal `who` loses its link whenever a request of `kind` arrives (`None`
    /// repairs it); returns its SN.
    pub fn set_drop_on(
        &mut self,
        who: &str,
        kind: Option<RequestKind>,
    ) -> Result<String, HostError> {
        let slot = self.find(who)?;
        self.slots[slot].terminal.set_drop_on(kind);
        Ok(self.slots[slot].terminal.sn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fleet;
    use proto::frame::{encode_frame, FrameKind};
    use proto::handshake::PROTOCOL_VERSION;
    use proto::message::{self, Hello, Intent};
    use proto::segment::{Channel, Reassembler, Segmenter};

    fn host(config: HostConfig) -> Host {
        let terminals = fleet("SN2026", 2, 7).into_iter().zip([-50, -60]).collect();
        Host::new(terminals, config)
    }

    fn hello_packets(intent: Intent) -> Vec<Vec<u8>> {
        let hello = Hello {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            intent,
            rx_window: 4,
            max_frame: 4096,
        };
        let mut seg = Segmenter::new();
        seg.push_frame(
            Channel::Session,
            encode_frame(FrameKind::Hello, &message::encode(&hello)),
        );
        std::iter::from_fn(|| seg.next_packet(244)).collect()
    }

    fn frames(outputs: &[Output]) -> Vec<FrameKind> {
        let mut r = Reassembler::new(1 << 16);
        let mut kinds = Vec::new();
        for o in outputs {
            if let Output::Notify { data, .. } = o {
                for (_, raw) in r.push(data).unwrap() {
                    kinds.push(FrameKind::from_code(raw[0]).unwrap());
                }
            }
        }
        kinds
    }

    /// Polls like the server loop: at each `next` until nothing is scheduled.
    fn run(host: &mut Host, link: LinkId, mut now: Micros) -> (Vec<Output>, Micros) {
        let mut all = Vec::new();
        loop {
            let polled = host.poll(link, now);
            all.extend(polled.outputs);
            match polled.next {
                Some(t) if t > now => now = t,
                Some(_) => {}
                None => return (all, now),
            }
        }
    }

    #[test]
    fn hello_is_answered_after_latency_and_processing_with_a_code_on_screen() {
        let mut host = host(HostConfig {
            latency_us: 5_000,
            ..HostConfig::default()
        });
        assert_eq!(host.advertisements(0).len(), 2);
        let (link, mtu) = host.connect("SN2026000001", 517, 1_000).unwrap();
        assert_eq!(mtu, 247);
        assert_eq!(
            host.advertisements(1_000).len(),
            1,
            "connected: not advertising"
        );
        for p in hello_packets(Intent::Pair) {
            host.write(link, 2_000, &p).unwrap();
        }
        // Before the write has travelled, nothing happens.
        let early = host.poll(link, 6_999);
        assert!(early.outputs.is_empty());
        assert_eq!(early.next, Some(7_000));
        let (outputs, _) = run(&mut host, link, 7_000);
        assert_eq!(frames(&outputs), [FrameKind::HelloAck]);
        let Output::Notify { at, .. } = &outputs[0] else {
            panic!("{outputs:?}")
        };
        // Written at 2 ms + 5 ms to the terminal, back ≥ 5 ms later, in link time.
        assert!(*at >= 2_000 + 5_000 + 5_000 - 1_000, "{at}");
        let views = host.terminals(20_000);
        assert!(matches!(views[0].screen, Screen::PairingCode(_)));
        assert!(views[0].connected);
        let changes = host.screen_changes(20_000);
        assert_eq!(changes.len(), 2, "first call reports every screen");
        assert!(host.screen_changes(20_000).is_empty());
    }

    #[test]
    fn phone_disconnect_frees_the_terminal_and_ends_with_down() {
        let mut host = host(HostConfig::default());
        let (link, _) = host.connect("F0:00:00:00:00:02", 517, 0).unwrap();
        assert!(matches!(
            host.connect("SN2026000002", 517, 0),
            Err(HostError::Busy(_))
        ));
        host.disconnect(link, 10);
        let polled = host.poll(link, 10);
        assert_eq!(
            polled.outputs,
            [Output::Down {
                at: 10,
                reason: LinkEnd::LocalRequest
            }]
        );
        assert!(host.write(link, 11, b"x").is_err());
        assert!(host.connect("SN2026000002", 23, 20).is_ok());
        assert!(matches!(
            host.connect("nobody", 23, 20),
            Err(HostError::NotFound(_))
        ));
    }

    #[test]
    fn drop_after_writes_loses_the_link_at_that_write() {
        let mut host = host(HostConfig {
            drop_after_writes: Some(1),
            ..HostConfig::default()
        });
        let (link, _) = host.connect("SN2026000001", 517, 0).unwrap();
        for p in hello_packets(Intent::Pair) {
            host.write(link, 100, &p).unwrap();
        }
        let (outputs, _) = run(&mut host, link, 100);
        assert_eq!(
            outputs,
            [Output::Down {
                at: 100,
                reason: LinkEnd::LinkLost
            }]
        );
        assert_eq!(host.advertisements(200).len(), 2);
    }

    #[test]
    fn too_long_values_are_refused_and_keypad_errors_are_typed() {
        let mut host = host(HostConfig::default());
        let (link, mtu) = host.connect("SN2026000001", 23, 0).unwrap();
        assert_eq!(mtu, 23);
        assert!(matches!(
            host.write(link, 1, &[0; 21]),
            Err(HostError::ValueTooLong { len: 21, max: 20 })
        ));
        let err = host
            .ring_up("SN2026000001", 5, &Sale::new(1250, 156, "4111111111111111"))
            .unwrap_err();
        assert_eq!(err.code(), "not-in-service");
        assert!(host.drop_link("SN2026000001", 6).unwrap());
        assert!(!host.drop_link("SN2026000001", 7).unwrap());
    }

    #[test]
    fn saved_fleet_round_trips_through_json() {
        let host = host(HostConfig::default());
        let saved = host.saved();
        let json = serde_json::to_string(&saved).unwrap();
        let back: SavedFleet = serde_json::from_str(&json).unwrap();
        let terminals = back.into_terminals();
        assert_eq!(terminals.len(), 2);
        assert_eq!(terminals[1].1, -60);
        assert_eq!(terminals[0].0.sn(), "SN2026000001");
        assert_eq!(
            terminals[0].0.device_key(),
            fleet("SN2026", 1, 7)[0].device_key()
        );
    }
}
