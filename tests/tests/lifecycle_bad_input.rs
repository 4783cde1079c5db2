//! Bad input gets a clear typed error with a stable code, and changes nothing. Also: after a
//! decommission, the raw database, WAL and keystore hold none of the terminal's keys and no
//! full card number.

use std::sync::Arc;

use posmate_core::acquirer::{AcquirerError, ActivationRequest, CardPurposeKind, Gateway};
use posmate_core::backup::Passphrase;
use posmate_core::companion::Companion;
use posmate_core::error::Error;
use posmate_core::flows::{
    BackupSpec, BindInput, CardSourceInput, DecommissionInput, FlowControl, SystemClock,
};
use posmate_core::keystore::Secret;
use posmate_core::store::{HistoryQuery, TerminalState};
use posmate_proto::gatt::Lifecycle;
use posmate_sim::acquirer::{MerchantSetup, Review};
use posmate_tests::world::*;
use zeroize::Zeroizing;

const FULL_PAN: &str = "6222021234567890128";

fn ctl() -> FlowControl {
    FlowControl::default()
}

fn all(sn: &str) -> HistoryQuery {
    HistoryQuery {
        sn: Some(sn.into()),
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

/// The database opened directly with SQLCipher and its raw key, as an attacker holding the
/// key (or a forensic tool) would.
fn open_raw(path: &std::path::Path, key: &[u8]) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))
        .unwrap();
    conn
}

/// Every value of every table, decrypted, as bytes.
fn plaintext_dump(path: &std::path::Path, key: &[u8]) -> Vec<u8> {
    let conn = open_raw(path, key);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(tables.len() >= 5, "{tables:?}");
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        out.extend_from_slice(b)
                    }
                    rusqlite::types::ValueRef::Integer(v) => {
                        out.extend_from_slice(v.to_string().as_bytes())
                    }
                    _ => {}
                }
                out.push(b'|');
            }
        }
    }
    out
}

