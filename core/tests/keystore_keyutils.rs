//! The keystore on the real Linux kernel keyutils backend (no mock).
//!
//! Every test first joins a fresh session keyring for its own thread (the session keyring is
//! per-thread credential state and cargo runs each test on its own thread). If the kernel or
//! sandbox refuses that, the tests fail with the reason: they never skip.
//!
//! Keys are also linked to the user's persistent keyring, which outlives this process, so each
//! test uses a namespace unique to this run and wipes it at the end.
#![cfg(target_os = "linux")]

use posmate_core::keystore::{
    linux, wipe_all, KeyringStore, KeystoreChoice, Namespace, PhoneIdentity, Secret, SecretStore,
    TerminalPins, NAMESPACE_FILE,
};
use posmate_core::store::{Store, StoreOptions};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// Joins a session keyring or fails the test with the reason and the fix.
fn keyutils_store(ns: &Namespace) -> KeyringStore {
    if let Err(err) = linux::join_session_keyring() {
        panic!("the keyutils keystore test needs a session keyring and could not get one: {err}");
    }
    KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns.clone())
        .unwrap_or_else(|err| panic!("opening the keyutils keystore failed: {err}"))
}

/// A namespace no earlier run (or other test) can have used.
fn unique_namespace(test: &str) -> Namespace {
    let mut nonce = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut nonce);
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Namespace::new(&format!("it-{test}-{}-{hex}", std::process::id())).unwrap()
}

fn random_secret() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

#[test]
fn keystore_keyutils_round_trip_set_get_delete() {
    let ns = unique_namespace("rt");
    let store = keyutils_store(&ns);
    let info = store.backend();
    assert_eq!(info.name, "linux-keyutils");
    assert!(!info.durable);
    assert!(info.warning().unwrap().contains("reboot"));

    let value = random_secret();
    assert!(store.get("db.sqlcipher").unwrap().is_none());
    store
        .set("db.sqlcipher", &Secret::from_slice(&value))
        .unwrap();
    assert_eq!(store.get("db.sqlcipher").unwrap().unwrap().expose(), &value);
    let replaced = random_secret();
    store
        .set("db.sqlcipher", &Secret::from_slice(&replaced))
        .unwrap();
    assert_eq!(
        store.get("db.sqlcipher").unwrap().unwrap().expose(),
        &replaced
    );
    assert_eq!(store.list().unwrap(), ["db.sqlcipher"]);

    assert!(store.delete("db.sqlcipher").unwrap());
    assert!(store.get("db.sqlcipher").unwrap().is_none());
    assert!(
        !store.delete("db.sqlcipher").unwrap(),
        "delete must be idempotent"
    );
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn keystore_keyutils_persists_across_store_instances() {
    let ns = unique_namespace("persist");
    let mut rng = StdRng::from_entropy();
    let identity = {
        let store = keyutils_store(&ns);
        let key = PhoneIdentity::load_or_create(&store, &mut rng).unwrap();
        TerminalPins::new(&store).pin("SN-42", &[7; 32]).unwrap();
        key
    };
    let reopened = KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns.clone()).unwrap();
    let again = PhoneIdentity::load_or_create(&reopened, &mut rng).unwrap();
    assert_eq!(
        *again, *identity,
        "the phone identity changed between instances"
    );
    assert_eq!(
        TerminalPins::new(&reopened).get("SN-42").unwrap(),
        Some([7; 32])
    );
    assert_eq!(
        reopened.list().unwrap(),
        [PhoneIdentity::NAME, "terminal-pin.SN-42"]
    );
    assert_eq!(wipe_all(&reopened).unwrap(), 2);
}

/// An app update on iOS moves the app's container to a new path: the database must still find
/// its key there, through the namespace anchored in the data directory.
#[test]
fn keystore_keyutils_moved_data_directory_still_opens_its_database() {
    let root = tempfile::tempdir().unwrap();
    let before = root.path().join("container-A/posmate");
    std::fs::create_dir_all(&before).unwrap();
    // The namespace must be unique to this run (keyutils keys outlive the process): anchor one.
    let ns = unique_namespace("moved");
    std::fs::write(before.join(NAMESPACE_FILE), format!("{ns}\n")).unwrap();
    let opts = StoreOptions {
        allow_volatile_key: true,
        max_pages: None,
    };
    {
        let secrets = keyutils_store(&Namespace::anchored(&before).unwrap());
        Store::open(&before, &secrets, &opts).unwrap();
        assert_eq!(secrets.list().unwrap(), ["db-key"]);
    }

    let after = root.path().join("container-B/posmate");
    std::fs::create_dir_all(after.parent().unwrap()).unwrap();
    std::fs::rename(&before, &after).unwrap();
    let anchored = Namespace::anchored(&after).unwrap();
    assert_eq!(anchored, ns);
    let secrets = keyutils_store(&anchored);
    let reopened = Store::open(&after, &secrets, &opts);
    assert!(reopened.is_ok(), "{:?}", reopened.err());
    drop(reopened);

    // Through the path alone the key is not found, and the database is not replaced.
    let by_path = keyutils_store(&Namespace::for_data_dir(&after).unwrap());
    let err = Store::open(&after, &by_path, &opts).err().unwrap();
    assert_eq!(err.code(), "db-key-missing", "{err}");
    assert_eq!(wipe_all(&secrets).unwrap(), 1);
}

