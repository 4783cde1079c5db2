//! The journal on the wire (protocol.md §6.1): ReadJournal pages cut to the phone's
//! largest frame, and CloseBatch with its totals. The journal itself (booking, batches)
//! is [`super::super::journal`]; this is how its records and totals are sent.

use proto::gatt::Micros;
use proto::message::{self, Body, Envelope, ErrorCode, Record, Response};
use proto::secure::TAG_LEN;

use super::super::journal::ClosedBatch;
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
        for r in journal.page(from_seq.max(1), wanted) {
            let len = message::encode(r).len();
            // The records array header grows by at most 2 bytes up to 65535 entries.
            if size + len + 2 > budget {
                break;
            }
            size += len;
            records.push(r.clone());
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
    Response::BatchClosed {
        batch_no: c.batch_no,
        first_seq: c.first_seq,
        last_seq: c.last_seq,
        totals: c.totals,
    }
}
