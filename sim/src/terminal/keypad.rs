//! What the merchant does on the terminal itself, and what its screen shows. The phone
//! never sees any of this except through the protocol.

use proto::message::{CardPurpose, EntryMode, RecordKind, RecordStatus};
use zeroize::Zeroize;

use super::journal::BookingError;

/// A transaction keyed in on the terminal, with the card's full PAN as read from the card.
/// The firmware masks the PAN before anything is stored or sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Sale {
    pub kind: RecordKind,
    pub amount_minor: u64,
    /// ISO 4217 numeric, e.g. 156 (CNY).
    pub currency: u16,
    /// Full PAN digits.
    pub pan: String,
    /// The original record a refund, void or pre-auth completion refers to.
    pub orig_seq: Option<u64>,
}

impl Sale {
    /// A plain sale.
    pub fn new(amount_minor: u64, currency: u16, pan: &str) -> Self {
        Sale {
            kind: RecordKind::Sale,
            amount_minor,
            currency,
            pan: pan.to_owned(),
            orig_seq: None,
        }
    }

    /// A transaction of `kind` against record `orig_seq`.
    pub fn against(
        kind: RecordKind,
        orig_seq: u64,
        amount_minor: u64,
        currency: u16,
        pan: &str,
    ) -> Self {
        Sale {
            kind,
            amount_minor,
            currency,
            pan: pan.to_owned(),
            orig_seq: Some(orig_seq),
        }
    }
}

impl Drop for Sale {
    fn drop(&mut self) {
        self.pan.zeroize();
    }
}

impl core::fmt::Debug for Sale {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sale")
            .field("kind", &self.kind)
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .field("orig_seq", &self.orig_seq)
            .finish_non_exhaustive()
    }
}

/// A card held to the terminal.
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    pub pan: String,
    /// "MMYY".
    pub expiry: String,
    pub entry: EntryMode,
}

impl Card {
    pub fn tap(pan: &str, expiry: &str) -> Self {
        Card {
            pan: pan.to_owned(),
            expiry: expiry.to_owned(),
            entry: EntryMode::Tap,
        }
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        self.pan.zeroize();
    }
}

impl core::fmt::Debug for Card {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Card")
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// The outcome of a transaction the terminal booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    pub seq: u64,
    pub status: RecordStatus,
    pub masked_pan: String,
}

/// What happened to a presented card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    /// A pending `ReadCard` was answered.
    Answered,
    /// No read was pending: the card is held for the next `ReadCard`.
    Held,
}

/// Why the terminal refused a keypad action. Nothing was booked or charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeypadError {
    #[error("the terminal is not in service (not activated and signed on)")]
    NotInService,
    #[error("card number is not readable")]
    BadCard,
    #[error("duplicate swipe: same card and amount as record {original_seq}, not charged again")]
    DuplicateSwipe { original_seq: u64 },
    #[error("the terminal is busy writing to flash")]
    Busy,
    #[error(transparent)]
    Refused(#[from] BookingError),
}

/// What the terminal's screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Factory state: waiting to be activated.
    Unactivated,
    /// In service.
    Idle,
    /// Suspended by the acquirer.
    Suspended,
    /// Wiped (decommissioned).
    Wiped,
    /// The pairing window is open with this code.
    PairingCode(String),
    /// Pairing locked out after too many wrong codes.
    Locked { retry_after_ms: u64 },
    /// Waiting for a card for the phone.
    PresentCard { purpose: CardPurpose },
}

/// Test hooks: what the firmware observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Most session frames ever buffered at once (received, credit not yet returned).
    pub max_rx_occupancy: usize,
    /// Frames that arrived with no slot free.
    pub overruns: u64,
    pub connections: u64,
    pub frames_in: u64,
    pub notifications_out: u64,
}
