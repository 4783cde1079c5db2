//! The terminal's transaction journal and batches, as the firmware keeps them in flash.
//!
//! The journal is append-only: a refund or void is a new record pointing at its original
//! (`orig_seq`), never an edit, so a phone that has synced up to some sequence number never
//! needs to re-read what it already holds. Sequence numbers start at 1 and only grow until a
//! wipe, which also draws a new `epoch` so that a phone never merges two journals.

use serde::{Deserialize, Serialize};

/// How long a repeated swipe of the same card for the same amount counts as a duplicate.
pub const DUPLICATE_WINDOW_MS: u64 = 60_000;
/// Test-card convention of the simulated acquirer: PANs ending in these digits decline.
pub const DECLINE_SUFFIX: &str = "0002";

/// What a transaction is (`Record.kind`, protocol.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnKind {
    Sale,
    Refund,
    PreAuth,
    PreAuthCompletion,
    BalanceInquiry,
    Void,
}

impl TxnKind {
    pub fn code(self) -> u8 {
        match self {
            TxnKind::Sale => 0,
            TxnKind::Refund => 1,
            TxnKind::PreAuth => 2,
            TxnKind::PreAuthCompletion => 3,
            TxnKind::BalanceInquiry => 4,
            TxnKind::Void => 5,
        }
    }

    /// Kinds that need an original record.
    fn needs_original(self) -> bool {
        matches!(
            self,
            TxnKind::Refund | TxnKind::PreAuthCompletion | TxnKind::Void
        )
    }
}

/// Outcome of a transaction (`Record.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnStatus {
    Approved,
    Declined,
    Reversed,
}

impl TxnStatus {
    pub fn code(self) -> u8 {
        match self {
            TxnStatus::Approved => 0,
            TxnStatus::Declined => 1,
            TxnStatus::Reversed => 2,
        }
    }
}

/// One journal record, in the firmware's storage format (only a masked PAN is ever stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub batch_no: u32,
    pub kind: TxnKind,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    pub at_ms: u64,
    pub masked_pan: String,
    pub auth_code: String,
    pub rrn: String,
    pub status: TxnStatus,
    pub orig_seq: Option<u64>,
}

/// Batch totals over approved records (`Totals`, protocol.md §6). Sales include pre-auth
/// completions; pre-auths and balance inquiries move no money and are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTotals {
    pub sale_count: u32,
    pub sale_minor: u64,
    pub refund_count: u32,
    pub refund_minor: u64,
    pub void_count: u32,
    pub void_minor: u64,
}

/// A closed batch, kept so that a repeated `CloseBatch` (its answer lost with the link) gets
/// the same answer instead of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedBatch {
    pub batch_no: u32,
    /// For an empty batch `first_seq = last_seq + 1`.
    pub first_seq: u64,
    pub last_seq: u64,
    pub totals: BatchTotals,
}

/// Why the terminal refused to book a transaction (shown on its screen; nothing booked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    #[error("original transaction {0} not found")]
    NoSuchOriginal(u64),
    #[error("{0:?} needs an original transaction")]
    OriginalRequired(TxnKind),
    #[error("original transaction {0} cannot be used for this")]
    WrongOriginal(u64),
    #[error("the card does not match the original transaction")]
    CardMismatch,
    #[error("amount exceeds what the original transaction allows")]
    AmountTooLarge,
    #[error("original transaction {0} was already voided or completed")]
    AlreadySettledAgainst(u64),
    #[error("amount must be greater than zero")]
    ZeroAmount,
}

/// What a booking needs besides the journal: decided by the firmware around it.
pub struct Booking<'a> {
    pub kind: TxnKind,
    pub amount_minor: u64,
    pub currency: u16,
    pub at_ms: u64,
    pub masked_pan: &'a str,
    pub approved: bool,
    pub auth_code: String,
    pub rrn: String,
    pub orig_seq: Option<u64>,
}

/// The journal, the current batch number and the closed batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub epoch: [u8; 16],
    pub entries: Vec<JournalEntry>,
    /// The batch new records go to; starts at 1.
    pub batch_no: u32,
    pub closed: Vec<ClosedBatch>,
}

impl Journal {
    /// A fresh journal (first boot or after a wipe).
    pub fn new(epoch: [u8; 16]) -> Self {
        Journal {
            epoch,
            entries: Vec::new(),
            batch_no: 1,
            closed: Vec::new(),
        }
    }

