//! The Secret Service backend when there is none to reach: on Linux `os` is the Secret
//! Service, never the kernel store, and without a session bus it fails naming what is
//! missing instead of falling back. (The working store, against a real gnome-keyring, is
//! `cargo xtask keystore-test`.)
//!
//! One test in its own binary: it changes the process environment, which nothing else in
//! this process reads meanwhile.
#![cfg(target_os = "linux")]

use posmate_core::keystore::{KeyringStore, KeystoreChoice, KeystoreError, Namespace};

fn unavailable_reason(choice: KeystoreChoice) -> String {
    let err = KeyringStore::open(choice, Namespace::new("unreachable").unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    match err {
        KeystoreError::Unavailable {
            backend,
            reason,
            fix,
        } => {
            assert_eq!(backend, "secret-service", "{choice:?}");
            assert!(
                fix.contains("gnome-keyring-daemon")
                    && fix.contains("--keystore keyutils --allow-volatile-key"),
                "{fix}"
            );
            reason
        }
        other => panic!("{choice:?}: expected Unavailable, got {other:?}"),
    }
}

#[test]
fn keystore_os_on_linux_is_the_secret_service_and_never_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("unix:path={}", dir.path().join("no-bus").display());
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &dead);
    for choice in [KeystoreChoice::Os, KeystoreChoice::SecretService] {
        let reason = unavailable_reason(choice);
        assert!(reason.contains("does not answer"), "{reason}");
        assert!(!reason.contains(&dead), "{reason}");
    }

    // No bus named at all (and none where libdbus would look next, nor X11 to launch one).
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    std::env::remove_var("DISPLAY");
    std::env::set_var("XDG_RUNTIME_DIR", dir.path());
    let reason = unavailable_reason(KeystoreChoice::Os);
    assert_eq!(
        reason,
        "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    );
}
