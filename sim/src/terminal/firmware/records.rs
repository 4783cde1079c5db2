//! The journal on the wire (protocol.md §6.1): ReadJournal pages cut to the phone's
//! largest frame, and CloseBatch with its totals. The journal itself (booking, batches)
//! is [`super::super::journal`]; this is how its records and totals are sent.

use proto::gatt::Micros;
use proto::message::{
    self, Body, Envelope, ErrorCode, Record, RecordKind, RecordStatus, Response, Totals,
};
use proto::pan::MaskedPan;
use proto::secure::TAG_LEN;

use super::super::journal::{ClosedBatch, JournalEntry, TxnKind, TxnStatus};
use super::super::timing::{FLASH_WRITE_US, FRAME_US, RECORD_READ_US};
use super::connection::{Connection, Out};
use super::{err, Device};

impl Device {
    /// ReadJournal: records from `from_seq`, as many as asked that fit one sealed frame.
    pub(super) fn read_journal(
        &self,
        conn: &Connection,
        id: u32,
        from_seq: u64,
        max_records: u16,
    ) -> (Micros, Vec<Out>) {
        let budget = conn.wire.max_body().saturating_sub(TAG_LEN);
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

    /// CloseBatch: closes the open batch, or repeats a closed one's totals so that a lost
    /// answer can be asked again; a future batch is a mismatch.
    pub(super) fn close_batch(&mut self, id: u32, batch_no: u32) -> (Micros, Vec<Out>) {
        let reply =
            |cost: Micros, resp: Response| (cost, vec![Out::Message(id, Body::Response(resp))]);
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