    /// The last sequence number written, 0 when empty.
    pub fn head(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq)
    }

    pub fn get(&self, seq: u64) -> Option<&JournalEntry> {
        // Sequence numbers are dense from 1.
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.entries.get(i).filter(|e| e.seq == seq)
    }

    /// Records with `seq >= from_seq`, at most `max`.
    pub fn page(&self, from_seq: u64, max: usize) -> &[JournalEntry] {
        let start = usize::try_from(from_seq.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        let end = start.saturating_add(max).min(self.entries.len());
        &self.entries[start..end]
    }

    /// Records of the current (open) batch.
    pub fn open_batch_len(&self) -> usize {
        self.entries
            .iter()
            .rev()
            .take_while(|e| e.batch_no == self.batch_no)
            .count()
    }

    /// Validates and appends one record. Declined transactions are recorded too (a
    /// merchant needs to see them), but only checks of the original apply to them.
    pub fn book(&mut self, b: Booking<'_>) -> Result<&JournalEntry, BookingError> {
        if b.amount_minor == 0 && b.kind != TxnKind::BalanceInquiry {
            return Err(BookingError::ZeroAmount);
        }
        if b.kind.needs_original() {
            let seq = b.orig_seq.ok_or(BookingError::OriginalRequired(b.kind))?;
            self.check_original(&b, seq)?;
        }
        let seq = self.head() + 1;
        self.entries.push(JournalEntry {
            seq,
            batch_no: self.batch_no,
            kind: b.kind,
            amount_minor: b.amount_minor,
            currency: b.currency,
            at_ms: b.at_ms,
            masked_pan: b.masked_pan.to_owned(),
            auth_code: if b.approved {
                b.auth_code
            } else {
                String::new()
            },
            rrn: b.rrn,
            status: if b.approved {
                TxnStatus::Approved
            } else {
                TxnStatus::Declined
            },
            orig_seq: if b.kind.needs_original() {
                b.orig_seq
            } else {
                None
            },
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    fn approved_against(&self, seq: u64, kind: TxnKind) -> impl Iterator<Item = &JournalEntry> {
        self.entries.iter().filter(move |e| {
            e.orig_seq == Some(seq) && e.kind == kind && e.status == TxnStatus::Approved
        })
    }

    fn check_original(&self, b: &Booking<'_>, seq: u64) -> Result<(), BookingError> {
        let orig = self.get(seq).ok_or(BookingError::NoSuchOriginal(seq))?;
        if orig.status != TxnStatus::Approved {
            return Err(BookingError::WrongOriginal(seq));
        }
        if orig.masked_pan != b.masked_pan || orig.currency != b.currency {
            return Err(BookingError::CardMismatch);
        }
        let voided = self.approved_against(seq, TxnKind::Void).next().is_some();
        match b.kind {
            TxnKind::Refund => {
                if !matches!(orig.kind, TxnKind::Sale | TxnKind::PreAuthCompletion) {
                    return Err(BookingError::WrongOriginal(seq));
                }
                if voided {
                    return Err(BookingError::AlreadySettledAgainst(seq));
                }
                let refunded: u64 = self
                    .approved_against(seq, TxnKind::Refund)
                    .map(|e| e.amount_minor)
                    .sum();
                if b.amount_minor > orig.amount_minor.saturating_sub(refunded) {
                    return Err(BookingError::AmountTooLarge);
                }
            }
            TxnKind::PreAuthCompletion => {
                if orig.kind != TxnKind::PreAuth {
                    return Err(BookingError::WrongOriginal(seq));
                }
                if voided
                    || self
                        .approved_against(seq, TxnKind::PreAuthCompletion)
                        .next()
                        .is_some()
                {
                    return Err(BookingError::AlreadySettledAgainst(seq));
                }
                if b.amount_minor > orig.amount_minor {
                    return Err(BookingError::AmountTooLarge);
                }
            }
            TxnKind::Void => {
                // A void reverses a whole transaction of the open batch, nothing else.
                if orig.batch_no != self.batch_no
                    || !matches!(
                        orig.kind,
                        TxnKind::Sale | TxnKind::Refund | TxnKind::PreAuthCompletion
                    )
                {
                    return Err(BookingError::WrongOriginal(seq));
                }
                if voided {
                    return Err(BookingError::AlreadySettledAgainst(seq));
                }
                if b.amount_minor != orig.amount_minor {
                    return Err(BookingError::AmountTooLarge);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Totals of approved records in batch `batch_no`.
    pub fn totals(&self, batch_no: u32) -> BatchTotals {
        let mut t = BatchTotals::default();
        for e in self
            .entries
            .iter()
            .filter(|e| e.batch_no == batch_no && e.status == TxnStatus::Approved)
        {
            match e.kind {
                TxnKind::Sale | TxnKind::PreAuthCompletion => {
                    t.sale_count += 1;
                    t.sale_minor += e.amount_minor;
                }
                TxnKind::Refund => {
                    t.refund_count += 1;
                    t.refund_minor += e.amount_minor;
                }
                TxnKind::Void => {
                    t.void_count += 1;
                    t.void_minor += e.amount_minor;
                }
                TxnKind::PreAuth | TxnKind::BalanceInquiry => {}
            }
        }
        t
    }

    /// Closes batch `batch_no` if it is the open one; returns the stored summary of an
    /// already closed batch unchanged; `None` for a batch that does not exist yet.
    pub fn close_batch(&mut self, batch_no: u32) -> Option<ClosedBatch> {
        if let Some(done) = self.closed.iter().find(|c| c.batch_no == batch_no) {
            return Some(done.clone());
        }
        if batch_no != self.batch_no {
            return None;
        }
        let head = self.head();
        let n = self.open_batch_len() as u64;
        let summary = ClosedBatch {
            batch_no,
            first_seq: head + 1 - n,
            last_seq: head,
            totals: self.totals(batch_no),
        };
        self.closed.push(summary.clone());
        self.batch_no += 1;
        Some(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "411111******1111";

    fn book(
        j: &mut Journal,
        kind: TxnKind,
        amount: u64,
        orig: Option<u64>,
    ) -> Result<u64, BookingError> {
        j.book(Booking {
            kind,
            amount_minor: amount,
            currency: 156,
            at_ms: 1,
            masked_pan: PAN,
            approved: true,
            auth_code: "123456".into(),
            rrn: "000000000001".into(),
            orig_seq: orig,
        })
        .map(|e| e.seq)
    }

    #[test]
    fn refunds_are_bounded_by_the_original() {
        let mut j = Journal::new([0; 16]);
        let sale = book(&mut j, TxnKind::Sale, 1000, None).unwrap();
        assert_eq!(book(&mut j, TxnKind::Refund, 600, Some(sale)), Ok(2));
        assert_eq!(
            book(&mut j, TxnKind::Refund, 500, Some(sale)),
            Err(BookingError::AmountTooLarge)
        );
        assert_eq!(book(&mut j, TxnKind::Refund, 400, Some(sale)), Ok(3));
        assert_eq!(
            book(&mut j, TxnKind::Refund, 1, None),
            Err(BookingError::OriginalRequired(TxnKind::Refund))
        );
        assert_eq!(
            book(&mut j, TxnKind::Refund, 1, Some(2)),
            Err(BookingError::WrongOriginal(2))
        );
        let t = j.totals(1);
        assert_eq!((t.sale_count, t.sale_minor), (1, 1000));
        assert_eq!((t.refund_count, t.refund_minor), (2, 1000));
    }

    #[test]
    fn void_only_in_open_batch_and_once() {
        let mut j = Journal::new([0; 16]);
        let s1 = book(&mut j, TxnKind::Sale, 700, None).unwrap();
        assert!(book(&mut j, TxnKind::Void, 700, Some(s1)).is_ok());
        assert_eq!(
            book(&mut j, TxnKind::Void, 700, Some(s1)),
            Err(BookingError::AlreadySettledAgainst(s1))
        );
        let s2 = book(&mut j, TxnKind::Sale, 300, None).unwrap();
        let closed = j.close_batch(1).unwrap();
        assert_eq!((closed.first_seq, closed.last_seq), (1, 3));
        assert_eq!(closed.totals.void_minor, 700);
        assert_eq!(
            book(&mut j, TxnKind::Void, 300, Some(s2)),
            Err(BookingError::WrongOriginal(s2))
        );
    }

    #[test]
    fn close_batch_is_idempotent_and_empty_batches_have_empty_ranges() {
        let mut j = Journal::new([0; 16]);
        let empty = j.close_batch(1).unwrap();
        assert_eq!((empty.first_seq, empty.last_seq), (1, 0));
        assert_eq!(j.close_batch(1), Some(empty));
        assert_eq!(j.close_batch(3), None);
        book(&mut j, TxnKind::Sale, 5, None).unwrap();
        assert_eq!(j.entries[0].batch_no, 2);
        assert_eq!(j.page(1, 10).len(), 1);
        assert_eq!(j.page(2, 10).len(), 0);
        assert_eq!(j.page(0, 10).len(), 1);
    }
}
