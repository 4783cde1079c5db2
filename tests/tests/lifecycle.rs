//! Every lifecycle flow end to end against the simulated terminal and acquirer, through the
//! same `Companion` the CLI and the apps drive.

use posmate_core::acquirer::{AcquirerError, CardPurposeKind};
use posmate_core::error::Error;
use posmate_core::flows::{
    ActivationOutcome, BackupSpec, BindInput, CardSourceInput, DecommissionInput, FlowControl,
    ReplacementInput, ReplacementOutcome,
};
use posmate_core::store::{HistoryQuery, TerminalState};
use posmate_proto::gatt::Lifecycle;
use posmate_sim::acquirer::Review;
use posmate_sim::terminal::Card;
use posmate_tests::world::*;
use zeroize::Zeroizing;

const SETTLEMENT_PAN: &str = "6222021234567890128";

fn ctl() -> FlowControl {
    FlowControl::default()
}

fn history(sn: Option<&str>) -> HistoryQuery {
    HistoryQuery {
        sn: sn.map(str::to_owned),
        merchant_no: None,
        from_ms: None,
        to_ms: None,
        kinds: Vec::new(),
        min_minor: None,
        max_minor: None,
        limit: 500,
        after: None,
    }
}

fn bind_from_terminal(w: &World, i: usize) -> BindInput {
    w.terminals[i].present_card(w.terminals[i].link_now(), Card::tap(SETTLEMENT_PAN, "1229"));
    BindInput {
        merchant_no: MERCHANT_NO.into(),
        purpose: CardPurposeKind::Settlement,
        holder_name: MERCHANT_NAME.into(),
        source: CardSourceInput::Terminal {
            sn: w.sn(i),
            timeout_ms: 5_000,
        },
    }
}

