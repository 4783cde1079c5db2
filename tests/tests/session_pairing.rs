//! First pairing through `posmate_core::session::pair` against a simulated terminal whose
//! code the merchant reads off its screen: right code, wrong codes and the lockout with its
//! growing back-off, and a cancelled code entry.

use std::time::Duration;

use posmate_core::session::SessionError;
use posmate_proto::frame::FrameKind;
use posmate_proto::message::{self, Close, CloseReason, HelloAck, Request, Response};
use posmate_proto::segment::Channel;
use posmate_sim::terminal::Screen;
use posmate_sim_world::radio::faults::{Direction, FaultPlan};
use posmate_sim_world::radio::trace::TraceKind;
use posmate_tests::*;

const SN: &str = "SN2026000001";

#[tokio::test]
async fn right_code_pairs_and_session_serves_requests() {
    let rig = Rig::new(SN, 1);
    let phone = Phone::new(1);
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let (session, paired) = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect("right code pairs");

    assert_eq!(paired.sn, SN);
    // The key the terminal announced in HELLO_ACK is the one we pinned.
    let acks: Vec<HelloAck> = frames_in(&rig.last_trace().notifications())
        .into_iter()
        .filter(|(ch, k, _)| *ch == Channel::Session && *k == FrameKind::HelloAck)
        .map(|(_, _, body)| message::decode(&body).unwrap())
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(paired.terminal_key, acks[0].static_key);
    assert_eq!(paired.terminal_key, rig.static_key());
    assert_eq!(phone.pin_of(SN), Some(paired.terminal_key));
    // The terminal now knows the phone.
    assert_eq!(rig.paired_phones(), vec![phone.public()]);
    assert_eq!(rig.failures(), 0);
    assert_eq!(merchant.seen.lock().unwrap().len(), 1);

    match session.request(Request::GetInfo).await.expect("GetInfo") {
        Response::Info(info) => {
            assert_eq!(info.sn, SN);
            assert_eq!(info.device_key, rig.terminal.device_key());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(session.is_open());
    session.close().await;
}

/// One pairing attempt with a wrong code on a fresh connection.
async fn wrong_attempt(rig: &Rig, phone: &Phone) -> SessionError {
    let merchant = Merchant::new(&rig.terminal, Typing::Wrong);
    let err = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect_err("a wrong code must not pair");
    assert_eq!(phone.pin_of(SN), None, "nothing pinned after {err:?}");
    err
}

/// The CLOSE the terminal sent on the latest connection.
fn last_close(rig: &Rig) -> Close {
    let frames = frames_in(&rig.last_trace().notifications());
    let (_, _, body) = frames
        .iter()
        .rev()
        .find(|(_, k, _)| *k == FrameKind::Close)
        .expect("the terminal sent CLOSE");
    message::decode(body).unwrap()
}

/// Link time (µs) at which the terminal received the latest connection's last write.
fn last_write_at(rig: &Rig) -> u64 {
    rig.last_trace()
        .events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, TraceKind::Write { .. }))
        .map(|e| e.t)
        .unwrap()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::test]
