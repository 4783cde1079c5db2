//! Every flow under faults: the link dropped after every packet of the flow (each direction),
//! and the app killed after every persisted step. Each case is followed by a resume from a
//! freshly opened store, then the invariants are checked: no double activation, no lost or
//! duplicated record, no orphaned key, no wipe without a verified backup. Each test prints
//! how many cases it ran.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use posmate_core::acquirer::CardPurposeKind;
use posmate_core::companion::Companion;
use posmate_core::error::Error;
use posmate_core::flows::{
    BackupSpec, BindInput, CardSourceInput, DecommissionInput, FlowControl, Progress,
    ReplacementInput,
};
use posmate_core::store::{FlowStatus, HistoryQuery, TerminalState};
use posmate_proto::gatt::Lifecycle;
use posmate_sim::acquirer::Review;
use posmate_sim::terminal::Card;
use posmate_sim_world::radio::faults::{FaultPlan, PacketRef};
use posmate_tests::world::*;
use tokio::sync::Notify;

/// A scenario: how to prepare the world, run (or resume) the flow, and check the result.
struct Scenario {
    name: &'static str,
    seed: u64,
    terminals: usize,
    /// The terminal whose link the faults hit.
    fault_on: usize,
    /// Journal records the setup rings up (for scenarios that use them).
    records: u64,
    setup: for<'a> fn(&'a World, &'a Companion, u64) -> futures::future::BoxFuture<'a, ()>,
    run: for<'a> fn(
        &'a World,
        &'a Companion,
        FlowControl,
    ) -> futures::future::BoxFuture<'a, Result<(), Error>>,
    check: fn(&World, &Companion, u64),
}

/// Runs the flow to completion, resuming after every interruption (at most `tries`).
async fn finish(s: &Scenario, w: &World) -> Companion {
    for _ in 0..4 {
        let phone = w.phone();
        if (s.run)(w, &phone, FlowControl::default()).await.is_ok() {
            return phone;
        }
    }
    let phone = w.phone();
    (s.run)(w, &phone, FlowControl::default())
        .await
        .unwrap_or_else(|e| panic!("{}: resume does not complete: {e:?}", s.name));
    phone
}

fn world(s: &Scenario) -> World {
    World::new(s.terminals, s.seed, Review::Instant)
}

async fn prepared(s: &Scenario) -> World {
    let w = world(s);
    let phone = w.phone();
    (s.setup)(&w, &phone, s.records).await;
    phone.disconnect_all().await;
    w
}

/// Disconnect after every packet of the flow's connection, in both directions.
async fn every_packet(s: &Scenario) -> u64 {
    // A clean run counts the packets.
    let w = prepared(s).await;
    let id = &w.ids[s.fault_on];
    let before = w.radio.stats(id).len();
    let phone = finish(s, &w).await;
    (s.check)(&w, &phone, s.records);
    let stats = w.radio.stats(id);
    let flow_stats = &stats[before..];
    let to_t: u64 = flow_stats
        .iter()
        .map(|s| s.to_terminal.packets)
        .max()
        .unwrap_or(0);
    let to_p: u64 = flow_stats
        .iter()
        .map(|s| s.to_phone.packets)
        .max()
        .unwrap_or(0);
    assert!(to_t > 0 && to_p > 0, "{}: the flow used the link", s.name);
    let mut cases = 0;
    let refs = (0..to_t)
        .map(PacketRef::to_terminal)
        .chain((0..to_p).map(PacketRef::to_phone));
    for packet in refs {
        let w = prepared(s).await;
        w.radio.set_faults(
            &w.ids[s.fault_on],
            FaultPlan::new().disconnect_after(packet),
        );
        {
            let phone = w.phone();
            let _ = (s.run)(&w, &phone, FlowControl::default()).await;
            phone.disconnect_all().await;
        }
        w.radio.set_faults(&w.ids[s.fault_on], FaultPlan::new());
        let phone = finish(s, &w).await;
        (s.check)(&w, &phone, s.records);
        cases += 1;
    }
    println!(
        "{}: disconnect after every packet: {cases} cases, all invariants hold",
        s.name
    );
    cases
}

