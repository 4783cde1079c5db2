//! What posmate keeps in the keystore: the phone's identity key and the terminals' pinned keys.

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::error::{KeystoreError, Result};
use super::{Secret, SecretStore};

const KEY_LEN: usize = 32;
const PIN_PREFIX: &str = "terminal-pin.";

/// The phone's Noise static private key: one per install, created on first use.
pub struct PhoneIdentity;

impl PhoneIdentity {
    /// The keystore name of the phone's Noise static private key.
    pub const NAME: &'static str = "phone.noise-static";

    /// Returns the stored key, creating and storing a fresh one if there is none.
    ///
    /// A stored value of the wrong length is reported as `Corrupt` and never replaced
    /// silently: a new identity would invalidate every terminal's pairing.
    pub fn load_or_create<R: RngCore + CryptoRng>(
        store: &dyn SecretStore,
        rng: &mut R,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        if let Some(secret) = store.get(Self::NAME)? {
            return to_key(Self::NAME, &secret);
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        store.set(Self::NAME, &Secret::from_slice(key.as_ref()))?;
        Ok(key)
    }
}

/// Each paired terminal's Noise static public key, pinned by serial number.
pub struct TerminalPins<'a> {
    store: &'a dyn SecretStore,
}

impl<'a> TerminalPins<'a> {
    pub fn new(store: &'a dyn SecretStore) -> Self {
        TerminalPins { store }
    }

    /// The key pinned for `sn`, if the terminal is paired.
    pub fn get(&self, sn: &str) -> Result<Option<[u8; KEY_LEN]>> {
        let name = pin_name(sn)?;
        match self.store.get(&name)? {
            Some(secret) => Ok(Some(*to_key(&name, &secret)?)),
            None => Ok(None),
        }
    }

    /// Pins `key` for `sn`. Pinning the same key again is a no-op; a different key is refused
    /// with `PinConflict` until the terminal is forgotten, so a swapped terminal can't take
    /// over a pairing unnoticed.
    pub fn pin(&self, sn: &str, key: &[u8; KEY_LEN]) -> Result<()> {
        match self.get(sn)? {
            Some(existing) if existing == *key => Ok(()),
            Some(_) => Err(KeystoreError::PinConflict { sn: sn.to_string() }),
            None => self.store.set(&pin_name(sn)?, &Secret::from_slice(key)),
        }
    }

    /// Removes the pin for `sn`; returns whether there was one.
    pub fn forget(&self, sn: &str) -> Result<bool> {
        self.store.delete(&pin_name(sn)?)
    }
}

/// Deletes every secret posmate wrote to `store` ("wipe this phone"); returns how many
/// secrets existed. The phone's identity goes too, so pairings cannot be resumed afterwards.
pub fn wipe_all(store: &dyn SecretStore) -> Result<usize> {
    let mut deleted = 0;
    for name in store.list()? {
        if store.delete(&name)? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Terminal serial numbers: 1 to 64 ASCII letters, digits, `-` or `_`.
fn pin_name(sn: &str) -> Result<String> {
    let ok = (1..=64).contains(&sn.len())
        && sn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(format!("{PIN_PREFIX}{sn}"))
    } else {
        Err(KeystoreError::InvalidInput {
            what: "terminal serial number",
            reason: format!("{sn:?} must be 1 to 64 ASCII letters, digits, '-' or '_'"),
        })
    }
}

fn to_key(name: &str, secret: &Secret) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let bytes: [u8; KEY_LEN] = secret
        .expose()
        .try_into()
        .map_err(|_| KeystoreError::Corrupt {
            name: name.to_string(),
            reason: format!("holds {} bytes, expected {KEY_LEN}", secret.len()),
        })?;
    Ok(Zeroizing::new(bytes))
}
