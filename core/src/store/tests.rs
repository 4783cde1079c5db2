//! Store tests against real SQLCipher files in temporary directories, with keyring-core's
//! mock keystore holding the database key.

use std::path::Path;

use posmate_proto::message::{Record, RecordKind, RecordStatus, Totals};
use posmate_proto::pan::MaskedPan;
use rusqlite::Connection;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::key::{try_key, DbKey, KEY_NAME, NEXT_KEY_NAME};
use super::records::history_sql;
use super::*;
use crate::keystore::{KeyringStore, KeystoreChoice, Namespace, Secret};

const EPOCH: [u8; 16] = [0xE1; 16];
const OTHER_EPOCH: [u8; 16] = [0xE2; 16];

fn keystore(label: &str) -> KeyringStore {
    KeyringStore::open(KeystoreChoice::Mock, Namespace::new(label).unwrap()).unwrap()
}

fn opts() -> StoreOptions {
    StoreOptions {
        allow_volatile_key: true,
        max_pages: None,
    }
}

fn open(dir: &Path, secrets: &KeyringStore) -> Result<Store, StoreError> {
    Store::open(dir, secrets, &opts())
}

fn record(seq: u64, at_ms: u64) -> Record {
    Record {
        seq,
        batch_no: 1,
        kind: RecordKind::Sale,
        amount_minor: 1000 + seq,
        currency: 978,
        at_ms,
        masked_pan: MaskedPan::parse("411111******1111").unwrap(),
        auth_code: format!("A{seq:05}"),
        rrn: format!("RRN{seq:09}"),
        status: RecordStatus::Approved,
        orig_seq: None,
    }
}

fn records(seqs: std::ops::RangeInclusive<u64>) -> Vec<Record> {
    seqs.map(|s| record(s, 1_700_000_000_000 + s * 1000))
        .collect()
}

fn terminal(sn: &str) -> TerminalRow {
    TerminalRow {
        sn: sn.into(),
        peripheral_id: Some("AA:BB".into()),
        model: "PM-1".into(),
        firmware: "1.0.3".into(),
        device_key: [7; 32],
        state: TerminalState::Activated,
        merchant_no: Some("M1".into()),
        terminal_no: Some("T1".into()),
        activated_at_ms: Some(5),
        replaced_by: None,
        updated_at_ms: 6,
    }
}

/// A second connection to the store's file, keyed from the keystore: the "attacker with the
/// key" or the "crash" in the tests below.
fn raw(dir: &Path, secrets: &KeyringStore) -> Connection {
    let key = DbKey::load(secrets, KEY_NAME).unwrap().unwrap();
    try_key(&dir.join(DB_FILE), &key).unwrap().unwrap()
}

fn key_bytes(secrets: &KeyringStore, name: &str) -> Option<Vec<u8>> {
    secrets
        .get(name)
        .unwrap()
        .map(|s: Secret| s.expose().to_vec())
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn store_creates_opens_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-create");
    let store = open(dir.path(), &secrets).unwrap();
    assert_eq!(store.path(), dir.path().join("posmate.db"));
    assert_eq!(key_bytes(&secrets, KEY_NAME).unwrap().len(), 32);
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
    drop(store);

    let header = file_bytes(&dir.path().join(DB_FILE));
    assert!(header.len() >= 4096);
    assert!(!header.starts_with(b"SQLite format 3"));

    let store = open(dir.path(), &secrets).unwrap();
    let got = store.read(|tx| tx.terminal("SN1")).unwrap();
    assert_eq!(got, Some(terminal("SN1")));
    let version: u32 = store.read(|tx| schema::version(&tx.tx)).unwrap();
    assert_eq!(version, schema::SUPPORTED);
}

#[test]
fn store_refuses_a_volatile_keystore_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-volatile");
    let err = Store::open(dir.path(), &secrets, &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::KeystoreNotDurable { backend: "mock" }),
        "{err:?}"
    );
    assert_eq!(err.code(), "keystore-not-durable");
    assert!(!dir.path().join(DB_FILE).exists());
    assert!(key_bytes(&secrets, KEY_NAME).is_none());
}

