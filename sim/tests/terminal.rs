//! The simulated terminal, driven purely through protocol bytes by a test phone.

mod support;

use posmate_proto::frame::FrameKind;
use posmate_proto::gatt::{Lifecycle, Peripheral};
use posmate_proto::handshake::StaticKeypair;
use posmate_proto::keybundle;
use posmate_proto::message::{
    self, Body, CardPurpose, CloseReason, Envelope, ErrorCode, Event, Intent, PairingState,
    RecordKind, RecordStatus, Request, Response,
};
use posmate_proto::receipt::{self, ReceiptFields};
use posmate_sim::terminal::{Card, CardOutcome, KeypadError, Sale, Screen};
use posmate_sim::{SimTerminal, TerminalConfig};
use support::*;

const PAN: &str = "6222021234567890";
const CNY: u16 = 156;

fn phone(n: u8) -> StaticKeypair {
    StaticKeypair::from_seed([n; 32])
}

fn error_code(r: &Response) -> Option<ErrorCode> {
    match r {
        Response::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// Pairs, installs keys and signs on; returns the link and the pinned terminal key.
fn activated(term: &SimTerminal, me: &StaticKeypair) -> (Link, [u8; 32]) {
    activated_with(term, me, 65535)
}

fn activated_with(term: &SimTerminal, me: &StaticKeypair, max_frame: u16) -> (Link, [u8; 32]) {
    let mut link = Link::connect_with(term, 0, max_frame);
    let pinned = link.pair_shown(me);
    let Response::Info(info) = link.request(Request::GetInfo) else {
        panic!()
    };
    let r = link.request(Request::InstallKeys {
        bundle: bundle_for(&info.device_key, SN),
    });
    assert!(matches!(r, Response::KeysInstalled { .. }), "{r:?}");
    let r = link.request(Request::SignOn {
        terminal_no: "T0000001".into(),
        merchant_no: "M100000000000001".into(),
    });
    assert!(matches!(r, Response::SignedOn { .. }), "{r:?}");
    (link, pinned)
}

#[test]
fn pairing_with_the_shown_code_confirms_and_resume_needs_no_code() {
    let term = terminal(1);
    let me = phone(7);
    let mut link = Link::connect(&term, 0);
    let ack = link.hello(Intent::Pair);
    assert_eq!(ack.pairing, PairingState::Open);
    assert_eq!(ack.sn, SN);
    assert!(term.advertisement().pairing_open);
    link.disconnect();
    // Abandoned before PAIR3: nothing stored, nothing counted, window closed.
    assert!(!term.advertisement().pairing_open);
    assert!(term.nvm_snapshot().paired_phones.is_empty());

    let mut link = Link::connect(&term, 1_000_000);
    let pinned = link.pair_shown(&me);
    assert_eq!(term.nvm_snapshot().paired_phones, vec![me.public()]);
    assert_eq!(term.nvm_snapshot().lockout.failures, 0);
    assert_eq!(
        link.request(Request::Ping {
            payload: vec![1, 2]
        }),
        Response::Pong {
            payload: vec![1, 2]
        }
    );
    link.disconnect();

    let mut link = Link::connect(&term, 2_000_000);
    link.resume(&me, &pinned).unwrap();
    assert!(matches!(link.request(Request::GetInfo), Response::Info(_)));
    assert_eq!(term.screen(), Screen::Unactivated);
}

#[test]
fn unknown_phone_is_refused_on_resume() {
    let term = terminal(2);
    let mut link = Link::connect(&term, 0);
    let pinned = link.pair_shown(&phone(7));
    link.disconnect();
    let mut link = Link::connect(&term, 10);
    let close = link.resume(&phone(8), &pinned).unwrap_err();
    assert_eq!(close.reason, CloseReason::NotPaired);
    assert!(link.term.wants_disconnect());
}

#[test]
fn wrong_codes_count_lock_after_five_and_back_off_doubles() {
    let term = terminal(3);
    let me = phone(7);
    let mut now = 0;
    let attempt = |now: u64| {
        let mut link = Link::connect(&term, now);
        let shown = match link.hello(Intent::Pair).pairing {
            PairingState::Open => match term.screen() {
                Screen::PairingCode(c) => c,
                s => panic!("{s:?}"),
            },
            p => panic!("{p:?}"),
        };
        let wrong = format!("{:06}", (shown.parse::<u32>().unwrap() + 1) % 1_000_000);
        let Err(Ended::Close(c)) = link.pair(&me, &wrong) else {
            panic!("wrong code accepted")
        };
        assert!(link.term.wants_disconnect());
        link.disconnect();
        c
    };
    for left in (0..5u8).rev() {
        let c = attempt(now);
        assert_eq!(c.reason, CloseReason::WrongCode);
        assert_eq!(c.attempts_left, Some(left));
        now += 1_000_000;
    }
    // Locked: HELLO says so with the time left, PAIR1 gets pairing-locked.
    let mut link = Link::connect(&term, now);
    let ack = link.hello(Intent::Pair);
    assert_eq!(ack.pairing, PairingState::Locked);
    assert!(
        ack.retry_after_ms > 55_000 && ack.retry_after_ms <= 60_000,
        "{}",
        ack.retry_after_ms
    );
    assert!(matches!(term.screen(), Screen::Locked { .. }));
    assert!(term.advertisement().pairing_locked);
    link.disconnect();
    // After the lock, one more failure locks for 120 s.
    now += 61_000_000;
    let c = attempt(now);
    assert_eq!(c.retry_after_ms, Some(120_000));
    now += 121_000_000;
    let c = attempt(now);
    assert_eq!(c.retry_after_ms, Some(240_000));
    // Success resets the count.
    now += 241_000_000;
    let mut link = Link::connect(&term, now);
    link.pair_shown(&me);
    assert_eq!(term.nvm_snapshot().lockout.failures, 0);
}

#[test]
fn version_without_overlap_is_refused_with_the_range() {
    let term = terminal(4);
    let mut link = Link::connect(&term, 0);
    let close = link.hello_versions(2, 3, Intent::Pair).unwrap_err();
    assert_eq!(close.reason, CloseReason::VersionUnsupported);
    assert_eq!((close.min_version, close.max_version), (Some(1), Some(1)));
    assert!(link.term.wants_disconnect());
}

#[test]
fn out_of_order_frames_are_protocol_violations() {
    let term = terminal(5);
    let mut link = Link::connect(&term, 0);
    link.hello(Intent::Resume);
    link.send(FrameKind::Pair3, b"nonsense");
    assert_eq!(link.expect_close().reason, CloseReason::ProtocolViolation);
    // PAIR1 after HELLO{resume}: no window.
    let mut link = Link::connect(&term, 10);
    link.hello(Intent::Resume);
    link.send(
        FrameKind::Pair1,
        &message::encode(&message::Pair1 {
            spake: [0; 33],
            noise: vec![],
        }),
    );
    assert_eq!(link.expect_close().reason, CloseReason::PairingNotOpen);
}

#[test]
fn tampered_secure_frame_ends_the_session() {
    let term = terminal(6);
    let mut link = Link::connect(&term, 0);
    link.pair_shown(&phone(7));
    let mut body = link
        .channel
        .as_mut()
        .unwrap()
        .seal_envelope(&Envelope {
            id: 1,
            body: Body::Request(Request::GetInfo),
        })
        .unwrap();
    body[3] ^= 0x40;
    link.send(FrameKind::Secure, &body);
    let f = link.recv().expect("a CLOSE");
    assert_eq!(f.kind, FrameKind::Close);
    let close: message::Close = message::decode(&f.body).unwrap();
    assert_eq!(close.reason, CloseReason::DecryptFailed);
    assert!(link.term.wants_disconnect());
}

#[test]
fn activation_requests_enforce_lifecycle_and_keys() {
    let term = terminal(7);
    let other = SimTerminal::new(TerminalConfig::new("SN20260000B2", 70));
    let me = phone(7);
    let mut link = Link::connect(&term, 0);
    link.pair_shown(&me);
    // Nothing works out of order.
    let sign_on = || Request::SignOn {
        terminal_no: "T0000001".into(),
        merchant_no: "M100000000000001".into(),
    };
    assert_eq!(
        error_code(&link.request(sign_on())),
        Some(ErrorCode::WrongLifecycleState)
    );
    assert_eq!(
        error_code(&link.request(Request::ReadCard {
            purpose: CardPurpose::Settlement,
            timeout_ms: 1000
        })),
        Some(ErrorCode::WrongLifecycleState)
    );
    assert_eq!(
        error_code(&link.request(Request::SetLifecycle {
            state: Lifecycle::Activated
        })),
        Some(ErrorCode::WrongLifecycleState)
    );
    // A bundle sealed for another terminal does not open here.
    let wrong = bundle_for(&other.device_key(), SN);
    assert_eq!(
        error_code(&link.request(Request::InstallKeys { bundle: wrong })),
        Some(ErrorCode::KeyCheckFailed)
    );
    assert_eq!(
        error_code(&link.request(Request::InstallKeys {
            bundle: vec![1, 2, 3]
        })),
        Some(ErrorCode::KeyCheckFailed)
    );
    let Response::Info(info) = link.request(Request::GetInfo) else {
        panic!()
    };
    assert_eq!(info.lifecycle, Lifecycle::Factory);
    assert!(info.key_slots.is_empty());
    let Response::KeysInstalled { slots } = link.request(Request::InstallKeys {
        bundle: bundle_for(&info.device_key, SN),
    }) else {
        panic!()
    };
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0].kcv, keybundle::kcv(&[0x11; 16]));
    assert_eq!(slots[1].kcv, keybundle::kcv(&[0x22; 16]));
    let mismatch = Request::SignOn {
        terminal_no: "T9".into(),
        merchant_no: "M100000000000001".into(),
    };
    assert_eq!(
        error_code(&link.request(mismatch)),
        Some(ErrorCode::BadRequest)
    );
    assert!(matches!(link.request(sign_on()), Response::SignedOn { .. }));
    link.drain_events();
    assert!(link.events.contains(&Event::LifecycleChanged {
        state: Lifecycle::Activated
    }));
    assert_eq!(
        error_code(&link.request(Request::InstallKeys {
            bundle: bundle_for(&info.device_key, SN)
        })),
        Some(ErrorCode::WrongLifecycleState)
    );
    // Suspend and reopen.
    let Response::Info(i) = link.request(Request::SetLifecycle {
        state: Lifecycle::Suspended,
    }) else {
        panic!()
    };
    assert_eq!(i.lifecycle, Lifecycle::Suspended);
    assert_eq!(term.screen(), Screen::Suspended);
    assert_eq!(
        error_code(&link.request(sign_on())),
        Some(ErrorCode::WrongLifecycleState)
    );
    let Response::Info(i) = link.request(Request::SetLifecycle {
        state: Lifecycle::Activated,
    }) else {
        panic!()
    };
    assert_eq!(i.lifecycle, Lifecycle::Activated);
    assert_eq!(
        error_code(&link.request(Request::SetLifecycle {
            state: Lifecycle::Decommissioned
        })),
        Some(ErrorCode::WrongLifecycleState)
    );
    assert_eq!(i.terminal_no.as_deref(), Some("T0000001"));
    assert_eq!(
        error_code(&link.request(Request::CloseBatch { batch_no: 9 })),
        Some(ErrorCode::BatchMismatch)
    );
}

