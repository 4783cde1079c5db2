//! Two firmware guarantees the phone's decommission and history flows rely on: a wipe asked
//! for again with the same nonce returns the same receipt without erasing anything again,
//! and the terminal's clock never runs backwards across connections.

mod support;

use posmate_proto::gatt::Lifecycle;
use posmate_proto::handshake::StaticKeypair;
use posmate_proto::message::{CloseReason, Request, Response};
use posmate_proto::receipt::{self, ReceiptFields};
use posmate_sim::terminal::{Nvm, Sale};
use posmate_sim::SimTerminal;
use support::*;

const PAN: &str = "6222021234567890";
const CNY: u16 = 156;

fn phone(n: u8) -> StaticKeypair {
    StaticKeypair::from_seed([n; 32])
}

/// Installs keys and signs on over a paired session.
fn activate(link: &mut Link) {
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
}

fn wipe(link: &mut Link, nonce: [u8; 16]) -> Response {
    let r = link.request(Request::Wipe {
        nonce,
        reason: "deregistered".into(),
    });
    if matches!(r, Response::WipeReceipt { .. }) {
        assert_eq!(link.expect_close().reason, CloseReason::Bye);
        link.disconnect();
    }
    r
}

/// Wall-clock time of a sale rung up now on `link`.
fn sale_at(term: &SimTerminal, link: &mut Link, amount: u64) -> u64 {
    let booked = term
        .ring_up(link.now, &Sale::new(amount, CNY, PAN))
        .unwrap();
    link.drain_events();
    let Response::JournalPage { records, .. } = link.request(Request::ReadJournal {
        from_seq: booked.seq,
        max_records: 1,
    }) else {
        panic!()
    };
    records[0].at_ms
}

#[test]
fn same_nonce_returns_the_kept_receipt_without_erasing_again() {
    let term = terminal(31);
    let me = phone(7);
    let mut link = Link::connect(&term, 0);
    link.pair_shown(&me);
    activate(&mut link);
    term.ring_up(link.now, &Sale::new(500, CNY, PAN)).unwrap();
    link.drain_events();
    link.request(Request::CloseBatch { batch_no: 1 });
    let device_key = term.device_key();
    let nonce = [0x5A; 16];
    let first = wipe(&mut link, nonce);
    let Response::WipeReceipt {
        wiped_at_ms,
        journal_head,
        signature,
        ..
    } = first.clone()
    else {
        panic!("{first:?}")
    };
    assert_eq!(journal_head, 1);

    // The phone lost that answer. It pairs again (the wipe forgot it) and asks again.
    let mut link = Link::connect(&term, link.now + 1);
    let pinned = link.pair_shown(&me);
    assert_eq!(term.info().lifecycle, Lifecycle::Factory);
    let before = term.nvm_snapshot();
    assert_eq!(wipe(&mut link, nonce), first, "the very same receipt");
    let after = term.nvm_snapshot();
    assert_eq!(
        after.journal.epoch, before.journal.epoch,
        "journal not rewound"
    );
    assert_eq!(after.paired_phones, before.paired_phones, "pairings kept");
    assert_eq!(after.noise_secret, before.noise_secret, "identity kept");
    assert_eq!(
        after.lifecycle(),
        Lifecycle::Factory,
        "not decommissioned again"
    );
    let fields = ReceiptFields {
        sn: SN,
        nonce: &nonce,
        wiped_at_ms,
        journal_head,
    };
    assert_eq!(receipt::verify(&device_key, &fields, &signature), Ok(()));

    // Even re-activated with an unsettled batch, the kept receipt comes back and the new
    // owner's records stay.
    let mut link = Link::connect(&term, link.now + 1);
    link.resume(&me, &pinned).unwrap();
    activate(&mut link);
    term.ring_up(link.now, &Sale::new(700, CNY, PAN)).unwrap();
    link.drain_events();
    assert_eq!(wipe(&mut link, nonce), first);
    let info = term.info();
    assert_eq!(
        (info.lifecycle, info.journal_head),
        (Lifecycle::Activated, 1)
    );
    assert!(!info.key_slots.is_empty());

    // The receipt survives a power cycle; a new nonce is a new wipe that replaces it.
    let term = SimTerminal::from_nvm(Nvm::from_json(&term.nvm_snapshot().to_json()).unwrap());
    let mut link = Link::connect(&term, link.now + 1);
    link.resume(&me, &pinned).unwrap();
    assert_eq!(wipe(&mut link, nonce), first);
    let mut link = Link::connect(&term, link.now + 1);
    link.resume(&me, &pinned).unwrap();
    link.request(Request::CloseBatch { batch_no: 1 });
    let second = wipe(&mut link, [0x77; 16]);
    let Response::WipeReceipt {
        nonce: n2,
        wiped_at_ms: t2,
        journal_head: h2,
        ..
    } = second
    else {
        panic!("{second:?}")
    };
    assert_eq!((n2, h2), ([0x77; 16], 1));
    assert!(t2 > wiped_at_ms);
    assert_eq!(term.info().lifecycle, Lifecycle::Decommissioned);
    assert_eq!(
        term.nvm_snapshot().last_wipe.as_ref().map(|w| w.nonce),
        Some([0x77; 16])
    );
}

