//! The terminals' journals in the store: cursors, gaps and retransmissions, the paged
//! history, batch totals and importing a backup's records.

use super::*;

#[test]
fn store_journal_cursor_rewound_and_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-journal");
    let store = open(dir.path(), &secrets).unwrap();

    // The first page must start at seq 1.
    let err = store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(2..=4)))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::JournalGap { sn, expected: 1, got: 2 } if sn == "SN1"),
        "{err:?}"
    );
    assert_eq!(store.read(|tx| tx.sync_cursor("SN1")).unwrap(), None);

    let out = store
        .write(|tx| tx.append_records("SN1", Some("M1"), EPOCH, &records(1..=5)))
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            inserted: 5,
            skipped: 0,
            last_seq: 5
        }
    );
    // A hole inside a page: nothing of the page is stored.
    let mut page = records(6..=9);
    page.remove(2);
    let err = store
        .write(|tx| tx.append_records("SN1", Some("M1"), EPOCH, &page))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::JournalGap {
                expected: 8,
                got: 9,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "journal-gap");
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 5);

    // A new epoch is refused until the cursor is reset explicitly.
    let err = store
        .write(|tx| tx.append_records("SN1", None, OTHER_EPOCH, &records(1..=2)))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::JournalRewound { sn } if sn == "SN1"),
        "{err:?}"
    );
    assert_eq!(err.code(), "journal-rewound");
    assert_eq!(
        store.read(|tx| tx.sync_cursor("SN1")).unwrap(),
        Some(SyncCursor {
            epoch: EPOCH,
            last_seq: 5
        })
    );
    store
        .write(|tx| tx.reset_cursor("SN1", OTHER_EPOCH))
        .unwrap();
    let out = store
        .write(|tx| tx.append_records("SN1", None, OTHER_EPOCH, &records(1..=2)))
        .unwrap();
    assert_eq!(out.inserted, 2);
    assert_eq!(store.read(|tx| tx.record_count(Some("SN1"))).unwrap(), 7);

    // An empty first page still records the epoch.
    store
        .write(|tx| tx.append_records("SN2", None, EPOCH, &[]))
        .unwrap();
    assert_eq!(
        store.read(|tx| tx.sync_cursor("SN2")).unwrap(),
        Some(SyncCursor {
            epoch: EPOCH,
            last_seq: 0
        })
    );
}

#[test]
fn store_retransmitted_records_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-dupes");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(1..=5)))
        .unwrap();
    let out = store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(3..=8)))
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            inserted: 3,
            skipped: 3,
            last_seq: 8
        }
    );
    let out = store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(1..=8)))
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            inserted: 0,
            skipped: 8,
            last_seq: 8
        }
    );
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 8);
}

/// Records of three terminals and two merchants, with timestamps that collide across and
/// within terminals, so paging must break ties on (sn, seq).
fn history_fixture(store: &Store) -> Vec<StoredRecord> {
    let kinds = [
        RecordKind::Sale,
        RecordKind::Refund,
        RecordKind::Void,
        RecordKind::PreAuth,
        RecordKind::Sale,
    ];
    let mut all = Vec::new();
    for (t, (sn, merchant)) in [("SN-A", "M1"), ("SN-B", "M1"), ("SN-C", "M2")]
        .into_iter()
        .enumerate()
    {
        let page: Vec<Record> = (1..=120u64)
            .map(|seq| Record {
                kind: kinds[(seq as usize + t) % kinds.len()],
                amount_minor: (seq * 37 + t as u64 * 11) % 500,
                // Every 3 records share a millisecond; terminals share timestamps too.
                ..record(seq, 1_000_000 + (seq / 3) * 10)
            })
            .collect();
        store
            .write(|tx| tx.append_records(sn, Some(merchant), EPOCH, &page))
            .unwrap();
        all.extend(page.into_iter().map(|record| StoredRecord {
            sn: sn.into(),
            origin_sn: sn.into(),
            epoch: EPOCH,
            merchant_no: Some(merchant.into()),
            record,
        }));
    }
    all.sort_by(|a, b| {
        (b.record.at_ms, &b.sn, b.record.seq).cmp(&(a.record.at_ms, &a.sn, a.record.seq))
    });
    all
}

fn all_pages(store: &Store, mut q: HistoryQuery) -> (Vec<StoredRecord>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.read(|tx| tx.history(&q)).unwrap();
        pages += 1;
        assert!(page.records.len() <= q.limit.clamp(1, 500) as usize);
        out.extend(page.records);
        match page.next {
            Some(next) => q.after = Some(next),
            None => return (out, pages),
        }
    }
}

