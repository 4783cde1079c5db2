//! A running session under an on-path attacker working on whole frames: a replayed,
//! reordered, forged (bit flip, CRC recomputed so it reaches the AEAD) or truncated SECURE
//! frame, in either direction, is rejected and ends the session on both sides.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use posmate_core::session::{Session, SessionError};
use posmate_core::transport::DisconnectReason;
use posmate_proto::frame::FrameKind;
use posmate_proto::message::{self, Close, CloseReason, Request, Response};
use posmate_proto::segment::Channel;
use posmate_sim_world::radio::faults::{Direction, FaultPlan};
use posmate_sim_world::radio::trace::TraceKind;
use posmate_tests::*;

const SN: &str = "SN2026000301";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    Replay,
    Reorder,
    Forge,
    Truncate,
}

/// The attacker's state; it acts only once armed (the session is up and has been used).
struct Attacker {
    attack: Attack,
    target: Direction,
    armed: Arc<AtomicBool>,
    last_secure: Option<Vec<u8>>,
    held: Option<Vec<u8>>,
    done: bool,
}

impl Attacker {
    fn on_frames(&mut self, direction: Direction, frames: Vec<PathFrame>) -> Vec<PathFrame> {
        let mut out = Vec::new();
        for (channel, mut frame) in frames {
            let secure = channel == Channel::Session && kind_of(&frame) == Some(FrameKind::Secure);
            if !secure || direction != self.target || self.done {
                out.push((channel, frame));
                continue;
            }
            if !self.armed.load(Ordering::SeqCst) {
                self.last_secure = Some(frame.clone());
                out.push((channel, frame));
                continue;
            }
            match self.attack {
                Attack::Replay => {
                    // An old, genuine frame in place of the new one.
                    let old = self
                        .last_secure
                        .clone()
                        .expect("a frame was seen before arming");
                    out.push((channel, old));
                    self.done = true;
                }
                Attack::Reorder => match self.held.take() {
                    None => self.held = Some(frame),
                    Some(first) => {
                        out.push((channel, frame));
                        out.push((channel, first));
                        self.done = true;
                    }
                },
                Attack::Forge => {
                    // One bit of the ciphertext (after the kind byte and a few bytes in).
                    frame[4] ^= 0x01;
                    fix_crc(&mut frame);
                    out.push((channel, frame));
                    self.done = true;
                }
                Attack::Truncate => {
                    // The last byte of the tag goes missing.
                    let n = frame.len();
                    frame.remove(n - 5);
                    fix_crc(&mut frame);
                    out.push((channel, frame));
                    self.done = true;
                }
            }
        }
        out
    }
}

async fn paired_rig() -> (Rig, Phone) {
    let rig = Rig::new(SN, 31);
    let phone = Phone::new(31);
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let (session, _) = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect("pairs");
    session.close().await;
    (rig, phone)
}

async fn wait_for_disconnect(rig: &Rig) -> DisconnectReason {
    for _ in 0..200 {
        let trace = rig.last_trace();
        if let Some(reason) = trace.events.iter().find_map(|e| match &e.kind {
            TraceKind::Disconnect { reason } => Some(reason.clone()),
            _ => None,
        }) {
            return reason;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the link stayed up after tampering");
}

fn ping(n: u8) -> Request {
    Request::Ping {
        payload: vec![n; 8],
    }
}

fn assert_rejected(result: Result<Response, SessionError>, what: &str) {
    match result {
        Err(SessionError::Security(_)) | Err(SessionError::Closed(_)) => {}
        other => panic!("{what}: expected Security or Closed, got {other:?}"),
    }
}

async fn run(attack: Attack, target: Direction) {
    let (rig, phone) = paired_rig().await;
    let armed = Arc::new(AtomicBool::new(false));
    let mut attacker = Attacker {
        attack,
        target,
        armed: armed.clone(),
        last_secure: None,
        held: None,
        done: false,
    };
    rig.faults(FaultPlan::new().on_path(frame_hook(move |d, f| attacker.on_frames(d, f))));
    let session: Session = phone
        .resume(rig.connect(), &short_config())
        .await
        .expect("resumes");
    // The untouched session works through the attacker.
    assert!(matches!(
        session.request(ping(1)).await,
        Ok(Response::Pong { .. })
    ));

    armed.store(true, Ordering::SeqCst);
    let what = format!("{attack:?} {target:?}");
    if attack == Attack::Reorder {
        let (a, b) = tokio::join!(session.request(ping(2)), session.request(ping(3)));
        assert_rejected(a, &what);
        assert_rejected(b, &what);
    } else {
        assert_rejected(session.request(ping(2)).await, &what);
    }
    assert!(!session.is_open(), "{what}: session still open");
    assert!(
        matches!(session.request(ping(4)).await, Err(SessionError::Closed(_))),
        "{what}: a torn-down session refuses new requests"
    );

    // The terminal side dropped the connection too.
    let reason = wait_for_disconnect(&rig).await;
    let trace = rig.last_trace();
    if target == Direction::ToTerminal {
        // The terminal detected it: CLOSE decrypt-failed, then it disconnected.
        assert_eq!(reason, DisconnectReason::RemoteClosed, "{what}");
        let closes: Vec<Close> = frames_in(&trace.notifications())
            .into_iter()
            .filter(|(_, k, _)| *k == FrameKind::Close)
            .map(|(_, _, b)| message::decode(&b).unwrap())
            .collect();
        assert_eq!(closes.len(), 1, "{what}");
        assert_eq!(closes[0].reason, CloseReason::DecryptFailed, "{what}");
    } else {
        // The phone detected it and dropped the link.
        assert_eq!(reason, DisconnectReason::LocalRequest, "{what}");
    }
    drop(session);

    // Nothing was changed for good: a fresh connection without the attacker resumes.
    rig.faults(FaultPlan::new());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = phone
        .resume(rig.connect(), &short_config())
        .await
        .expect("resumes again");
    assert!(matches!(
        again.request(Request::GetInfo).await,
        Ok(Response::Info(_))
    ));
    again.close().await;
    assert_eq!(rig.paired_phones(), vec![phone.public()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_frame_to_terminal_ends_session() {
    run(Attack::Replay, Direction::ToTerminal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_frame_to_phone_ends_session() {
    run(Attack::Replay, Direction::ToPhone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_frames_to_terminal_end_session() {
    run(Attack::Reorder, Direction::ToTerminal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_frames_to_phone_end_session() {
    run(Attack::Reorder, Direction::ToPhone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_frame_to_terminal_ends_session() {
    run(Attack::Forge, Direction::ToTerminal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_frame_to_phone_ends_session() {
    run(Attack::Forge, Direction::ToPhone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_to_terminal_ends_session() {
    run(Attack::Truncate, Direction::ToTerminal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_to_phone_ends_session() {
    run(Attack::Truncate, Direction::ToPhone).await;
}
