//! Unit tests over keyring-core's mock store. The real kernel backend is exercised in
//! `core/tests/keystore_keyutils.rs`, the Secret Service without a bus in
//! `core/tests/keystore_secret_service.rs` and with a real gnome-keyring by
//! `cargo xtask keystore-test`.

use std::io;
use std::sync::Arc;

use keyring_core::mock;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::backend::{self, Backend};
use super::*;

const SECRET_BYTES: [u8; 32] = [0x5A; 32];

fn mock_store(ns: &str) -> KeyringStore {
    KeyringStore::with_backend(backend::mock(), Namespace::new(ns).unwrap())
}

/// A second namespace over the same mock credential store as `other`.
fn sibling(other: &KeyringStore, ns: &str) -> KeyringStore {
    let first = backend::mock();
    let shared = Backend {
        store: Arc::clone(other.credential_store()),
        ..first
    };
    KeyringStore::with_backend(shared, Namespace::new(ns).unwrap())
}

/// Makes the next call on the credential behind `user` fail with `err`.
fn inject(store: &KeyringStore, user: &str, err: keyring_core::Error) {
    let entry = store
        .credential_store()
        .build(store.service(), user, None)
        .unwrap();
    let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
    cred.set_error(err);
}

fn assert_no_secret_text(text: &str) {
    assert!(
        !text.contains("5a") && !text.contains("5A") && !text.contains("90"),
        "{text}"
    );
    assert!(!text.contains('Z'), "secret bytes as text leaked: {text}");
}

