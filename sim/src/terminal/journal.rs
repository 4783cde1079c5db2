//! The terminal's transaction journal and batches, as the firmware keeps them in flash.
//!
//! The journal is append-only: a refund or void is a new record pointing at its original
//! (`orig_seq`), never an edit, so a phone that has synced up to some sequence number never
//! needs to re-read what it already holds. Sequence numbers start at 1 and only grow until a
//! wipe, which also draws a new `epoch` so that a phone never merges two journals.

use proto::message::{Record, RecordKind, RecordStatus, Totals};
use proto::pan::MaskedPan;
use serde::{Deserialize, Serialize};

/// How long a repeated swipe of the same card for the same amount counts as a duplicate.
pub const DUPLICATE_WINDOW_MS: u64 = 60_000;
/// Test-card convention of the simulated acquirer: PANs ending in these digits decline.
pub const DECLINE_SUFFIX: &str = "0002";

/// Kinds that need an original record.
fn needs_original(kind: RecordKind) -> bool {
    matches!(
        kind,
        RecordKind::Refund | RecordKind::PreAuthCompletion | RecordKind::Void
    )
}

/// A closed batch, kept so that a repeated `CloseBatch` (its answer lost with the link) gets
/// the same answer instead of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedBatch {
    pub batch_no: u32,
    /// For an empty batch `first_seq = last_seq + 1`.
    pub first_seq: u64,
    pub last_seq: u64,
    pub totals: Totals,
}

/// Why the terminal refused to book a transaction (shown on its screen; nothing booked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    #[error("original transaction {0} not found")]
    NoSuchOriginal(u64),
    #[error("{0:?} needs an original transaction")]
    OriginalRequired(RecordKind),
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
    pub kind: RecordKind,
    pub amount_minor: u64,
    pub currency: u16,
    pub at_ms: u64,
    pub masked_pan: &'a MaskedPan,
    pub approved: bool,
    pub auth_code: String,
    pub rrn: String,
    pub orig_seq: Option<u64>,
}

