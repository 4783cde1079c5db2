//! ReadCard (protocol.md §6) and the card reader: a request waits for a card (or takes
//! one already held to the reader) and is answered with a masked PAN and a token, never
//! the PAN itself; unanswered, it times out at its deadline (see
//! [`Connection::time_out_read`]).

use proto::gatt::{Lifecycle, Micros};
use proto::message::{Body, CardPurpose, ErrorCode, Response};
use proto::pan::MaskedPan;
use sha2::{Digest, Sha256};

use super::super::keypad::{Card, CardOutcome};
use super::super::timing::{CARD_TAP_US, FRAME_US};
use super::connection::{Connection, Out, PendingRead};
use super::{err, Device, Firmware};

impl Device {
    /// ReadCard: answers at once from a held card, or waits for one until the timeout.
    pub(super) fn read_card(
        &mut self,
        conn: &mut Connection,
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

    /// What reading `card` answers.
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
}

impl Firmware {
    /// A card is held to the reader: answers a pending ReadCard, or is held for the next.
    pub(crate) fn present_card(&mut self, now: Micros, card: Card) -> CardOutcome {
        self.advance(now);
        let Some((conn, read)) = self
            .link
            .as_mut()
            .and_then(|c| c.pending_read.take().map(|read| (c, read)))
        else {
            self.device.held_card = Some(card);
            return CardOutcome::Held;
        };
        let resp = self.device.card_read(&card);
        conn.answer_read(read, resp, now + CARD_TAP_US);
        conn.flush(now);
        CardOutcome::Answered
    }
}