#[test]
fn store_key_missing_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-keymissing");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
    drop(store);
    let db = dir.path().join(DB_FILE);
    let before = file_bytes(&db);
    let wal_before = file_bytes(&key::sidecar(&db, "-wal"));
    let key = secrets.get(KEY_NAME).unwrap().unwrap();
    secrets.delete(KEY_NAME).unwrap();

    let err = open(dir.path(), &secrets).unwrap_err();
    assert!(
        matches!(&err, StoreError::KeyMissing { path } if *path == db),
        "{err:?}"
    );
    assert_eq!(err.code(), "db-key-missing");
    assert_eq!(file_bytes(&db), before);
    assert_eq!(file_bytes(&key::sidecar(&db, "-wal")), wal_before);
    assert!(
        key_bytes(&secrets, KEY_NAME).is_none(),
        "no key may be created over an existing file"
    );

    // Restoring the key restores access.
    secrets.set(KEY_NAME, &key).unwrap();
    let store = open(dir.path(), &secrets).unwrap();
    assert!(store.read(|tx| tx.terminal("SN1")).unwrap().is_some());
}

#[test]
fn store_wrong_key_is_reported_and_changes_nothing() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (keys_a, keys_b) = (keystore("store-wrong-a"), keystore("store-wrong-b"));
    drop(open(dir_a.path(), &keys_a).unwrap());
    drop(open(dir_b.path(), &keys_b).unwrap());
    // Another install's database put in place of this one.
    let db = dir_a.path().join(DB_FILE);
    std::fs::copy(dir_b.path().join(DB_FILE), &db).unwrap();
    let before = file_bytes(&db);
    let err = open(dir_a.path(), &keys_a).unwrap_err();
    assert!(
        matches!(&err, StoreError::WrongKey { path } if *path == db),
        "{err:?}"
    );
    assert_eq!(err.code(), "db-wrong-key");
    assert_eq!(file_bytes(&db), before);

    // A different key for the right file.
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-wrong-c");
    drop(open(dir.path(), &secrets).unwrap());
    secrets
        .set(KEY_NAME, &Secret::from_slice(&[0x5A; 32]))
        .unwrap();
    let err = open(dir.path(), &secrets).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
}

#[test]
fn store_damaged_or_foreign_files_are_corrupt() {
    use rand::RngCore;
    let mut random = vec![0u8; 10_000];
    rand::thread_rng().fill_bytes(&mut random);
    let plain = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        file_bytes(&path)
    };
    let cases: [(&str, Vec<u8>); 4] = [
        ("random bytes", random),
        ("zeroed pages", vec![0u8; 8192]),
        ("text", "hello ".repeat(1366).into_bytes()[..8192].to_vec()),
        ("unencrypted sqlite", plain),
    ];
    for (what, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let secrets = keystore("store-corrupt");
        drop(open(dir.path(), &secrets).unwrap());
        std::fs::write(dir.path().join(DB_FILE), &bytes).unwrap();
        let err = open(dir.path(), &secrets).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{what}: {err:?}");
        assert_eq!(err.code(), "db-corrupt");
        assert_eq!(file_bytes(&dir.path().join(DB_FILE)), bytes, "{what}");
    }

    // Our own file with its first page damaged behind the salt: the key is right (the salt
    // says so), the file is not.
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-corrupt-page");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
    store.compact().unwrap();
    drop(store);
    let db = dir.path().join(DB_FILE);
    let mut bytes = file_bytes(&db);
    bytes[100..140].iter_mut().for_each(|b| *b ^= 0xFF);
    std::fs::write(&db, &bytes).unwrap();
    let err = open(dir.path(), &secrets).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn store_empty_file_counts_as_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-empty");
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
    assert!(key_bytes(&secrets, KEY_NAME).is_some());
}

#[test]
fn store_full_disk_rolls_back_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-full");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.append_records("SN1", Some("M1"), EPOCH, &records(1..=10)))
        .unwrap();
    let pages: u32 = store
        .read(|tx| Ok(tx.tx.query_row("PRAGMA page_count", [], |r| r.get(0))?))
        .unwrap();
    drop(store);

    let quota = StoreOptions {
        allow_volatile_key: true,
        max_pages: Some(pages + 2),
    };
    let store = Store::open(dir.path(), &secrets, &quota).unwrap();
    let err = store
        .write(|tx| {
            tx.upsert_terminal(&terminal("SN1"))?;
            tx.append_records("SN1", Some("M1"), EPOCH, &records(11..=5000))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Full), "{err:?}");
    assert_eq!(err.code(), "storage-full");
    assert!(!err.is_retryable());
    let (count, cursor, t) = store
        .read(|tx| {
            Ok((
                tx.record_count(None)?,
                tx.sync_cursor("SN1")?,
                tx.terminal("SN1")?,
            ))
        })
        .unwrap();
    assert_eq!(count, 10);
    assert_eq!(cursor.unwrap().last_seq, 10);
    assert_eq!(t, None);
    // Small writes still fit.
    store
        .write(|tx| tx.append_records("SN1", Some("M1"), EPOCH, &records(11..=12)))
        .unwrap();
}

