//! A man in the middle of the first pairing. It relays HELLO / HELLO_ACK but puts its own
//! Noise static key in HELLO_ACK, answers the phone as the terminal and the terminal as a
//! phone, and runs SPAKE2 on both sides with a guessed code (it cannot read the screen).
//! The pairing fails and nothing is stored; a relay that changes nothing pairs fine.

use std::sync::{Arc, Mutex};

use posmate_core::session::SessionError;
use posmate_proto::frame::{encode_frame, FrameKind};
use posmate_proto::handshake::{
    prologue, PairingCode, PhonePairing, StaticKeypair, TerminalPairing,
};
use posmate_proto::message::{self, HelloAck, Pair1, Pair2, Request, Response};
use posmate_sim_world::radio::faults::{Direction, FaultPlan};
use posmate_tests::*;

const SN: &str = "SN2026000201";
const GUESS: &str = "000000";

#[derive(Default)]
struct Mitm {
    hello: Option<Vec<u8>>,
    prologue_phone: Vec<u8>,
    prologue_terminal: Vec<u8>,
    sn: String,
    towards_phone: Option<TerminalPairing>,
    pair2_for_phone: Option<Vec<u8>>,
    towards_terminal: Option<PhonePairing>,
    pair3_for_terminal: Option<Vec<u8>>,
    /// What the attacker learned: whether the phone's PAIR3 verified under its guess.
    phone_side_verified: Option<bool>,
}

fn frame(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    encode_frame(kind, body)
}

fn body(raw: &[u8]) -> &[u8] {
    &raw[1..raw.len() - 4]
}

impl Mitm {
    fn on_frames(&mut self, direction: Direction, frames: Vec<PathFrame>) -> Vec<PathFrame> {
        let mine = StaticKeypair::from_seed([0xA7; 32]);
        let code = PairingCode::parse(GUESS).unwrap();
        frames
            .into_iter()
            .map(|(ch, raw)| {
                let out = match (direction, kind_of(&raw)) {
                    (Direction::ToTerminal, Some(FrameKind::Hello)) => {
                        self.hello = Some(raw.clone());
                        raw
                    }
                    (Direction::ToPhone, Some(FrameKind::HelloAck)) => {
                        let hello = self.hello.clone().unwrap();
                        self.prologue_terminal = prologue(&hello, &raw);
                        let mut ack: HelloAck = message::decode(body(&raw)).unwrap();
                        self.sn = ack.sn.clone();
                        ack.static_key = mine.public();
                        let forged = frame(FrameKind::HelloAck, &message::encode(&ack));
                        self.prologue_phone = prologue(&hello, &forged);
                        forged
                    }
                    (Direction::ToTerminal, Some(FrameKind::Pair1)) => {
                        let pair1: Pair1 = message::decode(body(&raw)).unwrap();
                        let (t, pair2) = TerminalPairing::on_pair1(
                            &mine,
                            &code,
                            &self.sn,
                            &self.prologue_phone,
                            &pair1,
                            [1; 32],
                        )
                        .unwrap();
                        self.towards_phone = Some(t);
                        self.pair2_for_phone = Some(message::encode(&pair2));
                        let (p, my_pair1) = PhonePairing::start(
                            &mine,
                            &code,
                            &self.sn,
                            &self.prologue_terminal,
                            [2; 32],
                        )
                        .unwrap();
                        self.towards_terminal = Some(p);
                        frame(FrameKind::Pair1, &message::encode(&my_pair1))
                    }
                    (Direction::ToPhone, Some(FrameKind::Pair2)) => {
                        let pair2: Pair2 = message::decode(body(&raw)).unwrap();
                        let p = self.towards_terminal.take().unwrap();
                        let (_, _, pair3) = p.on_pair2(&pair2).expect("PAIR2 reads with any code");
                        self.pair3_for_terminal = Some(pair3);
                        frame(FrameKind::Pair2, &self.pair2_for_phone.take().unwrap())
                    }
                    (Direction::ToTerminal, Some(FrameKind::Pair3)) => {
                        let t = self.towards_phone.take().unwrap();
                        self.phone_side_verified = Some(t.on_pair3(body(&raw)).is_ok());
                        frame(FrameKind::Pair3, &self.pair3_for_terminal.take().unwrap())
                    }
                    _ => raw,
                };
                (ch, out)
            })
            .collect()
    }
}

#[tokio::test]
async fn key_substituting_relay_is_refused_and_counts_one_failure() {
    let rig = Rig::new(SN, 21);
    let phone = Phone::new(21);
    let mitm = Arc::new(Mutex::new(Mitm::default()));
    let m = mitm.clone();
    rig.faults(FaultPlan::new().on_path(frame_hook(move |d, f| m.lock().unwrap().on_frames(d, f))));

    // The merchant types the right code, read off the real terminal's screen.
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let err = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect_err("a man in the middle must not pair");
    let shown = merchant.seen.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_ne!(
        shown[0], GUESS,
        "the attacker's guess must be wrong for this test to mean anything"
    );
    assert!(
        matches!(err, SessionError::WrongCode { attempts_left: 4 }),
        "{err:?}"
    );

    let m = mitm.lock().unwrap();
    assert_eq!(
        m.phone_side_verified,
        Some(false),
        "the attacker learned nothing from the phone"
    );
    assert!(
        m.pair3_for_terminal.is_none(),
        "the attacker's PAIR3 reached the terminal"
    );
    drop(m);
    assert_eq!(phone.pin_of(SN), None, "nothing pinned");
    assert!(
        rig.paired_phones().is_empty(),
        "the terminal stored no phone"
    );
    assert_eq!(rig.failures(), 1, "one failed attempt");
}

#[tokio::test]
async fn passive_relay_pairs() {
    let rig = Rig::new(SN, 22);
    let phone = Phone::new(22);
    let relayed = Arc::new(Mutex::new(0usize));
    let r = relayed.clone();
    rig.faults(FaultPlan::new().on_path(frame_hook(move |_, f| {
        *r.lock().unwrap() += f.len();
        f
    })));
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let (session, paired) = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect("a relay that changes nothing pairs");
    assert!(
        *relayed.lock().unwrap() >= 6,
        "the relay carried the handshake"
    );
    assert_eq!(paired.terminal_key, rig.static_key());
    assert_eq!(phone.pin_of(SN), Some(rig.static_key()));
    assert_eq!(rig.paired_phones(), vec![phone.public()]);
    assert!(matches!(
        session.request(Request::GetInfo).await,
        Ok(Response::Info(_))
    ));
    session.close().await;
}
