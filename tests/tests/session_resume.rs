//! Reconnecting to a paired terminal: no code, one handshake round trip; a terminal with a
//! different identity key is refused while the pin stands; a phone the terminal does not
//! know is told so.

use posmate_core::session::SessionError;
use posmate_proto::frame::FrameKind;
use posmate_proto::message::{Request, Response};
use posmate_sim::{SimTerminal, TerminalConfig};
use posmate_sim_world::radio::faults::Direction;
use posmate_tests::*;

const SN: &str = "SN2026000401";

async fn paired(rig: &Rig, phone: &Phone) -> [u8; 32] {
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let (session, paired) = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect("pairs");
    session.close().await;
    paired.terminal_key
}

#[tokio::test]
async fn resume_needs_no_code_and_one_round_trip() {
    let rig = Rig::new(SN, 41);
    let phone = Phone::new(41);
    let key = paired(&rig, &phone).await;
    let before = rig.terminal.nvm_snapshot();

    let session = phone
        .resume(rig.connect(), &short_config())
        .await
        .expect("resumes");
    // Taken before the session's tasks ran (current-thread runtime): the handshake alone.
    let trace = rig.last_trace();
    assert_eq!(
        session_kinds(&trace, Direction::ToTerminal),
        [FrameKind::Hello, FrameKind::Resume1]
    );
    assert_eq!(
        session_kinds(&trace, Direction::ToPhone),
        [FrameKind::HelloAck, FrameKind::Resume2]
    );
    assert_eq!(session.terminal_key(), &key);
    assert_eq!(session.sn(), SN);

    match session.request(Request::GetInfo).await.expect("GetInfo") {
        Response::Info(info) => assert_eq!(info.sn, SN),
        other => panic!("unexpected {other:?}"),
    }
    session.close().await;
    let after = rig.terminal.nvm_snapshot();
    assert_eq!(after.paired_phones, before.paired_phones);
    assert_eq!(after.lockout, before.lockout);
}

#[tokio::test]
async fn different_terminal_key_is_refused_until_forgotten() {
    let rig = Rig::new(SN, 42);
    let phone = Phone::new(42);
    let key = paired(&rig, &phone).await;

    // Same SN, different identity: an impostor (or the terminal after a wipe).
    let impostor = SimTerminal::new(TerminalConfig::new(SN, 4242));
    let imp = Rig::with_terminal(impostor);
    assert_ne!(imp.static_key(), key);

    let err = phone
        .resume(imp.connect(), &short_config())
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, SessionError::PossibleImpostor { sn } if sn == SN),
        "{err:?}"
    );
    // The phone stopped after HELLO_ACK: nothing of the handshake reached the impostor.
    assert_eq!(
        session_kinds(&imp.last_trace(), Direction::ToTerminal),
        [FrameKind::Hello, FrameKind::Close]
    );

    let merchant = Merchant::new(&imp.terminal, Typing::Right);
    let err = phone
        .pair(imp.connect(), &merchant, &short_config())
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, SessionError::PossibleImpostor { sn } if sn == SN),
        "{err:?}"
    );
    assert!(
        merchant.seen.lock().unwrap().is_empty(),
        "no code asked for an impostor"
    );
    assert_eq!(phone.pin_of(SN), Some(key), "the pin stands");
    assert!(imp.paired_phones().is_empty());
    assert_eq!(imp.failures(), 0);

    // The merchant forgets the terminal: now it pairs, and the new key is pinned.
    assert!(phone.pins().forget(SN).unwrap());
    let new_key = paired(&imp, &phone).await;
    assert_eq!(new_key, imp.static_key());
    assert_eq!(phone.pin_of(SN), Some(new_key));
    let session = phone
        .resume(imp.connect(), &short_config())
        .await
        .expect("resumes the new one");
    session.close().await;
    // And the old terminal is now the stranger.
    let err = phone
        .resume(rig.connect(), &short_config())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, SessionError::PossibleImpostor { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn phone_the_terminal_does_not_know_gets_not_paired() {
    let rig = Rig::new(SN, 43);
    let phone = Phone::new(43);
    let key = paired(&rig, &phone).await;

    // Another phone that holds the right pin (it was paired, then unpaired itself) but
    // whose identity the terminal no longer knows.
    let other = Phone::new(44);
    paired(&rig, &other).await;
    let session = other
        .resume(rig.connect(), &short_config())
        .await
        .expect("resumes");
    assert!(matches!(
        session.request(Request::Unpair).await,
        Ok(Response::Done)
    ));
    drop(session);
    assert_eq!(rig.paired_phones(), vec![phone.public()]);
    assert_eq!(other.pin_of(SN), Some(key));

    tokio::task::yield_now().await;
    let err = other
        .resume(rig.connect(), &short_config())
        .await
        .expect_err("not paired");
    assert!(matches!(err, SessionError::NotPaired), "{err:?}");
    // The terminal said so after reading RESUME1.
    let trace = rig.last_trace();
    assert_eq!(
        session_kinds(&trace, Direction::ToTerminal),
        [FrameKind::Hello, FrameKind::Resume1]
    );
    assert_eq!(
        session_kinds(&trace, Direction::ToPhone),
        [FrameKind::HelloAck, FrameKind::Close]
    );

    // A phone with no pin at all is told locally, before any handshake.
    let stranger = Phone::new(45);
    let err = stranger
        .resume(rig.connect(), &short_config())
        .await
        .expect_err("not paired");
    assert!(matches!(err, SessionError::NotPaired), "{err:?}");

    // The known phone still resumes.
    let session = phone
        .resume(rig.connect(), &short_config())
        .await
        .expect("resumes");
    session.close().await;
}
