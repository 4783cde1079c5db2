//! The freedesktop.org Secret Service (gnome-keyring, KeePassXC, KWallet) as the durable
//! Linux keystore, and why it cannot be reached, in words a user can act on.
//!
//! keyring-core's Secret Service store reports every failure as D-Bus error text, and waits
//! for an unlock prompt without end (in a headless session nobody ever answers one). So
//! before that store is built, [`probe`] connects once itself with prompts refused and names
//! the first thing missing: the session bus, a provider on it, its default collection, or
//! the collection's unlock. Errors met later (the provider quit mid-run) are put in the same
//! words by [`reason_for`].

use dbus_secret_service::{EncryptionType, Error as SsError, SecretService};

use super::error::{KeystoreError, Result};

/// The backend's stable name.
pub(super) const NAME: &str = "secret-service";

/// What to do when the Secret Service cannot be used.
pub(super) const FIX: &str = "start a Secret Service such as gnome-keyring-daemon in your \
                              session and unlock it, or choose --keystore keyutils \
                              --allow-volatile-key";

/// The first thing missing for the Secret Service to work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missing {
    /// DBUS_SESSION_BUS_ADDRESS is not set and no session bus was found otherwise.
    NoSessionBus,
    /// DBUS_SESSION_BUS_ADDRESS names a bus that does not answer.
    DeadSessionBus,
    /// The bus answers but nothing owns org.freedesktop.secrets.
    NoProvider,
    /// The bus tried to start a provider and it failed.
    ProviderCannotStart,
    /// The provider has no default collection (no login keyring).
    NoDefaultCollection,
    /// The default collection is locked and posmate does not prompt.
    Locked,
    /// Anything else: a D-Bus error by its name only (never its message, which may quote
    /// data), another failure of the service by its short description.
    Other(String),
}

impl Missing {
    /// One line for the user.
    pub(crate) fn reason(&self) -> String {
        match self {
            Missing::NoSessionBus => {
                "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)".into()
            }
            Missing::DeadSessionBus => {
                "the D-Bus session bus named by DBUS_SESSION_BUS_ADDRESS does not answer".into()
            }
            Missing::NoProvider => {
                "no Secret Service provider (org.freedesktop.secrets) runs on the session bus"
                    .into()
            }
            Missing::ProviderCannotStart => {
                "the session bus could not start a Secret Service provider".into()
            }
            Missing::NoDefaultCollection => {
                "the Secret Service has no default collection (login keyring)".into()
            }
            Missing::Locked => "the Secret Service's default collection is locked".into(),
            Missing::Other(name) => format!("the Secret Service failed ({name})"),
        }
    }
}

/// Why a Secret Service error means the service as a whole is unusable, or `None` when it
/// concerns one item. `bus_named`: whether DBUS_SESSION_BUS_ADDRESS is set.
pub(crate) fn classify(err: &SsError, bus_named: bool) -> Option<Missing> {
    match err {
        SsError::Locked | SsError::Prompt => Some(Missing::Locked),
        SsError::Unavailable => Some(Missing::NoProvider),
        SsError::Dbus(e) => Some(classify_dbus(e.name().unwrap_or_default(), bus_named)),
        _ => None,
    }
}

/// A D-Bus error by name. Errors naming a missing or departed service are the provider's;
/// any other failure of the first call is the bus's own (no server, bad address, refused).
fn classify_dbus(name: &str, bus_named: bool) -> Missing {
    const DBUS: &str = "org.freedesktop.DBus.Error.";
    let short = name.strip_prefix(DBUS).unwrap_or(name);
    match short {
        "ServiceUnknown" | "NameHasNoOwner" | "NoReply" | "UnknownObject" => Missing::NoProvider,
        s if s.starts_with("Spawn.") => Missing::ProviderCannotStart,
        "NoServer" | "FileNotFound" | "NotSupported" | "BadAddress" | "Disconnected"
        | "NoNetwork" | "IOError" | "AuthFailed" | "" => {
            if bus_named {
                Missing::DeadSessionBus
            } else {
                Missing::NoSessionBus
            }
        }
        _ => Missing::Other(name.to_string()),
    }
}

/// Whether the environment names a session bus.
fn bus_named() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
}

/// The reason to report for a Secret Service error met after opening, if it means the
/// service went away or locked.
pub(crate) fn reason_for(err: &SsError) -> Option<String> {
    classify(err, bus_named()).map(|m| m.reason())
}

/// Connects once, with unlock prompts refused, and checks that the default collection
/// exists and is unlocked.
pub(super) fn probe() -> Result<()> {
    let unavailable = |missing: Missing| KeystoreError::Unavailable {
        backend: NAME,
        reason: missing.reason(),
        fix: FIX.into(),
    };
    let bus_named = bus_named();
    let fail = |e: SsError| {
        unavailable(classify(&e, bus_named).unwrap_or_else(|| Missing::Other(e.to_string())))
    };
    let service = SecretService::connect_with_max_prompt_timeout(EncryptionType::Dh, 0).map_err(
        |e| match e {
            // Failing the very first call with a generic error is the bus's failure.
            SsError::Dbus(ref d) if d.name().is_none() => unavailable(if bus_named {
                Missing::DeadSessionBus
            } else {
                Missing::NoSessionBus
            }),
            other => fail(other),
        },
    )?;
    let collection = service.get_default_collection().map_err(|e| match e {
        SsError::NoResult => unavailable(Missing::NoDefaultCollection),
        other => fail(other),
    })?;
    if collection.is_locked().map_err(fail)? {
        return Err(unavailable(Missing::Locked));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_service_bus_failures_are_named_by_the_environment() {
        for name in [
            "org.freedesktop.DBus.Error.NoServer",
            "org.freedesktop.DBus.Error.FileNotFound",
            "org.freedesktop.DBus.Error.NotSupported",
            "",
        ] {
            assert_eq!(classify_dbus(name, false), Missing::NoSessionBus, "{name}");
            assert_eq!(classify_dbus(name, true), Missing::DeadSessionBus, "{name}");
        }
    }

    #[test]
    fn secret_service_provider_failures_are_the_providers() {
        for name in [
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
            "org.freedesktop.DBus.Error.NoReply",
        ] {
            assert_eq!(classify_dbus(name, true), Missing::NoProvider, "{name}");
        }
        assert_eq!(
            classify_dbus("org.freedesktop.DBus.Error.Spawn.ChildExited", true),
            Missing::ProviderCannotStart
        );
        assert_eq!(classify(&SsError::Locked, true), Some(Missing::Locked));
        assert_eq!(classify(&SsError::Prompt, true), Some(Missing::Locked));
        assert_eq!(classify(&SsError::Parse, true), None);
        let other = classify_dbus("org.gnome.keyring.Error.Denied", true);
        assert_eq!(
            other.reason(),
            "the Secret Service failed (org.gnome.keyring.Error.Denied)"
        );
    }

    #[test]
    fn secret_service_reasons_are_one_line_and_distinct() {
        let all = [
            Missing::NoSessionBus,
            Missing::DeadSessionBus,
            Missing::NoProvider,
            Missing::ProviderCannotStart,
            Missing::NoDefaultCollection,
            Missing::Locked,
        ];
        let reasons: std::collections::BTreeSet<String> = all.iter().map(Missing::reason).collect();
        assert_eq!(reasons.len(), all.len());
        assert!(reasons.iter().all(|r| !r.contains('\n') && !r.is_empty()));
        assert!(FIX.contains("gnome-keyring-daemon") && FIX.contains("--allow-volatile-key"));
    }
}
