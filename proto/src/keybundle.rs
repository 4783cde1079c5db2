//! Key bundles: the terminal's keys, sealed by the acquirer for one terminal so that the
//! phone relaying them (`Request::InstallKeys`) cannot read them (`docs/protocol.md` §8).
//!
//! ```text
//! sealed    = eph_pub (32) ‖ ciphertext ‖ tag (16)
//! shared    = X25519(eph_secret, device_x25519_pub)          (all-zero result is rejected)
//! key       = HKDF-SHA256(salt = "posmate key bundle v1", ikm = shared, info = SN, L = 32)
//! ciphertext‖tag = ChaCha20-Poly1305(key, nonce = 12 zero bytes, aad = SN, plaintext = CBOR KeyBundle)
//! KeyBundle = [ terminal_no text, merchant_no text, keys [ [ slot u8, kind u8 (KeySlot kind), key bytes(16) ] ] ]
//! ```
//!
//! The terminal's X25519 key is its Ed25519 factory device key (`Info.device_key`) in
//! Montgomery form: public `VerifyingKey::to_montgomery`, secret the X25519-clamped
//! `SigningKey::to_scalar_bytes` (the first half of SHA-512 of the Ed25519 seed). One
//! factory key therefore both signs wipe receipts and receives key bundles; the ephemeral
//! key is fresh per bundle, so the fixed zero nonce never repeats under one AEAD key.
//! Binding the SN as HKDF info and AEAD associated data makes a bundle sealed for one
//! terminal fail to open on any other, even one that somehow shared a device key.

use aes::cipher::KeyInit;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use cmac::{Cmac, Mac};
use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use minicbor::{Decode, Decoder, Encode, Encoder};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// HKDF salt: domain separation for key-bundle sealing.
pub const HKDF_SALT: &[u8] = b"posmate key bundle v1";
/// Length of one symmetric terminal key (AES-128 / 2-key 3DES sized).
pub const KEY_LEN: usize = 16;
/// Length of a key check value.
pub const KCV_LEN: usize = 3;
const EPH_LEN: usize = 32;
const TAG_LEN: usize = 16;

pub use crate::message::KeyKind;

/// One key of a bundle. The key bytes are zeroized on drop and never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct BundleKey {
    #[zeroize(skip)]
    pub slot: u8,
    #[zeroize(skip)]
    pub kind: KeyKind,
    pub key: [u8; KEY_LEN],
}

impl core::fmt::Debug for BundleKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BundleKey")
            .field("slot", &self.slot)
            .field("kind", &self.kind)
            .field("kcv", &kcv(&self.key))
            .finish()
    }
}

/// What the acquirer issues to one activated terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBundle {
    pub terminal_no: String,
    pub merchant_no: String,
    pub keys: Vec<BundleKey>,
}

/// Why a key bundle could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyBundleError {
    /// The device key is not a valid Ed25519 public key.
    #[error("the terminal's device key is not a valid Ed25519 key")]
    BadDeviceKey,
    /// Shorter than an ephemeral key and a tag.
    #[error("the sealed key bundle is truncated")]
    Truncated,
    /// The key exchange produced the all-zero secret (a low-order ephemeral key).
    #[error("the sealed key bundle carries a weak ephemeral key")]
    WeakKey,
    /// Authentication failed: sealed for another terminal or SN, or altered.
    #[error("the key bundle was not sealed for this terminal or was altered")]
    NotForThisTerminal,
    /// It decrypted but is not a well-formed `KeyBundle`.
    #[error("the key bundle is malformed")]
    Malformed,
}

