//! The store's rows (terminals, settlements, backups, the audit chain) and its lifecycle
//! end: moving and deleting terminals, destroying the store, errors that never show the key.

use super::*;

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
        terminal: totals,
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

fn draft(i: u64) -> AuditEvent {
    AuditEvent {
        at_ms: 1000 + i,
        action: "card.bind".into(),
        sn: i.is_multiple_of(2).then(|| "SN1".into()),
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
