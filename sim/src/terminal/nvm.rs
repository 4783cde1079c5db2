//! The terminal's non-volatile memory: everything that survives a disconnect or a power
//! cycle. Serialisable so that `posmate sim` can keep terminals between runs.
//!
//! The secrets in here are the *simulated* terminal's own (its factory key, Noise key and
//! payment keys); a simulator may store them, but they are zeroized on drop and never
//! appear in `Debug` output or logs.

use proto::gatt::Lifecycle;
use proto::message::KeyKind;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::journal::Journal;

/// Paired phones kept at most (protocol.md §5.1); pairing a ninth evicts the oldest.
pub const MAX_PAIRED_PHONES: usize = 8;
/// Consecutive wrong codes before the first lockout (§5.5).
pub const FREE_ATTEMPTS: u32 = 5;
/// First lockout; doubles with each further failure.
pub const FIRST_LOCK_MS: u64 = 60_000;
/// Longest lockout.
pub const MAX_LOCK_MS: u64 = 3_600_000;

/// One installed payment key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub slot: u8,
    pub kind: u8,
    pub key: [u8; 16],
    pub kcv: [u8; 3],
}

impl StoredKey {
    pub fn kind(&self) -> KeyKind {
        match self.kind {
            0 => KeyKind::Tmk,
            1 => KeyKind::PinKey,
            2 => KeyKind::MacKey,
            _ => KeyKind::DataKey,
        }
    }
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The answer to the latest wipe, kept so that a phone that lost it can ask again with the
/// same nonce and get the same signed receipt (protocol.md §6.1). Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WipeRecord {
    pub nonce: [u8; 16],
    pub wiped_at_ms: u64,
    pub journal_head: u64,
    /// The Ed25519 signature (64 bytes; serde has no 64-byte arrays).
    pub signature: Vec<u8>,
}

/// Wrong-code counter and lockout, in terminal wall-clock milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    /// Consecutive failed pairing attempts (PAIR3 that failed to verify).
    pub failures: u32,
    /// Pairing refused until this time.
    pub locked_until_ms: u64,
}

impl Lockout {
    /// Milliseconds until pairing is allowed again, if locked.
    pub fn remaining_ms(&self, now_ms: u64) -> Option<u64> {
        (self.locked_until_ms > now_ms).then(|| self.locked_until_ms - now_ms)
    }

    /// Counts one failure; returns `(attempts_left, lock_ms)` — the attempts before the
    /// (next) lockout and the lock just imposed, if any.
    pub fn fail(&mut self, now_ms: u64) -> (u8, Option<u64>) {
        self.failures = self.failures.saturating_add(1);
        if self.failures < FREE_ATTEMPTS {
            return (
                u8::try_from(FREE_ATTEMPTS - self.failures).unwrap_or(0),
                None,
            );
        }
        let doublings = (self.failures - FREE_ATTEMPTS).min(16);
        let lock = (FIRST_LOCK_MS << doublings).min(MAX_LOCK_MS);
        self.locked_until_ms = now_ms + lock;
        (0, Some(lock))
    }

    pub fn reset(&mut self) {
        *self = Lockout::default();
    }
}

/// Where the simulated terminal's random stream stands, so a restored terminal continues it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: [u8; 32],
    pub word_pos: u64,
}

impl Drop for RngState {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

/// Everything the firmware keeps in flash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nvm {
    pub sn: String,
    pub model: String,
    pub firmware: String,
    /// Wall-clock milliseconds at link time 0 of the first connection (the simulated RTC).
    pub clock_base_ms: u64,
    /// Microseconds past `clock_base_ms` the RTC has reached; it keeps counting across
    /// connections and power cycles (see `Firmware::wall_ms`). Absent in older files.
    #[serde(default)]
    pub clock_us: u64,
    pub battery_pct: u8,
    pub lifecycle: u8,
    /// Ed25519 factory device key seed. Never erased.
    pub device_seed: [u8; 32],
    /// Noise static secret. Regenerated at every wipe.
    pub noise_secret: [u8; 32],
    /// Paired phones' static keys, oldest first.
    pub paired_phones: Vec<[u8; 32]>,
    pub lockout: Lockout,
    pub keys: Vec<StoredKey>,
    /// Terminal and merchant numbers the installed keys were issued for.
    pub issued_to: Option<(String, String)>,
    /// Set by a successful SignOn.
    pub terminal_no: Option<String>,
    pub merchant_no: Option<String>,
    pub journal: Journal,
    pub rng: RngState,
    /// The latest wipe's receipt. Absent in older files.
    #[serde(default)]
    pub last_wipe: Option<WipeRecord>,
}

impl Nvm {
    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle::from_code(self.lifecycle).unwrap_or(Lifecycle::Factory)
    }

    pub fn set_lifecycle(&mut self, l: Lifecycle) {
        self.lifecycle = l.code();
    }

    /// Stores a newly paired phone as the newest, evicting the oldest beyond the limit.
    pub fn add_paired_phone(&mut self, key: [u8; 32]) {
        self.paired_phones.retain(|k| *k != key);
        self.paired_phones.push(key);
        while self.paired_phones.len() > MAX_PAIRED_PHONES {
            self.paired_phones.remove(0);
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("Nvm serialises")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

impl Drop for Nvm {
    fn drop(&mut self) {
        self.device_seed.zeroize();
        self.noise_secret.zeroize();
    }
}

impl core::fmt::Debug for Nvm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nvm")
            .field("sn", &self.sn)
            .field("lifecycle", &self.lifecycle())
            .field("paired_phones", &self.paired_phones.len())
            .field("lockout", &self.lockout)
            .field("key_slots", &self.keys.len())
            .field("journal_head", &self.journal.head())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_five_doubles_and_caps() {
        let mut l = Lockout::default();
        for left in (1..=4).rev() {
            assert_eq!(l.fail(0), (left, None));
        }
        assert_eq!(l.fail(1_000), (0, Some(60_000)));
        assert_eq!(l.remaining_ms(1_000), Some(60_000));
        assert_eq!(l.remaining_ms(61_000), None);
        assert_eq!(l.fail(61_000), (0, Some(120_000)));
        assert_eq!(l.fail(0), (0, Some(240_000)));
        for _ in 0..10 {
            l.fail(0);
        }
        assert_eq!(l.fail(0), (0, Some(MAX_LOCK_MS)));
        l.reset();
        assert_eq!(l.fail(0), (4, None));
    }
}