#[test]
fn card_reads_answer_time_out_and_refuse_a_second_read() {
    let term = terminal(8);
    let (mut link, _) = activated(&term, &phone(7));
    let id = link.send_request(Request::ReadCard {
        purpose: CardPurpose::Settlement,
        timeout_ms: 30_000,
    });
    link.pump();
    assert_eq!(
        term.screen(),
        Screen::PresentCard {
            purpose: CardPurpose::Settlement
        }
    );
    assert_eq!(
        error_code(&link.request(Request::ReadCard {
            purpose: CardPurpose::Credit,
            timeout_ms: 1
        })),
        Some(ErrorCode::Busy)
    );
    assert_eq!(
        term.present_card(link.now, Card::tap(PAN, "1229")),
        CardOutcome::Answered
    );
    let Response::CardRead {
        masked_pan,
        token,
        expiry,
        ..
    } = link.response(id)
    else {
        panic!()
    };
    assert_eq!(masked_pan.as_str(), "622202******7890");
    assert_eq!(expiry, "1229");
    assert!(!token.contains("1234567890"));
    // Timeout.
    let id = link.send_request(Request::ReadCard {
        purpose: CardPurpose::Credit,
        timeout_ms: 5_000,
    });
    link.pump();
    let deadline = term.next_wakeup().expect("a pending read has a deadline");
    link.now = deadline;
    assert_eq!(
        error_code(&link.response(id)),
        Some(ErrorCode::CardReadTimeout)
    );
    // A card held before the request answers it.
    assert_eq!(
        term.present_card(link.now, Card::tap(PAN, "1229")),
        CardOutcome::Held
    );
    let r = link.request(Request::ReadCard {
        purpose: CardPurpose::Credit,
        timeout_ms: 5_000,
    });
    assert!(matches!(r, Response::CardRead { .. }), "{r:?}");
}

