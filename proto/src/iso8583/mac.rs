//! The message MAC of ISO 8583 field 64.
//!
//! Three algorithms, chosen by the MAC key (MAK) the acquirer loads:
//!
//! - **Retail MAC** ([`retail_mac`]): ANSI X9.19, ISO/IEC 9797-1 MAC algorithm 3 with
//!   padding method 1 (zero padding; an empty input is one zero block) and a double-length
//!   TDES key `K1 ‖ K2`: single-DES CBC under `K1` with a zero IV over all blocks, then the
//!   output transformation `E_K1(D_K2(·))` on the last result. The 8-byte block is the MAC.
//! - **AES-CMAC** ([`aes_cmac8`]): ISO/IEC 9797-1 MAC algorithm 5, NIST SP 800-38B, under an
//!   AES-128/192/256 MAK, truncated to its leftmost 8 bytes (SP 800-38B section 5.5 allows
//!   truncation to the most significant bits) so it fits field 64.
//! - **CUP POS "ECB" MAC** ([`cup_ecb_mac`], 银联 POS MAC 算法), as the UnionPay POS
//!   terminal specification describes it: XOR all 8-byte blocks of the MAC input (the last
//!   zero-padded), expand the 8-byte result to 16 upper-case hex characters, encrypt the
//!   first 8 under the MAK, XOR with the last 8, encrypt again, and take the first 8
//!   characters of the result's hex expansion. Here the MAK is double-length and the
//!   encryption TDES (EDE, `K1 ‖ K2 ‖ K1`); a single-length MAK `K` is the same as `K ‖ K`.
//!   It is weaker than the retail MAC (the XOR lets blocks be swapped or cancelled unseen);
//!   use it only where the acquirer requires it.
//!
//! What the MAC covers (the MAC input, [`Message::mac_input`]): the encoded message from the
//! MTI up to but excluding field 64 — the MTI, the bitmap (with bit 64 set) and fields 2–63
//! as they go on the wire. The 2-byte length, the TPDU and the 6-byte header are outside it:
//! the UnionPay POS terminal specification forms the MAC element block (MAB) "from the
//! message type (MTI) to field 63" (从消息类型(MTI)到63域). Field 64 is the last field of a
//! message (the profile has no secondary bitmap), so the MAC input is the encoding without
//! its last 8 bytes.
//!
//! Keys are zeroized on drop (and the DES key schedules, through `des`'s `zeroize` feature);
//! `Debug` shows the algorithm, never the key.

use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Field, Iso8583Error, Message, PREFIX};

/// The field that carries the MAC.
pub const MAC_FIELD: u8 = 64;
/// The MAC's length in field 64.
pub const MAC_LEN: usize = 8;

