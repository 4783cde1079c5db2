//! The device key learnt for each SN: refused when another comes, kept when the row goes,
//! learnt from the rows of a database written before it was kept.

use super::*;

fn with_key(sn: &str, key: u8) -> TerminalRow {
    TerminalRow {
        device_key: [key; 32],
        ..terminal(sn)
    }
}

#[test]
fn another_device_key_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("device-keys-refused");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| tx.upsert_terminal(&with_key("SN1", 1)))
        .unwrap();
    let learnt = store.read(|tx| tx.learnt_device_key("SN1")).unwrap();
    assert_eq!(learnt, Some([1; 32]));

    // The same key again (a refreshed row) is fine.
    let mut refreshed = with_key("SN1", 1);
    refreshed.firmware = "2.0.0".into();
    store.write(|tx| tx.upsert_terminal(&refreshed)).unwrap();

    // Another key, even with other changes in the same transaction: all rolled back.
    let err = store
        .write(|tx| {
            tx.upsert_terminal(&with_key("SN2", 2))?;
            tx.upsert_terminal(&with_key("SN1", 9))
        })
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DeviceKeyChanged { sn } if sn == "SN1"),
        "{err:?}"
    );
    assert_eq!(err.code(), "device-key-changed");
    assert_eq!(
        store.read(|tx| tx.terminal("SN1")).unwrap(),
        Some(refreshed)
    );
    assert_eq!(store.read(|tx| tx.terminal("SN2")).unwrap(), None);
    assert_eq!(store.read(|tx| tx.learnt_device_key("SN2")).unwrap(), None);

    // Forgetting the terminal keeps what was learnt.
    store.write(|tx| tx.delete_terminal("SN1")).unwrap();
    assert_eq!(store.read(|tx| tx.terminal("SN1")).unwrap(), None);
    let err = store
        .write(|tx| tx.upsert_terminal(&with_key("SN1", 9)))
        .unwrap_err();
    assert_eq!(err.code(), "device-key-changed");
    store
        .write(|tx| tx.upsert_terminal(&with_key("SN1", 1)))
        .unwrap();
}

#[test]
fn a_database_from_before_learns_the_keys_of_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = keystore("device-keys-migrated");
    let store = open(dir.path(), &secrets).unwrap();
    store
        .write(|tx| {
            tx.upsert_terminal(&with_key("SN1", 1))?;
            tx.upsert_terminal(&with_key("SN2", 2))
        })
        .unwrap();
    drop(store);
    // As schema version 2 left it: no table of learnt keys.
    let conn = raw(dir.path(), &secrets);
    conn.execute_batch("DROP TABLE device_keys; PRAGMA user_version = 2;")
        .unwrap();
    drop(conn);

    let store = open(dir.path(), &secrets).unwrap();
    for (sn, key) in [("SN1", 1), ("SN2", 2)] {
        assert_eq!(
            store.read(|tx| tx.learnt_device_key(sn)).unwrap(),
            Some([key; 32])
        );
    }
    let err = store
        .write(|tx| tx.upsert_terminal(&with_key("SN2", 7)))
        .unwrap_err();
    assert_eq!(err.code(), "device-key-changed");
}