#[test]
fn journal_pages_fit_max_frame_and_cover_every_record() {
    let term = terminal(9);
    // The phone accepts 2 KiB frames: pages must be cut to fit (the phone's wire would
    // refuse a larger frame and fail this test).
    let (mut link, _) = activated_with(&term, &phone(7), 2048);
    for i in 0..120u64 {
        term.ring_up(link.now + i * 61_000_000, &Sale::new(100 + i, CNY, PAN))
            .unwrap();
    }
    link.drain_events();
    assert!(link.events.contains(&Event::JournalAppended { head: 120 }));
    let mut from = 1;
    let mut pages = 0;
    let mut seen = Vec::new();
    loop {
        let Response::JournalPage {
            records,
            head,
            epoch,
        } = link.request(Request::ReadJournal {
            from_seq: from,
            max_records: 1000,
        })
        else {
            panic!()
        };
        assert_eq!(head, 120);
        assert_eq!(epoch, term.info().journal_epoch);
        if records.is_empty() {
            break;
        }
        pages += 1;
        for r in &records {
            assert_eq!(r.masked_pan.as_str(), "622202******7890");
            seen.push(r.seq);
        }
        from = records.last().unwrap().seq + 1;
    }
    assert!(
        pages > 2,
        "120 records cannot fit one 2048-byte frame ({pages} pages)"
    );
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());
    let Response::JournalPage { records, .. } = link.request(Request::ReadJournal {
        from_seq: 5,
        max_records: 3,
    }) else {
        panic!()
    };
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6, 7]);
}