#[test]
fn keystore_mock_round_trip_and_idempotent_delete() {
    let store = mock_store("t1");
    assert!(store.get("db.key").unwrap().is_none());
    store
        .set("db.key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap();
    assert_eq!(
        store.get("db.key").unwrap().unwrap().expose(),
        &SECRET_BYTES
    );
    store
        .set("db.key", &Secret::from_slice(&[1, 2, 3]))
        .unwrap();
    assert_eq!(store.get("db.key").unwrap().unwrap().expose(), &[1, 2, 3]);
    assert!(store.delete("db.key").unwrap());
    assert!(!store.delete("db.key").unwrap());
    assert!(store.get("db.key").unwrap().is_none());
}

#[test]
fn keystore_list_tracks_names_and_index_vanishes_when_empty() {
    let store = mock_store("t2");
    assert!(store.list().unwrap().is_empty());
    store.set("b", &Secret::from_slice(b"x")).unwrap();
    store.set("a", &Secret::from_slice(b"y")).unwrap();
    store.set("a", &Secret::from_slice(b"z")).unwrap();
    assert_eq!(store.list().unwrap(), ["a", "b"]);
    store.delete("b").unwrap();
    assert_eq!(store.list().unwrap(), ["a"]);
    store.delete("a").unwrap();
    assert!(store.list().unwrap().is_empty());
    let index = store
        .credential_store()
        .build(store.service(), "#index", None)
        .unwrap();
    assert!(matches!(
        index.get_secret(),
        Err(keyring_core::Error::NoEntry)
    ));
}

#[test]
fn keystore_namespaces_do_not_see_each_other() {
    let one = mock_store("one");
    let two = sibling(&one, "two");
    one.set("phone.noise-static", &Secret::from_slice(&SECRET_BYTES))
        .unwrap();
    assert!(two.get("phone.noise-static").unwrap().is_none());
    assert!(two.list().unwrap().is_empty());
    assert!(!two.delete("phone.noise-static").unwrap());
    assert!(one.get("phone.noise-static").unwrap().is_some());
}

#[test]
fn keystore_rejects_bad_names_namespaces_and_empty_secrets() {
    let store = mock_store("t3");
    for name in ["", "#index", "a/b", "a@b", "caf\u{e9}", &"x".repeat(129)] {
        let err = store.get(name).unwrap_err();
        assert_eq!(err.code(), "keystore.invalid_input", "{name:?}: {err}");
        assert!(store.set(name, &Secret::from_slice(b"v")).is_err());
        assert!(store.delete(name).is_err());
    }
    let err = store.set("ok", &Secret::new(Vec::new())).unwrap_err();
    assert!(matches!(
        err,
        KeystoreError::InvalidInput { what: "secret", .. }
    ));
    assert!(
        store.list().unwrap().is_empty(),
        "a refused set left an index entry"
    );
    for ns in ["", "a@b", "a:b", &"n".repeat(65)] {
        assert!(Namespace::new(ns).is_err(), "{ns:?}");
    }
}

#[test]
fn keystore_unavailable_and_denied_errors_map_from_no_storage_access() {
    let store = mock_store("t4");
    inject(
        &store,
        "db.key",
        keyring_core::Error::NoStorageAccess("collection is locked".into()),
    );
    let err = store.get("db.key").unwrap_err();
    match &err {
        KeystoreError::Unavailable {
            backend,
            reason,
            fix,
        } => {
            assert_eq!(*backend, "mock");
            assert!(reason.contains("collection is locked"));
            assert!(!fix.is_empty());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(err.code(), "keystore.unavailable");

    inject(
        &store,
        "db.key",
        keyring_core::Error::NoStorageAccess(Box::new(io::Error::from(
            io::ErrorKind::PermissionDenied,
        ))),
    );
    let err = store
        .set("db.key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Denied { name, .. } if name == "db.key"),
        "{err:?}"
    );
    assert_no_secret_text(&format!("{err} {err:?}"));
    // The injected error is one-shot: the store works again afterwards.
    store
        .set("db.key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap();
    assert_eq!(
        store.get("db.key").unwrap().unwrap().expose(),
        &SECRET_BYTES
    );
}

#[test]
fn keystore_corrupt_errors_never_carry_the_secret() {
    let store = mock_store("t5");
    store
        .set("db.key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap();
    inject(
        &store,
        "db.key",
        keyring_core::Error::BadEncoding(SECRET_BYTES.to_vec()),
    );
    let err = store.get("db.key").unwrap_err();
    assert!(matches!(&err, KeystoreError::Corrupt { name, .. } if name == "db.key"));
    assert_no_secret_text(&format!("{err} {err:?}"));

    inject(
        &store,
        "db.key",
        keyring_core::Error::BadDataFormat(SECRET_BYTES.to_vec(), "bad padding".into()),
    );
    let err = store.get("db.key").unwrap_err();
    assert_eq!(err.code(), "keystore.corrupt");
    assert!(err.to_string().contains("bad padding"));
    assert_no_secret_text(&format!("{err} {err:?}"));
}

#[test]
fn keystore_other_backend_errors_map_to_backend_or_invalid_input() {
    let store = mock_store("t6");
    store
        .set("db.key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap();

    inject(
        &store,
        "db.key",
        keyring_core::Error::PlatformFailure("dbus timeout".into()),
    );
    let err = store.delete("db.key").unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Backend { backend: "mock", detail } if detail.contains("dbus timeout"))
    );
    assert_eq!(
        store.list().unwrap(),
        ["db.key"],
        "a failed delete must keep the index"
    );

    // Ambiguous carries entries whose Debug would print the mock's stored secret.
    let twin = store
        .credential_store()
        .build(store.service(), "db.key", None)
        .unwrap();
    inject(&store, "db.key", keyring_core::Error::Ambiguous(vec![twin]));
    let err = store.get("db.key").unwrap_err();
    assert_eq!(err.code(), "keystore.backend");
    assert!(err.to_string().contains("1 credentials match"));
    assert_no_secret_text(&format!("{err} {err:?}"));

    inject(
        &store,
        "db.key",
        keyring_core::Error::TooLong("secret".into(), 8),
    );
    let err = store
        .set("db.key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap_err();
    assert_eq!(err.code(), "keystore.invalid_input");
    assert_no_secret_text(&format!("{err} {err:?}"));

    // Nothing was lost by the failed calls.
    assert_eq!(
        store.get("db.key").unwrap().unwrap().expose(),
        &SECRET_BYTES
    );
}

#[test]
fn keystore_damaged_index_never_blocks_listing_or_wiping() {
    let store = mock_store("t7");
    store.set("kept", &Secret::from_slice(b"v")).unwrap();
    let index = store
        .credential_store()
        .build(store.service(), "#index", None)
        .unwrap();
    index.set_secret(b"kept\nnot/ok\n\xFF\xFE").unwrap();
    assert_eq!(store.list().unwrap(), ["kept"]);
    assert_eq!(wipe_all(&store).unwrap(), 1);
    assert!(store.get("kept").unwrap().is_none());
    assert!(matches!(
        index.get_secret(),
        Err(keyring_core::Error::NoEntry)
    ));
}

#[test]
fn keystore_phone_identity_is_created_once_and_stable() {
    let store = mock_store("t8");
    let mut rng = StdRng::seed_from_u64(7);
    let first = PhoneIdentity::load_or_create(&store, &mut rng).unwrap();
    let again = PhoneIdentity::load_or_create(&store, &mut rng).unwrap();
    assert_eq!(*first, *again);
    assert_ne!(*first, [0u8; 32]);
    assert_eq!(
        store.get(PhoneIdentity::NAME).unwrap().unwrap().expose(),
        first.as_ref()
    );
    // A different rng must not change an existing identity.
    let mut other = StdRng::seed_from_u64(8);
    assert_eq!(
        *PhoneIdentity::load_or_create(&store, &mut other).unwrap(),
        *first
    );
}

#[test]
fn keystore_phone_identity_of_wrong_length_is_corrupt_not_replaced() {
    let store = mock_store("t9");
    store
        .set(PhoneIdentity::NAME, &Secret::from_slice(&[9; 31]))
        .unwrap();
    let err = PhoneIdentity::load_or_create(&store, &mut StdRng::seed_from_u64(1)).unwrap_err();
    assert!(matches!(&err, KeystoreError::Corrupt { reason, .. } if reason.contains("31 bytes")));
    assert_eq!(store.get(PhoneIdentity::NAME).unwrap().unwrap().len(), 31);
}

#[test]
fn keystore_terminal_pins_pin_get_conflict_forget() {
    let store = mock_store("t10");
    let pins = TerminalPins::new(&store);
    let key = [3u8; 32];
    assert_eq!(pins.get("SN-0001").unwrap(), None);
    pins.pin("SN-0001", &key).unwrap();
    assert_eq!(pins.get("SN-0001").unwrap(), Some(key));
    pins.pin("SN-0001", &key).unwrap();
    let err = pins.pin("SN-0001", &[4u8; 32]).unwrap_err();
    assert!(matches!(&err, KeystoreError::PinConflict { sn } if sn == "SN-0001"));
    assert_eq!(
        pins.get("SN-0001").unwrap(),
        Some(key),
        "conflict changed the pin"
    );
    assert!(pins.forget("SN-0001").unwrap());
    assert!(!pins.forget("SN-0001").unwrap());
    assert_eq!(pins.get("SN-0001").unwrap(), None);
    pins.pin("SN-0001", &[4u8; 32]).unwrap();
    assert_eq!(pins.get("SN-0001").unwrap(), Some([4u8; 32]));
    assert_eq!(
        pins.get("bad sn").unwrap_err().code(),
        "keystore.invalid_input"
    );
}

#[test]
fn keystore_wipe_all_deletes_everything_written() {
    let store = mock_store("t11");
    let identity = PhoneIdentity::load_or_create(&store, &mut StdRng::seed_from_u64(2)).unwrap();
    assert_ne!(*identity, [0u8; 32]);
    let pins = TerminalPins::new(&store);
    pins.pin("SN-A", &[1; 32]).unwrap();
    pins.pin("SN-B", &[2; 32]).unwrap();
    store
        .set("db.sqlcipher", &Secret::from_slice(&SECRET_BYTES))
        .unwrap();
    let names = store.list().unwrap();
    assert_eq!(names.len(), 4);

    assert_eq!(wipe_all(&store).unwrap(), 4);
    for name in &names {
        assert!(
            store.get(name).unwrap().is_none(),
            "{name} survived the wipe"
        );
    }
    assert!(store.list().unwrap().is_empty());
    assert_eq!(wipe_all(&store).unwrap(), 0);
}

#[test]
fn keystore_data_dir_namespaces_are_stable_and_distinct() {
    let a = Namespace::for_data_dir(std::path::Path::new("/var/lib/posmate-a")).unwrap();
    let a2 = Namespace::for_data_dir(std::path::Path::new("/var/lib/posmate-a")).unwrap();
    let b = Namespace::for_data_dir(std::path::Path::new("/var/lib/posmate-b")).unwrap();
    assert_eq!(a, a2);
    assert_ne!(a, b);
    assert!(
        a.as_str().starts_with("dir-") && a.as_str().len() == 20,
        "{a}"
    );
    assert!(Namespace::new(a.as_str()).is_ok());
}

#[test]
fn keystore_anchored_namespace_is_written_once_and_moves_with_the_directory() {
    let root = tempfile::tempdir().unwrap();
    let first = root.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let anchored = Namespace::anchored(&first).unwrap();
    assert_eq!(anchored, Namespace::for_data_dir(&first).unwrap());
    let file = first.join(NAMESPACE_FILE);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{anchored}\n")
    );
    assert!(!first.join(format!("{NAMESPACE_FILE}.tmp")).exists());
    assert_eq!(Namespace::anchored(&first).unwrap(), anchored);

    // The OS moves the directory (an iOS app update): the path hash changes, the anchor not.
    let moved = root.path().join("moved");
    std::fs::rename(&first, &moved).unwrap();
    assert_ne!(Namespace::for_data_dir(&moved).unwrap(), anchored);
    assert_eq!(Namespace::anchored(&moved).unwrap(), anchored);

    // Another directory gets its own.
    let other = root.path().join("other");
    std::fs::create_dir(&other).unwrap();
    assert_ne!(Namespace::anchored(&other).unwrap(), anchored);
}

#[test]
fn keystore_anchor_that_is_not_a_label_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(NAMESPACE_FILE);
    for bad in ["", "\n", "has space", "../escape", &"x".repeat(65)] {
        std::fs::write(&file, bad).unwrap();
        let err = Namespace::anchored(dir.path()).unwrap_err();
        assert_eq!(err.code(), "keystore.corrupt", "{bad:?}");
        assert!(err.to_string().contains(NAMESPACE_FILE), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
    }
    // A label written by hand (no newline) is accepted as it is.
    std::fs::write(&file, "phone-1").unwrap();
    assert_eq!(Namespace::anchored(dir.path()).unwrap().as_str(), "phone-1");
}

#[test]
fn keystore_entries_are_built_with_the_backends_modifiers() {
    // keyring-core's mock refuses every modifier, so a refusal proves they reach `build`
    // (the iOS Keychain's access policy travels this way).
    let mut backend = backend::mock();
    backend.modifiers.insert("access-policy", "when-unlocked");
    let store = KeyringStore::with_backend(backend, Namespace::new("mods").unwrap());
    let err = store
        .set("db-key", &Secret::from_slice(&SECRET_BYTES))
        .unwrap_err();
    assert_eq!(err.code(), "keystore.backend");
    assert!(err.to_string().contains("modifiers"), "{err}");
}

#[test]
fn keystore_choice_parsing_and_backend_info() {
    assert_eq!("os".parse::<KeystoreChoice>().unwrap(), KeystoreChoice::Os);
    assert_eq!(
        "keyutils".parse::<KeystoreChoice>().unwrap(),
        KeystoreChoice::LinuxKeyutils
    );
    assert_eq!(
        "mock".parse::<KeystoreChoice>().unwrap(),
        KeystoreChoice::Mock
    );
    assert_eq!(
        "secret-service".parse::<KeystoreChoice>().unwrap(),
        KeystoreChoice::SecretService
    );
    let err = "vault".parse::<KeystoreChoice>().unwrap_err();
    assert_eq!(err.code(), "keystore.invalid_input");
    assert!(err
        .to_string()
        .contains("os, secret-service, keyutils, mock"));

    let store = KeyringStore::open(KeystoreChoice::Mock, Namespace::new("t12").unwrap()).unwrap();
    let info = store.backend();
    assert_eq!(info.name, "mock");
    assert!(!info.durable);
    assert!(info.warning().unwrap().contains("not durable"));
    let durable = BackendInfo {
        durable: true,
        ..info
    };
    assert_eq!(durable.warning(), None);
    assert_eq!(
        format!("{store:?}"),
        "KeyringStore { backend: \"mock\", namespace: \"t12\" }"
    );
}

fn info(name: &'static str, durable: bool) -> BackendInfo {
    BackendInfo {
        name,
        durable,
        description: String::new(),
    }
}

#[test]
fn keystore_consent_is_needed_only_for_a_volatile_backend_and_then_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let durable = info("secret-service", true);
    let volatile = info("linux-keyutils", false);
    assert_eq!(
        consent::check(dir.path(), &durable, false).unwrap(),
        consent::Consent::NotNeeded
    );
    let missing = consent::check(dir.path(), &volatile, false).unwrap();
    assert_eq!(missing, consent::Consent::Missing);
    assert!(!missing.allows_volatile_key());
    let now = consent::check(dir.path(), &volatile, true).unwrap();
    assert_eq!(now, consent::Consent::GivenNow);
    assert!(now.allows_volatile_key());
    // Checking writes nothing: consent is recorded only once the caller says so.
    assert!(!dir.path().join(consent::CONSENT_FILE).exists());
    assert_eq!(consent::read(dir.path()).unwrap(), None);
}

#[test]
fn keystore_recorded_consent_covers_later_calls_for_its_backend_only() {
    let dir = tempfile::tempdir().unwrap();
    let keyutils = info("linux-keyutils", false);
    let recorded = consent::record(dir.path(), &keyutils, 1_767_225_600_000).unwrap();
    assert_eq!(recorded.backend, "linux-keyutils");
    assert!(!dir
        .path()
        .join(format!("{}.tmp", consent::CONSENT_FILE))
        .exists());
    let later = consent::check(dir.path(), &keyutils, false).unwrap();
    assert_eq!(later, consent::Consent::Recorded(recorded.clone()));
    assert!(later.allows_volatile_key());
    // Another volatile store is a new question.
    let mock = info("mock", false);
    assert_eq!(
        consent::check(dir.path(), &mock, false).unwrap(),
        consent::Consent::Missing
    );
    // Recording again replaces the record.
    let again = consent::record(dir.path(), &mock, 1_767_225_700_000).unwrap();
    assert_eq!(consent::read(dir.path()).unwrap(), Some(again));
    assert_eq!(
        consent::check(dir.path(), &keyutils, false).unwrap(),
        consent::Consent::Missing
    );
}

#[test]
fn keystore_consent_file_that_is_not_a_record_is_corrupt_never_consent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(consent::CONSENT_FILE);
    for bad in [
        "",
        "yes",
        "{\"backend\":\"linux-keyutils\"}",
        "{\"backend\":1}",
    ] {
        std::fs::write(&file, bad).unwrap();
        let err = consent::check(dir.path(), &info("linux-keyutils", false), true).unwrap_err();
        assert_eq!(err.code(), "keystore.corrupt", "{bad:?}");
        assert!(err.to_string().contains(consent::CONSENT_FILE), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
    }
}
