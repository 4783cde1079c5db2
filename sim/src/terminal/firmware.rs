//! The simulated firmware: the connection state machine of protocol.md §3–§5 and the
//! request handlers of §6, over the flash contents in [`Nvm`].
//!
//! Time: every received session frame is processed at
//! `max(now, busy_until, stall_until) + cost` (see [`super::timing`]); everything it causes
//! — response, events, CREDIT — carries that time as `not_before`. Flash writes made while
//! processing a frame count as done only at that time: a disconnect before it rolls them
//! back, as a power cut mid-write would lose them.

use std::collections::VecDeque;

use ed25519_dalek::SigningKey;
use proto::frame::{encode_frame, FrameKind, Role, HELLO_MAX_FRAME};
use proto::gatt::{max_value_len, Advertisement, Lifecycle, Micros, Notification};
use proto::handshake::{
    prologue, HandshakeError, PairingCode, StaticKeypair, TerminalPairing, TerminalResume,
    PROTOCOL_VERSION,
};
use proto::keybundle::{self, KeyBundleError};
use proto::message::{
    self, Body, CardPurpose, Close, CloseReason, Envelope, ErrorCode, Event, Hello, HelloAck, Info,
    Intent, KeySlot, PairingState, Record, RecordKind, RecordStatus, Request, Response, Totals,
};
use proto::pan::MaskedPan;
use proto::receipt::{self, ReceiptFields};
use proto::secure::{OpenError, SecureChannel, TAG_LEN};
use proto::wire::{ReceivedFrame, Wire};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::journal::{Booking, ClosedBatch, Journal, JournalEntry, TxnKind, TxnStatus};
use super::journal::{DECLINE_SUFFIX, DUPLICATE_WINDOW_MS};
use super::keypad::{Booked, Card, CardOutcome, KeypadError, Sale, Screen, Stats};
use super::nvm::{Nvm, StoredKey, WipeRecord};
use super::timing::*;

/// Session frames the terminal buffers (advertised `rx_window`).
pub const RX_WINDOW: u16 = 4;
/// Largest frame the terminal accepts (advertised `max_frame`).
pub const MAX_FRAME: u16 = 4096;

/// A recently approved swipe, kept in RAM to refuse a duplicate charge.
struct RecentSwipe {
    card: [u8; 32],
    kind: TxnKind,
    amount_minor: u64,
    currency: u16,
    at_ms: u64,
    seq: u64,
}

enum Phase {
    AwaitHello,
    Negotiated {
        intent: Intent,
        prologue: Vec<u8>,
    },
    Pairing {
        pairing: Box<TerminalPairing>,
    },
    Secure {
        channel: SecureChannel,
        phone: [u8; 32],
    },
    Done,
}

/// Something to send once the phone has credit for it.
enum Outgoing {
    Frame {
        kind: FrameKind,
        body: Vec<u8>,
        at: Micros,
    },
    Sealed {
        envelope: Envelope,
        at: Micros,
    },
}

struct PendingRead {
    id: u32,
    purpose: CardPurpose,
    deadline: Micros,
}

/// Volatile state of one connection.
struct Conn {
    wire: Wire,
    max_value_len: usize,
    limits_known: bool,
    phase: Phase,
    code: Option<PairingCode>,
    outbox: VecDeque<Outgoing>,
    notifications: VecDeque<Notification>,
    last_not_before: Micros,
    busy_until: Micros,
    /// When each occupied receive slot's credit goes back to the phone.
    releases: Vec<Micros>,
    /// Processed frames whose credit the wire has not granted yet.
    awaiting_grant: usize,
    pending_read: Option<PendingRead>,
    closing: bool,
}

/// What a handler wants sent, in order.
enum Out {
    Frame(FrameKind, Vec<u8>),
    Message(u32, Body),
    /// A response that becomes ready `delay` after the frame is processed.
    Later(u32, Response, Micros),
    Close(Close),
}

pub(crate) struct Firmware {
    pub(crate) nvm: Nvm,
    rng: ChaCha20Rng,
    conn: Option<Conn>,
    stall_until: Micros,
    /// The wall clock: microseconds since `nvm.clock_base_ms` it has reached. Never decreases.
    clock_us: u64,
    /// What this connection's link time adds to reach the wall clock; `None` from a connect
    /// until the link first tells the time (see [`Firmware::wall_ms`]).
    link_shift_us: Option<Micros>,
    /// The latest link time seen on the current (or last) connection.
    link_now: Micros,
    recent: Vec<RecentSwipe>,
    held_card: Option<Card>,
    /// Flash contents before writes that complete at a future time.
    pending_commits: Vec<(Micros, Nvm)>,
    wrote: bool,
    pub(crate) stats: Stats,
}

fn err(code: ErrorCode, message: impl Into<String>) -> Response {
    Response::Error {
        code,
        message: message.into(),
    }
}

impl Firmware {
    pub(crate) fn from_nvm(nvm: Nvm) -> Self {
        let mut rng = ChaCha20Rng::from_seed(nvm.rng.seed);
        rng.set_word_pos(u128::from(nvm.rng.word_pos));
        let clock_us = nvm.clock_us;
        Firmware {
            nvm,
            rng,
            conn: None,
            stall_until: 0,
            clock_us,
            link_shift_us: None,
            link_now: 0,
            recent: Vec::new(),
            held_card: None,
            pending_commits: Vec::new(),
            wrote: false,
            stats: Stats::default(),
        }
    }

    /// The flash contents as of now, with the random stream's position.
    pub(crate) fn nvm_snapshot(&self) -> Nvm {
        let mut nvm = self.nvm.clone();
        nvm.rng.word_pos = u64::try_from(self.rng.get_word_pos()).unwrap_or(u64::MAX);
        nvm.clock_us = self.clock_us;
        nvm
    }