#[test]
fn batch_totals_refunds_voids_declines_and_duplicates() {
    let term = terminal(10);
    let (mut link, _) = activated(&term, &phone(7));
    let t = link.now;
    let s1 = term.ring_up(t, &Sale::new(10_000, CNY, PAN)).unwrap();
    assert_eq!(s1.status, RecordStatus::Approved);
    // Same card, same amount, moments later: not charged twice.
    assert_eq!(
        term.ring_up(t + 5_000_000, &Sale::new(10_000, CNY, PAN)),
        Err(KeypadError::DuplicateSwipe {
            original_seq: s1.seq
        })
    );
    let s2 = term
        .ring_up(t + 6_000_000, &Sale::new(2_500, CNY, PAN))
        .unwrap();
    let declined = term
        .ring_up(t + 7_000_000, &Sale::new(999, CNY, "4000000000000002"))
        .unwrap();
    assert_eq!(declined.status, RecordStatus::Declined);
    let refund = term
        .ring_up(
            t + 8_000_000,
            &Sale::against(RecordKind::Refund, s1.seq, 4_000, CNY, PAN),
        )
        .unwrap();
    assert!(term
        .ring_up(
            t + 9_000_000,
            &Sale::against(RecordKind::Refund, s1.seq, 6_001, CNY, PAN)
        )
        .is_err());
    term.ring_up(
        t + 10_000_000,
        &Sale::against(RecordKind::Void, s2.seq, 2_500, CNY, PAN),
    )
    .unwrap();
    // The same amount again after the window is a new sale.
    let s3 = term
        .ring_up(t + 80_000_000, &Sale::new(10_000, CNY, PAN))
        .unwrap();
    assert_eq!(s3.seq, 6);
    link.now = t + 81_000_000;
    let Response::JournalPage { records, .. } = link.request(Request::ReadJournal {
        from_seq: 1,
        max_records: 10,
    }) else {
        panic!()
    };
    assert_eq!(records[refund.seq as usize - 1].kind, RecordKind::Refund);
    assert_eq!(records[refund.seq as usize - 1].orig_seq, Some(s1.seq));
    assert_eq!(
        records[declined.seq as usize - 1].status,
        RecordStatus::Declined
    );

    let Response::BatchClosed {
        batch_no,
        first_seq,
        last_seq,
        totals,
    } = link.request(Request::CloseBatch { batch_no: 1 })
    else {
        panic!()
    };
    assert_eq!((batch_no, first_seq, last_seq), (1, 1, 6));
    assert_eq!((totals.sale_count, totals.sale_minor), (3, 22_500));
    assert_eq!((totals.refund_count, totals.refund_minor), (1, 4_000));
    assert_eq!((totals.void_count, totals.void_minor), (1, 2_500));
    // Retrying a lost answer gives the same totals; a future batch is a mismatch.
    let again = link.request(Request::CloseBatch { batch_no: 1 });
    assert!(matches!(again, Response::BatchClosed { totals: ref t2, .. } if *t2 == totals));
    assert_eq!(
        error_code(&link.request(Request::CloseBatch { batch_no: 3 })),
        Some(ErrorCode::BatchMismatch)
    );
    let s4 = term.ring_up(link.now, &Sale::new(1, CNY, PAN)).unwrap();
    let Response::JournalPage { records, .. } = link.request(Request::ReadJournal {
        from_seq: s4.seq,
        max_records: 1,
    }) else {
        panic!()
    };
    assert_eq!(records[0].batch_no, 2);
}