/// Why a MAC could not be made or checked. Stable: callers may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// Field 64 does not match the MAC of the message: altered, or the wrong key.
    #[error("ISO 8583 MAC: field 64 does not match the message")]
    MacMismatch,
    /// The message has no field 64 to check.
    #[error("ISO 8583 MAC: no field 64")]
    MissingMac,
    /// Field 64 is present but not 8 raw bytes.
    #[error("ISO 8583 MAC: field 64 is not 8 bytes")]
    BadMacField,
    /// A MAC key of a length the algorithm does not take (16 bytes for the retail and the
    /// CUP ECB MAC; 16, 24 or 32 for AES-CMAC).
    #[error("ISO 8583 MAC: a {len}-byte key is the wrong length for {algorithm}")]
    WrongKeyLength { algorithm: &'static str, len: usize },
    /// The message itself does not encode.
    #[error(transparent)]
    Encode(#[from] Iso8583Error),
}

/// A MAC key and its algorithm. Zeroized on drop; its `Debug` shows the algorithm only.
#[derive(Clone)]
pub struct MacKey(Key);

#[derive(Clone)]
enum Key {
    Retail(Zeroizing<[u8; 16]>),
    CupEcb(Zeroizing<[u8; 16]>),
    Aes128(Zeroizing<[u8; 16]>),
    Aes192(Zeroizing<[u8; 24]>),
    Aes256(Zeroizing<[u8; 32]>),
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithm = match self.0 {
            Key::Retail(_) => "Retail (ANSI X9.19, TDES)",
            Key::CupEcb(_) => "CUP POS ECB (TDES)",
            Key::Aes128(_) => "AES-128-CMAC",
            Key::Aes192(_) => "AES-192-CMAC",
            Key::Aes256(_) => "AES-256-CMAC",
        };
        f.debug_struct("MacKey")
            .field("algorithm", &algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn fixed<const N: usize>(key: &[u8]) -> Option<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    (key.len() == N).then(|| out.copy_from_slice(key))?;
    Some(out)
}

impl MacKey {
    /// A double-length TDES MAK (`K1 ‖ K2`, 16 bytes) for the ANSI X9.19 retail MAC.
    pub fn retail(key: &[u8]) -> Result<MacKey, MacError> {
        fixed(key)
            .map(|k| MacKey(Key::Retail(k)))
            .ok_or(MacError::WrongKeyLength {
                algorithm: "the retail MAC",
                len: key.len(),
            })
    }

    /// A double-length TDES MAK (16 bytes) for the CUP POS "ECB" MAC.
    pub fn cup_ecb(key: &[u8]) -> Result<MacKey, MacError> {
        fixed(key)
            .map(|k| MacKey(Key::CupEcb(k)))
            .ok_or(MacError::WrongKeyLength {
                algorithm: "the CUP ECB MAC",
                len: key.len(),
            })
    }

    /// An AES MAK (16, 24 or 32 bytes) for AES-CMAC truncated to 8 bytes.
    pub fn aes_cmac(key: &[u8]) -> Result<MacKey, MacError> {
        let len = key.len();
        let key = match len {
            16 => fixed(key).map(Key::Aes128),
            24 => fixed(key).map(Key::Aes192),
            32 => fixed(key).map(Key::Aes256),
            _ => None,
        };
        key.map(MacKey).ok_or(MacError::WrongKeyLength {
            algorithm: "AES-CMAC",
            len,
        })
    }

    /// The 8-byte MAC of `data` under this key.
    pub fn mac(&self, data: &[u8]) -> [u8; MAC_LEN] {
        match &self.0 {
            Key::Retail(k) => retail_mac(k, data),
            Key::CupEcb(k) => cup_ecb_mac(k, data),
            Key::Aes128(k) => cmac8::<cmac::Cmac<aes::Aes128>>(k.as_slice().into(), data),
            Key::Aes192(k) => cmac8::<cmac::Cmac<aes::Aes192>>(k.as_slice().into(), data),
            Key::Aes256(k) => cmac8::<cmac::Cmac<aes::Aes256>>(k.as_slice().into(), data),
        }
    }
}

/// ANSI X9.19 / ISO/IEC 9797-1 MAC algorithm 3 with padding method 1, under the
/// double-length TDES key `K1 ‖ K2`.
pub fn retail_mac(key: &[u8; 16], data: &[u8]) -> [u8; MAC_LEN] {
    let k1 = des::Des::new_from_slice(&key[..8]).expect("8-byte DES key");
    let k2 = des::Des::new_from_slice(&key[8..]).expect("8-byte DES key");
    let mut state = Zeroizing::new([0u8; 8]);
    // Padding method 1: zeros up to a whole block; the empty input is one zero block.
    let blocks = data.len().div_ceil(8).max(1);
    for i in 0..blocks {
        let chunk = data.get(i * 8..).unwrap_or(&[]);
        for (s, b) in state.iter_mut().zip(chunk.iter().take(8)) {
            *s ^= b;
        }
        k1.encrypt_block(state.as_mut().into());
    }
    // Output transformation 3: decrypt under K2, encrypt under K1.
    k2.decrypt_block(state.as_mut().into());
    k1.encrypt_block(state.as_mut().into());
    *state
}

/// The CUP POS "ECB" MAC (see the [module](self) docs) under the double-length TDES key
/// `K1 ‖ K2`: 8 ASCII hex characters.
pub fn cup_ecb_mac(key: &[u8; 16], data: &[u8]) -> [u8; MAC_LEN] {
    let tdes = des::TdesEde2::new(key.into());
    let mut xor = Zeroizing::new([0u8; 8]);
    for chunk in data.chunks(8) {
        for (x, b) in xor.iter_mut().zip(chunk) {
            *x ^= b;
        }
    }
    let expanded = Zeroizing::new(upper_hex(&xor));
    let mut block = Zeroizing::new([0u8; 8]);
    block.copy_from_slice(&expanded[..8]);
    tdes.encrypt_block(block.as_mut().into());
    for (b, h) in block.iter_mut().zip(&expanded[8..]) {
        *b ^= h;
    }
    tdes.encrypt_block(block.as_mut().into());
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&upper_hex(&block)[..MAC_LEN]);
    out
}

fn upper_hex(bytes: &[u8; 8]) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = [0u8; 16];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xF)];
    }
    out
}

/// AES-CMAC (NIST SP 800-38B) of `data` under an AES-128/192/256 key, truncated to its
/// leftmost 8 bytes. `WrongKeyLength` for any other key length.
pub fn aes_cmac8(key: &[u8], data: &[u8]) -> Result<[u8; MAC_LEN], MacError> {
    MacKey::aes_cmac(key).map(|k| k.mac(data))
}

fn cmac8<M: cmac::Mac + KeyInit>(key: &des::cipher::Key<M>, data: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = <M as KeyInit>::new(key);
    mac.update(data);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

impl Message {
    /// The bytes the MAC covers: the encoding from the MTI up to but excluding field 64
    /// (see the [module](self) docs). Field 64's value, if any, does not affect it, but its
    /// presence does (bit 64 of the bitmap): without field 64 the input is computed as if
    /// it were there.
    pub fn mac_input(&self) -> Result<Vec<u8>, MacError> {
        let mut with_field = self.clone();
        with_field
            .fields
            .insert(MAC_FIELD, Field::Bytes(vec![0; MAC_LEN]));
        let wire = with_field.encode()?;
        Ok(wire[2 + PREFIX..wire.len() - MAC_LEN].to_vec())
    }

    /// This message with field 64 set to its MAC under `key` (any field 64 it had is
    /// replaced).
    pub fn with_mac(self, key: &MacKey) -> Result<Message, MacError> {
        let mac = key.mac(&self.mac_input()?);
        Ok(self.with(MAC_FIELD, Field::Bytes(mac.to_vec())))
    }

    /// Checks field 64 against the MAC of the message under `key`, in constant time.
    pub fn verify_mac(&self, key: &MacKey) -> Result<(), MacError> {
        let got = match self.fields.get(&MAC_FIELD) {
            None => return Err(MacError::MissingMac),
            Some(Field::Bytes(b)) if b.len() == MAC_LEN => b,
            Some(_) => return Err(MacError::BadMacField),
        };
        let want = key.mac(&self.mac_input()?);
        if bool::from(want.ct_eq(got.as_slice())) {
            Ok(())
        } else {
            Err(MacError::MacMismatch)
        }
    }
}

#[cfg(test)]
#[path = "mac_tests.rs"]
mod tests;
