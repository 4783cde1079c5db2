//! A simulated card terminal: firmware that speaks the posmate protocol over
//! [`proto::gatt::Peripheral`], plus the merchant's eyes and hands on the device (screen,
//! keypad, card reader) for tests and `posmate sim`.
//!
//! [`SimTerminal`] is a cheap handle: the link drives one clone through `Peripheral` while a
//! test keeps another to look at the screen and ring up sales. Both reach the same
//! firmware, but the phone side learns nothing except through protocol bytes.

mod fault;
mod firmware;
pub mod journal;
pub mod keypad;
pub mod nvm;
pub mod timing;

use std::sync::{Arc, Mutex, MutexGuard};

use proto::gatt::{Advertisement, Micros, Notification, Peripheral};
use proto::message::Info;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

pub use fault::RequestKind;
pub use firmware::{MAX_FRAME, RX_WINDOW};
pub use keypad::{Booked, Card, CardOutcome, KeypadError, Sale, Screen, Stats};
pub use nvm::Nvm;

use firmware::Firmware;
use journal::Journal;
use nvm::{Lockout, RngState};

/// 2026-01-01T00:00Z: where simulated terminals' clocks (and the simulated acquirer's)
/// start unless told otherwise, so that their times agree.
pub const DEFAULT_CLOCK_BASE_MS: u64 = 1_767_225_600_000;

/// How to build a terminal fresh from the factory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    pub sn: String,
    pub model: String,
    pub firmware: String,
    /// Every key, code and reference the terminal ever draws derives from this.
    pub seed: u64,
    /// Wall-clock milliseconds at link time 0 of the first connection; later connections
    /// continue the clock from where it stood (it never runs backwards).
    pub clock_base_ms: u64,
    pub battery_pct: u8,
}

impl TerminalConfig {
    /// A terminal with default model, firmware, clock (2026-01-01T00:00Z) and battery.
    pub fn new(sn: impl Into<String>, seed: u64) -> Self {
        TerminalConfig {
            sn: sn.into(),
            model: "PM-100".into(),
            firmware: "1.0.0-sim".into(),
            seed,
            clock_base_ms: DEFAULT_CLOCK_BASE_MS,
            battery_pct: 90,
        }
    }
}

/// A simulated terminal. Clones share one firmware.
#[derive(Clone)]
pub struct SimTerminal {
    inner: Arc<Mutex<Firmware>>,
}

impl core::fmt::Debug for SimTerminal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimTerminal")
            .field("nvm", &self.lock().device.nvm)
            .finish()
    }
}

impl SimTerminal {
    /// A terminal at first boot: factory state, new factory key, Noise key and journal.
    pub fn new(config: TerminalConfig) -> Self {
        let mut boot = ChaCha20Rng::seed_from_u64(config.seed);
        let mut draw32 = || {
            let mut b = [0u8; 32];
            boot.fill_bytes(&mut b);
            b
        };
        let device_seed = draw32();
        let noise_secret = draw32();
        let rng_seed = draw32();
        let epoch_src = draw32();
        let mut epoch = [0u8; 16];
        epoch.copy_from_slice(&epoch_src[..16]);
        Self::from_nvm(Nvm {
            sn: config.sn,
            model: config.model,
            firmware: config.firmware,
            clock_base_ms: config.clock_base_ms,
            clock_us: 0,
            battery_pct: config.battery_pct.min(100),
            lifecycle: proto::gatt::Lifecycle::Factory.code(),
            device_seed,
            noise_secret,
            paired_phones: Vec::new(),
            lockout: Lockout::default(),
            keys: Vec::new(),
            issued_to: None,
            terminal_no: None,
            merchant_no: None,
            journal: Journal::new(epoch),
            rng: RngState {
                seed: rng_seed,
                word_pos: 0,
            },
            last_wipe: None,
        })
    }