#[test]
fn wipe_needs_a_settled_batch_and_returns_a_verifiable_receipt() {
    let term = terminal(11);
    let me = phone(7);
    let (mut link, pinned) = activated(&term, &me);
    term.ring_up(link.now, &Sale::new(500, CNY, PAN)).unwrap();
    let before = term.info();
    let nonce = [0x5A; 16];
    let r = link.request(Request::Wipe {
        nonce,
        reason: "deregistered".into(),
    });
    assert_eq!(error_code(&r), Some(ErrorCode::BatchMismatch));
    assert!(matches!(
        link.request(Request::CloseBatch { batch_no: 1 }),
        Response::BatchClosed { .. }
    ));
    let Response::WipeReceipt {
        sn,
        nonce: n,
        wiped_at_ms,
        journal_head,
        signature,
    } = link.request(Request::Wipe {
        nonce,
        reason: "deregistered".into(),
    })
    else {
        panic!()
    };
    assert_eq!((sn.as_str(), n, journal_head), (SN, nonce, 1));
    let fields = ReceiptFields {
        sn: &sn,
        nonce: &n,
        wiped_at_ms,
        journal_head,
    };
    assert_eq!(
        receipt::verify(&before.device_key, &fields, &signature),
        Ok(())
    );
    let tampered = ReceiptFields {
        journal_head: 0,
        ..fields
    };
    assert!(receipt::verify(&before.device_key, &tampered, &signature).is_err());
    assert_eq!(link.expect_close().reason, CloseReason::Bye);
    assert!(link.term.wants_disconnect());
    link.disconnect();

    let after = term.info();
    assert_eq!(after.lifecycle, Lifecycle::Decommissioned);
    assert_eq!(
        after.device_key, before.device_key,
        "the factory key survives"
    );
    assert_ne!(after.journal_epoch, before.journal_epoch);
    assert_eq!((after.journal_head, after.batch_no), (0, 1));
    assert!(after.key_slots.is_empty() && after.terminal_no.is_none());
    assert_eq!(term.screen(), Screen::Wiped);
    // A new identity: the old pin no longer matches, the phone is forgotten.
    let mut link = Link::connect(&term, link.now + 1);
    let ack = link.hello(Intent::Resume);
    assert_ne!(ack.static_key, pinned);
    link.disconnect();
    // A new owner pairs and the terminal is ready for provisioning again.
    let mut link = Link::connect(&term, link.now + 1);
    link.pair_shown(&phone(9));
    assert_eq!(term.info().lifecycle, Lifecycle::Factory);
}