fn manual(pan: &str, purpose: CardPurposeKind, holder: &str) -> BindInput {
    BindInput {
        merchant_no: MERCHANT_NO.into(),
        purpose,
        holder_name: holder.into(),
        source: CardSourceInput::Manual {
            pan: Zeroizing::new(pan.into()),
            expiry: "0330".into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_s_whole_life() {
    let w = World::new(1, 11, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.pair(&phone, 0).await;
    assert_eq!(phone.terminal(&sn).unwrap().state, TerminalState::Paired);

    let ActivationOutcome::Activated {
        terminal_no,
        key_slots,
        ..
    } = phone.activate(w.activation(0), &ctl()).await.unwrap()
    else {
        panic!("instant review activates")
    };
    assert_eq!(terminal_no, terminal_no_of(0));
    assert_eq!(key_slots.len(), 3);
    assert_eq!(
        phone.info(&sn).await.unwrap().lifecycle,
        Lifecycle::Activated
    );
    assert_eq!(phone.terminal(&sn).unwrap().state, TerminalState::Activated);

    let card = phone
        .bind_card(bind_from_terminal(&w, 0), &ctl())
        .await
        .unwrap();
    assert_eq!(card.masked_pan.as_str(), "622202*********0128");
    assert_eq!(phone.cards(MERCHANT_NO).unwrap().len(), 1);

    let mut total = 0;
    for k in 0..25u64 {
        w.sale(0, 1_000 + k);
        total += 1_000 + k;
    }
    let synced = phone.sync(&sn, &ctl()).await.unwrap();
    assert_eq!((synced.inserted, synced.last_seq), (25, 25));
    let again = phone.sync(&sn, &ctl()).await.unwrap();
    assert_eq!(again.inserted, 0, "a second sync fetches nothing");
    assert_eq!(
        phone.history(&history(Some(&sn))).unwrap().records.len(),
        25
    );

    let settled = phone.settle(&sn, &ctl()).await.unwrap();
    assert!(settled.matched, "{settled:?}");
    assert_eq!(settled.terminal.sale_count, 25);
    assert_eq!(settled.terminal.sale_minor, total);

    let path = w.backup_path("t0.age");
    let d = phone
        .decommission(
            DecommissionInput {
                sn: sn.clone(),
                reason: "shop closed".into(),
                backup: BackupSpec::Write {
                    path: path.clone(),
                    passphrase: passphrase(),
                },
            },
            &ctl(),
        )
        .await
        .unwrap();
    assert_eq!(d.backup_records, 25);
    assert_eq!(d.journal_head, 25);
    assert!(d.deregistration_ref.starts_with("DRG-"));
    assert!(
        phone.terminal(&sn).is_err(),
        "the phone forgot the terminal"
    );
    assert_eq!(phone.history(&history(Some(&sn))).unwrap().records.len(), 0);
    assert!(phone
        .secrets()
        .list()
        .unwrap()
        .iter()
        .all(|n| !n.contains(&sn)));
    assert_eq!(
        w.terminals[0].info().lifecycle,
        Lifecycle::Decommissioned,
        "wiped, waiting for its next owner"
    );
    assert!(w.terminals[0].info().key_slots.is_empty());
    let audit = phone.verify_audit().unwrap();
    assert!(audit.entries >= 6, "{audit:?}");
    let restored = phone.backup_verify(&path, &passphrase()).unwrap();
    assert_eq!(restored.records, 25);

    // Another merchant can now take the terminal over.
    let other = World::new(0, 12, Review::Instant);
    drop(other);
    w.acquirer.register_terminal(
        &sn,
        w.terminals[0].device_key(),
        &terminal_no_of(0),
        "NEXT0001",
    );
    let phone2 = w.phone_with({
        let mut c = w.config();
        c.data_dir = w.backup_path("phone2");
        c
    });
    w.pair(&phone2, 0).await;
    let mut input = w.activation(0);
    input.merchant_no = OTHER_MERCHANT_NO.into();
    input.merchant.legal_name = "Li Si Tea House".into();
    input.activation_code = Zeroizing::new("NEXT0001".into());
    let outcome = phone2.activate(input, &ctl()).await.unwrap();
    assert!(
        matches!(outcome, ActivationOutcome::Activated { .. }),
        "{outcome:?}"
    );
}

fn terminal_no_of(i: usize) -> String {
    terminal_no(i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_review_is_polled_until_approved() {
    let w = World::new(1, 13, Review::AfterPolls(2));
    let phone = w.phone();
    let sn = w.sn(0);
    w.pair(&phone, 0).await;
    let first = phone.activate(w.activation(0), &ctl()).await.unwrap();
    let ActivationOutcome::Pending { application_id, .. } = first else {
        panic!("{first:?}")
    };
    assert!(application_id.starts_with("APP-"));
    assert_eq!(
        phone.terminal(&sn).unwrap().state,
        TerminalState::Activating
    );
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Factory);
    // The app is killed while the review runs; a new start polls the same application.
    drop(phone);
    let phone = w.phone();
    let mut polls = 0;
    let done = loop {
        polls += 1;
        match phone.activation_status(&sn, &ctl()).await.unwrap() {
            ActivationOutcome::Pending {
                application_id: a, ..
            } => assert_eq!(a, application_id, "same application, no second submission"),
            done => break done,
        }
        assert!(polls < 5);
    };
    assert!(matches!(done, ActivationOutcome::Activated { .. }));
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Activated);
    assert!(phone.open_flows().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_activation_says_why_and_changes_nothing() {
    let w = World::new(
        1,
        14,
        Review::Reject {
            reason_code: "KYC-ADDRESS".into(),
            reason: "the business address could not be verified".into(),
        },
    );
    let phone = w.phone();
    let sn = w.sn(0);
    w.pair(&phone, 0).await;
    let pending = phone.activate(w.activation(0), &ctl()).await.unwrap();
    assert!(matches!(pending, ActivationOutcome::Pending { .. }));
    let err = phone.activation_status(&sn, &ctl()).await.unwrap_err();
    let Error::ActivationRejected {
        reason_code,
        reason,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(reason_code, "KYC-ADDRESS");
    assert!(reason.contains("address"));
    assert_eq!(err.code(), "activation-rejected");
    assert!(!err.user_action().is_empty());
    assert_eq!(phone.terminal(&sn).unwrap().state, TerminalState::Paired);
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Factory);
    assert!(phone.open_flows().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_merchant_s_terminal_is_refused_until_deregistered() {
    let w = World::new(1, 15, Review::Instant);
    let sn = w.sn(0);
    // Another merchant's phone activated this terminal first.
    let theirs = w.phone_with({
        let mut c = w.config();
        c.data_dir = w.backup_path("their-phone");
        c
    });
    w.pair(&theirs, 0).await;
    let mut input = w.activation(0);
    input.merchant_no = OTHER_MERCHANT_NO.into();
    input.merchant.legal_name = "Li Si Tea House".into();
    theirs.activate(input, &ctl()).await.unwrap();
    theirs.disconnect_all().await;

    let ours = w.phone();
    w.pair(&ours, 0).await;
    let err = ours.activate(w.activation(0), &ctl()).await.unwrap_err();
    assert!(
        matches!(err, Error::AlreadyActivated { ref merchant_no, .. } if merchant_no == OTHER_MERCHANT_NO),
        "{err:?}"
    );
    assert_eq!(ours.terminal(&sn).unwrap().state, TerminalState::Activated);
    assert_eq!(
        w.terminals[0].info().merchant_no.as_deref(),
        Some(OTHER_MERCHANT_NO),
        "nothing changed on the terminal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dormancy_is_warned_and_reopened() {
    let w = World::new(1, 16, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    w.sale(0, 500);
    let fresh = phone.dormancy(&sn).await.unwrap();
    assert!(!fresh.warning, "{fresh:?}");
    w.acquirer.advance(80 * 86_400_000);
    let near = phone.dormancy(&sn).await.unwrap();
    assert!(near.warning && near.state == "active", "{near:?}");
    assert_eq!(near.days_left, Some(10));
    w.acquirer.advance(11 * 86_400_000);
    let dormant = phone.dormancy(&sn).await.unwrap();
    assert_eq!(dormant.state, "dormant");
    let asked = phone.reopen(&sn).await.unwrap();
    assert_eq!(asked, "pending");
    w.acquirer.advance(posmate_sim::acquirer::REOPEN_REVIEW_MS);
    let reopened = phone.dormancy(&sn).await.unwrap();
    assert_eq!(reopened.state, "active", "{reopened:?}");
    assert!(!reopened.warning);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_rules_hold() {
    let w = World::new(1, 17, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;

    // Typed cards are checked before anything is stored or sent.
    for (pan, code) in [
        ("4111111111111112", "card-number-check-digit"),
        ("41111111", "card-number-length"),
        ("4111-1111-abcd-1111", "card-number-not-digits"),
    ] {
        let err = phone
            .bind_card(manual(pan, CardPurposeKind::Credit, MERCHANT_NAME), &ctl())
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{pan}");
    }
    let err = phone
        .bind_card(
            manual("4111111111111111", CardPurposeKind::Credit, "Wang Wu"),
            &ctl(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Acquirer(AcquirerError::NameMismatch)),
        "{err:?}"
    );
    assert!(phone.cards(MERCHANT_NO).unwrap().is_empty());

    let first = phone
        .bind_card(bind_from_terminal(&w, 0), &ctl())
        .await
        .unwrap();
    let second = phone
        .bind_card(
            manual(
                "6217001234567893",
                CardPurposeKind::Settlement,
                MERCHANT_NAME,
            ),
            &ctl(),
        )
        .await
        .unwrap();
    assert_eq!(second.issuer, "China Construction Bank (UnionPay)");
    let cards = phone.cards(MERCHANT_NO).unwrap();
    assert_eq!(
        cards.len(),
        1,
        "one settlement card: the new one replaced the old"
    );
    assert_eq!(cards[0].binding_id, second.binding_id);
    assert_ne!(first.binding_id, second.binding_id);

    let err = phone
        .unbind_card(MERCHANT_NO, &second.binding_id, &ctl())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "settlement-card-required", "{err:?}");

    let credit = phone
        .bind_card(
            manual("4111111111111111", CardPurposeKind::Credit, MERCHANT_NAME),
            &ctl(),
        )
        .await
        .unwrap();
    w.sale(0, 4_200);
    let err = phone
        .unbind_card(MERCHANT_NO, &credit.binding_id, &ctl())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsettledBatch { records: 1, .. }),
        "{err:?}"
    );
    assert_eq!(phone.cards(MERCHANT_NO).unwrap().len(), 2);
    phone.settle(&sn, &ctl()).await.unwrap();
    phone
        .unbind_card(MERCHANT_NO, &credit.binding_id, &ctl())
        .await
        .unwrap();
    assert_eq!(phone.cards(MERCHANT_NO).unwrap().len(), 1);
    assert_eq!(phone.acquirer_cards(MERCHANT_NO).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_and_pages_without_gaps() {
    let w = World::new(1, 18, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    for k in 0..120u64 {
        w.sale(0, 100 + k);
    }
    phone.sync(&sn, &ctl()).await.unwrap();
    let mut q = history(Some(&sn));
    q.limit = 7;
    let mut seen = Vec::new();
    loop {
        let page = phone.history(&q).unwrap();
        seen.extend(page.records.iter().map(|r| r.record.seq));
        match page.next {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());
    let mut q = history(Some(&sn));
    q.min_minor = Some(150);
    q.max_minor = Some(159);
    assert_eq!(phone.history(&q).unwrap().records.len(), 10);
    let mut csv = Vec::new();
    let rows = phone.export_csv(&mut csv, &history(Some(&sn))).unwrap();
    assert_eq!(rows, 120);
    let text = String::from_utf8(csv).unwrap();
    assert!(text.contains("622202*********0128"));
    assert!(!text.contains(SETTLEMENT_PAN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewound_journal_is_detected_not_merged() {
    let w = World::new(1, 19, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    w.sale(0, 100);
    phone.sync(&sn, &ctl()).await.unwrap();
    // The same SN comes back with a fresh journal (swapped board, factory reset).
    let swapped = posmate_sim::SimTerminal::new(posmate_sim::TerminalConfig::new(sn.clone(), 999));
    let mut nvm = swapped.nvm_snapshot();
    let old = w.terminals[0].nvm_snapshot();
    nvm.noise_secret = old.noise_secret;
    nvm.paired_phones = old.paired_phones.clone();
    nvm.lifecycle = old.lifecycle;
    nvm.terminal_no = old.terminal_no.clone();
    nvm.merchant_no = old.merchant_no.clone();
    w.radio.remove(&w.ids[0]);
    let t = posmate_sim::SimTerminal::from_nvm(nvm);
    let id = w.radio.add(Box::new(t.clone()), -40);
    w.acquirer
        .register_terminal(&sn, t.device_key(), &terminal_no(0), "X0000001");
    let phone = w.phone();
    phone
        .store()
        .write(|tx| {
            let mut row = tx.terminal(&sn)?.unwrap();
            row.peripheral_id = Some(id.as_str().into());
            tx.upsert_terminal(&row)
        })
        .unwrap();
    t.ring_up(
        t.link_now(),
        &posmate_sim::terminal::Sale::new(777, CNY, SETTLEMENT_PAN),
    )
    .unwrap();
    let err = phone.sync(&sn, &ctl()).await.unwrap_err();
    assert!(
        matches!(err, Error::JournalRewound { held: 1, .. }),
        "{err:?}"
    );
    assert_eq!(phone.history(&history(Some(&sn))).unwrap().records.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacement_carries_history_and_card_over() {
    let w = World::new(2, 20, Review::Instant);
    let phone = w.phone();
    let (old, new) = (w.sn(0), w.sn(1));
    w.activated(&phone, 0).await;
    phone
        .bind_card(bind_from_terminal(&w, 0), &ctl())
        .await
        .unwrap();
    for k in 0..10u64 {
        w.sale(0, 300 + k);
    }
    w.pair(&phone, 1).await;
    let out = phone
        .replace(
            ReplacementInput {
                old_sn: old.clone(),
                new: w.activation(1),
                backup_path: w.backup_path("old.age"),
                passphrase: passphrase(),
            },
            &ctl(),
        )
        .await
        .unwrap();
    let ReplacementOutcome::Replaced {
        records_moved,
        settlement_card,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(records_moved, 10);
    assert_eq!(settlement_card.as_deref(), Some("622202*********0128"));
    assert_eq!(
        phone.terminal(&new).unwrap().state,
        TerminalState::Activated
    );
    assert!(phone.terminal(&old).is_err());
    let moved = phone.history(&history(Some(&new))).unwrap().records;
    assert_eq!(moved.len(), 10);
    assert!(moved.iter().all(|r| r.origin_sn == old));
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Decommissioned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiping_the_phone_leaves_nothing_readable() {
    let w = World::new(1, 21, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    w.sale(0, 999);
    phone.sync(&sn, &ctl()).await.unwrap();
    let path = w.backup_path("phone.age");
    let wiped = phone.wipe_phone(&path, &passphrase()).await.unwrap();
    assert_eq!(wiped.backup.records, 1);
    assert!(
        files_bytes(&w.dir, "posmate.db").is_empty(),
        "database files gone"
    );
    assert!(w.secrets.list().unwrap().is_empty(), "keystore emptied");
    // The backup restores on a new phone.
    let fresh = w.phone_with({
        let mut c = w.config();
        c.data_dir = w.backup_path("new-phone");
        c
    });
    let restored = fresh.restore(&path, &passphrase()).unwrap();
    assert_eq!(restored.records_inserted, 1);
    assert_eq!(fresh.history(&history(Some(&sn))).unwrap().records.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_between_steps_stops_cleanly_or_pauses_past_the_point_of_no_return() {
    use posmate_core::flows::{CancelToken, Progress};
    use posmate_core::store::FlowStatus;
    use std::sync::Arc;

    let w = World::new(1, 22, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    phone.settle(&sn, &ctl()).await.unwrap();
    let input = |path: &std::path::Path| DecommissionInput {
        sn: sn.clone(),
        reason: "test".into(),
        backup: BackupSpec::Write {
            path: path.to_path_buf(),
            passphrase: passphrase(),
        },
    };
    // Cancel as soon as the flow reports its first step: nothing destructive happened, the
    // flow ends cancelled and no backup was written.
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let ctl_first = FlowControl {
        progress: Arc::new(move |_: &Progress| c.cancel()),
        cancel,
    };
    let path = w.backup_path("cancelled.age");
    let err = phone
        .decommission(input(&path), &ctl_first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(!path.exists());
    assert_eq!(phone.terminal(&sn).unwrap().state, TerminalState::Activated);
    assert_eq!(w.acquirer.terminal_state(&sn), "active");
    assert!(phone.open_flows().unwrap().is_empty());

    // Cancel once the acquirer has deregistered the terminal: the flow pauses (it must be
    // finished, not abandoned) and a later run completes it.
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let ctl_late = FlowControl {
        progress: Arc::new(move |p: &Progress| {
            if p.step == "wipe" {
                c.cancel()
            }
        }),
        cancel,
    };
    let path = w.backup_path("late.age");
    let err = phone
        .decommission(input(&path), &ctl_late)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    let open = phone.open_flows().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].status, FlowStatus::Paused);
    assert_eq!(
        open[0].step, "phone-wipe",
        "the wipe it had started was finished first"
    );
    let done = phone.decommission(input(&path), &ctl()).await.unwrap();
    assert_eq!(done.sn, sn);
    assert!(phone.open_flows().unwrap().is_empty());
}