    /// A terminal powering up with these flash contents (no connection, nothing pending).
    pub fn from_nvm(nvm: Nvm) -> Self {
        SimTerminal {
            inner: Arc::new(Mutex::new(Firmware::from_nvm(nvm))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Firmware> {
        // A panic while holding the lock leaves the firmware as it was; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The flash contents now (including writes whose time has not yet come).
    pub fn nvm_snapshot(&self) -> Nvm {
        self.lock().device.nvm_snapshot()
    }

    pub fn sn(&self) -> String {
        self.lock().device.nvm.sn.clone()
    }

    /// The factory Ed25519 device public key, as the acquirer's registry knows it.
    pub fn device_key(&self) -> [u8; 32] {
        self.lock().device.device_key().verifying_key().to_bytes()
    }

    /// What `GetInfo` would answer right now (a test's view of the device label and menus).
    pub fn info(&self) -> Info {
        self.lock().device.info()
    }

    pub fn screen(&self) -> Screen {
        self.lock().screen()
    }

    pub fn stats(&self) -> Stats {
        self.lock().device.stats
    }

    /// The next time the firmware acts without input (a card-read timeout), if any.
    pub fn next_wakeup(&self) -> Option<Micros> {
        self.lock().next_wakeup()
    }

    /// The latest link time the terminal has seen (on the current connection's timeline, or
    /// the last one's when disconnected): a `now` for [`SimTerminal::ring_up`] and
    /// [`SimTerminal::present_card`] between link events.
    pub fn link_now(&self) -> Micros {
        self.lock().device.link_now()
    }

    /// The merchant keys in a transaction and the customer presents a card. `now` is on
    /// the link timeline of the current (or last) connection, like the link's own calls;
    /// the record's `at_ms` is the terminal's wall clock at that moment, never earlier than
    /// any time it has shown before.
    pub fn ring_up(&self, now: Micros, sale: &Sale) -> Result<Booked, KeypadError> {
        self.lock().ring_up(now, sale)
    }

    /// The card held to the reader and not read yet (held before a connection, it answers
    /// that connection's first card read): kept in RAM, not flash.
    pub fn held_card(&self) -> Option<Card> {
        self.lock().device.held_card.clone()
    }

    /// A card is held to the reader: answers a pending `ReadCard`, or is held for the next.
    pub fn present_card(&self, now: Micros, card: Card) -> CardOutcome {
        self.lock().present_card(now, card)
    }

    pub fn set_battery(&self, pct: u8) {
        self.lock().device.set_battery(pct);
    }

    /// Fault: from now on the link is lost whenever a request of `kind` arrives, before the
    /// terminal acts on it (`None` repairs the radio). Not kept in flash. The link host
    /// that carries the terminal must end the link when [`Self::take_radio_lost`] says so:
    /// `serve::Host` (behind `posmate sim`) does; a host that does not would leave the
    /// request unanswered instead.
    pub fn set_drop_on(&self, kind: Option<RequestKind>) {
        self.lock().device.drop_on = kind;
    }

    /// Fault: rogue firmware that reports `sn` in its `Info` while it still proves its own
    /// SN in the handshake (`None` restores the honest firmware). Not kept in flash.
    pub fn set_claimed_sn(&self, sn: Option<String>) {
        self.lock().device.claimed_sn = sn;
    }

    /// Whether the [`Self::set_drop_on`] fault fired since the last call: the link host
    /// must then lose the link.
    pub fn take_radio_lost(&self) -> bool {
        std::mem::take(&mut self.lock().device.radio_lost)
    }
}

impl Peripheral for SimTerminal {
    fn advertisement(&self) -> Advertisement {
        self.lock().advertisement()
    }

    fn on_connect(&mut self, now: Micros, mtu: u16) {
        self.lock().on_connect(now, mtu);
    }

    fn on_write(&mut self, now: Micros, value: &[u8]) {
        self.lock().on_write(now, value);
    }

    fn on_disconnect(&mut self, now: Micros) {
        self.lock().on_disconnect(now);
    }

    fn poll_notification(&mut self, now: Micros) -> Option<Notification> {
        self.lock().poll_notification(now)
    }

    fn wants_disconnect(&self) -> bool {
        self.lock().wants_disconnect()
    }

    fn stall_until(&mut self, until: Micros) {
        self.lock().stall_until(until);
    }
}