#[test]
fn unpair_forgets_this_phone() {
    let term = terminal(12);
    let me = phone(7);
    let mut link = Link::connect(&term, 0);
    let pinned = link.pair_shown(&me);
    assert_eq!(link.request(Request::Unpair), Response::Done);
    assert_eq!(link.expect_close().reason, CloseReason::Bye);
    link.disconnect();
    let mut link = Link::connect(&term, 1);
    assert_eq!(
        link.resume(&me, &pinned).unwrap_err().reason,
        CloseReason::NotPaired
    );
}

#[test]
fn ninth_phone_evicts_the_oldest() {
    let term = terminal(13);
    let mut pinned = [0; 32];
    for n in 1..=9u8 {
        let mut link = Link::connect(&term, u64::from(n) * 1_000_000);
        pinned = link.pair_shown(&phone(n));
        link.disconnect();
    }
    assert_eq!(term.nvm_snapshot().paired_phones.len(), 8);
    let mut link = Link::connect(&term, 20_000_000);
    assert_eq!(
        link.resume(&phone(1), &pinned).unwrap_err().reason,
        CloseReason::NotPaired
    );
    let mut link = Link::connect(&term, 21_000_000);
    link.resume(&phone(2), &pinned).unwrap();
}

#[test]
fn pipelined_requests_never_overrun_and_a_stall_holds_credits_back() {
    let term = terminal(14);
    let mut link = Link::connect(&term, 0);
    link.pair_shown(&phone(7));
    link.term.stall_until(link.now + 500_000);
    let start = link.now;
    // Send as fast as credits allow; the phone waits when it has none.
    let mut ids = Vec::new();
    let mut answered = 0;
    while answered < 20 {
        while ids.len() < 20 && link.wire.can_send() {
            ids.push(link.send_request(Request::Ping {
                payload: vec![ids.len() as u8; 200],
            }));
        }
        match link.next_message() {
            Some(Body::Response(Response::Pong { .. })) => answered += 1,
            other => panic!("{other:?}"),
        }
    }
    let stats = term.stats();
    assert_eq!(stats.overruns, 0);
    assert!(
        stats.max_rx_occupancy <= 4 && stats.max_rx_occupancy >= 2,
        "{stats:?}"
    );
    assert!(link.now >= start + 500_000, "the stall delayed the answers");
}