async fn wrong_codes_lock_out_with_growing_back_off_and_right_code_resets() {
    let rig = Rig::new(SN, 2);
    let phone = Phone::new(2);

    // Four wrong codes: 4, 3, 2, 1 attempts left.
    let mut left = Vec::new();
    for _ in 0..4 {
        match wrong_attempt(&rig, &phone).await {
            SessionError::WrongCode { attempts_left } => left.push(attempts_left),
            other => panic!("expected WrongCode, got {other:?}"),
        }
    }
    assert_eq!(left, [4, 3, 2, 1]);
    assert_eq!(rig.failures(), 4);

    // The fifth locks: the terminal says 0 left and locks for 60 s.
    let fifth = wrong_attempt(&rig, &phone).await;
    assert!(
        matches!(fifth, SessionError::WrongCode { attempts_left: 0 }),
        "{fifth:?}"
    );
    let close = last_close(&rig);
    assert_eq!(close.reason, CloseReason::WrongCode);
    assert_eq!(close.retry_after_ms, Some(60_000));
    assert_eq!(rig.failures(), 5);

    // While locked, pairing stops at HELLO_ACK with about 60 s to wait; no code is shown.
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let locked = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect_err("locked");
    let SessionError::PairingLocked { retry_after } = locked else {
        panic!("expected PairingLocked, got {locked:?}");
    };
    assert!(
        (59.0..=60.5).contains(&secs(retry_after)),
        "retry after {retry_after:?}"
    );
    assert!(
        merchant.seen.lock().unwrap().is_empty(),
        "no code while locked"
    );
    assert!(
        matches!(rig.terminal.screen(), Screen::Locked { .. }),
        "{:?}",
        rig.terminal.screen()
    );
    assert_eq!(rig.failures(), 5, "a refused attempt is not a failure");

    // The terminal's clock is the link's virtual time: a connection whose packets reach the
    // terminal 61 s late happens after the lock expired. A further wrong code locks for 120 s.
    rig.faults(FaultPlan::new().extra_latency(Direction::ToTerminal, 61_000_000));
    let sixth = wrong_attempt(&rig, &phone).await;
    assert!(
        matches!(sixth, SessionError::WrongCode { attempts_left: 0 }),
        "{sixth:?}"
    );
    assert_eq!(last_close(&rig).retry_after_ms, Some(120_000));
    assert_eq!(rig.failures(), 6);
    let failed_at = last_write_at(&rig);

    // Seen from just after that failure, pairing is locked for about 120 s.
    rig.faults(FaultPlan::new().extra_latency(Direction::ToTerminal, failed_at));
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let locked = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect_err("locked again");
    let SessionError::PairingLocked { retry_after } = locked else {
        panic!("expected PairingLocked, got {locked:?}");
    };
    assert!(
        (119.0..=120.0).contains(&secs(retry_after)),
        "retry after {retry_after:?}"
    );

    // After the 120 s, the right code pairs and resets the counter.
    rig.faults(FaultPlan::new().extra_latency(Direction::ToTerminal, failed_at + 121_000_000));
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let (session, paired) = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect("right code after the lock expired pairs");
    session.close().await;
    assert_eq!(phone.pin_of(SN), Some(paired.terminal_key));
    assert_eq!(rig.paired_phones(), vec![phone.public()]);
    let nvm = rig.terminal.nvm_snapshot();
    assert_eq!(nvm.lockout.failures, 0);

    // Counting starts again from the top.
    let other = Phone::new(3);
    rig.faults(FaultPlan::new());
    match wrong_attempt(&rig, &other).await {
        SessionError::WrongCode { attempts_left } => assert_eq!(attempts_left, 4),
        other => panic!("expected WrongCode, got {other:?}"),
    }
}

#[tokio::test]
async fn cancelled_code_entry_counts_no_failure() {
    let rig = Rig::new(SN, 4);
    let phone = Phone::new(4);
    let merchant = Merchant::new(&rig.terminal, Typing::Cancel);
    let err = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect_err("cancelled");
    assert!(matches!(err, SessionError::Cancelled), "{err:?}");
    assert_eq!(merchant.seen.lock().unwrap().len(), 1, "the code was shown");
    assert_eq!(rig.failures(), 0);
    assert!(rig.paired_phones().is_empty());
    assert_eq!(phone.pin_of(SN), None);
    assert!(disconnected(&rig.last_trace()));
    assert!(
        !matches!(rig.terminal.screen(), Screen::PairingCode(_)),
        "the code is no longer shown"
    );
    // The terminal never got past HELLO: no PAIR1 was sent.
    let kinds = session_kinds(&rig.last_trace(), Direction::ToTerminal);
    assert_eq!(kinds, [FrameKind::Hello, FrameKind::Close]);
}
