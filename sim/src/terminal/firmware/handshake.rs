//! From HELLO to a secure session: version negotiation (protocol.md §3.1), first pairing
//! with the code on screen (§5.2), resume with pinned keys (§5.3) and the lockout that
//! bounds wrong codes (§5.5).
//!
//! Each handler takes the [`Connection`] the frame arrived on and leaves it in its next
//! [`Phase`]; one that fails leaves [`Phase::Done`] (set by the dispatcher) and answers a
//! CLOSE.

use proto::frame::{encode_frame, FrameKind};
use proto::gatt::{Lifecycle, Micros};
use proto::handshake::{
    prologue, HandshakeError, PairingCode, TerminalPairing, TerminalResume, PROTOCOL_VERSION,
};
use proto::message::{
    self, Body, Close, CloseReason, Event, Hello, HelloAck, Intent, PairingState,
};

use super::super::timing::{CRYPTO_US, FLASH_WRITE_US, FRAME_US};
use super::connection::{Connection, Out, Phase};
use super::{violation, Device, MAX_FRAME, RX_WINDOW};

/// A CLOSE `handshake-failed`: a handshake message that did not verify.
fn failed(cost: Micros, what: &str) -> (Micros, Vec<Out>) {
    (
        cost,
        vec![Out::Close(Close::new(
            CloseReason::HandshakeFailed,
            what.to_owned(),
        ))],
    )
}

impl Device {
    /// HELLO: checks the phone's limits and versions, draws a pairing code if it asks to
    /// pair and pairing is not locked, and answers HELLO_ACK.
    pub(super) fn on_hello(
        &mut self,
        conn: &mut Connection,
        start: Micros,
        body: &[u8],
    ) -> (Micros, Vec<Out>) {
        let Ok(hello) = message::decode::<Hello>(body) else {
            return (FRAME_US, violation("malformed HELLO"));
        };
        conn.set_peer_limits(hello.rx_window.max(1), hello.max_frame);
        if hello.rx_window == 0 || hello.max_frame < proto::wire::MIN_MAX_FRAME {
            return (
                FRAME_US,
                violation("rx_window must be at least 1 and max_frame at least 64"),
            );
        }
        if !(hello.min_version..=hello.max_version).contains(&PROTOCOL_VERSION) {
            let mut close = Close::new(
                CloseReason::VersionUnsupported,
                format!("this terminal speaks protocol version {PROTOCOL_VERSION} only"),
            );
            close.min_version = Some(PROTOCOL_VERSION);
            close.max_version = Some(PROTOCOL_VERSION);
            return (FRAME_US, vec![Out::Close(close)]);
        }
        let now_ms = self.wall_ms(start);
        let locked = self.nvm.lockout.remaining_ms(now_ms);
        let pairing = match (hello.intent, locked) {
            (Intent::Pair, Some(_)) => PairingState::Locked,
            (Intent::Pair, None) => PairingState::Open,
            (Intent::Resume, _) => PairingState::Closed,
        };
        if pairing == PairingState::Open {
            conn.code = Some(PairingCode::random(&mut self.rng));
        }
        let ack = HelloAck {
            version: PROTOCOL_VERSION,
            rx_window: RX_WINDOW,
            max_frame: MAX_FRAME,
            static_key: self.noise_key().public(),
            sn: self.nvm.sn.clone(),
            lifecycle: self.nvm.lifecycle(),
            pairing,
            retry_after_ms: match pairing {
                PairingState::Locked => u32::try_from(locked.unwrap_or(0)).unwrap_or(u32::MAX),
                _ => 0,
            },
        };
        let ack_body = message::encode(&ack);
        let prologue = prologue(
            &encode_frame(FrameKind::Hello, body),
            &encode_frame(FrameKind::HelloAck, &ack_body),
        );
        conn.phase = Phase::Negotiated {
            intent: hello.intent,
            prologue,
        };
        (FRAME_US, vec![Out::Frame(FrameKind::HelloAck, ack_body)])
    }

    /// The CLOSE `pairing-locked` to answer while the lockout (§5.5) runs, if it does.
    fn locked_close(&mut self, start: Micros) -> Option<Close> {
        let now_ms = self.wall_ms(start);
        let remaining = self.nvm.lockout.remaining_ms(now_ms)?;
        let mut close = Close::new(
            CloseReason::PairingLocked,
            "too many wrong codes; pairing is locked",
        );
        close.retry_after_ms = Some(u32::try_from(remaining).unwrap_or(u32::MAX));
        Some(close)
    }