#[test]
fn a_phone_that_ignores_credits_is_closed_for_overrun() {
    let term = terminal(15);
    let mut link = Link::connect(&term, 0);
    link.pair_shown(&phone(7));
    // Pretend to have a huge window: send 6 frames without waiting for credit.
    link.wire.set_peer_limits(64, 4096);
    link.term.stall_until(link.now + 1_000_000);
    for _ in 0..6 {
        let body = link
            .channel
            .as_mut()
            .unwrap()
            .seal_envelope(&Envelope {
                id: 1,
                body: Body::Request(Request::GetInfo),
            })
            .unwrap();
        link.send(FrameKind::Secure, &body);
    }
    assert!(term.stats().overruns >= 1);
    let close = loop {
        match link.next_message() {
            Some(Body::Close(c)) => break c,
            Some(_) => continue,
            None => panic!("no CLOSE"),
        }
    };
    assert_eq!(close.reason, CloseReason::Overrun);
    assert!(link.term.wants_disconnect());
}

#[test]
fn disconnect_before_pair3_completes_leaves_nothing_paired() {
    let term = terminal(16);
    let mut link = Link::connect(&term, 0);
    let me = phone(7);
    let ack = link.hello(Intent::Pair);
    let Screen::PairingCode(code) = term.screen() else {
        panic!()
    };
    let code = posmate_proto::handshake::PairingCode::parse(&code).unwrap();
    let (p, pair1) =
        posmate_proto::handshake::PhonePairing::start(&me, &code, SN, &link.prologue, [1; 32])
            .unwrap();
    link.send(FrameKind::Pair1, &message::encode(&pair1));
    let f = link.recv().unwrap();
    let (_, _, pair3) = p.on_pair2(&message::decode(&f.body).unwrap()).unwrap();
    assert_eq!(ack.pairing, PairingState::Open);
    link.send(FrameKind::Pair3, &pair3);
    // The link drops before the firmware finished writing the pairing.
    link.disconnect();
    assert!(term.nvm_snapshot().paired_phones.is_empty());
}

/// Runs one scripted session and returns every byte the terminal sent.
fn scripted(seed: u64) -> Vec<u8> {
    let term = terminal(seed);
    let (mut link, _) = activated(&term, &phone(7));
    term.ring_up(link.now, &Sale::new(1234, CNY, PAN)).unwrap();
    link.request(Request::ReadJournal {
        from_seq: 1,
        max_records: 10,
    });
    link.request(Request::CloseBatch { batch_no: 1 });
    link.request(Request::Wipe {
        nonce: [1; 16],
        reason: "test".into(),
    });
    link.pump();
    link.transcript
}

#[test]
fn same_seed_same_inputs_same_bytes() {
    let a = scripted(42);
    assert_eq!(a, scripted(42));
    assert_ne!(a, scripted(43));
}

#[test]
fn nvm_round_trip_keeps_pairing_journal_and_keys() {
    let term = terminal(17);
    let me = phone(7);
    let (mut link, pinned) = activated(&term, &me);
    term.ring_up(link.now, &Sale::new(777, CNY, PAN)).unwrap();
    link.pump();
    link.disconnect();
    let json = term.nvm_snapshot().to_json();
    let restored = SimTerminal::from_nvm(posmate_sim::terminal::Nvm::from_json(&json).unwrap());
    assert_eq!(restored.info(), term.info());
    let mut link = Link::connect(&restored, link.now + 1);
    link.resume(&me, &pinned).unwrap();
    let Response::JournalPage { records, .. } = link.request(Request::ReadJournal {
        from_seq: 1,
        max_records: 5,
    }) else {
        panic!()
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].amount_minor, 777);
    assert!(!format!("{:?}", term.nvm_snapshot()).contains("device_seed"));
}

#[test]
fn keypad_refuses_sales_before_activation() {
    let term = terminal(18);
    assert_eq!(
        term.ring_up(0, &Sale::new(1, CNY, PAN)),
        Err(KeypadError::NotInService)
    );
}