#[test]
fn keystore_keyutils_namespaces_are_separate() {
    let ns_a = unique_namespace("nsa");
    let ns_b = unique_namespace("nsb");
    let a = keyutils_store(&ns_a);
    let b = KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns_b).unwrap();
    let value_a = random_secret();
    let value_b = random_secret();
    a.set("db.sqlcipher", &Secret::from_slice(&value_a))
        .unwrap();
    assert!(b.get("db.sqlcipher").unwrap().is_none());
    assert!(b.list().unwrap().is_empty());
    b.set("db.sqlcipher", &Secret::from_slice(&value_b))
        .unwrap();
    assert_eq!(a.get("db.sqlcipher").unwrap().unwrap().expose(), &value_a);
    assert_eq!(b.get("db.sqlcipher").unwrap().unwrap().expose(), &value_b);

    assert_eq!(wipe_all(&b).unwrap(), 1);
    assert_eq!(
        a.get("db.sqlcipher").unwrap().unwrap().expose(),
        &value_a,
        "wiping one namespace touched another"
    );
    assert_eq!(wipe_all(&a).unwrap(), 1);
}

#[test]
fn keystore_keyutils_wipe_all_leaves_nothing() {
    let ns = unique_namespace("wipe");
    let store = keyutils_store(&ns);
    PhoneIdentity::load_or_create(&store, &mut StdRng::from_entropy()).unwrap();
    let pins = TerminalPins::new(&store);
    for sn in ["SN-1", "SN-2", "SN-3"] {
        pins.pin(sn, &random_secret()).unwrap();
    }
    store
        .set("db.sqlcipher", &Secret::from_slice(&random_secret()))
        .unwrap();
    let names = store.list().unwrap();
    assert_eq!(names.len(), 5, "{names:?}");

    assert_eq!(wipe_all(&store).unwrap(), 5);
    let fresh = KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns).unwrap();
    for name in &names {
        assert!(
            store.get(name).unwrap().is_none(),
            "{name} survived the wipe"
        );
        assert!(
            fresh.get(name).unwrap().is_none(),
            "{name} survived the wipe"
        );
    }
    assert!(
        fresh.list().unwrap().is_empty(),
        "the index survived the wipe"
    );
}

#[test]
fn keystore_keyutils_secrets_never_appear_in_text() {
    let ns = unique_namespace("redact");
    let store = keyutils_store(&ns);
    // Printable bytes, so a leak would show up as text as well as in a byte dump.
    let value = *b"TOPSECRET-TOPSECRET-TOPSECRET-32";
    store
        .set("db.sqlcipher", &Secret::from_slice(&value))
        .unwrap();
    let secret = store.get("db.sqlcipher").unwrap().unwrap();
    assert_eq!(secret.expose(), &value);

    // A wrong-length read through a domain helper produces an error mentioning the entry.
    store
        .set(PhoneIdentity::NAME, &Secret::from_slice(b"TOPSECRET"))
        .unwrap();
    let err = PhoneIdentity::load_or_create(&store, &mut StdRng::from_entropy()).unwrap_err();
    assert_eq!(err.code(), "keystore.corrupt");

    let decimal = format!("{:?}", &value[..4]);
    let texts = [
        format!("{secret:?}"),
        format!("{secret:#?}"),
        format!("{store:?}"),
        format!("{:?}", store.backend()),
        format!("{err}"),
        format!("{err:?}"),
    ];
    for text in &texts {
        assert!(!text.contains("TOPSECRET"), "secret leaked: {text}");
        assert!(
            !text.contains(&decimal[1..decimal.len() - 1]),
            "secret leaked: {text}"
        );
    }
    assert_eq!(texts[0], "Secret(<redacted, 32 bytes>)");
    assert_eq!(wipe_all(&store).unwrap(), 2);
}