/// Kill the app after every persisted step, then resume from a fresh store.
async fn every_step(s: &Scenario) -> u64 {
    let w = prepared(s).await;
    let steps = Arc::new(AtomicUsize::new(0));
    let counter = steps.clone();
    let ctl = FlowControl::new(Arc::new(move |_: &Progress| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    {
        let phone = w.phone();
        (s.run)(&w, &phone, ctl).await.expect("clean run");
    }
    let total = steps.load(Ordering::SeqCst);
    assert!(total >= 1, "{}: the flow reports its steps", s.name);
    let mut cases = 0;
    for kill_at in 1..=total {
        let w = prepared(s).await;
        {
            let phone = w.phone();
            let seen = Arc::new(AtomicUsize::new(0));
            let kill = Arc::new(Notify::new());
            let (seen2, kill2) = (seen.clone(), kill.clone());
            let ctl = FlowControl::new(Arc::new(move |_: &Progress| {
                if seen2.fetch_add(1, Ordering::SeqCst) + 1 == kill_at {
                    kill2.notify_one();
                }
            }));
            tokio::select! {
                _ = (s.run)(&w, &phone, ctl) => {}
                _ = kill.notified() => {}
            }
            // The future is dropped here, as a killed app's would be.
        }
        let phone = finish(s, &w).await;
        (s.check)(&w, &phone, s.records);
        cases += 1;
    }
    println!(
        "{}: killed after every persisted step: {cases} cases, all invariants hold",
        s.name
    );
    cases
}

// ---- scenarios ----------------------------------------------------------------------------

fn no_open_flows(phone: &Companion) {
    let open: Vec<_> = phone
        .open_flows()
        .unwrap()
        .into_iter()
        .filter(|f| matches!(f.status, FlowStatus::Running | FlowStatus::Paused))
        .collect();
    assert!(open.is_empty(), "{open:?}");
}

fn no_orphaned_secrets(w: &World) {
    let names = w.secrets.list().unwrap();
    assert!(
        names.iter().all(|n| !n.starts_with("activation-code")),
        "an activation code outlived its flow: {names:?}"
    );
}

fn activation() -> Scenario {
    Scenario {
        name: "activation",
        seed: 31,
        terminals: 1,
        fault_on: 0,
        records: 0,
        setup: |w, phone, _records| Box::pin(async move { w.pair(phone, 0).await }),
        run: |w, phone, ctl| {
            Box::pin(async move {
                if phone.terminal(&w.sn(0))?.state == TerminalState::Activated {
                    return Ok(());
                }
                phone.activate(w.activation(0), &ctl).await.map(|_| ())
            })
        },
        check: |w, phone, _records| {
            let info = w.terminals[0].info();
            assert_eq!(info.lifecycle, Lifecycle::Activated);
            assert_eq!(info.merchant_no.as_deref(), Some(MERCHANT_NO));
            assert_eq!(
                phone.terminal(&w.sn(0)).unwrap().state,
                TerminalState::Activated
            );
            assert_eq!(
                w.acquirer.activations(&w.sn(0)),
                1,
                "exactly one activation"
            );
            no_open_flows(phone);
            no_orphaned_secrets(w);
        },
    }
}

/// Sync of `n` records: few records keep the every-packet run short; many records span
/// several pages, so a kill can land between pages.
fn sync(n: u64) -> Scenario {
    Scenario {
        name: if n < 1000 {
            "records sync"
        } else {
            "records sync (many pages)"
        },
        seed: 32,
        terminals: 1,
        fault_on: 0,
        records: n,
        setup: |w, phone, records| {
            Box::pin(async move {
                w.activated(phone, 0).await;
                for k in 0..records {
                    w.sale(0, 100 + k);
                }
            })
        },
        run: |w, phone, ctl| Box::pin(async move { phone.sync(&w.sn(0), &ctl).await.map(|_| ()) }),
        check: |w, phone, records| {
            let mut q = HistoryQuery {
                sn: Some(w.sn(0)),
                merchant_no: None,
                from_ms: None,
                to_ms: None,
                kinds: Vec::new(),
                min_minor: None,
                max_minor: None,
                limit: 500,
                after: None,
            };
            let mut seqs = Vec::new();
            loop {
                let page = phone.history(&q).unwrap();
                seqs.extend(page.records.iter().map(|r| r.record.seq));
                match page.next {
                    Some(n) => q.after = Some(n),
                    None => break,
                }
            }
            seqs.sort_unstable();
            assert_eq!(
                seqs,
                (1..=records).collect::<Vec<_>>(),
                "no record lost or duplicated"
            );
        },
    }
}

fn settlement() -> Scenario {
    Scenario {
        name: "settlement",
        seed: 33,
        terminals: 1,
        fault_on: 0,
        records: 0,
        setup: |w, phone, _records| {
            Box::pin(async move {
                w.activated(phone, 0).await;
                for k in 0..20u64 {
                    w.sale(0, 700 + k);
                }
            })
        },
        run: |w, phone, ctl| {
            Box::pin(async move {
                let sn = w.sn(0);
                let done = phone
                    .store()
                    .read(|tx| tx.settlements(&sn))?
                    .iter()
                    .any(|s| s.batch_no == 1);
                if done {
                    return Ok(());
                }
                phone.settle(&sn, &ctl).await.map(|_| ())
            })
        },
        check: |w, phone, _records| {
            let rows = phone.store().read(|tx| tx.settlements(&w.sn(0))).unwrap();
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert!(rows[0].matched);
            assert_eq!(rows[0].terminal.sale_count, 20);
            assert_eq!(
                w.terminals[0].info().batch_no,
                2,
                "the batch was closed once"
            );
            no_open_flows(phone);
        },
    }
}

fn card_bind() -> Scenario {
    Scenario {
        name: "card bind",
        seed: 34,
        terminals: 1,
        fault_on: 0,
        records: 0,
        setup: |w, phone, _records| Box::pin(async move { w.activated(phone, 0).await }),
        run: |w, phone, ctl| {
            Box::pin(async move {
                if !phone.cards(MERCHANT_NO)?.is_empty() {
                    return Ok(());
                }
                // The merchant holds the card to the terminal (again, if a read was lost).
                let t = &w.terminals[0];
                t.present_card(t.link_now(), Card::tap("6222021234567890128", "1229"));
                for f in phone.open_flows()? {
                    if phone.resume(&f.id, &ctl).await.is_ok() {
                        return Ok(());
                    }
                }
                phone
                    .bind_card(
                        BindInput {
                            merchant_no: MERCHANT_NO.into(),
                            purpose: CardPurposeKind::Settlement,
                            holder_name: MERCHANT_NAME.into(),
                            source: CardSourceInput::Terminal {
                                sn: w.sn(0),
                                timeout_ms: 2_000,
                            },
                        },
                        &ctl,
                    )
                    .await
                    .map(|_| ())
            })
        },
        check: |_w, phone, _records| {
            let cards = phone.cards(MERCHANT_NO).unwrap();
            assert_eq!(cards.len(), 1, "{cards:?}");
            no_open_flows(phone);
        },
    }
}

fn decommission() -> Scenario {
    Scenario {
        name: "decommission",
        seed: 35,
        terminals: 1,
        fault_on: 0,
        records: 0,
        setup: |w, phone, _records| {
            Box::pin(async move {
                w.activated(phone, 0).await;
                for k in 0..30u64 {
                    w.sale(0, 900 + k);
                }
                phone
                    .settle(&w.sn(0), &FlowControl::default())
                    .await
                    .unwrap();
            })
        },
        run: |w, phone, ctl| {
            Box::pin(async move {
                let sn = w.sn(0);
                if phone.terminal(&sn).is_err() {
                    return Ok(());
                }
                phone
                    .decommission(
                        DecommissionInput {
                            sn,
                            reason: "moving shop".into(),
                            backup: BackupSpec::Write {
                                path: w.backup_path("decommission.age"),
                                passphrase: passphrase(),
                            },
                        },
                        &ctl,
                    )
                    .await
                    .map(|_| ())
            })
        },
        check: |w, phone, _records| {
            let sn = w.sn(0);
            let info = w.terminals[0].info();
            assert!(
                matches!(
                    info.lifecycle,
                    Lifecycle::Decommissioned | Lifecycle::Factory
                ),
                "{:?}",
                info.lifecycle
            );
            assert!(info.key_slots.is_empty());
            // The wipe happened, so a verified backup of every record must exist.
            let archive = posmate_core::backup::read_archive(
                &w.backup_path("decommission.age"),
                &passphrase(),
            )
            .expect("the backup taken before the wipe opens");
            assert_eq!(archive.records.len(), 30);
            assert!(phone.terminal(&sn).is_err());
            assert!(
                w.secrets.list().unwrap().iter().all(|n| !n.contains(&sn)),
                "no key of the terminal left in the keystore"
            );
            assert_eq!(w.acquirer.terminal_state(&sn), "deregistered");
            no_open_flows(phone);
            no_orphaned_secrets(w);
        },
    }
}

fn card_unbind() -> Scenario {
    Scenario {
        name: "card unbind",
        seed: 36,
        terminals: 1,
        fault_on: 0,
        records: 0,
        setup: |w, phone, _records| {
            Box::pin(async move {
                w.activated(phone, 0).await;
                phone
                    .bind_card(
                        BindInput {
                            merchant_no: MERCHANT_NO.into(),
                            purpose: CardPurposeKind::Credit,
                            holder_name: MERCHANT_NAME.into(),
                            source: CardSourceInput::Manual {
                                pan: zeroize::Zeroizing::new("4111111111111111".into()),
                                expiry: "0331".into(),
                            },
                        },
                        &FlowControl::default(),
                    )
                    .await
                    .unwrap();
            })
        },
        run: |_w, phone, ctl| {
            Box::pin(async move {
                for f in phone.open_flows()? {
                    phone.resume(&f.id, &ctl).await?;
                }
                let Some(card) = phone.cards(MERCHANT_NO)?.into_iter().next() else {
                    return Ok(());
                };
                phone.unbind_card(MERCHANT_NO, &card.binding_id, &ctl).await
            })
        },
        check: |w, phone, _records| {
            assert!(phone.cards(MERCHANT_NO).unwrap().is_empty());
            let at_acquirer = futures::executor::block_on(phone.acquirer_cards(MERCHANT_NO));
            assert!(
                at_acquirer.unwrap().is_empty(),
                "unbound at the acquirer too"
            );
            let _ = w;
            no_open_flows(phone);
        },
    }
}

fn replacement(fault_on: usize) -> Scenario {
    Scenario {
        name: if fault_on == 0 {
            "replacement (old terminal's link)"
        } else {
            "replacement (new terminal's link)"
        },
        seed: 37 + fault_on as u64,
        terminals: 2,
        fault_on,
        records: 0,
        setup: |w, phone, _records| {
            Box::pin(async move {
                w.activated(phone, 0).await;
                for k in 0..10u64 {
                    w.sale(0, 300 + k);
                }
                w.pair(phone, 1).await;
            })
        },
        run: |w, phone, ctl| {
            Box::pin(async move {
                if phone.terminal(&w.sn(0)).is_err() {
                    return Ok(());
                }
                phone
                    .replace(
                        ReplacementInput {
                            old_sn: w.sn(0),
                            new: w.activation(1),
                            backup_path: w.backup_path("replaced.age"),
                            passphrase: passphrase(),
                        },
                        &ctl,
                    )
                    .await
                    .map(|_| ())
            })
        },
        check: |w, phone, _records| {
            let (old, new) = (w.sn(0), w.sn(1));
            assert_eq!(
                phone.terminal(&new).unwrap().state,
                TerminalState::Activated
            );
            assert_eq!(w.acquirer.activations(&new), 1, "exactly one activation");
            assert!(phone.terminal(&old).is_err());
            // Decommissioned, or factory if the flow had to pair again to collect the receipt.
            let info = w.terminals[0].info();
            assert!(
                matches!(
                    info.lifecycle,
                    Lifecycle::Decommissioned | Lifecycle::Factory
                ),
                "{:?}",
                info.lifecycle
            );
            assert!(info.key_slots.is_empty());
            let archive =
                posmate_core::backup::read_archive(&w.backup_path("replaced.age"), &passphrase())
                    .expect("the backup taken before the old terminal was wiped opens");
            assert_eq!(archive.records.len(), 10);
            let q = HistoryQuery {
                sn: Some(new),
                limit: 500,
                ..HistoryQuery::default()
            };
            let mut seqs: Vec<u64> = phone
                .history(&q)
                .unwrap()
                .records
                .iter()
                .map(|r| r.record.seq)
                .collect();
            seqs.sort_unstable();
            assert_eq!(
                seqs,
                (1..=10).collect::<Vec<_>>(),
                "history carried over whole"
            );
            no_open_flows(phone);
            no_orphaned_secrets(w);
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_disconnect_after_every_packet() {
    assert!(every_packet(&sync(150)).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_after_every_page() {
    // A persisted step is a run of contiguous pages, and up to PIPELINE (4) answers can be
    // in when the sync next looks, so a slow machine may persist several pages at once.
    // 12,000 records span about a dozen pages (the sync benchmark moves 10,000 in 10), so at
    // least three steps however the answers bunch up.
    assert!(
        every_step(&sync(12_000)).await >= 3,
        "the sync spans several persisted steps"
    );
}

macro_rules! fault_tests {
    ($($name:ident: $scenario:expr;)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn disconnect_after_every_packet() {
                assert!(every_packet(&$scenario).await > 0);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn killed_after_every_step() {
                assert!(every_step(&$scenario).await > 0);
            }
        }
    )*};
}

fault_tests! {
    activation_faults: activation();
    settlement_faults: settlement();
    card_bind_faults: card_bind();
    decommission_faults: decommission();
    card_unbind_faults: card_unbind();
    replacement_old_link_faults: replacement(0);
    replacement_new_link_faults: replacement(1);
}