#[test]
fn store_history_filters_and_pages_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-history");
    let store = open(dir.path(), &secrets).unwrap();
    let all = history_fixture(&store);

    type Filter = Box<dyn Fn(&StoredRecord) -> bool>;
    let cases: Vec<(HistoryQuery, Filter)> = vec![
        (HistoryQuery::default(), Box::new(|_| true)),
        (
            HistoryQuery {
                sn: Some("SN-B".into()),
                ..Default::default()
            },
            Box::new(|r| r.sn == "SN-B"),
        ),
        (
            HistoryQuery {
                merchant_no: Some("M1".into()),
                ..Default::default()
            },
            Box::new(|r| r.merchant_no.as_deref() == Some("M1")),
        ),
        (
            HistoryQuery {
                from_ms: Some(1_000_100),
                to_ms: Some(1_000_300),
                ..Default::default()
            },
            Box::new(|r| (1_000_100..1_000_300).contains(&r.record.at_ms)),
        ),
        (
            HistoryQuery {
                kinds: vec![RecordKind::Refund, RecordKind::Void],
                ..Default::default()
            },
            Box::new(|r| matches!(r.record.kind, RecordKind::Refund | RecordKind::Void)),
        ),
        (
            HistoryQuery {
                min_minor: Some(100),
                max_minor: Some(250),
                ..Default::default()
            },
            Box::new(|r| (100..=250).contains(&r.record.amount_minor)),
        ),
        (
            HistoryQuery {
                sn: Some("SN-C".into()),
                merchant_no: Some("M2".into()),
                from_ms: Some(1_000_050),
                kinds: vec![RecordKind::Sale],
                max_minor: Some(300),
                ..Default::default()
            },
            Box::new(|r| {
                r.sn == "SN-C"
                    && r.record.at_ms >= 1_000_050
                    && r.record.kind == RecordKind::Sale
                    && r.record.amount_minor <= 300
            }),
        ),
        (
            HistoryQuery {
                sn: Some("SN-A".into()),
                merchant_no: Some("M2".into()),
                ..Default::default()
            },
            Box::new(|_| false),
        ),
    ];
    for (i, (query, keep)) in cases.into_iter().enumerate() {
        let expected: Vec<StoredRecord> = all.iter().filter(|r| keep(r)).cloned().collect();
        for limit in [1, 7, 50, 500] {
            let (got, pages) = all_pages(
                &store,
                HistoryQuery {
                    limit,
                    ..query.clone()
                },
            );
            assert_eq!(got, expected, "case {i}, limit {limit}");
            assert_eq!(
                pages,
                expected.len().div_ceil(limit as usize).max(1),
                "case {i}, limit {limit}"
            );
        }
    }
    // Out-of-range limits are clamped, not refused.
    let page = store
        .read(|tx| {
            tx.history(&HistoryQuery {
                limit: 0,
                ..Default::default()
            })
        })
        .unwrap();
    assert_eq!(page.records.len(), 1);
    let page = store
        .read(|tx| {
            tx.history(&HistoryQuery {
                limit: 10_000,
                ..Default::default()
            })
        })
        .unwrap();
    assert_eq!(page.records.len(), 360);
}

#[test]
fn store_history_pages_stay_stable_while_records_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-history-live");
    let store = open(dir.path(), &secrets).unwrap();
    let all = history_fixture(&store);
    let mut q = HistoryQuery {
        limit: 25,
        ..Default::default()
    };
    let mut got = Vec::new();
    for round in 0.. {
        let page = store.read(|tx| tx.history(&q)).unwrap();
        got.extend(page.records);
        // Newer records arrive between pages; they belong before the cursor, so they never
        // show up on the later pages.
        let seq = 121 + round;
        store
            .write(|tx| {
                tx.append_records("SN-A", Some("M1"), EPOCH, &[record(seq, 9_000_000 + seq)])
            })
            .unwrap();
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(got, all);
}

