//! Wipe (protocol.md §6.1) and its signed receipt (§7): erases payment keys, journal and
//! pairings, draws a new Noise identity and journal epoch, and proves it with a receipt
//! over the phone's nonce signed by the factory device key, which is never erased.
//!
//! The latest receipt is kept, so that a phone that lost the answer can ask again with
//! the same nonce and get the same receipt.

use proto::gatt::{Lifecycle, Micros};
use proto::message::{Body, Close, CloseReason, ErrorCode, Response};
use proto::receipt::{self, ReceiptFields};
use rand_core::RngCore;

use super::super::journal::Journal;
use super::super::nvm::WipeRecord;
use super::super::timing::{FRAME_US, WIPE_US};
use super::connection::Out;
use super::{err, Device};

impl Device {
    /// The receipt of an earlier wipe asked for with the same nonce, if it is the latest.
    fn stored_receipt(&self, nonce: &[u8; 16]) -> Option<Response> {
        let w = self.nvm.last_wipe.as_ref().filter(|w| w.nonce == *nonce)?;
        Some(Response::WipeReceipt {
            sn: self.nvm.sn.clone(),
            nonce: w.nonce,
            wiped_at_ms: w.wiped_at_ms,
            journal_head: w.journal_head,
            signature: w.signature.as_slice().try_into().ok()?,
        })
    }

    /// Wipe: refused while the open batch holds records; answered with the receipt and a
    /// sealed `Close {bye}`.
    pub(super) fn wipe(&mut self, start: Micros, id: u32, nonce: [u8; 16]) -> (Micros, Vec<Out>) {
        // The same nonce again: the phone lost the answer (it must pair again to ask, since
        // the wipe forgot it). Answer as the first time, erasing nothing, in any state.
        if let Some(receipt) = self.stored_receipt(&nonce) {
            return (
                FRAME_US,
                vec![
                    Out::Message(id, Body::Response(receipt)),
                    Out::Close(Close::new(CloseReason::Bye, "wiped")),
                ],
            );
        }
        let open = self.nvm.journal.open_batch_len();
        if open > 0 {
            return (
                FRAME_US,
                vec![Out::Message(
                    id,
                    Body::Response(err(
                        ErrorCode::BatchMismatch,
                        format!(
                            "batch {} holds {open} unsettled records; close it before wiping",
                            self.nvm.journal.batch_no
                        ),
                    )),
                )],
            );
        }
        let done = start + FRAME_US + WIPE_US;
        let wiped_at_ms = self.wall_ms(done);
        let journal_head = self.nvm.journal.head();
        let signature = receipt::sign(
            &self.device_key(),
            &ReceiptFields {
                sn: &self.nvm.sn,
                nonce: &nonce,
                wiped_at_ms,
                journal_head,
            },
        );
        // Erase: payment keys, journal, pairings; new Noise identity and journal epoch.
        self.nvm.keys.clear();
        self.nvm.issued_to = None;
        self.nvm.terminal_no = None;
        self.nvm.merchant_no = None;
        self.nvm.paired_phones.clear();
        let mut epoch = [0u8; 16];
        self.rng.fill_bytes(&mut epoch);
        self.nvm.journal = Journal::new(epoch);
        self.nvm.noise_secret = self.seed();
        self.nvm.set_lifecycle(Lifecycle::Decommissioned);
        self.nvm.last_wipe = Some(WipeRecord {
            nonce,
            wiped_at_ms,
            journal_head,
            signature: signature.to_vec(),
        });
        self.recent.clear();
        self.held_card = None;
        self.wrote = true;
        let receipt = Response::WipeReceipt {
            sn: self.nvm.sn.clone(),
            nonce,
            wiped_at_ms,
            journal_head,
            signature,
        };
        (
            FRAME_US + WIPE_US,
            vec![
                Out::Message(id, Body::Response(receipt)),
                Out::Close(Close::new(CloseReason::Bye, "wiped")),
            ],
        )
    }
}