    /// PAIR1: the phone's SPAKE2 and Noise `m1`, answered with PAIR2 if a pairing window
    /// is open.
    pub(super) fn on_pair1(
        &mut self,
        conn: &mut Connection,
        start: Micros,
        intent: Intent,
        prologue: &[u8],
        body: &[u8],
    ) -> (Micros, Vec<Out>) {
        if let Some(close) = self.locked_close(start) {
            return (FRAME_US, vec![Out::Close(close)]);
        }
        let (Intent::Pair, Some(code)) = (intent, conn.code.take()) else {
            return (
                FRAME_US,
                vec![Out::Close(Close::new(
                    CloseReason::PairingNotOpen,
                    "PAIR1 without an open pairing window",
                ))],
            );
        };
        let Ok(pair1) = message::decode::<message::Pair1>(body) else {
            return (FRAME_US, violation("malformed PAIR1"));
        };
        let seed = self.seed();
        let noise = self.noise_key();
        let cost = FRAME_US + 2 * CRYPTO_US;
        match TerminalPairing::on_pair1(&noise, &code, &self.nvm.sn, prologue, &pair1, seed) {
            Ok((pairing, pair2)) => {
                // The code stays on screen until PAIR3 is judged.
                conn.code = Some(code);
                conn.phase = Phase::Pairing {
                    pairing: Box::new(pairing),
                };
                (
                    cost,
                    vec![Out::Frame(FrameKind::Pair2, message::encode(&pair2))],
                )
            }
            Err(_) => failed(cost, "PAIR1 did not verify"),
        }
    }

    /// PAIR3: the phone proves it knew the code. Success pairs the phone and opens the
    /// session; a wrong code counts towards the lockout.
    pub(super) fn on_pair3(
        &mut self,
        conn: &mut Connection,
        start: Micros,
        pairing: TerminalPairing,
        body: &[u8],
    ) -> (Micros, Vec<Out>) {
        let cost = FRAME_US + CRYPTO_US + FLASH_WRITE_US;
        conn.code = None;
        match pairing.on_pair3(body) {
            Ok((channel, phone)) => {
                self.nvm.add_paired_phone(phone);
                self.nvm.lockout.reset();
                if self.nvm.lifecycle() == Lifecycle::Decommissioned {
                    // A wiped terminal paired by a new owner is ready to be provisioned.
                    self.nvm.set_lifecycle(Lifecycle::Factory);
                }
                self.wrote = true;
                conn.phase = Phase::Secure { channel, phone };
                let sn = self.nvm.sn.clone();
                (
                    cost,
                    vec![Out::Message(0, Body::Event(Event::PairConfirmed { sn }))],
                )
            }
            Err(HandshakeError::WrongCode) => {
                let now_ms = self.wall_ms(start);
                let (left, lock) = self.nvm.lockout.fail(now_ms);
                self.wrote = true;
                let mut close =
                    Close::new(CloseReason::WrongCode, "the pairing code did not match");
                close.attempts_left = Some(left);
                close.retry_after_ms = lock.map(|ms| u32::try_from(ms).unwrap_or(u32::MAX));
                (cost, vec![Out::Close(close)])
            }
            Err(_) => failed(cost, "PAIR3 did not verify"),
        }
    }

    /// RESUME1: a paired phone's Noise IK `m1`, answered with RESUME2 and a session.
    pub(super) fn on_resume1(
        &mut self,
        conn: &mut Connection,
        prologue: &[u8],
        body: &[u8],
    ) -> (Micros, Vec<Out>) {
        let cost = FRAME_US + 2 * CRYPTO_US;
        let seed = self.seed();
        let noise = self.noise_key();
        let paired = &self.nvm.paired_phones;
        match TerminalResume::on_resume1(&noise, prologue, body, |k| paired.contains(k), seed) {
            Ok((channel, resume2, phone)) => {
                conn.phase = Phase::Secure { channel, phone };
                (cost, vec![Out::Frame(FrameKind::Resume2, resume2)])
            }
            Err(HandshakeError::NotPaired) => (
                cost,
                vec![Out::Close(Close::new(
                    CloseReason::NotPaired,
                    "this phone is not paired with the terminal; pair again",
                ))],
            ),
            Err(_) => failed(cost, "RESUME1 did not verify"),
        }
    }
}
