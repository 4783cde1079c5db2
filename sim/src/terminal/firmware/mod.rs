//! The simulated firmware: the connection state machine of protocol.md §3–§5 and the
//! request handlers of §6, over the flash contents in [`Nvm`].
//!
//! Time: every received session frame is processed at
//! `max(now, busy_until, stall_until) + cost` (see [`super::timing`]); everything it causes
//! — response, events, CREDIT — carries that time as `not_before`. Flash writes made while
//! processing a frame count as done only at that time: a disconnect before it rolls them
//! back, as a power cut mid-write would lose them.
//!
//! State is split by lifetime, so that a handler cannot reach a connection that is not
//! there: [`Device`] is everything that outlives a connection (flash, RAM state such as a
//! held card, the clock), [`Connection`] is one connection's volatile state, and a
//! [`Firmware`] holds a `Device` and, while the phone is connected, a `Connection`.
//! Handlers that act on the link are `Device` methods handed `&mut Connection`; the
//! peripheral entry points below find it (or find there is none) once.
//!
//! The modules follow protocol.md: [`connection`] (§3 frames, §4 flow control, outgoing
//! queue), [`handshake`] (§3.1 HELLO, §5.2 pairing, §5.3 resume, §5.5 lockout),
//! [`requests`] (§6 message dispatch), [`keys`] (InstallKeys, §8), [`lifecycle`] (SignOn,
//! SetLifecycle), [`card`] (ReadCard and the card reader), [`records`] (ReadJournal,
//! CloseBatch), [`wipe`] (Wipe, §7), [`clock`] (the terminal's clock) and [`merchant`]
//! (screen and keypad).

mod card;
mod clock;
mod connection;
mod handshake;
mod keys;
mod lifecycle;
mod merchant;
mod records;
mod requests;
mod wipe;

use ed25519_dalek::SigningKey;
use proto::frame::FrameKind;
use proto::gatt::{Advertisement, Micros, Notification};
use proto::handshake::{StaticKeypair, PROTOCOL_VERSION};
use proto::message::{Body, Close, CloseReason, Envelope, ErrorCode, Intent, Response};
use proto::secure::OpenError;
use proto::wire::ReceivedFrame;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::keypad::{Card, Stats};
use super::nvm::Nvm;
use super::timing::FRAME_US;
use super::RequestKind;
use connection::{Connection, Out, Phase};
use merchant::RecentSwipe;

/// Session frames the terminal buffers (advertised `rx_window`).
pub const RX_WINDOW: u16 = 4;
/// Largest frame the terminal accepts (advertised `max_frame`).
pub const MAX_FRAME: u16 = 4096;

/// The terminal: its device state and, while the phone is connected, the connection.
pub(crate) struct Firmware {
    pub(crate) device: Device,
    /// `None` between a disconnect and the next connect.
    link: Option<Connection>,
}

/// What outlives a connection: flash contents and the RAM state kept across connections.
pub(crate) struct Device {
    pub(crate) nvm: Nvm,
    rng: ChaCha20Rng,
    stall_until: Micros,
    /// The wall clock: microseconds since `nvm.clock_base_ms` it has reached. Never decreases.
    clock_us: u64,
    /// What this connection's link time adds to reach the wall clock; `None` from a connect
    /// until the link first tells the time (see [`Device::wall_ms`]).
    link_shift_us: Option<Micros>,
    /// The latest link time seen on the current (or last) connection.
    link_now: Micros,
    recent: Vec<RecentSwipe>,
    pub(crate) held_card: Option<Card>,
    /// Flash contents before writes that complete at a future time.
    pending_commits: Vec<(Micros, Nvm)>,
    /// Whether the frame being processed wrote flash (so its writes can be rolled back).
    wrote: bool,
    pub(crate) stats: Stats,
    /// Fault injection, not flash: the radio fails as a request of this kind arrives.
    pub(crate) drop_on: Option<RequestKind>,
    /// Set when that fault fired; the link host takes it and loses the link.
    pub(crate) radio_lost: bool,
    /// Fault injection, not flash: rogue firmware that names this SN in its `Info` instead
    /// of the one it proves in the handshake.
    pub(crate) claimed_sn: Option<String>,
}

