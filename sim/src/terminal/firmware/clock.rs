//! The terminal's clock and what time passing does to flash: protocol.md §6.1 "Times" —
//! `at_ms` and `wiped_at_ms` come from a clock that never runs backwards, across
//! connections and power cycles alike — and the rule (module notes of [`super`]) that a
//! flash write counts only once its time has come.

use proto::gatt::Micros;

use super::Device;

impl Device {
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
    pub(super) fn wall_ms(&mut self, at: Micros) -> u64 {
        let shift = self.link_shift(at);
        self.clock_us = self.clock_us.max(shift.saturating_add(at));
        self.clock_ms()
    }

    /// This connection's shift, fixed at the first call after a connect.
    pub(super) fn link_shift(&mut self, at: Micros) -> Micros {
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
    pub(super) fn clock_ms(&self) -> u64 {
        self.nvm.clock_base_ms + self.clock_us / 1_000
    }

    /// Lets time pass on the device: the clock follows the link, and flash writes whose
    /// time has come become permanent.
    pub(super) fn pass_time(&mut self, now: Micros) {
        self.link_now = self.link_now.max(now);
        if let Some(shift) = self.link_shift_us {
            self.clock_us = self.clock_us.max(shift.saturating_add(now));
        }
        self.pending_commits.retain(|(t, _)| *t > now);
    }

    /// The link dropped: writes still in progress at that moment never completed, as a
    /// power cut mid-write would lose them. The random stream is not rolled back: drawing
    /// the same codes and keys again would repeat them.
    pub(super) fn roll_back_pending(&mut self) {
        if let Some((_, before)) = self.pending_commits.drain(..).next() {
            let rng = self.nvm.rng.clone();
            self.nvm = before;
            self.nvm.rng = rng;
        }
    }
}