#[test]
fn store_history_statements_use_an_index_in_keyset_order() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-history-plan");
    let store = open(dir.path(), &secrets).unwrap();
    let after = Some(HistoryCursor {
        at_ms: 5,
        sn: "SN".into(),
        seq: 3,
    });
    let queries = [
        HistoryQuery::default(),
        HistoryQuery {
            from_ms: Some(1),
            to_ms: Some(9),
            after: after.clone(),
            ..Default::default()
        },
        HistoryQuery {
            sn: Some("SN".into()),
            from_ms: Some(1),
            after: after.clone(),
            ..Default::default()
        },
        HistoryQuery {
            merchant_no: Some("M".into()),
            to_ms: Some(9),
            kinds: vec![RecordKind::Sale],
            after,
            ..Default::default()
        },
    ];
    for q in queries {
        let (sql, args) = history_sql(&q, 50);
        let plan: Vec<String> = store
            .read(|tx| {
                let mut stmt = tx.tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap();
        let plan = plan.join(" | ");
        assert!(plan.contains("USING INDEX records_by_"), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
    }
}

#[test]
fn store_batch_totals_count_like_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-totals");
    let store = open(dir.path(), &secrets).unwrap();
    let r = |seq, batch_no, kind, amount_minor, status| Record {
        batch_no,
        kind,
        amount_minor,
        status,
        ..record(seq, seq * 10)
    };
    use RecordKind::*;
    use RecordStatus::*;
    let journal = vec![
        r(1, 1, Sale, 500, Approved),
        r(2, 2, Sale, 1000, Approved),
        r(3, 2, Sale, 700, Declined),
        r(4, 2, PreAuth, 5000, Approved),
        r(5, 2, PreAuthCompletion, 4000, Approved),
        r(6, 2, Refund, 300, Approved),
        r(7, 2, Refund, 200, Reversed),
        r(8, 2, Void, 1000, Approved),
        r(9, 2, BalanceInquiry, 0, Approved),
        r(10, 4, Sale, 10, Approved),
    ];
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &journal))
        .unwrap();
    let (totals, first, last, count) = store.read(|tx| tx.batch_totals("SN1", EPOCH, 2)).unwrap();
    assert_eq!(
        totals,
        Totals {
            sale_count: 2,
            sale_minor: 5000,
            refund_count: 1,
            refund_minor: 300,
            void_count: 1,
            void_minor: 1000,
        }
    );
    assert_eq!((first, last, count), (2, 9, 8));
    // Batch 3 is empty: it follows seq 9.
    let empty = store.read(|tx| tx.batch_totals("SN1", EPOCH, 3)).unwrap();
    assert_eq!(empty, (Totals::default(), 10, 9, 0));
    // Another epoch or terminal has nothing.
    let none = store
        .read(|tx| tx.batch_totals("SN1", OTHER_EPOCH, 2))
        .unwrap();
    assert_eq!(none, (Totals::default(), 1, 0, 0));
}

#[test]
fn store_import_adds_only_what_is_missing_and_keeps_sync_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-import");
    let store = open(dir.path(), &secrets).unwrap();
    let stored = |sn: &str, seqs: std::ops::RangeInclusive<u64>| -> Vec<StoredRecord> {
        records(seqs)
            .into_iter()
            .map(|record| StoredRecord {
                sn: sn.into(),
                origin_sn: "ORIGIN".into(),
                epoch: EPOCH,
                merchant_no: Some("M9".into()),
                record,
            })
            .collect()
    };

    // A fresh phone: cursor and records come from the backup.
    let cursor = SyncCursor {
        epoch: EPOCH,
        last_seq: 4,
    };
    assert!(store.write(|tx| tx.import_cursor("SN1", &cursor)).unwrap());
    assert_eq!(
        store
            .write(|tx| tx.import_records(&stored("SN1", 1..=4)))
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .write(|tx| tx.import_records(&stored("SN1", 1..=4)))
            .unwrap(),
        0
    );
    let page = store
        .read(|tx| tx.history(&HistoryQuery::default()))
        .unwrap();
    assert_eq!(page.records, {
        let mut all = stored("SN1", 1..=4);
        all.reverse();
        all
    });
    // An existing cursor is never rolled back.
    let older = SyncCursor {
        epoch: OTHER_EPOCH,
        last_seq: 1,
    };
    assert!(!store.write(|tx| tx.import_cursor("SN1", &older)).unwrap());
    assert_eq!(
        store.read(|tx| tx.sync_cursor("SN1")).unwrap(),
        Some(cursor)
    );

    // Records past the cursor move it up as far as they run without a hole…
    let mut later = stored("SN1", 3..=9);
    later.retain(|r| r.record.seq != 8);
    assert_eq!(store.write(|tx| tx.import_records(&later)).unwrap(), 4);
    assert_eq!(
        store
            .read(|tx| tx.sync_cursor("SN1"))
            .unwrap()
            .unwrap()
            .last_seq,
        7
    );
    // …so the next sync skips them, fills the hole and runs on over what follows it.
    let out = store
        .write(|tx| tx.append_records("SN1", Some("M9"), EPOCH, &records(5..=8)))
        .unwrap();
    assert_eq!((out.inserted, out.skipped, out.last_seq), (1, 3, 9));
    let out = store
        .write(|tx| tx.append_records("SN1", Some("M9"), EPOCH, &records(9..=10)))
        .unwrap();
    assert_eq!((out.inserted, out.skipped, out.last_seq), (1, 1, 10));
    assert_eq!(store.read(|tx| tx.record_count(Some("SN1"))).unwrap(), 10);
}