/// An error response: what a request the firmware refuses is answered with.
fn err(code: ErrorCode, message: impl Into<String>) -> Response {
    Response::Error {
        code,
        message: message.into(),
    }
}

/// A CLOSE `protocol-violation`: the answer to a frame or message that breaks §3–§6.
fn violation(what: &str) -> Vec<Out> {
    vec![Out::Close(Close::new(
        CloseReason::ProtocolViolation,
        what.to_owned(),
    ))]
}

impl Device {
    fn from_nvm(nvm: Nvm) -> Self {
        let mut rng = ChaCha20Rng::from_seed(nvm.rng.seed);
        rng.set_word_pos(u128::from(nvm.rng.word_pos));
        let clock_us = nvm.clock_us;
        Device {
            nvm,
            rng,
            stall_until: 0,
            clock_us,
            link_shift_us: None,
            link_now: 0,
            recent: Vec::new(),
            held_card: None,
            pending_commits: Vec::new(),
            wrote: false,
            stats: Stats::default(),
            drop_on: None,
            radio_lost: false,
            claimed_sn: None,
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

    /// When a frame received at `now` starts being processed: after the previous one and
    /// after any stall the link imposed.
    fn begin(&self, conn: &Connection, now: Micros) -> Micros {
        now.max(conn.busy_until).max(self.stall_until)
    }

    /// Processes one received frame: runs its handler, keeps the flash contents from
    /// before it until its writes are done, queues what it answers and returns its credit.
    fn process(&mut self, conn: &mut Connection, now: Micros, frame: ReceivedFrame, counted: bool) {
        let start = self.begin(conn, now);
        let snapshot =
            matches!(frame.kind, FrameKind::Pair3 | FrameKind::Secure).then(|| self.nvm.clone());
        self.wrote = false;
        let (cost, outs) = self.dispatch(conn, start, frame);
        let done = start + cost;
        if let (true, Some(before)) = (self.wrote, snapshot) {
            self.pending_commits.push((done, before));
        }
        conn.busy_until = done;
        conn.queue(outs, done);
        if counted {
            conn.frame_processed(done);
        }
        conn.flush(done);
    }

    /// The dispatcher: which handler a frame goes to, by the connection's phase.
    fn dispatch(
        &mut self,
        conn: &mut Connection,
        start: Micros,
        frame: ReceivedFrame,
    ) -> (Micros, Vec<Out>) {
        let phase = std::mem::replace(&mut conn.phase, Phase::Done);
        match (phase, frame.kind) {
            (_, FrameKind::Close) => {
                // The phone is leaving; nothing to answer.
                conn.closing = true;
                conn.code = None;
                (FRAME_US, Vec::new())
            }
            (Phase::AwaitHello, FrameKind::Hello) => self.on_hello(conn, start, &frame.body),
            (Phase::Negotiated { intent, prologue }, FrameKind::Pair1) => {
                self.on_pair1(conn, start, intent, &prologue, &frame.body)
            }
            (Phase::Negotiated { intent, prologue }, FrameKind::Resume1) => {
                if intent != Intent::Resume {
                    return (FRAME_US, violation("RESUME1 after HELLO with intent pair"));
                }
                self.on_resume1(conn, &prologue, &frame.body)
            }
            (Phase::Pairing { pairing }, FrameKind::Pair3) => {
                self.on_pair3(conn, start, *pairing, &frame.body)
            }
            (Phase::Secure { mut channel, phone }, FrameKind::Secure) => {
                let opened = channel.open_envelope(&frame.body);
                conn.phase = Phase::Secure { channel, phone };
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
                    }) => self.on_request(conn, start, phone, id, req),
                    Ok(Envelope {
                        body: Body::Close(_),
                        ..
                    }) => {
                        conn.closing = true;
                        (FRAME_US, Vec::new())
                    }
                    Ok(_) => (FRAME_US, violation("only requests go to the terminal")),
                }
            }
            (phase, kind) => {
                // Keep the phase so that the CLOSE is sealed once the session is secure.
                conn.phase = phase;
                (
                    FRAME_US,
                    violation(&format!("{} not expected now", kind.name())),
                )
            }
        }
    }
}