#[test]
fn store_rekey_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-rekey");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(1..=50)))
        .unwrap();
    let old = DbKey::load(&secrets, KEY_NAME).unwrap().unwrap();
    store.rekey(&secrets).unwrap();
    let new = DbKey::load(&secrets, KEY_NAME).unwrap().unwrap();
    assert_ne!(old.salt(), new.salt(), "the key changed");
    assert!(key_bytes(&secrets, NEXT_KEY_NAME).is_none());
    // Writes after the rekey land under the new key.
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(51..=60)))
        .unwrap();
    drop(store);

    let db = dir.path().join(DB_FILE);
    assert!(try_key(&db, &old).unwrap().is_none(), "the old key is dead");
    assert_eq!(&file_bytes(&db)[..16], &new.salt());
    let store = open(dir.path(), &secrets).unwrap();
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 60);
}

#[test]
fn store_rekey_interrupted_after_the_database_was_rekeyed() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-rekey-crash");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(1..=5)))
        .unwrap();
    drop(store);
    // The crash: ".next" written and the database rekeyed, "db-key" not yet replaced.
    let next = DbKey::generate();
    next.save(&secrets, NEXT_KEY_NAME).unwrap();
    let conn = raw(dir.path(), &secrets);
    next.rekey(&conn).unwrap();
    drop(conn);

    let store = open(dir.path(), &secrets).unwrap();
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 5);
    let promoted = DbKey::load(&secrets, KEY_NAME).unwrap().unwrap();
    assert_eq!(promoted.salt(), next.salt());
    assert!(key_bytes(&secrets, NEXT_KEY_NAME).is_none());
    drop(store);
    assert!(open(dir.path(), &secrets).is_ok());
}

#[test]
fn store_rekey_interrupted_before_the_database_was_rekeyed() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-rekey-early");
    drop(open(dir.path(), &secrets).unwrap());
    let key = key_bytes(&secrets, KEY_NAME).unwrap();
    DbKey::generate().save(&secrets, NEXT_KEY_NAME).unwrap();

    let store = open(dir.path(), &secrets).unwrap();
    assert_eq!(key_bytes(&secrets, KEY_NAME).unwrap(), key);
    assert!(key_bytes(&secrets, NEXT_KEY_NAME).is_none());
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
}

#[test]
fn store_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-newer");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
    drop(store);
    let newer = schema::SUPPORTED + 1;
    raw(dir.path(), &secrets)
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = open(dir.path(), &secrets).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported }
            if found == newer && supported == schema::SUPPORTED),
        "{err:?}"
    );
    let conn = raw(dir.path(), &secrets);
    assert_eq!(schema::version(&conn).unwrap(), newer);
    let sn: String = conn
        .query_row("SELECT sn FROM terminals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sn, "SN1");
}

