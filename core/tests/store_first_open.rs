//! Phones opened at once in one process while SQLite is initialising — as at the start of
//! an app that restores several accounts, or a test binary — all open.
//!
//! SQLite marks itself initialised before SQLCipher's part of the initialisation has run,
//! so a connection keyed meanwhile failed with a bare `SQLITE_ERROR`. Each round here puts
//! SQLite back to uninitialised (`sqlite3_shutdown`, with no connection open) and has every
//! thread open its phone's store at the same instant.

use std::sync::{Arc, Barrier};
use std::thread;

use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace};
use posmate_core::store::{Store, StoreOptions};
use rusqlite::ffi;

const ROUNDS: usize = 40;
const PHONES: usize = 8;

#[test]
fn phones_opening_at_once_while_sqlite_initialises_all_open() {
    let options = StoreOptions {
        allow_volatile_key: true,
        max_pages: None,
    };
    for round in 0..ROUNDS {
        // SAFETY: no connection is open in this process between rounds (this binary has
        // only this test, and every store of the last round was dropped).
        assert_eq!(unsafe { ffi::sqlite3_shutdown() }, ffi::SQLITE_OK);
        let start = Arc::new(Barrier::new(PHONES));
        let phones: Vec<_> = (0..PHONES)
            .map(|i| {
                let start = start.clone();
                let options = options.clone();
                thread::spawn(move || {
                    let dir = tempfile::tempdir().unwrap();
                    let ns = Namespace::new(&format!("first-open-{round}-{i}")).unwrap();
                    let keys = KeyringStore::open(KeystoreChoice::Mock, ns).unwrap();
                    start.wait();
                    Store::open(dir.path(), &keys, &options).map(drop)
                })
            })
            .collect();
        for (i, phone) in phones.into_iter().enumerate() {
            if let Err(e) = phone.join().unwrap() {
                panic!("round {round}: phone {i} did not open: {e}");
            }
        }
    }
}