impl<C> Encode<C> for KeyBundle {
    fn encode<W: minicbor::encode::Write>(
        &self,
        e: &mut Encoder<W>,
        _ctx: &mut C,
    ) -> Result<(), minicbor::encode::Error<W::Error>> {
        e.array(3)?
            .str(&self.terminal_no)?
            .str(&self.merchant_no)?
            .array(self.keys.len() as u64)?;
        for k in &self.keys {
            e.array(3)?.u8(k.slot)?.encode(k.kind)?.bytes(&k.key)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for KeyBundle {
    fn decode(d: &mut Decoder<'b>, _ctx: &mut C) -> Result<Self, minicbor::decode::Error> {
        let bad = minicbor::decode::Error::message;
        if d.array()? != Some(3) {
            return Err(bad("KeyBundle: expected a 3-element array"));
        }
        let terminal_no = d.str()?.to_owned();
        let merchant_no = d.str()?.to_owned();
        let n = d
            .array()?
            .ok_or_else(|| bad("KeyBundle: indefinite key list"))?;
        let mut keys = Vec::with_capacity(n.min(16) as usize);
        for _ in 0..n {
            if d.array()? != Some(3) {
                return Err(bad("KeyBundle: key entry is not a 3-element array"));
            }
            let slot = d.u8()?;
            let kind: KeyKind = d.decode()?;
            let bytes = d.bytes()?;
            let key: [u8; KEY_LEN] = bytes
                .try_into()
                .map_err(|_| bad("KeyBundle: key is not 16 bytes"))?;
            keys.push(BundleKey { slot, kind, key });
        }
        Ok(KeyBundle {
            terminal_no,
            merchant_no,
            keys,
        })
    }
}

/// The terminal's X25519 public key derived from its Ed25519 device public key.
pub fn device_x25519_public(device_key: &[u8; 32]) -> Result<[u8; 32], KeyBundleError> {
    let vk = VerifyingKey::from_bytes(device_key).map_err(|_| KeyBundleError::BadDeviceKey)?;
    Ok(vk.to_montgomery().to_bytes())
}

fn aead_key(shared: &[u8; 32], sn: &str) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), shared);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(sn.as_bytes(), okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// Seals `bundle` for the terminal whose Ed25519 device public key is `device_key` and whose
/// serial number is `sn` (acquirer side).
pub fn seal(
    device_key: &[u8; 32],
    sn: &str,
    bundle: &KeyBundle,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, KeyBundleError> {
    let device_x = PublicKey::from(device_x25519_public(device_key)?);
    let eph = StaticSecret::random_from_rng(&mut *rng);
    let eph_pub = PublicKey::from(&eph);
    let shared = eph.diffie_hellman(&device_x);
    if !shared.was_contributory() {
        return Err(KeyBundleError::BadDeviceKey);
    }
    let key = aead_key(shared.as_bytes(), sn);
    let plain = Zeroizing::new(minicbor::to_vec(bundle).expect("encoding into a Vec cannot fail"));
    let cipher = ChaCha20Poly1305::new(key.as_ref().into());
    let ct = cipher
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: &plain,
                aad: sn.as_bytes(),
            },
        )
        .expect("ChaCha20-Poly1305 encryption of a small message cannot fail");
    let mut out = Vec::with_capacity(EPH_LEN + ct.len());
    out.extend_from_slice(eph_pub.as_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed bundle with the terminal's own device key (terminal side).
pub fn open(device_key: &SigningKey, sn: &str, sealed: &[u8]) -> Result<KeyBundle, KeyBundleError> {
    if sealed.len() < EPH_LEN + TAG_LEN {
        return Err(KeyBundleError::Truncated);
    }
    let (eph, ct) = sealed.split_at(EPH_LEN);
    let eph: [u8; 32] = eph.try_into().expect("split at 32");
    let mut scalar = device_key.to_scalar_bytes();
    let secret = StaticSecret::from(scalar);
    scalar.zeroize();
    let shared = secret.diffie_hellman(&PublicKey::from(eph));
    if !shared.was_contributory() {
        return Err(KeyBundleError::WeakKey);
    }
    let key = aead_key(shared.as_bytes(), sn);
    let cipher = ChaCha20Poly1305::new(key.as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: ct,
                    aad: sn.as_bytes(),
                },
            )
            .map_err(|_| KeyBundleError::NotForThisTerminal)?,
    );
    minicbor::decode(&plain).map_err(|_| KeyBundleError::Malformed)
}

/// Key check value as HSMs compute it for AES keys (ANSI X9.24; AWS Payment Cryptography's
/// `CMAC` algorithm): the first 3 bytes of AES-CMAC (NIST SP 800-38B) over 16 zero bytes.
/// Lets the phone and acquirer confirm which key is installed without seeing it; unlike an
/// ECB encryption of the zero block, it is not also a known plaintext/ciphertext pair.
pub fn kcv(key: &[u8; KEY_LEN]) -> [u8; KCV_LEN] {
    let tag = cmac(key, &[0; 16]);
    [tag[0], tag[1], tag[2]]
}

/// AES-128-CMAC of `msg` (NIST SP 800-38B, RFC 4493).
fn cmac(key: &[u8; KEY_LEN], msg: &[u8]) -> [u8; 16] {
    let mut mac = <Cmac<aes::Aes128> as KeyInit>::new(key.into());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn bundle() -> KeyBundle {
        KeyBundle {
            terminal_no: "T0000001".into(),
            merchant_no: "M123456789012345".into(),
            keys: vec![
                BundleKey {
                    slot: 0,
                    kind: KeyKind::Tmk,
                    key: [0x11; 16],
                },
                BundleKey {
                    slot: 1,
                    kind: KeyKind::PinKey,
                    key: [0x22; 16],
                },
            ],
        }
    }

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(1)
    }