    fn seed(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        self.rng.fill_bytes(&mut s);
        s
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.rng.next_u32() % 10) as u8))
            .collect()
    }

    pub(crate) fn device_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.nvm.device_seed)
    }

    fn noise_key(&self) -> StaticKeypair {
        StaticKeypair::from_secret(self.nvm.noise_secret)
    }

    /// The wall-clock time (ms) at link time `at`, which also moves the clock forward to it.
    ///
    /// A link's time means something within one connection only: the core's simulated
    /// radio starts every connection at 0, as a real link layer's timer would after a
    /// reconnect. The terminal's clock is its battery-backed RTC and must never run
    /// backwards, since journal records, lockouts and wipe receipts carry its times. So
    /// each connection's link time is shifted onto the clock, once, when the link first
    /// tells the time (its first write, or a sale rung up): by however far the link is
    /// behind the clock, or not at all if it is ahead. A connection made later than the
    /// last one ended therefore continues the clock; one whose first packet arrives later
    /// than the clock's time (a link with added latency) moves it forward; and a link that
    /// keeps one timeline across connections, as the firmware tests do, is never shifted.
    fn wall_ms(&mut self, at: Micros) -> u64 {
        let shift = self.link_shift(at);
        self.clock_us = self.clock_us.max(shift.saturating_add(at));
        self.clock_ms()
    }

    /// This connection's shift, fixed at the first call after a connect.
    fn link_shift(&mut self, at: Micros) -> Micros {
        *self
            .link_shift_us
            .get_or_insert(self.clock_us.saturating_sub(at))
    }

    /// The latest link time the terminal has seen, on the current or last connection's
    /// timeline: the `now` for keypad actions between link events.
    pub(crate) fn link_now(&self) -> Micros {
        self.link_now
    }

    /// The latest wall-clock time (ms) the terminal has reached.
    fn clock_ms(&self) -> u64 {
        self.nvm.clock_base_ms + self.clock_us / 1_000
    }

    // ---- time ----------------------------------------------------------------------

    /// Lets time pass: completed flash writes become permanent, card reads time out.
    fn advance(&mut self, now: Micros) {
        self.link_now = self.link_now.max(now);
        if let Some(shift) = self.link_shift_us {
            self.clock_us = self.clock_us.max(shift.saturating_add(now));
        }
        self.pending_commits.retain(|(t, _)| *t > now);
        let timed_out = self
            .conn
            .as_ref()
            .and_then(|c| c.pending_read.as_ref())
            .is_some_and(|r| r.deadline <= now);
        if timed_out {
            let conn = self.conn.as_mut().expect("checked");
            let read = conn.pending_read.take().expect("checked");
            let body = Body::Response(err(
                ErrorCode::CardReadTimeout,
                "no card was presented in time",
            ));
            conn.outbox.push_back(Outgoing::Sealed {
                envelope: Envelope { id: read.id, body },
                at: read.deadline,
            });
            self.flush(read.deadline);
        }
    }

    /// The next time something happens without input (a card-read timeout), for links that
    /// schedule wake-ups.
    pub(crate) fn next_wakeup(&self) -> Option<Micros> {
        self.conn
            .as_ref()
            .and_then(|c| c.pending_read.as_ref())
            .map(|r| r.deadline)
    }

    fn begin(&self, now: Micros) -> Micros {
        let busy = self.conn.as_ref().map_or(0, |c| c.busy_until);
        now.max(busy).max(self.stall_until)
    }

    // ---- Peripheral ------------------------------------------------------------------

    pub(crate) fn advertisement(&self) -> Advertisement {
        let mut adv =
            Advertisement::for_terminal(&self.nvm.sn, PROTOCOL_VERSION, self.nvm.lifecycle());
        adv.pairing_open = self.conn.as_ref().is_some_and(|c| c.code.is_some());
        adv.pairing_locked = self.nvm.lockout.remaining_ms(self.clock_ms()).is_some();
        adv
    }

    pub(crate) fn on_connect(&mut self, now: Micros, mtu: u16) {
        // A new connection may start a new link timeline; its shift is fixed at its first
        // write (see `wall_ms`).
        self.link_shift_us = None;
        self.link_now = now;
        self.advance(now);
        self.stats.connections += 1;
        self.conn = Some(Conn {
            wire: Wire::new(Role::Terminal, RX_WINDOW, MAX_FRAME),
            max_value_len: max_value_len(mtu),
            limits_known: false,
            phase: Phase::AwaitHello,
            code: None,
            outbox: VecDeque::new(),
            notifications: VecDeque::new(),
            last_not_before: now,
            busy_until: now,
            releases: Vec::new(),
            awaiting_grant: 0,
            pending_read: None,
            closing: false,
        });
    }

    pub(crate) fn on_disconnect(&mut self, now: Micros) {
        self.advance(now);
        // Writes still in progress at the moment of the disconnect never completed.
        if let Some((_, before)) = self.pending_commits.drain(..).next() {
            let rng = self.nvm.rng.clone();
            self.nvm = before;
            self.nvm.rng = rng;
        }
        self.conn = None;
    }

    pub(crate) fn poll_notification(&mut self, now: Micros) -> Option<Notification> {
        self.advance(now);
        let n = self.conn.as_mut()?.notifications.pop_front()?;
        self.stats.notifications_out += 1;
        Some(n)
    }

    pub(crate) fn wants_disconnect(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| {
            c.closing && c.notifications.is_empty() && (c.outbox.is_empty() || !c.wire.can_send())
        })
    }

    pub(crate) fn stall_until(&mut self, until: Micros) {
        self.stall_until = self.stall_until.max(until);
    }

    pub(crate) fn on_write(&mut self, now: Micros, value: &[u8]) {
        self.link_shift(now);
        self.advance(now);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.closing {
            return;
        }
        let frames = match conn.wire.receive(value) {
            Ok(frames) => frames,
            Err(e) => {
                let reason = e.close_reason().unwrap_or(CloseReason::ProtocolViolation);
                let at = self.begin(now) + FRAME_US;
                self.close(Close::new(reason, e.to_string()), at);
                return;
            }
        };
        // Credits that arrived may release queued output.
        self.flush(now);
        for frame in frames {
            if self.conn.as_ref().is_none_or(|c| c.closing) {
                break;
            }
            self.stats.frames_in += 1;
            let counted = frame.kind.is_flow_controlled();
            if counted && !self.take_slot(now) {
                let at = self.begin(now) + FRAME_US;
                self.close(
                    Close::new(CloseReason::Overrun, "frame arrived with no credit"),
                    at,
                );
                return;
            }
            self.process(now, frame, counted);
        }
    }

    /// Accounts a flow-controlled frame's buffer slot; `false` on overrun.
    fn take_slot(&mut self, now: Micros) -> bool {
        let conn = self.conn.as_mut().expect("connected");
        conn.releases.retain(|t| *t > now);
        let occupancy = conn.releases.len() + conn.awaiting_grant + 1;
        self.stats.max_rx_occupancy = self.stats.max_rx_occupancy.max(occupancy);
        if occupancy > usize::from(RX_WINDOW) {
            self.stats.overruns += 1;
            return false;
        }
        true
    }

    fn process(&mut self, now: Micros, frame: ReceivedFrame, counted: bool) {
        let start = self.begin(now);
        let snapshot =
            matches!(frame.kind, FrameKind::Pair3 | FrameKind::Secure).then(|| self.nvm.clone());
        self.wrote = false;
        let (cost, outs) = self.dispatch(start, frame);
        let done = start + cost;
        if let (true, Some(before)) = (self.wrote, snapshot) {
            self.pending_commits.push((done, before));
        }
        let conn = self.conn.as_mut().expect("connected");
        conn.busy_until = done;
        for out in outs {
            match out {
                Out::Frame(kind, body) => conn.outbox.push_back(Outgoing::Frame {
                    kind,
                    body,
                    at: done,
                }),
                Out::Message(id, body) => conn.outbox.push_back(Outgoing::Sealed {
                    envelope: Envelope { id, body },
                    at: done,
                }),
                Out::Later(id, resp, delay) => conn.outbox.push_back(Outgoing::Sealed {
                    envelope: Envelope {
                        id,
                        body: Body::Response(resp),
                    },
                    at: done + delay,
                }),
                Out::Close(close) => {
                    conn.closing = true;
                    conn.code = None;
                    let sealed = matches!(&conn.phase, Phase::Secure { .. });
                    conn.outbox.push_back(if sealed {
                        Outgoing::Sealed {
                            envelope: Envelope {
                                id: 0,
                                body: Body::Close(close),
                            },
                            at: done,
                        }
                    } else {
                        Outgoing::Frame {
                            kind: FrameKind::Close,
                            body: message::encode(&close),
                            at: done,
                        }
                    });
                }
            }
        }
        if counted {
            let granted_before = conn.wire.stats().credit_frames_out;
            if conn.wire.frame_processed().is_ok() {
                conn.awaiting_grant += 1;
            }
            if conn.wire.stats().credit_frames_out > granted_before {
                conn.releases
                    .extend(std::iter::repeat_n(done, conn.awaiting_grant));
                conn.awaiting_grant = 0;
            }
        }
        self.flush(done);
    }

    /// Sends a CLOSE now (outside a handler) and stops reading.
    fn close(&mut self, close: Close, at: Micros) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        conn.closing = true;
        conn.code = None;
        if !conn.limits_known {
            // Before HELLO the phone's window is unknown; a CLOSE is tiny and always taken.
            conn.wire.set_peer_limits(1, HELLO_MAX_FRAME as u16);
            conn.limits_known = true;
        }
        let item = match &mut conn.phase {
            Phase::Secure { .. } => Outgoing::Sealed {
                envelope: Envelope {
                    id: 0,
                    body: Body::Close(close),
                },
                at,
            },
            _ => Outgoing::Frame {
                kind: FrameKind::Close,
                body: message::encode(&close),
                at,
            },
        };
        conn.outbox.push_back(item);
        self.flush(at);
    }

    /// Moves queued output into the wire as credits allow and packs it into notifications.
    fn flush(&mut self, now: Micros) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(item) = conn.outbox.front() {
            let flow = match item {
                Outgoing::Frame { kind, .. } => kind.is_flow_controlled(),
                Outgoing::Sealed { .. } => true,
            };
            if flow && !conn.wire.can_send() {
                break;
            }
            let item = conn.outbox.pop_front().expect("front exists");
            let (kind, body, at) = match item {
                Outgoing::Frame { kind, body, at } => (kind, body, at),
                Outgoing::Sealed { envelope, at } => {
                    let sealed = match &mut conn.phase {
                        Phase::Secure { channel, .. } => channel.seal_envelope(&envelope),
                        _ => continue,
                    };
                    match sealed {
                        Ok(body) => (FrameKind::Secure, body, at),
                        Err(_) => {
                            // The channel was poisoned by a failed open: say why in
                            // plaintext, the only way left (see module notes).
                            if let Body::Close(c) = envelope.body {
                                (FrameKind::Close, message::encode(&c), at)
                            } else {
                                continue;
                            }
                        }
                    }
                }
            };
            if conn.wire.send(kind, &body).is_err() {
                continue;
            }
            Self::drain(conn, at.max(now));
        }
        Self::drain(conn, now);
    }

    fn drain(conn: &mut Conn, at: Micros) {
        let at = at.max(conn.last_not_before);
        while let Some(data) = conn.wire.poll_packet(conn.max_value_len) {
            conn.notifications.push_back(Notification {
                not_before: at,
                data,
            });
            conn.last_not_before = at;
        }
    }

    // ---- session -----------------------------------------------------------------------

    fn dispatch(&mut self, start: Micros, frame: ReceivedFrame) -> (Micros, Vec<Out>) {
        let conn = self.conn.as_mut().expect("connected");
        let phase = std::mem::replace(&mut conn.phase, Phase::Done);
        let violation = |what: &str| {
            vec![Out::Close(Close::new(
                CloseReason::ProtocolViolation,
                what.to_owned(),
            ))]
        };
        match (phase, frame.kind) {
            (_, FrameKind::Close) => {
                // The phone is leaving; nothing to answer.
                let conn = self.conn.as_mut().expect("connected");
                conn.closing = true;
                conn.code = None;
                (FRAME_US, Vec::new())
            }
            (Phase::AwaitHello, FrameKind::Hello) => self.on_hello(start, &frame.body),
            (Phase::Negotiated { intent, prologue }, FrameKind::Pair1) => {
                self.on_pair1(start, intent, &prologue, &frame.body)
            }
            (Phase::Negotiated { intent, prologue }, FrameKind::Resume1) => {
                if intent != Intent::Resume {
                    return (FRAME_US, violation("RESUME1 after HELLO with intent pair"));
                }
                self.on_resume1(&prologue, &frame.body)
            }
            (Phase::Pairing { pairing }, FrameKind::Pair3) => {
                self.on_pair3(start, *pairing, &frame.body)
            }
            (Phase::Secure { mut channel, phone }, FrameKind::Secure) => {
                let opened = channel.open_envelope(&frame.body);
                self.conn.as_mut().expect("connected").phase = Phase::Secure { channel, phone };
                match opened {
                    Err(OpenError::Secure(_)) => (
                        FRAME_US,
                        vec![Out::Close(Close::new(
                            CloseReason::DecryptFailed,
                            "a secure frame failed authentication",
                        ))],
                    ),
                    Err(OpenError::Malformed) => (FRAME_US, violation("malformed message")),
                    Ok(Envelope {
                        id,
                        body: Body::Request(req),
                    }) => self.on_request(start, phone, id, req),
                    Ok(Envelope {
                        body: Body::Close(_),
                        ..
                    }) => {
                        let conn = self.conn.as_mut().expect("connected");
                        conn.closing = true;
                        (FRAME_US, Vec::new())
                    }
                    Ok(_) => (FRAME_US, violation("only requests go to the terminal")),
                }
            }
            (phase, kind) => {
                // Keep the phase so that the CLOSE is sealed once the session is secure.
                self.conn.as_mut().expect("connected").phase = phase;
                (
                    FRAME_US,
                    violation(&format!("{} not expected now", kind.name())),
                )
            }
        }
    }

    fn on_hello(&mut self, start: Micros, body: &[u8]) -> (Micros, Vec<Out>) {
        let Ok(hello) = message::decode::<Hello>(body) else {
            return (
                FRAME_US,
                vec![Out::Close(Close::new(
                    CloseReason::ProtocolViolation,
                    "malformed HELLO",
                ))],
            );
        };
        let conn = self.conn.as_mut().expect("connected");
        conn.wire
            .set_peer_limits(hello.rx_window.max(1), hello.max_frame);
        conn.limits_known = true;
        if hello.rx_window == 0 || hello.max_frame < proto::wire::MIN_MAX_FRAME {
            return (
                FRAME_US,
                vec![Out::Close(Close::new(
                    CloseReason::ProtocolViolation,
                    "rx_window must be at least 1 and max_frame at least 64",
                ))],
            );
        }
        if !(hello.min_version..=hello.max_version).contains(&PROTOCOL_VERSION) {
            let mut close = Close::new(
                CloseReason::VersionUnsupported,
                format!("this terminal speaks protocol version {PROTOCOL_VERSION} only"),
            );
            close.min_version = Some(PROTOCOL_VERSION);
            close.max_version = Some(PROTOCOL_VERSION);
            return (FRAME_US, vec![Out::Close(close)]);
        }
        let now_ms = self.wall_ms(start);
        let locked = self.nvm.lockout.remaining_ms(now_ms);
        let pairing = match (hello.intent, locked) {
            (Intent::Pair, Some(_)) => PairingState::Locked,
            (Intent::Pair, None) => PairingState::Open,
            (Intent::Resume, _) => PairingState::Closed,
        };
        if pairing == PairingState::Open {
            let code = PairingCode::random(&mut self.rng);
            self.conn.as_mut().expect("connected").code = Some(code);
        }
        let ack = HelloAck {
            version: PROTOCOL_VERSION,
            rx_window: RX_WINDOW,
            max_frame: MAX_FRAME,
            static_key: self.noise_key().public(),
            sn: self.nvm.sn.clone(),
            lifecycle: self.nvm.lifecycle(),
            pairing,
            retry_after_ms: match pairing {
                PairingState::Locked => u32::try_from(locked.unwrap_or(0)).unwrap_or(u32::MAX),
                _ => 0,
            },
        };
        let ack_body = message::encode(&ack);
        let prologue = prologue(
            &encode_frame(FrameKind::Hello, body),
            &encode_frame(FrameKind::HelloAck, &ack_body),
        );
        self.conn.as_mut().expect("connected").phase = Phase::Negotiated {
            intent: hello.intent,
            prologue,
        };
        (FRAME_US, vec![Out::Frame(FrameKind::HelloAck, ack_body)])
    }

    fn locked_close(&mut self, start: Micros) -> Option<Close> {
        let now_ms = self.wall_ms(start);
        let remaining = self.nvm.lockout.remaining_ms(now_ms)?;
        let mut close = Close::new(
            CloseReason::PairingLocked,
            "too many wrong codes; pairing is locked",
        );
        close.retry_after_ms = Some(u32::try_from(remaining).unwrap_or(u32::MAX));
        Some(close)
    }

    fn on_pair1(
        &mut self,
        start: Micros,
        intent: Intent,
        prologue: &[u8],
        body: &[u8],
    ) -> (Micros, Vec<Out>) {
        if let Some(close) = self.locked_close(start) {
            return (FRAME_US, vec![Out::Close(close)]);
        }
        let code = self.conn.as_mut().expect("connected").code.take();
        let (Intent::Pair, Some(code)) = (intent, code) else {
            return (
                FRAME_US,
                vec![Out::Close(Close::new(
                    CloseReason::PairingNotOpen,
                    "PAIR1 without an open pairing window",
                ))],
            );
        };
        let Ok(pair1) = message::decode::<message::Pair1>(body) else {
            return (
                FRAME_US,
                vec![Out::Close(Close::new(
                    CloseReason::ProtocolViolation,
                    "malformed PAIR1",
                ))],
            );
        };
        let seed = self.seed();
        let noise = self.noise_key();
        let cost = FRAME_US + 2 * CRYPTO_US;
        match TerminalPairing::on_pair1(&noise, &code, &self.nvm.sn, prologue, &pair1, seed) {
            Ok((pairing, pair2)) => {
                let conn = self.conn.as_mut().expect("connected");
                // The code stays on screen until PAIR3 is judged.
                conn.code = Some(code);
                conn.phase = Phase::Pairing {
                    pairing: Box::new(pairing),
                };
                (
                    cost,
                    vec![Out::Frame(FrameKind::Pair2, message::encode(&pair2))],
                )
            }
            Err(_) => (
                cost,
                vec![Out::Close(Close::new(
                    CloseReason::HandshakeFailed,
                    "PAIR1 did not verify",
                ))],
            ),
        }
    }

    fn on_pair3(
        &mut self,
        start: Micros,
        pairing: TerminalPairing,
        body: &[u8],
    ) -> (Micros, Vec<Out>) {
        let cost = FRAME_US + CRYPTO_US + FLASH_WRITE_US;
        self.conn.as_mut().expect("connected").code = None;
        match pairing.on_pair3(body) {
            Ok((channel, phone)) => {
                self.nvm.add_paired_phone(phone);
                self.nvm.lockout.reset();
                if self.nvm.lifecycle() == Lifecycle::Decommissioned {
                    // A wiped terminal paired by a new owner is ready to be provisioned.
                    self.nvm.set_lifecycle(Lifecycle::Factory);
                }
                self.wrote = true;
                self.conn.as_mut().expect("connected").phase = Phase::Secure { channel, phone };
                let sn = self.nvm.sn.clone();
                (
                    cost,
                    vec![Out::Message(0, Body::Event(Event::PairConfirmed { sn }))],
                )
            }
            Err(HandshakeError::WrongCode) => {
                let now_ms = self.wall_ms(start);
                let (left, lock) = self.nvm.lockout.fail(now_ms);
                self.wrote = true;
                let mut close =
                    Close::new(CloseReason::WrongCode, "the pairing code did not match");
                close.attempts_left = Some(left);
                close.retry_after_ms = lock.map(|ms| u32::try_from(ms).unwrap_or(u32::MAX));
                (cost, vec![Out::Close(close)])
            }
            Err(_) => (
                cost,
                vec![Out::Close(Close::new(
                    CloseReason::HandshakeFailed,
                    "PAIR3 did not verify",
                ))],
            ),
        }
    }

    fn on_resume1(&mut self, prologue: &[u8], body: &[u8]) -> (Micros, Vec<Out>) {
        let cost = FRAME_US + 2 * CRYPTO_US;
        let seed = self.seed();
        let noise = self.noise_key();
        let paired = &self.nvm.paired_phones;
        match TerminalResume::on_resume1(&noise, prologue, body, |k| paired.contains(k), seed) {
            Ok((channel, resume2, phone)) => {
                self.conn.as_mut().expect("connected").phase = Phase::Secure { channel, phone };
                (cost, vec![Out::Frame(FrameKind::Resume2, resume2)])
            }
            Err(HandshakeError::NotPaired) => (
                cost,
                vec![Out::Close(Close::new(
                    CloseReason::NotPaired,
                    "this phone is not paired with the terminal; pair again",
                ))],
            ),
            Err(_) => (
                cost,
                vec![Out::Close(Close::new(
                    CloseReason::HandshakeFailed,
                    "RESUME1 did not verify",
                ))],
            ),
        }
    }

    // ---- requests ----------------------------------------------------------------------

    fn on_request(
        &mut self,
        start: Micros,
        phone: [u8; 32],
        id: u32,
        req: Request,
    ) -> (Micros, Vec<Out>) {
        let reply =
            |cost: Micros, resp: Response| (cost, vec![Out::Message(id, Body::Response(resp))]);
        if id == 0 {
            return reply(
                FRAME_US,
                err(ErrorCode::BadRequest, "request ids start at 1"),
            );
        }
        let lifecycle = self.nvm.lifecycle();
        match req {
            Request::GetInfo => reply(FRAME_US, Response::Info(self.info())),
            Request::Ping { payload } => reply(FRAME_US, Response::Pong { payload }),
            Request::InstallKeys { bundle } => {
                reply(FRAME_US + INSTALL_KEYS_US, self.install_keys(&bundle))
            }
            Request::SignOn {
                terminal_no,
                merchant_no,
            } => {
                let resp = self.sign_on(terminal_no, merchant_no);
                let mut outs = vec![Out::Message(id, Body::Response(resp))];
                if self.nvm.lifecycle() != lifecycle {
                    outs.push(self.lifecycle_event());
                }
                (FRAME_US + SIGN_ON_US, outs)
            }
            Request::ReadCard {
                purpose,
                timeout_ms,
            } => self.read_card(start, id, purpose, timeout_ms),
            Request::ReadJournal {
                from_seq,
                max_records,
            } => self.read_journal(id, from_seq, max_records),
            Request::CloseBatch { batch_no } => {
                let before = self.nvm.journal.batch_no;
                match self.nvm.journal.close_batch(batch_no) {
                    Some(c) => {
                        self.wrote |= self.nvm.journal.batch_no != before;
                        reply(FRAME_US + FLASH_WRITE_US, batch_closed(&c))
                    }
                    None => reply(
                        FRAME_US,
                        err(
                            ErrorCode::BatchMismatch,
                            format!("the open batch is {}", self.nvm.journal.batch_no),
                        ),
                    ),
                }
            }
            Request::Wipe { nonce, reason: _ } => self.wipe(start, id, nonce),
            Request::SetLifecycle { state } => {
                let resp = self.set_lifecycle(state);
                let mut outs = vec![Out::Message(id, Body::Response(resp))];
                let mut cost = FRAME_US;
                if self.nvm.lifecycle() != lifecycle {
                    outs.push(self.lifecycle_event());
                    cost += FLASH_WRITE_US;
                }
                (cost, outs)
            }
            Request::Unpair => {
                self.nvm.paired_phones.retain(|k| *k != phone);
                self.wrote = true;
                (
                    FRAME_US + FLASH_WRITE_US,
                    vec![
                        Out::Message(id, Body::Response(Response::Done)),
                        Out::Close(Close::new(CloseReason::Bye, "unpaired")),
                    ],
                )
            }
        }
    }

    fn lifecycle_event(&self) -> Out {
        Out::Message(
            0,
            Body::Event(Event::LifecycleChanged {
                state: self.nvm.lifecycle(),
            }),
        )
    }

    fn key_slots(&self) -> Vec<KeySlot> {
        self.nvm
            .keys
            .iter()
            .map(|k| KeySlot {
                slot: k.slot,
                kind: k.kind(),
                kcv: k.kcv,
            })
            .collect()
    }

    pub(crate) fn info(&self) -> Info {
        Info {
            sn: self.nvm.sn.clone(),
            model: self.nvm.model.clone(),
            firmware: self.nvm.firmware.clone(),
            battery_pct: self.nvm.battery_pct,
            lifecycle: self.nvm.lifecycle(),
            protocol_version: PROTOCOL_VERSION,
            terminal_no: self.nvm.terminal_no.clone(),
            merchant_no: self.nvm.merchant_no.clone(),
            device_key: self.device_key().verifying_key().to_bytes(),
            key_slots: self.key_slots(),
            journal_epoch: self.nvm.journal.epoch,
            journal_head: self.nvm.journal.head(),
            batch_no: self.nvm.journal.batch_no,
        }
    }

    fn install_keys(&mut self, sealed: &[u8]) -> Response {
        if self.nvm.lifecycle() != Lifecycle::Factory {
            return err(
                ErrorCode::WrongLifecycleState,
                format!(
                    "keys can only be installed in factory state, not {}",
                    self.nvm.lifecycle().name()
                ),
            );
        }
        let bundle = match keybundle::open(&self.device_key(), &self.nvm.sn, sealed) {
            Ok(b) => b,
            Err(KeyBundleError::Malformed) => {
                return err(ErrorCode::BadRequest, "the key bundle is malformed")
            }
            Err(e) => return err(ErrorCode::KeyCheckFailed, e.to_string()),
        };
        let mut slots: Vec<u8> = bundle.keys.iter().map(|k| k.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        if bundle.keys.is_empty() || slots.len() != bundle.keys.len() {
            return err(
                ErrorCode::BadRequest,
                "the key bundle has no keys or repeats a slot",
            );
        }
        self.nvm.keys = bundle
            .keys
            .iter()
            .map(|k| StoredKey {
                slot: k.slot,
                kind: match k.kind {
                    message::KeyKind::Tmk => 0,
                    message::KeyKind::PinKey => 1,
                    message::KeyKind::MacKey => 2,
                    message::KeyKind::DataKey => 3,
                },
                key: k.key,
                kcv: keybundle::kcv(&k.key),
            })
            .collect();
        self.nvm.issued_to = Some((bundle.terminal_no.clone(), bundle.merchant_no.clone()));
        self.wrote = true;
        Response::KeysInstalled {
            slots: self.key_slots(),
        }
    }

    fn sign_on(&mut self, terminal_no: String, merchant_no: String) -> Response {
        match self.nvm.lifecycle() {
            Lifecycle::Factory | Lifecycle::Activated => {}
            other => {
                return err(
                    ErrorCode::WrongLifecycleState,
                    format!("cannot sign on while {}", other.name()),
                )
            }
        }
        let Some((t, m)) = &self.nvm.issued_to else {
            return err(
                ErrorCode::WrongLifecycleState,
                "no keys installed; install keys first",
            );
        };
        if *t != terminal_no || *m != merchant_no {
            return err(
                ErrorCode::BadRequest,
                "terminal or merchant number differs from the one the keys were issued for",
            );
        }
        self.nvm.terminal_no = Some(terminal_no);
        self.nvm.merchant_no = Some(merchant_no);
        self.nvm.set_lifecycle(Lifecycle::Activated);
        self.wrote = true;
        let r = self.digits(12);
        Response::SignedOn {
            test_txn_ref: format!("TST{r}"),
        }
    }

    fn read_card(
        &mut self,
        start: Micros,
        id: u32,
        purpose: CardPurpose,
        timeout_ms: u32,
    ) -> (Micros, Vec<Out>) {
        let reply = |resp| (FRAME_US, vec![Out::Message(id, Body::Response(resp))]);
        if self.nvm.lifecycle() != Lifecycle::Activated {
            return reply(err(
                ErrorCode::WrongLifecycleState,
                format!("cannot read cards while {}", self.nvm.lifecycle().name()),
            ));
        }
        let conn = self.conn.as_mut().expect("connected");
        if conn.pending_read.is_some() {
            return reply(err(ErrorCode::Busy, "a card read is already in progress"));
        }
        if let Some(card) = self.held_card.take() {
            let resp = self.card_read(&card);
            return (FRAME_US, vec![Out::Later(id, resp, CARD_TAP_US)]);
        }
        conn.pending_read = Some(PendingRead {
            id,
            purpose,
            deadline: start + FRAME_US + u64::from(timeout_ms) * 1_000,
        });
        (FRAME_US, Vec::new())
    }

    /// An acquirer-style token for the card: keyed with the terminal's secret device seed,
    /// so that, unlike a hash of public data, it cannot be reversed to the full PAN by
    /// guessing the ~10^5 digits the masked PAN hides.
    fn card_token(&self, pan: &str) -> String {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        let mut kh = Sha256::new();
        kh.update(b"posmate card token key v1");
        kh.update(self.nvm.device_seed);
        key.copy_from_slice(&kh.finalize());
        let mut h = Sha256::new();
        h.update(b"posmate card token v1");
        h.update(*key);
        h.update(pan.as_bytes());
        h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn card_read(&self, card: &Card) -> Response {
        let Ok(masked) = MaskedPan::mask(&card.pan) else {
            return err(ErrorCode::BadRequest, "the card could not be read");
        };
        Response::CardRead {
            masked_pan: masked,
            token: self.card_token(&card.pan),
            entry: card.entry,
            expiry: card.expiry.clone(),
        }
    }

    fn read_journal(&mut self, id: u32, from_seq: u64, max_records: u16) -> (Micros, Vec<Out>) {
        let max_body = self.conn.as_ref().expect("connected").wire.max_body();
        let budget = max_body.saturating_sub(TAG_LEN);
        let journal = &self.nvm.journal;
        let wanted = if max_records == 0 {
            usize::MAX
        } else {
            usize::from(max_records)
        };
        let mut records: Vec<Record> = Vec::new();
        let page = |records: Vec<Record>| Envelope {
            id,
            body: Body::Response(Response::JournalPage {
                epoch: journal.epoch,
                records,
                head: journal.head(),
            }),
        };
        let base = message::encode(&page(Vec::new())).len();
        let mut size = base;
        for e in journal.page(from_seq.max(1), wanted) {
            let r = to_record(e);
            let len = message::encode(&r).len();
            // The records array header grows by at most 2 bytes up to 65535 entries.
            if size + len + 2 > budget {
                break;
            }
            size += len;
            records.push(r);
        }
        let n = records.len() as u64;
        (
            FRAME_US + n * RECORD_READ_US,
            vec![Out::Message(id, page(records).body)],
        )
    }

    fn set_lifecycle(&mut self, state: Lifecycle) -> Response {
        let current = self.nvm.lifecycle();
        let allowed = matches!(
            (current, state),
            (Lifecycle::Activated, Lifecycle::Activated)
                | (Lifecycle::Activated, Lifecycle::Suspended)
                | (Lifecycle::Suspended, Lifecycle::Suspended)
                | (Lifecycle::Suspended, Lifecycle::Activated)
        );
        if !allowed {
            return err(
                ErrorCode::WrongLifecycleState,
                format!("cannot go from {} to {}", current.name(), state.name()),
            );
        }
        if current != state {
            self.nvm.set_lifecycle(state);
            self.wrote = true;
        }
        Response::Info(self.info())
    }

    /// The receipt of an earlier wipe asked for with the same nonce, if it is the latest.
    fn stored_receipt(&self, nonce: &[u8; 16]) -> Option<Response> {
        let w = self.nvm.last_wipe.as_ref().filter(|w| w.nonce == *nonce)?;
        Some(Response::WipeReceipt {
            sn: self.nvm.sn.clone(),
            nonce: w.nonce,
            wiped_at_ms: w.wiped_at_ms,
            journal_head: w.journal_head,
            signature: w.signature.as_slice().try_into().ok()?,
        })
    }

    fn wipe(&mut self, start: Micros, id: u32, nonce: [u8; 16]) -> (Micros, Vec<Out>) {
        // The same nonce again: the phone lost the answer (it must pair again to ask, since
        // the wipe forgot it). Answer as the first time, erasing nothing, in any state.
        if let Some(receipt) = self.stored_receipt(&nonce) {
            return (
                FRAME_US,
                vec![
                    Out::Message(id, Body::Response(receipt)),
                    Out::Close(Close::new(CloseReason::Bye, "wiped")),
                ],
            );
        }
        let open = self.nvm.journal.open_batch_len();
        if open > 0 {
            return (
                FRAME_US,
                vec![Out::Message(
                    id,
                    Body::Response(err(
                        ErrorCode::BatchMismatch,
                        format!(
                            "batch {} holds {open} unsettled records; close it before wiping",
                            self.nvm.journal.batch_no
                        ),
                    )),
                )],
            );
        }
        let done = start + FRAME_US + WIPE_US;
        let wiped_at_ms = self.wall_ms(done);
        let journal_head = self.nvm.journal.head();
        let signature = receipt::sign(
            &self.device_key(),
            &ReceiptFields {
                sn: &self.nvm.sn,
                nonce: &nonce,
                wiped_at_ms,
                journal_head,
            },
        );
        // Erase: payment keys, journal, pairings; new Noise identity and journal epoch.
        self.nvm.keys.clear();
        self.nvm.issued_to = None;
        self.nvm.terminal_no = None;
        self.nvm.merchant_no = None;
        self.nvm.paired_phones.clear();
        let mut epoch = [0u8; 16];
        self.rng.fill_bytes(&mut epoch);
        self.nvm.journal = Journal::new(epoch);
        self.nvm.noise_secret = self.seed();
        self.nvm.set_lifecycle(Lifecycle::Decommissioned);
        self.nvm.last_wipe = Some(WipeRecord {
            nonce,
            wiped_at_ms,
            journal_head,
            signature: signature.to_vec(),
        });
        self.recent.clear();
        self.held_card = None;
        self.wrote = true;
        let receipt = Response::WipeReceipt {
            sn: self.nvm.sn.clone(),
            nonce,
            wiped_at_ms,
            journal_head,
            signature,
        };
        (
            FRAME_US + WIPE_US,
            vec![
                Out::Message(id, Body::Response(receipt)),
                Out::Close(Close::new(CloseReason::Bye, "wiped")),
            ],
        )
    }

    // ---- keypad ------------------------------------------------------------------------

    pub(crate) fn screen(&self) -> Screen {
        if let Some(conn) = &self.conn {
            if let Some(code) = &conn.code {
                return Screen::PairingCode(code.as_str().to_owned());
            }
            if let Some(read) = &conn.pending_read {
                return Screen::PresentCard {
                    purpose: read.purpose,
                };
            }
        }
        if let Some(ms) = self.nvm.lockout.remaining_ms(self.clock_ms()) {
            return Screen::Locked { retry_after_ms: ms };
        }
        match self.nvm.lifecycle() {
            Lifecycle::Factory => Screen::Unactivated,
            Lifecycle::Activated => Screen::Idle,
            Lifecycle::Suspended => Screen::Suspended,
            Lifecycle::Decommissioned => Screen::Wiped,
        }
    }

    fn keypad_ready(&mut self, now: Micros) -> Result<(), KeypadError> {
        self.advance(now);
        if !self.pending_commits.is_empty() {
            return Err(KeypadError::Busy);
        }
        Ok(())
    }

    pub(crate) fn ring_up(&mut self, now: Micros, sale: &Sale) -> Result<Booked, KeypadError> {
        self.keypad_ready(now)?;
        if self.nvm.lifecycle() != Lifecycle::Activated || self.nvm.terminal_no.is_none() {
            return Err(KeypadError::NotInService);
        }
        let masked = MaskedPan::mask(&sale.pan).map_err(|_| KeypadError::BadCard)?;
        let at_ms = self.wall_ms(now);
        let card: [u8; 32] = Sha256::digest(sale.pan.as_bytes()).into();
        let batch = self.nvm.journal.batch_no;
        self.recent
            .retain(|r| at_ms.saturating_sub(r.at_ms) < DUPLICATE_WINDOW_MS);
        if let Some(r) = self.recent.iter().find(|r| {
            r.card == card
                && r.kind == sale.kind
                && r.amount_minor == sale.amount_minor
                && r.currency == sale.currency
                && self
                    .nvm
                    .journal
                    .get(r.seq)
                    .is_some_and(|e| e.batch_no == batch)
        }) {
            return Err(KeypadError::DuplicateSwipe {
                original_seq: r.seq,
            });
        }
        let approved = !sale.pan.ends_with(DECLINE_SUFFIX);
        let auth_code = self.digits(6);
        let rrn = self.digits(12);
        let entry = self.nvm.journal.book(Booking {
            kind: sale.kind,
            amount_minor: sale.amount_minor,
            currency: sale.currency,
            at_ms,
            masked_pan: masked.as_str(),
            approved,
            auth_code,
            rrn,
            orig_seq: sale.orig_seq,
        })?;
        let booked = Booked {
            seq: entry.seq,
            status: entry.status,
            masked_pan: entry.masked_pan.clone(),
        };
        if approved && matches!(sale.kind, TxnKind::Sale | TxnKind::PreAuth) {
            self.recent.push(RecentSwipe {
                card,
                kind: sale.kind,
                amount_minor: sale.amount_minor,
                currency: sale.currency,
                at_ms,
                seq: booked.seq,
            });
        }
        self.notify(now, Event::JournalAppended { head: booked.seq });
        Ok(booked)
    }

    /// Sends an event if a secure session is up.
    fn notify(&mut self, now: Micros, event: Event) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.closing || !matches!(conn.phase, Phase::Secure { .. }) {
            return;
        }
        conn.outbox.push_back(Outgoing::Sealed {
            envelope: Envelope {
                id: 0,
                body: Body::Event(event),
            },
            at: now + FRAME_US,
        });
        self.flush(now);
    }

    pub(crate) fn present_card(&mut self, now: Micros, card: Card) -> CardOutcome {
        self.advance(now);
        let pending = self.conn.as_mut().and_then(|c| c.pending_read.take());
        let Some(read) = pending else {
            self.held_card = Some(card);
            return CardOutcome::Held;
        };
        let resp = self.card_read(&card);
        let conn = self.conn.as_mut().expect("pending read implies connection");
        conn.outbox.push_back(Outgoing::Sealed {
            envelope: Envelope {
                id: read.id,
                body: Body::Response(resp),
            },
            at: now + CARD_TAP_US,
        });
        self.flush(now);
        CardOutcome::Answered
    }

    pub(crate) fn set_battery(&mut self, pct: u8) {
        self.nvm.battery_pct = pct.min(100);
    }
}

