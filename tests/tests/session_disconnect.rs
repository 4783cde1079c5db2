//! A link lost at any packet of pairing or resume leaves no half-paired state: the phone
//! pins nothing, the terminal stores nothing and counts no failed attempt, and the next
//! clean attempt succeeds.

use posmate_core::session::SessionError;
use posmate_proto::frame::FrameKind;
use posmate_sim_world::radio::faults::{Direction, FaultPlan, PacketRef};
use posmate_tests::*;

const SN: &str = "SN2026000501";
const SEED: u64 = 51;

/// A terminal that already counted one wrong code, and a phone that tried it.
async fn rig_with_one_failure() -> (Rig, Phone) {
    let rig = Rig::new(SN, SEED);
    let phone = Phone::new(SEED);
    let wrong = Merchant::new(&rig.terminal, Typing::Wrong);
    let err = phone
        .pair(rig.connect(), &wrong, &short_config())
        .await
        .expect_err("wrong code");
    assert!(
        matches!(err, SessionError::WrongCode { attempts_left: 4 }),
        "{err:?}"
    );
    (rig, phone)
}

fn packets(dir_to_terminal: bool, n: u64) -> impl Iterator<Item = PacketRef> {
    (0..n).map(move |i| {
        if dir_to_terminal {
            PacketRef::to_terminal(i)
        } else {
            PacketRef::to_phone(i)
        }
    })
}

#[tokio::test]
async fn disconnect_at_every_packet_of_pairing_leaves_no_half_pairing() {
    // A clean run tells how many packets each direction carries.
    let (rig, phone) = rig_with_one_failure().await;
    let merchant = Merchant::new(&rig.terminal, Typing::Right);
    let (session, _) = phone
        .pair(rig.connect(), &merchant, &short_config())
        .await
        .expect("pairs");
    // Read before the session's tasks ran (current-thread runtime): the pairing alone.
    let stats = rig.last_stats();
    session.close().await;
    let (x, y) = (stats.to_terminal.packets, stats.to_phone.packets);
    assert!(
        x >= 3 && y >= 3,
        "HELLO, PAIR1, PAIR3 / HELLO_ACK, PAIR2, PairConfirmed: {x}, {y}"
    );

    let mut cases = 0u64;
    let mut completed = Vec::new();
    for packet in packets(true, x).chain(packets(false, y)) {
        let (rig, phone) = rig_with_one_failure().await;
        let before = rig.terminal.nvm_snapshot();
        rig.faults(FaultPlan::new().disconnect_after(packet));
        let merchant = Merchant::new(&rig.terminal, Typing::Right);
        match phone.pair(rig.connect(), &merchant, &short_config()).await {
            Err(err) => {
                // Cancelled: the link dropped after HELLO_ACK and the code left the screen.
                assert!(
                    matches!(err, SessionError::Transport(_) | SessionError::Cancelled),
                    "{packet:?}: {err:?}"
                );
                assert_eq!(phone.pin_of(SN), None, "{packet:?}: pinned");
                let after = rig.terminal.nvm_snapshot();
                assert_eq!(
                    after.paired_phones, before.paired_phones,
                    "{packet:?}: terminal stored a phone"
                );
                assert_eq!(
                    after.lockout, before.lockout,
                    "{packet:?}: abandoned pairing counted"
                );
            }
            Ok((session, paired)) => {
                // The link went down only after PairConfirmed reached the phone: both
                // sides completed, which is not half-paired either.
                completed.push(packet);
                let confirmed = session_kinds(&rig.last_trace(), Direction::ToPhone)
                    .contains(&FrameKind::Secure);
                assert!(confirmed, "{packet:?}: paired without PairConfirmed");
                let confirmed = session_kinds(&rig.last_trace(), Direction::ToPhone)
                    .contains(&FrameKind::Secure);
                assert!(confirmed, "{packet:?}: paired without PairConfirmed");
                assert_eq!(phone.pin_of(SN), Some(paired.terminal_key));
                assert_eq!(rig.paired_phones(), vec![phone.public()], "{packet:?}");
                session.close().await;
            }
        }
        assert!(disconnected(&rig.last_trace()), "{packet:?}: link still up");
        // A clean attempt afterwards pairs.
        rig.faults(FaultPlan::new());
        let merchant = Merchant::new(&rig.terminal, Typing::Right);
        let (session, paired) = phone
            .pair(rig.connect(), &merchant, &short_config())
            .await
            .unwrap_or_else(|e| panic!("{packet:?}: clean pairing afterwards failed: {e}"));
        assert_eq!(paired.terminal_key, rig.static_key());
        assert_eq!(rig.paired_phones(), vec![phone.public()]);
        assert_eq!(rig.failures(), 0);
        session.close().await;
        cases += 1;
    }
    assert!(cases > 0);
    assert_eq!(cases, x + y);
    println!(
        "disconnect-at-every-packet: {cases} cases ({x} to terminal, {y} to phone), all clean \
         ({} completed on both sides after the last packet)",
        completed.len()
    );
}

#[tokio::test]
async fn disconnect_at_every_packet_of_resume_changes_nothing() {
    async fn paired_rig() -> (Rig, Phone) {
        let (rig, phone) = rig_with_one_failure().await;
        let merchant = Merchant::new(&rig.terminal, Typing::Right);
        let (session, _) = phone
            .pair(rig.connect(), &merchant, &short_config())
            .await
            .expect("pairs");
        session.close().await;
        (rig, phone)
    }
    let (rig, phone) = paired_rig().await;
    let session = phone
        .resume(rig.connect(), &short_config())
        .await
        .expect("resumes");
    let stats = rig.last_stats();
    session.close().await;
    let (x, y) = (stats.to_terminal.packets, stats.to_phone.packets);
    assert!(
        x >= 2 && y >= 2,
        "HELLO, RESUME1 / HELLO_ACK, RESUME2: {x}, {y}"
    );

    let mut cases = 0u64;
    let mut completed = 0;
    for packet in packets(true, x).chain(packets(false, y)) {
        let (rig, phone) = paired_rig().await;
        let before = rig.terminal.nvm_snapshot();
        let pin = phone.pin_of(SN);
        rig.faults(FaultPlan::new().disconnect_after(packet));
        match phone.resume(rig.connect(), &short_config()).await {
            Err(err) => assert!(
                matches!(err, SessionError::Transport(_)),
                "{packet:?}: {err:?}"
            ),
            Ok(session) => {
                let got = session_kinds(&rig.last_trace(), Direction::ToPhone)
                    .contains(&FrameKind::Resume2);
                assert!(got, "{packet:?}: resumed without RESUME2");
                completed += 1;
                session.close().await;
            }
        }
        let after = rig.terminal.nvm_snapshot();
        assert_eq!(after.paired_phones, before.paired_phones, "{packet:?}");
        assert_eq!(after.lockout, before.lockout, "{packet:?}");
        assert_eq!(phone.pin_of(SN), pin, "{packet:?}");
        assert!(disconnected(&rig.last_trace()), "{packet:?}: link still up");
        rig.faults(FaultPlan::new());
        let session = phone
            .resume(rig.connect(), &short_config())
            .await
            .unwrap_or_else(|e| panic!("{packet:?}: clean resume afterwards failed: {e}"));
        session.close().await;
        cases += 1;
    }
    assert!(cases > 0);
    assert_eq!(cases, x + y);
    println!(
        "disconnect-at-every-packet (resume): {cases} cases ({x} to terminal, {y} to phone), all clean \
         ({completed} completed after the last packet)"
    );
}
