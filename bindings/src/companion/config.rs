//! How an app opens a companion: where its data lives and which keystore holds its secrets.

use posmate_core::keystore::KeystoreChoice;

/// Where the phone's secrets (database key, identity, terminal pins) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Keystore {
    /// The platform's durable keystore: the Android Keystore (after
    /// `PosmateAndroid.init(context)`), the iOS Keychain, the login Keychain on macOS, the
    /// Secret Service on Linux (docs/mobile.md, "Keystores on the phones").
    Os,
    /// The Linux kernel key-retention service (volatile: lost at reboot).
    Keyutils,
    /// In memory, lost when the process exits: tests and demos only.
    Mock,
    /// The freedesktop.org Secret Service on the session bus (Linux desktops; durable): `Os`
    /// there, by name. Last, so the earlier variants keep their positions.
    SecretService,
}

impl From<Keystore> for KeystoreChoice {
    fn from(k: Keystore) -> Self {
        match k {
            Keystore::Os => KeystoreChoice::Os,
            Keystore::Keyutils => KeystoreChoice::LinuxKeyutils,
            Keystore::Mock => KeystoreChoice::Mock,
            Keystore::SecretService => KeystoreChoice::SecretService,
        }
    }
}

/// How to open a companion. Only `data_dir` and `keystore` are required.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CompanionConfig {
    /// The app's private directory for the database; created if missing.
    pub data_dir: String,
    pub keystore: Keystore,
    /// Accept a keystore that loses the database key at reboot (the user was told).
    #[uniffi(default = false)]
    pub allow_volatile_key: bool,
    /// How long to scan for a terminal whose address changed (default: 3 s over Bluetooth,
    /// less in simulation).
    #[uniffi(default = None)]
    pub scan_time_ms: Option<u64>,
    /// Connection attempts before a reconnect gives up (default 5).
    #[uniffi(default = None)]
    pub reconnect_attempts: Option<u32>,
    /// Longest wait for a terminal's answer (default 15 s).
    #[uniffi(default = None)]
    pub request_timeout_ms: Option<u64>,
    /// scrypt work factor (log2 N) for backups (default 18; lower only for tests).
    #[uniffi(default = None)]
    pub backup_work_factor: Option<u8>,
}