fn batch_closed(c: &ClosedBatch) -> Response {
    let t = c.totals;
    Response::BatchClosed {
        batch_no: c.batch_no,
        first_seq: c.first_seq,
        last_seq: c.last_seq,
        totals: Totals {
            sale_count: t.sale_count,
            sale_minor: t.sale_minor,
            refund_count: t.refund_count,
            refund_minor: t.refund_minor,
            void_count: t.void_count,
            void_minor: t.void_minor,
        },
    }
}

fn to_record(e: &JournalEntry) -> Record {
    Record {
        seq: e.seq,
        batch_no: e.batch_no,
        kind: match e.kind {
            TxnKind::Sale => RecordKind::Sale,
            TxnKind::Refund => RecordKind::Refund,
            TxnKind::PreAuth => RecordKind::PreAuth,
            TxnKind::PreAuthCompletion => RecordKind::PreAuthCompletion,
            TxnKind::BalanceInquiry => RecordKind::BalanceInquiry,
            TxnKind::Void => RecordKind::Void,
        },
        amount_minor: e.amount_minor,
        currency: e.currency,
        at_ms: e.at_ms,
        // Only masked PANs are ever stored; a corrupted entry is sent fully masked.
        masked_pan: MaskedPan::parse(&e.masked_pan)
            .or_else(|_| MaskedPan::parse("****************"))
            .unwrap_or_else(|_| unreachable!("a run of 16 '*' is a masked PAN")),
        auth_code: e.auth_code.clone(),
        rrn: e.rrn.clone(),
        status: match e.status {
            TxnStatus::Approved => RecordStatus::Approved,
            TxnStatus::Declined => RecordStatus::Declined,
            TxnStatus::Reversed => RecordStatus::Reversed,
        },
        orig_seq: e.orig_seq,
    }
}