#[test]
fn store_read_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-readonly");
    let store = open(dir.path(), &secrets).unwrap();
    assert!(store
        .read(|tx| tx.upsert_terminal(&terminal("SN1")))
        .is_err());
    assert_eq!(store.read(|tx| tx.terminals()).unwrap(), vec![]);
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN1")))
        .unwrap();
    // A panic inside a read must not leave the connection read-only.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.read(|_| -> Result<(), StoreError> { panic!("boom") })
    }));
    assert!(result.is_err());
    store
        .write(|tx| tx.upsert_terminal(&terminal("SN2")))
        .unwrap();
    assert_eq!(store.read(|tx| tx.terminals()).unwrap().len(), 2);
}

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
fn store_move_and_delete_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-move");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| {
            tx.upsert_terminal(&terminal("OLD"))?;
            tx.upsert_terminal(&terminal("NEW"))?;
            tx.append_records("OLD", Some("M1"), EPOCH, &records(1..=4))?;
            tx.append_records("NEW", Some("M1"), OTHER_EPOCH, &records(1..=2))?;
            tx.put_settlement(&settlement("OLD", 1))?;
            tx.put_backup(&backup("b1", Some("OLD")))
        })
        .unwrap();
    let moved = store.write(|tx| tx.move_records("OLD", "NEW")).unwrap();
    assert_eq!(moved, 4);
    let page = store
        .read(|tx| {
            tx.history(&HistoryQuery {
                sn: Some("NEW".into()),
                ..Default::default()
            })
        })
        .unwrap();
    assert_eq!(page.records.len(), 6);
    assert_eq!(
        page.records.iter().filter(|r| r.origin_sn == "OLD").count(),
        4
    );
    assert!(page.records.iter().all(|r| r.sn == "NEW"));

    store.write(|tx| tx.delete_terminal("OLD")).unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.terminal("OLD")?, None);
            assert_eq!(tx.sync_cursor("OLD")?, None);
            assert_eq!(tx.settlements("OLD")?, vec![]);
            assert_eq!(tx.record_count(Some("NEW"))?, 6);
            assert!(tx.backup("b1")?.is_some());
            Ok(())
        })
        .unwrap();
    store.write(|tx| tx.delete_terminal("NEW")).unwrap();
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 0);
}

fn settlement(sn: &str, batch_no: u32) -> SettlementRow {
    let totals = Totals {
        sale_count: 2,
        sale_minor: 1500,
        refund_count: 1,
        refund_minor: 100,
        void_count: 0,
        void_minor: 0,
    };
    SettlementRow {
        sn: sn.into(),
        batch_no,
        epoch: EPOCH,
        first_seq: 1,
        last_seq: 3,
        terminal: totals.clone(),
        phone: Totals {
            sale_count: 1,
            ..totals
        },
        matched: false,
        settled_at_ms: 100 + u64::from(batch_no),
    }
}

fn backup(id: &str, sn: Option<&str>) -> BackupRow {
    BackupRow {
        id: id.into(),
        path: format!("/backups/{id}.age"),
        sha256: [3; 32],
        created_at_ms: 10,
        verified_at_ms: None,
        records: 4,
        sn: sn.map(String::from),
    }
}

#[test]
fn store_rows_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-rows");
    let store = open(dir.path(), &secrets).unwrap();
    let card = CardRow {
        binding_id: "bind-1".into(),
        merchant_no: "M1".into(),
        purpose: CardPurposeKind::Settlement,
        masked_pan: MaskedPan::parse("535310******4444").unwrap(),
        issuer: "Bank".into(),
        holder_name: "ANA LIMA".into(),
        source: "terminal".into(),
        bound_at_ms: 42,
    };
    let flow = FlowRow {
        id: "f1".into(),
        kind: "activation".into(),
        sn: Some("SN1".into()),
        step: "await_review".into(),
        state: json!({"application_id": "app-9", "polls": 3}),
        status: FlowStatus::Paused,
        started_at_ms: 1,
        updated_at_ms: 2,
        error: None,
    };
    let mut updated_terminal = terminal("SN1");
    updated_terminal.state = TerminalState::Suspended;
    updated_terminal.replaced_by = Some("SN2".into());
    store
        .write(|tx| {
            tx.upsert_terminal(&terminal("SN1"))?;
            tx.upsert_terminal(&updated_terminal)?;
            tx.upsert_card(&card)?;
            tx.flow_save(&flow)?;
            tx.flow_save(&FlowRow {
                id: "f2".into(),
                status: FlowStatus::Done,
                started_at_ms: 0,
                ..flow.clone()
            })?;
            tx.put_settlement(&settlement("SN1", 2))?;
            tx.put_settlement(&settlement("SN1", 1))?;
            tx.put_backup(&backup("b1", None))?;
            tx.put_backup(&BackupRow {
                verified_at_ms: Some(11),
                ..backup("b1", None)
            })
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.terminals()?, vec![updated_terminal.clone()]);
            assert_eq!(tx.cards("M1")?, vec![card.clone()]);
            assert_eq!(tx.cards("M2")?, vec![]);
            assert_eq!(tx.flow("f1")?, Some(flow.clone()));
            assert_eq!(tx.open_flows()?, vec![flow.clone()]);
            assert_eq!(tx.flows_for("SN1")?.len(), 2);
            assert_eq!(
                tx.settlements("SN1")?,
                vec![settlement("SN1", 1), settlement("SN1", 2)]
            );
            assert_eq!(tx.backups()?.len(), 1);
            assert_eq!(tx.backup("b1")?.unwrap().verified_at_ms, Some(11));
            assert_eq!(tx.backup("nope")?, None);
            Ok(())
        })
        .unwrap();
    assert!(store.write(|tx| tx.delete_card("bind-1")).unwrap());
    assert!(!store.write(|tx| tx.delete_card("bind-1")).unwrap());
}

