//! Turns btleplug errors into what the user must be told. The platform-specific part
//! (BlueZ over D-Bus on Linux) is here and nowhere else.
//!
//! On Linux btleplug wraps BlueZ failures as `btleplug::Error::Other(bluez_async::
//! BluetoothError)`; D-Bus failures inside it carry a D-Bus error name. When the error cannot
//! be downcast (another wrapping, another platform) the same names are looked for in its
//! text, which is never shown to the user — it goes into the error's `source`.

use crate::transport::Unavailability;

/// Why Bluetooth is unusable, if `err` says so.
pub(crate) fn unavailability(err: &btleplug::Error) -> Option<Unavailability> {
    match err {
        btleplug::Error::PermissionDenied => Some(Unavailability::PermissionDenied),
        btleplug::Error::NoAdapterAvailable => Some(Unavailability::NoAdapter),
        btleplug::Error::Other(inner) => {
            platform::classify(inner.as_ref()).or_else(|| by_text(&inner.to_string()))
        }
        btleplug::Error::RuntimeError(text) => by_text(text),
        _ => None,
    }
}

/// Classifies by D-Bus error name or tell-tale message text.
pub(crate) fn by_text(text: &str) -> Option<Unavailability> {
    let has = |needle: &str| text.contains(needle);
    if has("org.freedesktop.DBus.Error.ServiceUnknown") || has("org.bluez was not provided") {
        Some(Unavailability::BlueZMissing)
    } else if has("org.freedesktop.DBus.Error.Spawn.") {
        Some(Unavailability::BlueZCannotStart)
    } else if has("system_bus_socket")
        || has("Failed to connect to socket")
        || has("org.freedesktop.DBus.Error.NoServer")
        || has("org.freedesktop.DBus.Error.FileNotFound")
    {
        Some(Unavailability::NoSystemBus)
    } else if has("org.bluez.Error.NotPermitted")
        || has("org.bluez.Error.NotAuthorized")
        || has("org.freedesktop.DBus.Error.AccessDenied")
    {
        Some(Unavailability::PermissionDenied)
    } else if has("org.bluez.Error.NotReady") {
        Some(Unavailability::AdapterPoweredOff)
    } else if has("No Bluetooth adapters found") {
        Some(Unavailability::NoAdapter)
    } else {
        None
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use super::by_text;
    use crate::transport::Unavailability;
    use bluez_async::BluetoothError;

    pub(super) fn classify(err: &(dyn std::error::Error + 'static)) -> Option<Unavailability> {
        match err.downcast_ref::<BluetoothError>()? {
            BluetoothError::NoBluetoothAdapters => Some(Unavailability::NoAdapter),
            BluetoothError::DbusError(e) => {
                by_text(e.name().unwrap_or_default()).or_else(|| by_text(e.message()?))
            }
            _ => None,
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use crate::transport::Unavailability;

    pub(super) fn classify(_err: &(dyn std::error::Error + 'static)) -> Option<Unavailability> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbus_names_map_to_causes() {
        let cases = [
            (
                "org.freedesktop.DBus.Error.ServiceUnknown: The name org.bluez was not provided",
                Unavailability::BlueZMissing,
            ),
            (
                "org.freedesktop.DBus.Error.Spawn.ChildExited: Process org.bluez exited with status 1",
                Unavailability::BlueZCannotStart,
            ),
            (
                "Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory",
                Unavailability::NoSystemBus,
            ),
            ("org.bluez.Error.NotPermitted", Unavailability::PermissionDenied),
            ("org.freedesktop.DBus.Error.AccessDenied", Unavailability::PermissionDenied),
            ("org.bluez.Error.NotReady: Resource Not Ready", Unavailability::AdapterPoweredOff),
        ];
        for (text, cause) in cases {
            assert_eq!(by_text(text), Some(cause), "{text}");
        }
        assert_eq!(
            by_text("org.bluez.Error.Failed: le-connection-abort-by-local"),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn bluez_errors_are_downcast() {
        let e = btleplug::Error::Other(Box::new(bluez_async::BluetoothError::NoBluetoothAdapters));
        assert_eq!(unavailability(&e), Some(Unavailability::NoAdapter));
        let dbus = dbus::Error::new_custom("org.freedesktop.DBus.Error.ServiceUnknown", "x");
        let e = btleplug::Error::Other(Box::new(bluez_async::BluetoothError::DbusError(dbus)));
        assert_eq!(unavailability(&e), Some(Unavailability::BlueZMissing));
        assert_eq!(
            unavailability(&btleplug::Error::PermissionDenied),
            Some(Unavailability::PermissionDenied)
        );
        assert_eq!(unavailability(&btleplug::Error::NotConnected), None);
    }
}