#[test]
fn a_wipe_cut_off_before_it_finished_keeps_no_receipt() {
    let term = terminal(32);
    let mut link = Link::connect(&term, 0);
    link.pair_shown(&phone(7));
    link.pump();
    link.send_request(Request::Wipe {
        nonce: [1; 16],
        reason: "test".into(),
    });
    // The link drops while the terminal is still erasing: the flash writes never completed.
    link.disconnect();
    let nvm = term.nvm_snapshot();
    assert!(nvm.last_wipe.is_none());
    assert_eq!(nvm.lifecycle(), Lifecycle::Factory);
}

#[test]
fn clock_continues_across_connections_that_restart_link_time() {
    let term = terminal(33);
    let me = phone(7);
    let mut link = Link::connect(&term, 0);
    let pinned = link.pair_shown(&me);
    activate(&mut link);
    let first = sale_at(&term, &mut link, 100);
    link.disconnect();

    // A radio that starts each connection's time at 0 again (as the core's simulated link
    // does): the terminal's clock carries on from where it stood.
    let mut link = Link::connect(&term, 0);
    link.resume(&me, &pinned).unwrap();
    let second = sale_at(&term, &mut link, 200);
    assert!(second > first, "{second} <= {first}");
    link.request(Request::CloseBatch { batch_no: 1 });
    let Response::WipeReceipt { wiped_at_ms, .. } = wipe(&mut link, [3; 16]) else {
        panic!()
    };
    assert!(wiped_at_ms >= second);

    // The clock is kept in flash: a power cycle does not rewind it either.
    let clock_us = term.nvm_snapshot().clock_us;
    assert!(clock_us > 0);
    let restored = SimTerminal::from_nvm(term.nvm_snapshot());
    assert_eq!(restored.nvm_snapshot().clock_us, clock_us);
    let mut link = Link::connect(&restored, 0);
    let pinned = link.pair_shown(&me);
    activate(&mut link);
    let third = sale_at(&restored, &mut link, 300);
    assert!(third > wiped_at_ms, "{third} <= {wiped_at_ms}");

    // A connection whose time is ahead of the clock (a link that says an hour went by)
    // moves the clock forward by that much.
    link.disconnect();
    let mut link = Link::connect(&restored, 0);
    link.now = restored.nvm_snapshot().clock_us + 3_600_000_000;
    link.resume(&me, &pinned).unwrap();
    let fourth = sale_at(&restored, &mut link, 400);
    assert!(
        (third + 3_600_000..third + 3_610_000).contains(&fourth),
        "{fourth} vs {third}"
    );
}
