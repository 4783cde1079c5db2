//! The merchant's side of the device: what the screen shows, and sales rung up on the
//! keypad. A sale is booked in the journal and, while a session is up, announced with
//! `JournalAppended` (protocol.md §6.1); the phone learns nothing else about it.

use proto::gatt::{Lifecycle, Micros};
use proto::message::{Event, RecordKind};
use proto::pan::MaskedPan;
use sha2::{Digest, Sha256};

use super::super::journal::{Booking, DECLINE_SUFFIX, DUPLICATE_WINDOW_MS};
use super::super::keypad::{Booked, KeypadError, Sale, Screen};
use super::{Device, Firmware};

/// A recently approved swipe, kept in RAM to refuse a duplicate charge.
pub(super) struct RecentSwipe {
    card: [u8; 32],
    kind: RecordKind,
    amount_minor: u64,
    currency: u16,
    at_ms: u64,
    seq: u64,
}

impl Firmware {
    pub(crate) fn screen(&self) -> Screen {
        if let Some(conn) = &self.link {
            if let Some(code) = &conn.code {
                return Screen::PairingCode(code.as_str().to_owned());
            }
            if let Some(read) = &conn.pending_read {
                return Screen::PresentCard {
                    purpose: read.purpose,
                };
            }
        }
        let nvm = &self.device.nvm;
        if let Some(ms) = nvm.lockout.remaining_ms(self.device.clock_ms()) {
            return Screen::Locked { retry_after_ms: ms };
        }
        match nvm.lifecycle() {
            Lifecycle::Factory => Screen::Unactivated,
            Lifecycle::Activated => Screen::Idle,
            Lifecycle::Suspended => Screen::Suspended,
            Lifecycle::Decommissioned => Screen::Wiped,
        }
    }

    /// The keypad takes input only once flash writes in progress are done.
    fn keypad_ready(&mut self, now: Micros) -> Result<(), KeypadError> {
        self.advance(now);
        if !self.device.pending_commits.is_empty() {
            return Err(KeypadError::Busy);
        }
        Ok(())
    }

    pub(crate) fn ring_up(&mut self, now: Micros, sale: &Sale) -> Result<Booked, KeypadError> {
        self.keypad_ready(now)?;
        let booked = self.device.book(now, sale)?;
        if let Some(conn) = self.link.as_mut() {
            conn.notify(now, Event::JournalAppended { head: booked.seq });
        }
        Ok(booked)
    }
}

impl Device {
    /// Books a sale: refuses one the terminal is not in service for and a duplicate swipe
    /// of the open batch; a PAN ending in [`DECLINE_SUFFIX`] is declined.
    fn book(&mut self, now: Micros, sale: &Sale) -> Result<Booked, KeypadError> {
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
            masked_pan: &masked,
            approved,
            auth_code,
            rrn,
            orig_seq: sale.orig_seq,
        })?;
        let booked = Booked {
            seq: entry.seq,
            status: entry.status,
            masked_pan: entry.masked_pan.to_string(),
        };
        if approved && matches!(sale.kind, RecordKind::Sale | RecordKind::PreAuth) {
            self.recent.push(RecentSwipe {
                card,
                kind: sale.kind,
                amount_minor: sale.amount_minor,
                currency: sale.currency,
                at_ms,
                seq: booked.seq,
            });
        }
        Ok(booked)
    }

    pub(crate) fn set_battery(&mut self, pct: u8) {
        self.nvm.battery_pct = pct.min(100);
    }
}