#[test]
fn store_model_json_keeps_pans_masked_and_bytes_hex() {
    let stored = StoredRecord {
        sn: "SN1".into(),
        origin_sn: "SN1".into(),
        epoch: [0xAB; 16],
        merchant_no: None,
        record: record(1, 2),
    };
    let text = serde_json::to_string(&stored).unwrap();
    assert!(text.contains(&"ab".repeat(16)), "{text}");
    assert!(text.contains("\"411111******1111\""), "{text}");
    assert_eq!(serde_json::from_str::<StoredRecord>(&text).unwrap(), stored);
    let full_pan = text.replace("411111******1111", "4111111111111111");
    assert!(serde_json::from_str::<StoredRecord>(&full_pan).is_err());
    let q = HistoryQuery {
        kinds: vec![RecordKind::PreAuthCompletion],
        ..Default::default()
    };
    let text = serde_json::to_string(&q).unwrap();
    assert!(text.contains("pre_auth_completion"), "{text}");
    assert_eq!(serde_json::from_str::<HistoryQuery>(&text).unwrap(), q);
}

fn draft(i: u64) -> AuditDraft {
    AuditDraft {
        at_ms: 1000 + i,
        action: "card.bind".into(),
        sn: (i % 2 == 0).then(|| "SN1".into()),
        // Keys deliberately out of order: the hash must not depend on map order.
        inputs: json!({"z": i, "a": {"y": [1, 2, {"b": true, "a": null}], "x": "é\"q"}}),
        outcome: "ok".into(),
        detail: json!({"reference": format!("ref-{i}")}),
    }
}

#[test]
fn store_audit_chain_verifies_and_matches_its_definition() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-audit");
    let store = open(dir.path(), &secrets).unwrap();
    let empty = store.read(|tx| tx.verify_audit()).unwrap();
    assert_eq!(
        empty,
        AuditCheck {
            entries: 0,
            head: [0; 32]
        }
    );
    let entries: Vec<AuditEntry> = (1..=5)
        .map(|i| store.write(|tx| tx.append_audit(&draft(i))).unwrap())
        .collect();
    assert_eq!(entries[0].seq, 1);
    assert_eq!(entries[0].prev_hash, [0; 32]);
    assert_eq!(entries[3].prev_hash, entries[2].hash);

    // The first hash, computed from the documented definition.
    let e = &entries[0];
    let canonical = format!(
        "{{\"action\":\"card.bind\",\"at_ms\":1001,\"detail\":{{\"reference\":\"ref-1\"}},\
         \"inputs\":{{\"a\":{{\"x\":\"é\\\"q\",\"y\":[1,2,{{\"a\":null,\"b\":true}}]}},\"z\":1}},\
         \"outcome\":\"ok\",\"prev_hash\":\"{}\",\"seq\":1,\"sn\":null}}",
        "0".repeat(64)
    );
    let expected: [u8; 32] = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(canonical.as_bytes())
        .finalize()
        .into();
    assert_eq!(e.hash, expected);

    let check = store.read(|tx| tx.verify_audit()).unwrap();
    assert_eq!(check.entries, 5);
    assert_eq!(check.head, entries[4].hash);
    assert_eq!(
        store.read(|tx| tx.audit(2, 2)).unwrap(),
        entries[1..3].to_vec()
    );
    assert_eq!(store.read(|tx| tx.audit(1, 100)).unwrap(), entries);
}