impl Firmware {
    pub(crate) fn from_nvm(nvm: Nvm) -> Self {
        Firmware {
            device: Device::from_nvm(nvm),
            link: None,
        }
    }

    /// Lets time pass: completed flash writes become permanent, card reads time out.
    fn advance(&mut self, now: Micros) {
        self.device.pass_time(now);
        if let Some(conn) = self.link.as_mut() {
            conn.time_out_read(now);
        }
    }

    /// The next time something happens without input (a card-read timeout), for links that
    /// schedule wake-ups.
    pub(crate) fn next_wakeup(&self) -> Option<Micros> {
        self.link
            .as_ref()
            .and_then(|c| c.pending_read.as_ref())
            .map(|r| r.deadline)
    }

    // ---- Peripheral ------------------------------------------------------------------

    pub(crate) fn advertisement(&self) -> Advertisement {
        let nvm = &self.device.nvm;
        let mut adv = Advertisement::for_terminal(&nvm.sn, PROTOCOL_VERSION, nvm.lifecycle());
        adv.pairing_open = self.link.as_ref().is_some_and(|c| c.code.is_some());
        adv.pairing_locked = nvm.lockout.remaining_ms(self.device.clock_ms()).is_some();
        adv
    }

    pub(crate) fn on_connect(&mut self, now: Micros, mtu: u16) {
        // A new connection may start a new link timeline; its shift is fixed at its first
        // write (see `Device::wall_ms`).
        self.device.link_shift_us = None;
        self.device.link_now = now;
        self.advance(now);
        self.device.stats.connections += 1;
        self.link = Some(Connection::new(now, mtu));
    }

    pub(crate) fn on_disconnect(&mut self, now: Micros) {
        self.advance(now);
        self.device.roll_back_pending();
        self.link = None;
    }

    pub(crate) fn poll_notification(&mut self, now: Micros) -> Option<Notification> {
        self.advance(now);
        let n = self.link.as_mut()?.notifications.pop_front()?;
        self.device.stats.notifications_out += 1;
        Some(n)
    }

    pub(crate) fn wants_disconnect(&self) -> bool {
        self.link.as_ref().is_some_and(Connection::wants_disconnect)
    }

    pub(crate) fn stall_until(&mut self, until: Micros) {
        self.device.stall_until = self.device.stall_until.max(until);
    }

    pub(crate) fn on_write(&mut self, now: Micros, value: &[u8]) {
        self.device.link_shift(now);
        self.advance(now);
        let Firmware { device, link } = self;
        let Some(conn) = link.as_mut() else {
            return;
        };
        if conn.closing {
            return;
        }
        let frames = match conn.wire.receive(value) {
            Ok(frames) => frames,
            Err(e) => {
                let reason = e.close_reason().unwrap_or(CloseReason::ProtocolViolation);
                let at = device.begin(conn, now) + FRAME_US;
                conn.close(Close::new(reason, e.to_string()), at);
                return;
            }
        };
        // Credits that arrived may release queued output.
        conn.flush(now);
        for frame in frames {
            if conn.closing {
                break;
            }
            device.stats.frames_in += 1;
            let counted = frame.kind.is_flow_controlled();
            if counted && !conn.take_slot(&mut device.stats, now) {
                let at = device.begin(conn, now) + FRAME_US;
                conn.close(
                    Close::new(CloseReason::Overrun, "frame arrived with no credit"),
                    at,
                );
                return;
            }
            device.process(conn, now, frame, counted);
        }
    }
}
