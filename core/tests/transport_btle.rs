//! The btleplug transport on a machine without a usable Bluetooth stack must say what is
//! missing and how to fix it: a typed error, no panic, no D-Bus text in the message.

use std::error::Error as _;
use std::path::Path;

use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::{TransportError, Unavailability};

/// Where this process would find the system bus, as libdbus decides it.
fn system_bus_reachable() -> bool {
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(addr) => addr
            .strip_prefix("unix:path=")
            .map(|p| Path::new(p.split(',').next().unwrap_or(p)).exists())
            .unwrap_or(true),
        Err(_) => {
            Path::new("/var/run/dbus/system_bus_socket").exists()
                || Path::new("/run/dbus/system_bus_socket").exists()
        }
    }
}

#[tokio::test]
async fn opening_the_radio_explains_what_is_missing() {
    let result = BtleTransport::new(BtleOptions::default()).await;
    if system_bus_reachable() {
        // A bus exists here: the radio either opens, or fails for a reason past the bus.
        if let Err(err) = result {
            match &err {
                TransportError::BluetoothUnavailable { cause, .. } => {
                    assert_ne!(*cause, Unavailability::NoSystemBus, "{err}");
                    assert!(err.to_string().contains(cause.fix()));
                }
                other => panic!("expected BluetoothUnavailable, got {other:?}"),
            }
        }
        return;
    }
    let err = match result {
        Ok(_) => panic!("no system bus here, yet the radio opened"),
        Err(err) => err,
    };
    let TransportError::BluetoothUnavailable { cause, .. } = &err else {
        panic!("expected BluetoothUnavailable, got {err:?}");
    };
    assert_eq!(*cause, Unavailability::NoSystemBus);
    assert_eq!(err.code(), "bluetooth-unavailable");
    let message = err.to_string();
    assert!(
        message.contains("start the system D-Bus (systemctl start dbus) or use --sim"),
        "{message}"
    );
    assert!(!message.contains("org.freedesktop"), "{message}");
    assert!(!message.contains("system_bus_socket"), "{message}");
    // The platform's own words are kept for the logs.
    let detail = err
        .source()
        .expect("D-Bus detail kept as source")
        .to_string();
    assert!(
        detail.contains("socket") || detail.contains("bus"),
        "{detail}"
    );
    eprintln!("user sees: {message}\nlog detail: {detail}");
}
