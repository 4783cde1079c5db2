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

mod device_keys;
mod fleet;
mod history;
mod plaintext;
mod rows;