/// The journal, the current batch number and the closed batches. Records are kept as the
/// protocol's [`Record`]s (only a masked PAN is ever stored), in its JSON spelling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub epoch: [u8; 16],
    #[serde(deserialize_with = "legacy_spelling::entries")]
    pub entries: Vec<Record>,
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

    pub fn get(&self, seq: u64) -> Option<&Record> {
        // Sequence numbers are dense from 1.
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.entries.get(i).filter(|e| e.seq == seq)
    }

    /// Records with `seq >= from_seq`, at most `max`.
    pub fn page(&self, from_seq: u64, max: usize) -> &[Record] {
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
    pub fn book(&mut self, b: Booking<'_>) -> Result<&Record, BookingError> {
        if b.amount_minor == 0 && b.kind != RecordKind::BalanceInquiry {
            return Err(BookingError::ZeroAmount);
        }
        if needs_original(b.kind) {
            let seq = b.orig_seq.ok_or(BookingError::OriginalRequired(b.kind))?;
            self.check_original(&b, seq)?;
        }
        let seq = self.head() + 1;
        self.entries.push(Record {
            seq,
            batch_no: self.batch_no,
            kind: b.kind,
            amount_minor: b.amount_minor,
            currency: b.currency,
            at_ms: b.at_ms,
            masked_pan: b.masked_pan.clone(),
            auth_code: if b.approved {
                b.auth_code
            } else {
                String::new()
            },
            rrn: b.rrn,
            status: if b.approved {
                RecordStatus::Approved
            } else {
                RecordStatus::Declined
            },
            orig_seq: if needs_original(b.kind) {
                b.orig_seq
            } else {
                None
            },
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    fn approved_against(&self, seq: u64, kind: RecordKind) -> impl Iterator<Item = &Record> {
        self.entries.iter().filter(move |e| {
            e.orig_seq == Some(seq) && e.kind == kind && e.status == RecordStatus::Approved
        })
    }

    fn check_original(&self, b: &Booking<'_>, seq: u64) -> Result<(), BookingError> {
        let orig = self.get(seq).ok_or(BookingError::NoSuchOriginal(seq))?;
        if orig.status != RecordStatus::Approved {
            return Err(BookingError::WrongOriginal(seq));
        }
        if orig.masked_pan != *b.masked_pan || orig.currency != b.currency {
            return Err(BookingError::CardMismatch);
        }
        let voided = self
            .approved_against(seq, RecordKind::Void)
            .next()
            .is_some();
        match b.kind {
            RecordKind::Refund => {
                if !matches!(orig.kind, RecordKind::Sale | RecordKind::PreAuthCompletion) {
                    return Err(BookingError::WrongOriginal(seq));
                }
                if voided {
                    return Err(BookingError::AlreadySettledAgainst(seq));
                }
                let refunded: u64 = self
                    .approved_against(seq, RecordKind::Refund)
                    .map(|e| e.amount_minor)
                    .sum();
                if b.amount_minor > orig.amount_minor.saturating_sub(refunded) {
                    return Err(BookingError::AmountTooLarge);
                }
            }
            RecordKind::PreAuthCompletion => {
                if orig.kind != RecordKind::PreAuth {
                    return Err(BookingError::WrongOriginal(seq));
                }
                if voided
                    || self
                        .approved_against(seq, RecordKind::PreAuthCompletion)
                        .next()
                        .is_some()
                {
                    return Err(BookingError::AlreadySettledAgainst(seq));
                }
                if b.amount_minor > orig.amount_minor {
                    return Err(BookingError::AmountTooLarge);
                }
            }
            RecordKind::Void => {
                // A void reverses a whole transaction of the open batch, nothing else.
                if orig.batch_no != self.batch_no
                    || !matches!(
                        orig.kind,
                        RecordKind::Sale | RecordKind::Refund | RecordKind::PreAuthCompletion
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
    pub fn totals(&self, batch_no: u32) -> Totals {
        let mut t = Totals::default();
        for e in self
            .entries
            .iter()
            .filter(|e| e.batch_no == batch_no && e.status == RecordStatus::Approved)
        {
            t.add(e.kind, e.amount_minor);
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

/// Flash written before the journal held protocol records spelled kinds and statuses as
/// Rust names (`PreAuthCompletion`, `Approved`); they are read as the protocol's snake_case
/// names (`pre_auth_completion`), and written that way from then on.
mod legacy_spelling {
    use proto::message::Record;
    use serde::{de::Error as _, Deserialize, Deserializer};
    use serde_json::Value;

    pub fn entries<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Record>, D::Error> {
        Vec::<Value>::deserialize(d)?
            .into_iter()
            .map(|mut entry| {
                for field in ["kind", "status"] {
                    if let Some(Value::String(name)) = entry.get_mut(field) {
                        *name = snake_case(name);
                    }
                }
                serde_json::from_value(entry).map_err(D::Error::custom)
            })
            .collect()
    }

    /// `PreAuthCompletion` → `pre_auth_completion`; a snake_case name stays as it is.
    fn snake_case(name: &str) -> String {
        let mut out = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "411111******1111";

    fn book(
        j: &mut Journal,
        kind: RecordKind,
        amount: u64,
        orig: Option<u64>,
    ) -> Result<u64, BookingError> {
        j.book(Booking {
            kind,
            amount_minor: amount,
            currency: 156,
            at_ms: 1,
            masked_pan: &MaskedPan::parse(PAN).unwrap(),
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
        let sale = book(&mut j, RecordKind::Sale, 1000, None).unwrap();
        assert_eq!(book(&mut j, RecordKind::Refund, 600, Some(sale)), Ok(2));
        assert_eq!(
            book(&mut j, RecordKind::Refund, 500, Some(sale)),
            Err(BookingError::AmountTooLarge)
        );
        assert_eq!(book(&mut j, RecordKind::Refund, 400, Some(sale)), Ok(3));
        assert_eq!(
            book(&mut j, RecordKind::Refund, 1, None),
            Err(BookingError::OriginalRequired(RecordKind::Refund))
        );
        assert_eq!(
            book(&mut j, RecordKind::Refund, 1, Some(2)),
            Err(BookingError::WrongOriginal(2))
        );
        let t = j.totals(1);
        assert_eq!((t.sale_count, t.sale_minor), (1, 1000));
        assert_eq!((t.refund_count, t.refund_minor), (2, 1000));
    }

    #[test]
    fn void_only_in_open_batch_and_once() {
        let mut j = Journal::new([0; 16]);
        let s1 = book(&mut j, RecordKind::Sale, 700, None).unwrap();
        assert!(book(&mut j, RecordKind::Void, 700, Some(s1)).is_ok());
        assert_eq!(
            book(&mut j, RecordKind::Void, 700, Some(s1)),
            Err(BookingError::AlreadySettledAgainst(s1))
        );
        let s2 = book(&mut j, RecordKind::Sale, 300, None).unwrap();
        let closed = j.close_batch(1).unwrap();
        assert_eq!((closed.first_seq, closed.last_seq), (1, 3));
        assert_eq!(closed.totals.void_minor, 700);
        assert_eq!(
            book(&mut j, RecordKind::Void, 300, Some(s2)),
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
        book(&mut j, RecordKind::Sale, 5, None).unwrap();
        assert_eq!(j.entries[0].batch_no, 2);
        assert_eq!(j.page(1, 10).len(), 1);
        assert_eq!(j.page(2, 10).len(), 0);
        assert_eq!(j.page(0, 10).len(), 1);
    }

    #[test]
    fn flash_with_rust_names_is_read_and_rewritten_in_the_protocols_spelling() {
        let old = r#"{"epoch":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"entries":[{"seq":1,"batch_no":1,"kind":"PreAuthCompletion","amount_minor":5,"currency":156,"at_ms":1,"masked_pan":"411111******1111","auth_code":"123456","rrn":"000000000001","status":"Approved","orig_seq":null}],"batch_no":1,"closed":[]}"#;
        let j: Journal = serde_json::from_str(old).unwrap();
        assert_eq!(j.entries[0].kind, RecordKind::PreAuthCompletion);
        assert_eq!(j.entries[0].status, RecordStatus::Approved);
        let new = serde_json::to_string(&j).unwrap();
        assert_eq!(
            new,
            old.replace("PreAuthCompletion", "pre_auth_completion")
                .replace("Approved", "approved")
        );
        assert_eq!(serde_json::from_str::<Journal>(&new).unwrap(), j);
    }
}