#[test]
fn store_audit_refuses_edits_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-audit-tamper");
    let store = open(dir.path(), &secrets).unwrap();
    for i in 1..=5 {
        store.write(|tx| tx.append_audit(&draft(i))).unwrap();
    }
    // The triggers refuse edits through SQL.
    for sql in [
        "UPDATE audit SET outcome = 'failed' WHERE seq = 3",
        "DELETE FROM audit WHERE seq = 3",
    ] {
        let err = store.write(|tx| Ok(tx.tx.execute(sql, [])?)).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    drop(store);

    // Someone with the key drops the trigger and rewrites an outcome…
    let conn = raw(dir.path(), &secrets);
    conn.execute_batch(
        "DROP TRIGGER audit_no_update;
         UPDATE audit SET outcome = 'failed' WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let store = open(dir.path(), &secrets).unwrap();
    let err = store.read(|tx| tx.verify_audit()).unwrap_err();
    assert!(matches!(err, StoreError::AuditBroken { seq: 3 }), "{err:?}");
    assert_eq!(err.code(), "audit-broken");
    drop(store);

    // …or restores it and deletes an entry instead.
    let conn = raw(dir.path(), &secrets);
    conn.execute_batch(
        "UPDATE audit SET outcome = 'ok' WHERE seq = 3;
         DROP TRIGGER audit_no_delete;
         DELETE FROM audit WHERE seq = 2;",
    )
    .unwrap();
    drop(conn);
    let store = open(dir.path(), &secrets).unwrap();
    let err = store.read(|tx| tx.verify_audit()).unwrap_err();
    assert!(matches!(err, StoreError::AuditBroken { seq: 2 }), "{err:?}");

    // A forged entry with a recomputed hash but a stale link is caught too.
    drop(store);
    let conn = raw(dir.path(), &secrets);
    conn.execute_batch("DELETE FROM audit; ").unwrap();
    drop(conn);
    let store = open(dir.path(), &secrets).unwrap();
    for i in 1..=3 {
        store.write(|tx| tx.append_audit(&draft(i))).unwrap();
    }
    drop(store);
    let conn = raw(dir.path(), &secrets);
    conn.execute(
        "UPDATE audit SET prev_hash = zeroblob(32) WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(conn);
    let store = open(dir.path(), &secrets).unwrap();
    let err = store.read(|tx| tx.verify_audit()).unwrap_err();
    assert!(matches!(err, StoreError::AuditBroken { seq: 2 }), "{err:?}");
}

#[test]
fn store_destroy_removes_key_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-destroy");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.append_records("SN1", None, EPOCH, &records(1..=20)))
        .unwrap();
    let db = store.path().to_path_buf();
    assert!(key::sidecar(&db, "-wal").exists());
    store.destroy(&secrets).unwrap();
    assert!(key_bytes(&secrets, KEY_NAME).is_none());
    assert!(key_bytes(&secrets, NEXT_KEY_NAME).is_none());
    for suffix in ["", "-wal", "-shm"] {
        assert!(!key::sidecar(&db, suffix).exists(), "{suffix}");
    }
    // The directory can start over.
    let store = open(dir.path(), &secrets).unwrap();
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 0);
}

#[test]
fn store_errors_and_debug_never_show_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-nokey");
    let store = open(dir.path(), &secrets).unwrap();
    let key = key_bytes(&secrets, KEY_NAME).unwrap();
    let hex_key = super::model::to_hex(&key);
    let mut printed = format!("{store:?}");
    let db_key = DbKey::load(&secrets, KEY_NAME).unwrap().unwrap();
    printed += &format!("{db_key:?}");
    drop(store);
    // Failures around the key: a malformed key entry, a wrong key.
    let other = keystore("store-nokey-other");
    other
        .set(KEY_NAME, &Secret::from_slice(&key[..31]))
        .unwrap();
    for err in [open(dir.path(), &other).unwrap_err(), {
        other
            .set(KEY_NAME, &Secret::from_slice(&[0x11; 32]))
            .unwrap();
        open(dir.path(), &other).unwrap_err()
    }] {
        printed += &format!("{err} {err:?}");
    }
    assert!(!printed.to_lowercase().contains(&hex_key), "{printed}");
    assert!(printed.contains("redacted"), "{printed}");
}

