//! Requests inside the secure session (protocol.md §6): which handler answers each, and
//! the small ones answered here (GetInfo, Ping, Unpair).
//!
//! Every request gets exactly one Response with its id (§6); handlers that also change
//! the lifecycle follow it with `LifecycleChanged` (§6.1).

use proto::gatt::Micros;
use proto::handshake::PROTOCOL_VERSION;
use proto::message::{Body, Close, CloseReason, ErrorCode, Event, Info, Request, Response};

use super::super::timing::{FLASH_WRITE_US, FRAME_US, INSTALL_KEYS_US, SIGN_ON_US};
use super::connection::{Connection, Out};
use super::{err, Device};
use crate::terminal::RequestKind;

impl Device {
    /// One request from the phone whose static key is `phone`.
    pub(super) fn on_request(
        &mut self,
        conn: &mut Connection,
        start: Micros,
        phone: [u8; 32],
        id: u32,
        req: Request,
    ) -> (Micros, Vec<Out>) {
        let reply =
            |cost: Micros, resp: Response| (cost, vec![Out::Message(id, Body::Response(resp))]);
        if id == 0 {
            return reply(
                FRAME_US,
                err(ErrorCode::BadRequest, "request ids start at 1"),
            );
        }
        if self.drop_on == Some(RequestKind::of(&req)) {
            // The radio fails as the request arrives: the terminal never acts on it.
            self.radio_lost = true;
            return (FRAME_US, Vec::new());
        }
        let lifecycle = self.nvm.lifecycle();
        match req {
            Request::GetInfo => reply(FRAME_US, Response::Info(self.info())),
            Request::Ping { payload } => reply(FRAME_US, Response::Pong { payload }),
            Request::InstallKeys { bundle } => {
                reply(FRAME_US + INSTALL_KEYS_US, self.install_keys(&bundle))
            }
            Request::SignOn {
                terminal_no,
                merchant_no,
            } => {
                let resp = self.sign_on(terminal_no, merchant_no);
                let mut outs = vec![Out::Message(id, Body::Response(resp))];
                if self.nvm.lifecycle() != lifecycle {
                    outs.push(self.lifecycle_event());
                }
                (FRAME_US + SIGN_ON_US, outs)
            }
            Request::ReadCard {
                purpose,
                timeout_ms,
            } => self.read_card(conn, start, id, purpose, timeout_ms),
            Request::ReadJournal {
                from_seq,
                max_records,
            } => self.read_journal(conn, id, from_seq, max_records),
            Request::CloseBatch { batch_no } => self.close_batch(id, batch_no),
            Request::Wipe { nonce, reason: _ } => self.wipe(start, id, nonce),
            Request::SetLifecycle { state } => {
                let resp = self.set_lifecycle(state);
                let mut outs = vec![Out::Message(id, Body::Response(resp))];
                let mut cost = FRAME_US;
                if self.nvm.lifecycle() != lifecycle {
                    outs.push(self.lifecycle_event());
                    cost += FLASH_WRITE_US;
                }
                (cost, outs)
            }
            Request::Unpair => {
                self.nvm.paired_phones.retain(|k| *k != phone);
                self.wrote = true;
                (
                    FRAME_US + FLASH_WRITE_US,
                    vec![
                        Out::Message(id, Body::Response(Response::Done)),
                        Out::Close(Close::new(CloseReason::Bye, "unpaired")),
                    ],
                )
            }
        }
    }

    /// `LifecycleChanged` with the state now.
    fn lifecycle_event(&self) -> Out {
        Out::Message(
            0,
            Body::Event(Event::LifecycleChanged {
                state: self.nvm.lifecycle(),
            }),
        )
    }

    /// What GetInfo answers: the device's identity, state, keys and journal position.
    pub(crate) fn info(&self) -> Info {
        Info {
            sn: self
                .claimed_sn
                .clone()
                .unwrap_or_else(|| self.nvm.sn.clone()),
            model: self.nvm.model.clone(),
            firmware: self.nvm.firmware.clone(),
            battery_pct: self.nvm.battery_pct,
            lifecycle: self.nvm.lifecycle(),
            protocol_version: PROTOCOL_VERSION,
            terminal_no: self.nvm.terminal_no.clone(),
            merchant_no: self.nvm.merchant_no.clone(),
            device_key: self.device_key().verifying_key().to_bytes(),
            key_slots: self.key_slots(),
            journal_epoch: self.nvm.journal.epoch,
            journal_head: self.nvm.journal.head(),
            batch_no: self.nvm.journal.batch_no,
        }
    }
}