/// Everything a merchant could see change.
fn snapshot(phone: &Companion, sn: &str) -> String {
    format!(
        "{:?}|{:?}|{}|{:?}|{}",
        phone.terminals().unwrap(),
        phone.cards(MERCHANT_NO).unwrap(),
        phone.history(&all(sn)).unwrap().records.len(),
        phone
            .open_flows()
            .unwrap()
            .iter()
            .map(|f| (&f.kind, &f.step, f.status))
            .collect::<Vec<_>>(),
        phone
            .store()
            .read(|tx| tx.sync_cursor(sn))
            .unwrap()
            .map_or(0, |c| c.last_seq),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_activation_input_is_refused_without_change() {
    let w = World::new(1, 41, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.pair(&phone, 0).await;
    let before = snapshot(&phone, &sn);

    let mut bad_sn = w.activation(0);
    bad_sn.sn = "sn 0042!".into();
    let err = phone.activate(bad_sn, &ctl()).await.unwrap_err();
    assert_eq!(err.code(), "invalid-input");
    assert!(err.to_string().contains("serial number"), "{err}");

    let mut unknown = w.activation(0);
    unknown.sn = "SN2026NOTHERE".into();
    let err = phone.activate(unknown, &ctl()).await.unwrap_err();
    assert_eq!(err.code(), "unknown-terminal");
    for e in [
        phone.sync("SN2026NOTHERE", &ctl()).await.unwrap_err(),
        phone.settle("SN2026NOTHERE", &ctl()).await.unwrap_err(),
    ] {
        assert_eq!(e.code(), "unknown-terminal");
    }

    let mut wrong_code = w.activation(0);
    wrong_code.activation_code = Zeroizing::new("WRONG999".into());
    let err = phone.activate(wrong_code, &ctl()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Acquirer(AcquirerError::WrongActivationCode { .. })
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.needs_internet());
    assert_eq!(phone.terminal(&sn).unwrap().state, TerminalState::Paired);
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Factory);
    assert!(w
        .secrets
        .list()
        .unwrap()
        .iter()
        .all(|n| !n.starts_with("activation-code")));
    assert_eq!(snapshot(&phone, &sn), before);

    // The right code still works afterwards.
    phone.activate(w.activation(0), &ctl()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_claimed_by_another_merchant_at_the_acquirer_is_refused() {
    let w = World::new(1, 42, Review::Instant);
    w.acquirer.register_merchant(MerchantSetup {
        merchant_no: "898310148160077".into(),
        legal_name: "Slow Review Ltd".into(),
        review: Review::AfterPolls(100),
    });
    let sn = w.sn(0);
    // Another merchant applied for this terminal (still under review, terminal untouched).
    let gateway = posmate_sim_world::acquirer::gateway(&w.acquirer);
    let mut details = merchant_details();
    details.legal_name = "Slow Review Ltd".into();
    gateway
        .activate(&ActivationRequest {
            request_id: "req-other".into(),
            sn: sn.clone(),
            terminal_no: terminal_no(0),
            merchant_no: "898310148160077".into(),
            activation_code: activation_code(0),
            merchant: details,
            device_key: w.terminals[0].device_key(),
        })
        .await
        .unwrap();
    let phone = w.phone();
    w.pair(&phone, 0).await;
    let before = snapshot(&phone, &sn);
    let err = phone.activate(w.activation(0), &ctl()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Acquirer(AcquirerError::OwnedByAnotherMerchant { .. })
        ),
        "{err:?}"
    );
    assert_eq!(snapshot(&phone, &sn), before);
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Factory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_takings_block_decommission_without_change() {
    let w = World::new(1, 43, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    w.sale(0, 1_234);
    phone.sync(&sn, &ctl()).await.unwrap();
    let before = snapshot(&phone, &sn);
    let path = w.backup_path("never.age");
    let err = phone
        .decommission(
            DecommissionInput {
                sn: sn.clone(),
                reason: "closing".into(),
                backup: BackupSpec::Write {
                    path: path.clone(),
                    passphrase: passphrase(),
                },
            },
            &ctl(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsettledBatch { records: 1, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "unsettled-batch");
    assert!(err.user_action().contains("settle"));
    assert!(!path.exists(), "nothing written");
    assert_eq!(snapshot(&phone, &sn), before);
    assert_eq!(w.terminals[0].info().lifecycle, Lifecycle::Activated);
    assert_eq!(w.acquirer.terminal_state(&sn), "active");

    // A weak passphrase is refused before anything happens.
    phone.settle(&sn, &ctl()).await.unwrap();
    let err = phone
        .decommission(
            DecommissionInput {
                sn: sn.clone(),
                reason: "closing".into(),
                backup: BackupSpec::Write {
                    path: path.clone(),
                    passphrase: Passphrase::new("short"),
                },
            },
            &ctl(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "weak-passphrase", "{err:?}");
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_store_and_keystore_are_typed_errors_and_left_untouched() {
    let w = World::new(1, 44, Review::Instant);
    {
        let phone = w.phone();
        w.activated(&phone, 0).await;
        w.sale(0, 10);
        phone.sync(&w.sn(0), &ctl()).await.unwrap();
    }
    let db = w.dir.join("posmate.db");
    let open = |w: &World| {
        Companion::open_with_secrets(
            w.config(),
            w.secrets.clone(),
            Arc::new(w.radio.clone()),
            Arc::new(posmate_sim_world::acquirer::gateway(&w.acquirer)),
            Arc::new(SystemClock),
        )
    };
    let original = std::fs::read(&db).unwrap();
    let key = w.secrets.get("db-key").unwrap().expect("db key");

    // Wrong key.
    w.secrets
        .set("db-key", &Secret::from_slice(&[7u8; 32]))
        .unwrap();
    let err = open(&w).err().expect("wrong key refused");
    assert_eq!(err.code(), "db-wrong-key", "{err:?}");
    assert_eq!(std::fs::read(&db).unwrap(), original);

    // Missing key.
    w.secrets.delete("db-key").unwrap();
    let err = open(&w).err().expect("missing key refused");
    assert_eq!(err.code(), "db-key-missing", "{err:?}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        original,
        "no new key over an existing file"
    );
    assert!(w.secrets.get("db-key").unwrap().is_none());

    // Corrupted file.
    w.secrets.set("db-key", &key).unwrap();
    let mut damaged = original.clone();
    for b in damaged.iter_mut().skip(100).take(4000) {
        *b ^= 0x5A;
    }
    std::fs::write(&db, &damaged).unwrap();
    let err = open(&w).err().expect("corrupt file refused");
    assert!(
        matches!(err.code(), "db-corrupt" | "db-wrong-key"),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), damaged);

    // Restored file opens again with its key.
    std::fs::write(&db, &original).unwrap();
    let phone = open(&w).expect("opens");
    assert_eq!(phone.history(&all(&w.sn(0))).unwrap().records.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_nothing() {
    let w = World::new(1, 45, Review::Instant);
    let sn = w.sn(0);
    {
        let phone = w.phone();
        w.activated(&phone, 0).await;
    }
    for k in 0..400u64 {
        w.sale(0, 10 + k);
    }
    let pages = {
        let key = w.secrets.get("db-key").unwrap().unwrap();
        let conn = open_raw(&w.dir.join("posmate.db"), key.expose());
        conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let mut tight = w.config();
    tight.max_db_pages = Some(pages as u32 + 2);
    let phone = w.phone_with(tight);
    let err = phone.sync(&sn, &ctl()).await.unwrap_err();
    assert_eq!(err.code(), "storage-full", "{err:?}");
    assert!(err.user_action().contains("free"));
    let held = phone
        .store()
        .read(|tx| tx.sync_cursor(&sn))
        .unwrap()
        .map_or(0, |c| c.last_seq);
    let rows = phone.history(&all(&sn)).unwrap().records.len() as u64;
    assert_eq!(
        rows.min(500),
        held.min(500),
        "cursor and records agree after the failure"
    );
    drop(phone);
    let phone = w.phone();
    let done = phone.sync(&sn, &ctl()).await.unwrap();
    assert_eq!(done.last_seq, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_backup_passphrase_is_told_apart() {
    let w = World::new(1, 46, Review::Instant);
    let phone = w.phone();
    w.activated(&phone, 0).await;
    let path = w.backup_path("b.age");
    phone.backup_create(&path, &passphrase()).unwrap();
    let before = snapshot(&phone, &w.sn(0));
    let err = phone
        .restore(&path, &Passphrase::new("not the passphrase"))
        .unwrap_err();
    assert_eq!(err.code(), "wrong-passphrase", "{err:?}");
    assert_eq!(snapshot(&phone, &w.sn(0)), before);
    let err = phone
        .restore(&w.backup_path("missing.age"), &passphrase())
        .unwrap_err();
    assert!(
        matches!(err.code(), "backup-io" | "not-a-backup"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_decommission_no_key_or_full_pan_remains_on_the_phone() {
    let w = World::new(1, 47, Review::Instant);
    let phone = w.phone();
    let sn = w.sn(0);
    w.activated(&phone, 0).await;
    let pin = phone
        .secrets()
        .get(&format!("terminal-pin.{sn}"))
        .unwrap()
        .expect("pinned");
    let key_before = w.secrets.get("db-key").unwrap().expect("db key");
    // A typed credit card passes through the phone once.
    phone
        .bind_card(
            BindInput {
                merchant_no: MERCHANT_NO.into(),
                purpose: CardPurposeKind::Credit,
                holder_name: MERCHANT_NAME.into(),
                source: CardSourceInput::Manual {
                    pan: Zeroizing::new("4111111111111111".into()),
                    expiry: "0331".into(),
                },
            },
            &ctl(),
        )
        .await
        .unwrap();
    for k in 0..40u64 {
        w.sale(0, 50 + k);
    }
    phone.settle(&sn, &ctl()).await.unwrap();
    phone
        .decommission(
            DecommissionInput {
                sn: sn.clone(),
                reason: "end of lease".into(),
                backup: BackupSpec::Write {
                    path: w.backup_path("end.age"),
                    passphrase: passphrase(),
                },
            },
            &ctl(),
        )
        .await
        .unwrap();
    let db_key = w.secrets.get("db-key").unwrap().expect("db key");
    assert_ne!(
        db_key.expose(),
        key_before.expose(),
        "the database was rekeyed: pages flash kept elsewhere died with the old key"
    );
    assert!(w.secrets.get("db-key.next").unwrap().is_none());
    drop(phone);
    // Raw bytes of the database, WAL and shared memory, plus a plaintext export of the
    // store made with the database key: none holds the pin, a full PAN or key bytes.
    let mut haystacks: Vec<(String, Vec<u8>)> = files_bytes(&w.dir, "posmate.db");
    assert!(!haystacks.is_empty());
    haystacks.push((
        "decrypted dump".into(),
        plaintext_dump(&w.dir.join("posmate.db"), db_key.expose()),
    ));
    let pin_hex: String = pin.expose().iter().map(|b| format!("{b:02x}")).collect();
    for (name, bytes) in &haystacks {
        for needle in [
            pin.expose(),
            pin_hex.as_bytes(),
            FULL_PAN.as_bytes(),
            b"4111111111111111".as_slice(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|win| win == needle),
                "{name} holds a secret or a full PAN"
            );
        }
    }
    let names = w.secrets.list().unwrap();
    assert!(names.iter().all(|n| !n.contains(&sn)), "{names:?}");
}