/// SQLCipher 4 page layout with a raw key: AES-256-CBC under the key itself over each page
/// minus its 80 reserved bytes (16-byte IV, 64-byte HMAC-SHA512); page 1 keeps its first 16
/// bytes (the salt) in the clear.
fn decrypt_page(page: &[u8], number: u32, key: &[u8]) -> Vec<u8> {
    use aes::cipher::generic_array::GenericArray;
    use aes::cipher::{BlockDecrypt, KeyInit};
    const RESERVE: usize = 80;
    let cipher = aes::Aes256::new(GenericArray::from_slice(key));
    let start = if number == 1 { 16 } else { 0 };
    let end = page.len() - RESERVE;
    let mut prev: [u8; 16] = page[end..end + 16].try_into().unwrap();
    let mut out = Vec::with_capacity(page.len());
    for block in page[start..end].chunks(16) {
        let mut b = GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        out.extend(b.iter().zip(prev).map(|(x, p)| x ^ p));
        prev = block.try_into().unwrap();
    }
    out
}

/// Every page image in the database file and its WAL, decrypted.
fn plaintext_pages(db: &Path, key: &[u8]) -> Vec<Vec<u8>> {
    const PAGE: usize = 4096;
    let mut pages = Vec::new();
    let main = file_bytes(db);
    for (i, page) in main.chunks(PAGE).enumerate() {
        let plain = decrypt_page(page, i as u32 + 1, key);
        if i == 0 {
            // Bytes 16.. of the SQLite header: page size 4096, 80 reserved bytes.
            assert_eq!(&plain[..2], &[0x10, 0x00], "page 1 did not decrypt");
            assert_eq!(plain[4], 80);
        }
        pages.push(plain);
    }
    let wal = file_bytes(&key::sidecar(db, "-wal"));
    if wal.len() > 32 {
        for frame in wal[32..].chunks(24 + PAGE) {
            let number = u32::from_be_bytes(frame[..4].try_into().unwrap());
            pages.push(decrypt_page(&frame[24..], number, key));
        }
    }
    pages
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn store_deleted_terminal_leaves_no_plaintext_behind() {
    const MARK: &[u8] = b"ZQX-MARK";
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("store-wipe");
    let store = open(dir.path(), &secrets).unwrap();
    let db = store.path().to_path_buf();
    let key = key_bytes(&secrets, KEY_NAME).unwrap();
    let marked: Vec<Record> = records(1..=300)
        .into_iter()
        .map(|r| Record {
            rrn: format!("ZQX-MARK{}", r.seq),
            ..r
        })
        .collect();
    store
        .write(|tx| {
            tx.upsert_terminal(&TerminalRow {
                model: "ZQX-MARK-MODEL".into(),
                ..terminal("GONE")
            })?;
            tx.upsert_terminal(&terminal("KEPT"))?;
            tx.append_records("GONE", Some("M1"), EPOCH, &marked)?;
            tx.append_records("KEPT", Some("M1"), EPOCH, &records(1..=300))
        })
        .unwrap();
    let raw_files = [file_bytes(&db), file_bytes(&key::sidecar(&db, "-wal"))].concat();
    assert!(!contains(&raw_files, MARK), "plaintext on disk");
    let found = plaintext_pages(&db, &key)
        .iter()
        .filter(|p| contains(p, MARK))
        .count();
    assert!(found > 0, "the page decryption does not work");

    store.write(|tx| tx.delete_terminal("GONE")).unwrap();
    // secure_delete alone: once the WAL is folded in, no live page keeps the deleted data.
    checkpoint(&store.lock()).unwrap();
    let main_only: Vec<Vec<u8>> = plaintext_pages(&db, &key);
    assert!(
        !main_only.iter().any(|p| contains(p, MARK)),
        "deleted data survives in the database file"
    );

    store.compact().unwrap();
    assert_eq!(file_bytes(&key::sidecar(&db, "-wal")).len(), 0);
    assert!(!plaintext_pages(&db, &key).iter().any(|p| contains(p, MARK)));
    let raw_files = [file_bytes(&db), file_bytes(&key::sidecar(&db, "-wal"))].concat();
    assert!(!contains(&raw_files, MARK));
    assert!(!raw_files.starts_with(b"SQLite format 3"));
    assert_eq!(store.read(|tx| tx.record_count(None)).unwrap(), 300);
    assert_eq!(
        store.read(|tx| tx.terminals()).unwrap(),
        vec![terminal("KEPT")]
    );
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