    #[test]
    fn montgomery_public_matches_scalar_secret() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let x = StaticSecret::from(sk.to_scalar_bytes());
        assert_eq!(
            PublicKey::from(&x).to_bytes(),
            device_x25519_public(&sk.verifying_key().to_bytes()).unwrap()
        );
    }

    #[test]
    fn seal_open_round_trip() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let sealed = seal(
            &sk.verifying_key().to_bytes(),
            "SN-A",
            &bundle(),
            &mut rng(),
        )
        .unwrap();
        assert_eq!(open(&sk, "SN-A", &sealed).unwrap(), bundle());
        // The relaying phone sees no key bytes in clear.
        assert!(!sealed
            .windows(16)
            .any(|w| w == [0x11; 16] || w == [0x22; 16]));
    }

    #[test]
    fn other_terminal_or_sn_or_tamper_fails() {
        let a = SigningKey::from_bytes(&[3; 32]);
        let b = SigningKey::from_bytes(&[4; 32]);
        let sealed = seal(&a.verifying_key().to_bytes(), "SN-A", &bundle(), &mut rng()).unwrap();
        assert_eq!(
            open(&b, "SN-A", &sealed),
            Err(KeyBundleError::NotForThisTerminal)
        );
        assert_eq!(
            open(&a, "SN-B", &sealed),
            Err(KeyBundleError::NotForThisTerminal)
        );
        let mut t = sealed.clone();
        *t.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&a, "SN-A", &t),
            Err(KeyBundleError::NotForThisTerminal)
        );
        assert_eq!(
            open(&a, "SN-A", &sealed[..40]),
            Err(KeyBundleError::Truncated)
        );
        let mut low = sealed.clone();
        low[..32].fill(0);
        assert_eq!(open(&a, "SN-A", &low), Err(KeyBundleError::WeakKey));
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4493 §4 (the AES-128 examples of NIST SP 800-38B, appendix D.1).
    #[test]
    fn cmac_matches_the_published_vectors() {
        let key: [u8; 16] = hex("2b7e1516 28aed2a6 abf71588 09cf4f3c")
            .try_into()
            .unwrap();
        let m = hex(
            "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 \
             30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710",
        );
        for (len, tag) in [
            (0, "bb1d6929 e9593728 7fa37d12 9b756746"),
            (16, "070a16b4 6b4d4144 f79bdd9d d04a287c"),
            (40, "dfa66747 de9ae630 30ca3261 1497c827"),
            (64, "51f0bebf 7e3b9d92 fc497417 79363cfe"),
        ] {
            assert_eq!(
                cmac(&key, &m[..len]).to_vec(),
                hex(tag),
                "{len}-byte message"
            );
        }
    }

    /// KCVs as OpenSSL's CMAC (Python `cryptography`) gives them for the same keys.
    #[test]
    fn kcv_is_the_cmac_of_the_zero_block() {
        assert_eq!(kcv(&[0; 16]), [0x76, 0x3c, 0xbc]);
        assert_eq!(kcv(&[0x11; 16]), [0xee, 0x23, 0xd8]);
        let key: [u8; 16] = hex("2b7e1516 28aed2a6 abf71588 09cf4f3c")
            .try_into()
            .unwrap();
        assert_eq!(kcv(&key), [0x7a, 0xd3, 0x86]);
    }

    #[test]
    fn cbor_layout_is_plain_arrays() {
        let enc = minicbor::to_vec(bundle()).unwrap();
        // [ "T0000001", "M…", [ [0, 0, h'11…'], … ] ]
        assert_eq!(enc[0], 0x83);
        assert_eq!(&enc[1..10], b"\x68T0000001");
        let back: KeyBundle = minicbor::decode(&enc).unwrap();
        assert_eq!(back, bundle());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let s = format!("{:?}", bundle());
        assert!(!s.contains("17, 17") && !s.contains("34, 34"), "{s}");
    }
}
