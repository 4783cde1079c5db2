//! AES DUKPT (ANSI X9.24-3-2017): the per-transaction keys acquirers deliver for PIN
//! encryption, MACs and data encryption. Sans-IO, so the terminal firmware (transaction
//! originating side, [`Terminal`](crate::dukpt::Terminal)) and a host or test acquirer (transaction receiving side,
//! [`host_working_key`](crate::dukpt::host_working_key)) share one implementation.
//!
//! The standard's pieces, as implemented here:
//! * every key is derived by AES-ECB under a derivation key (AES-128, -192 or -256) of one
//!   or two 16-byte [`DerivationData`](crate::dukpt::DerivationData) blocks: `version 01 ‖ key block counter ‖ key usage
//!   indicator ‖ algorithm indicator ‖ length in bits ‖ 8 bytes`, the key block counter
//!   numbering the blocks of a key longer than 128 bits, the result cut to the key's length;
//! * the initial key (IK) is derived from the BDK with usage `8001` over the 8-byte Initial
//!   Key ID ([`derive_initial_key`](crate::dukpt::derive_initial_key));
//! * a KSN is the Initial Key ID and a 32-bit transaction counter with at most 16 one bits;
//!   the derivation key of counter `c` is reached from the IK by setting `c`'s one bits from
//!   the most significant down, one derivation (usage `8000`, over the last 4 bytes of the
//!   Initial Key ID and the counter so far) per bit ([`derive_transaction_key`](crate::dukpt::derive_transaction_key));
//! * a working key is derived from that key with the usage and the working key's algorithm
//!   and length over the last 4 bytes of the Initial Key ID and the full counter
//!   ([`TransactionKey::working_key`](crate::dukpt::TransactionKey::working_key));
//! * the terminal keeps 32 intermediate derivation key registers, register `i` holding the
//!   key of `counter | 1 << i`; each transaction takes the key of the counter's lowest one
//!   bit, derives the registers below it (unless the counter already has 16 one bits, whose
//!   successors would have 17: those counters are skipped) and erases the one it used, so a
//!   terminal never holds a key that can reach a past transaction's ([`Terminal`](crate::dukpt::Terminal)).
//!
//! Checked against the X9.24-3-2017 supplement's test vectors (see `dukpt/tests.rs`).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use zeroize::{Zeroize, Zeroizing};

/// The number of intermediate derivation key registers, one per counter bit.
const REGISTERS: usize = 32;
/// A valid transaction counter has at most this many one bits.
pub const MAX_ONE_BITS: u32 = 16;
/// Key usage indicator of an intermediate derivation key.
const USAGE_KEY_DERIVATION: u16 = 0x8000;
/// Key usage indicator of the initial key.
const USAGE_INITIAL_KEY: u16 = 0x8001;

/// Why a DUKPT key cannot be derived. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DukptError {
    /// A derivation key (BDK or initial key) must be an AES-128, -192 or -256 key.
    #[error("a DUKPT derivation key must be 16, 24 or 32 bytes, not {0}")]
    KeyLength(usize),
    /// A KSN is 12 bytes (Initial Key ID and transaction counter).
    #[error("an AES DUKPT KSN is 12 bytes, not {0}")]
    KsnLength(usize),
    /// The transaction counter is 0 or has more than 16 one bits: no key exists for it.
    #[error("transaction counter {0:#010x} is not valid (zero, or more than 16 one bits)")]
    InvalidCounter(u32),
    /// The working key would be stronger than the key it is derived from.
    #[error("a {working:?} working key cannot be derived from a {derivation:?} key")]
    WorkingKeyTooStrong {
        derivation: KeyType,
        working: KeyType,
    },
    /// The terminal has used its last transaction counter; it needs a new initial key.
    #[error("the transaction counter is exhausted; load a new initial key")]
    Exhausted,
}

/// A key's algorithm and length, as the derivation data's algorithm indicator names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Double-length TDEA (working keys only).
    Tdea2,
    /// Triple-length TDEA (working keys only).
    Tdea3,
    Aes128,
    Aes192,
    Aes256,
}

impl KeyType {
    /// The derivation data's algorithm indicator.
    pub fn algorithm_indicator(self) -> u16 {
        match self {
            KeyType::Tdea2 => 0x0000,
            KeyType::Tdea3 => 0x0001,
            KeyType::Aes128 => 0x0002,
            KeyType::Aes192 => 0x0003,
            KeyType::Aes256 => 0x0004,
        }
    }

    /// The key's length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            KeyType::Tdea2 | KeyType::Aes128 => 16,
            KeyType::Tdea3 | KeyType::Aes192 => 24,
            KeyType::Aes256 => 32,
        }
    }

    /// The key's length in bits, as the derivation data carries it.
    pub fn bits(self) -> u16 {
        // At most 256: always fits.
        (self.key_len() * 8) as u16
    }

    /// The AES type of a derivation key of `len` bytes.
    fn aes_of_len(len: usize) -> Result<KeyType, DukptError> {
        match len {
            16 => Ok(KeyType::Aes128),
            24 => Ok(KeyType::Aes192),
            32 => Ok(KeyType::Aes256),
            n => Err(DukptError::KeyLength(n)),
        }
    }

    /// Whether a working key of this type may be derived from a derivation key of type
    /// `derivation` (an AES derivation key): TDEA keys from any, an AES key from one at
    /// least as long.
    fn derivable_from(self, derivation: KeyType) -> bool {
        match self {
            KeyType::Tdea2 | KeyType::Tdea3 => true,
            _ => self.key_len() <= derivation.key_len(),
        }
    }
}

/// What a working key is for: the key usage indicators of X9.24-3-2017 for working keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// `0002`: key encryption key (also the DUKPT update key, at counter `FFFFFFFF`).
    KeyEncryption,
    /// `1000`: PIN encryption.
    PinEncryption,
    /// `2000`: message authentication, generation.
    MacGeneration,
    /// `2001`: message authentication, verification.
    MacVerification,
    /// `2002`: message authentication, both ways.
    MacBoth,
    /// `3000`: data encryption, encrypt.
    DataEncrypt,
    /// `3001`: data encryption, decrypt.
    DataDecrypt,
    /// `3002`: data encryption, both ways.
    DataBoth,
}

impl KeyUsage {
    /// Every working key usage.
    pub const ALL: [KeyUsage; 8] = [
        KeyUsage::KeyEncryption,
        KeyUsage::PinEncryption,
        KeyUsage::MacGeneration,
        KeyUsage::MacVerification,
        KeyUsage::MacBoth,
        KeyUsage::DataEncrypt,
        KeyUsage::DataDecrypt,
        KeyUsage::DataBoth,
    ];

    /// The derivation data's key usage indicator.
    pub fn indicator(self) -> u16 {
        match self {
            KeyUsage::KeyEncryption => 0x0002,
            KeyUsage::PinEncryption => 0x1000,
            KeyUsage::MacGeneration => 0x2000,
            KeyUsage::MacVerification => 0x2001,
            KeyUsage::MacBoth => 0x2002,
            KeyUsage::DataEncrypt => 0x3000,
            KeyUsage::DataDecrypt => 0x3001,
            KeyUsage::DataBoth => 0x3002,
        }
    }
}

/// One block of derivation data (X9.24-3-2017 6.3.2), before its key block counter is set
/// for each 16 bytes of the derived key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivationData {
    /// Always `01`.
    pub version: u8,
    /// `01` for the first 16 bytes of the derived key, `02` for the next.
    pub key_block_counter: u8,
    pub key_usage: u16,
    pub algorithm: u16,
    /// The derived key's length in bits.
    pub length_bits: u16,
    /// The Initial Key ID (initial key), or the last 4 bytes of the Initial Key ID and the
    /// transaction counter (every other key).
    pub data: [u8; 8],
}

impl DerivationData {
    fn new(key_usage: u16, key_type: KeyType, data: [u8; 8]) -> Self {
        DerivationData {
            version: 0x01,
            key_block_counter: 0x01,
            key_usage,
            algorithm: key_type.algorithm_indicator(),
            length_bits: key_type.bits(),
            data,
        }
    }

    /// The data for a key at `counter` of the device whose Initial Key ID is `ikid`.
    fn for_counter(key_usage: u16, key_type: KeyType, ikid: &InitialKeyId, counter: u32) -> Self {
        let mut data = [0u8; 8];
        data[..4].copy_from_slice(&ikid.0[4..]);
        data[4..].copy_from_slice(&counter.to_be_bytes());
        DerivationData::new(key_usage, key_type, data)
    }

    /// The 16 bytes that are encrypted.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.version;
        b[1] = self.key_block_counter;
        b[2..4].copy_from_slice(&self.key_usage.to_be_bytes());
        b[4..6].copy_from_slice(&self.algorithm.to_be_bytes());
        b[6..8].copy_from_slice(&self.length_bits.to_be_bytes());
        b[8..].copy_from_slice(&self.data);
        b
    }
}

/// The 8-byte Initial Key ID: the BDK ID (first 4 bytes) and the derivation ID (last 4).
/// Not secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitialKeyId(pub [u8; 8]);

/// An AES DUKPT key serial number: Initial Key ID and transaction counter. Not secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ksn {
    pub initial_key_id: InitialKeyId,
    pub counter: u32,
}

impl Ksn {
    /// A KSN from its 12 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Ksn, DukptError> {
        let b: &[u8; 12] = bytes
            .try_into()
            .map_err(|_| DukptError::KsnLength(bytes.len()))?;
        let mut ikid = [0u8; 8];
        ikid.copy_from_slice(&b[..8]);
        let counter = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        Ok(Ksn {
            initial_key_id: InitialKeyId(ikid),
            counter,
        })
    }

    /// The KSN's 12 bytes, as sent with a transaction.
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.initial_key_id.0);
        b[8..].copy_from_slice(&self.counter.to_be_bytes());
        b
    }
}

/// Whether a transaction counter has a key: not 0, at most 16 one bits.
pub fn counter_is_valid(counter: u32) -> bool {
    counter != 0 && counter.count_ones() <= MAX_ONE_BITS
}

/// An AES key that derives others: a BDK, an initial key, an intermediate derivation key or
/// a transaction's derivation key. Zeroed on drop; its `Debug` shows only its type.
#[derive(Clone)]
pub struct DerivationKey {
    key_type: KeyType,
    key: Zeroizing<Vec<u8>>,
}

impl DerivationKey {
    /// An AES-128, -192 or -256 key from its bytes.
    pub fn new(key: &[u8]) -> Result<Self, DukptError> {
        Ok(DerivationKey {
            key_type: KeyType::aes_of_len(key.len())?,
            key: Zeroizing::new(key.to_vec()),
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key itself, for handing to an HSM or secure element.
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// X9.24-3-2017 6.3.1 `DeriveKey`: the `key_type` key this key derives from `data`.
    fn derive(&self, key_type: KeyType, data: DerivationData) -> Zeroizing<Vec<u8>> {
        let len = key_type.key_len();
        let mut out = Zeroizing::new(Vec::with_capacity(len.div_ceil(16) * 16));
        let mut data = data;
        let mut block_counter = 1u8;
        while out.len() < len {
            data.key_block_counter = block_counter;
            let mut block: aes::Block = data.to_bytes().into();
            self.encrypt_block(&mut block);
            out.extend_from_slice(&block);
            block.zeroize();
            block_counter += 1;
        }
        out.truncate(len);
        out
    }

    /// A derived key that derives in turn (same type as this one).
    fn derive_key(&self, key_usage: u16, data: [u8; 8]) -> DerivationKey {
        DerivationKey {
            key_type: self.key_type,
            key: self.derive(
                self.key_type,
                DerivationData::new(key_usage, self.key_type, data),
            ),
        }
    }

    fn encrypt_block(&self, block: &mut aes::Block) {
        // The length was checked when the key was made; the `Err` arms cannot be taken.
        match self.key_type {
            KeyType::Aes128 => {
                if let Ok(c) = Aes128::new_from_slice(&self.key) {
                    c.encrypt_block(block);
                }
            }
            KeyType::Aes192 => {
                if let Ok(c) = Aes192::new_from_slice(&self.key) {
                    c.encrypt_block(block);
                }
            }
            _ => {
                if let Ok(c) = Aes256::new_from_slice(&self.key) {
                    c.encrypt_block(block);
                }
            }
        }
    }
}

impl std::fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivationKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A working key: what PINs, MACs and data are actually protected with. Zeroed on drop;
/// its `Debug` shows only its type and usage.
pub struct WorkingKey {
    key_type: KeyType,
    usage: KeyUsage,
    key: Zeroizing<Vec<u8>>,
}

impl WorkingKey {
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    pub fn usage(&self) -> KeyUsage {
        self.usage
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }
}

impl std::fmt::Debug for WorkingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkingKey")
            .field("key_type", &self.key_type)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

/// One transaction's derivation key and KSN: the working keys of that transaction, as many
/// usages as it needs, come from it.
#[derive(Debug)]
pub struct TransactionKey {
    ksn: Ksn,
    key: DerivationKey,
}

impl TransactionKey {
    /// The KSN to send with the transaction.
    pub fn ksn(&self) -> Ksn {
        self.ksn
    }

    /// The transaction's derivation key (the key the supplement's vectors list per KSN).
    pub fn derivation_key(&self) -> &DerivationKey {
        &self.key
    }

    /// X9.24-3-2017 6.3.3: the transaction's working key of `usage` and `key_type`.
    pub fn working_key(
        &self,
        usage: KeyUsage,
        key_type: KeyType,
    ) -> Result<WorkingKey, DukptError> {
        if !key_type.derivable_from(self.key.key_type) {
            return Err(DukptError::WorkingKeyTooStrong {
                derivation: self.key.key_type,
                working: key_type,
            });
        }
        let data = DerivationData::for_counter(
            usage.indicator(),
            key_type,
            &self.ksn.initial_key_id,
            self.ksn.counter,
        );
        Ok(WorkingKey {
            key_type,
            usage,
            key: self.key.derive(key_type, data),
        })
    }
}

/// X9.24-3-2017 6.3.1: the initial key a terminal is loaded with, from the BDK and the
/// terminal's Initial Key ID. The same type as the BDK.
pub fn derive_initial_key(bdk: &DerivationKey, initial_key_id: &InitialKeyId) -> DerivationKey {
    bdk.derive_key(USAGE_INITIAL_KEY, initial_key_id.0)
}

/// The derivation key of `ksn`'s transaction, from the terminal's initial key (host side:
/// one derivation per one bit of the counter, most significant first).
pub fn derive_transaction_key(
    initial_key: &DerivationKey,
    ksn: &Ksn,
) -> Result<TransactionKey, DukptError> {
    if !counter_is_valid(ksn.counter) {
        return Err(DukptError::InvalidCounter(ksn.counter));
    }
    let mut key = initial_key.clone();
    let mut so_far = 0u32;
    for bit in (0..REGISTERS).rev() {
        let mask = 1u32 << bit;
        if ksn.counter & mask != 0 {
            so_far |= mask;
            key = key.derive_key(
                USAGE_KEY_DERIVATION,
                counter_data(&ksn.initial_key_id, so_far),
            );
        }
    }
    Ok(TransactionKey { ksn: *ksn, key })
}

/// The host's working key for a transaction: from the BDK and the transaction's KSN.
pub fn host_working_key(
    bdk: &DerivationKey,
    ksn: &Ksn,
    usage: KeyUsage,
    key_type: KeyType,
) -> Result<WorkingKey, DukptError> {
    let ik = derive_initial_key(bdk, &ksn.initial_key_id);
    derive_transaction_key(&ik, ksn)?.working_key(usage, key_type)
}

fn counter_data(ikid: &InitialKeyId, counter: u32) -> [u8; 8] {
    let mut data = [0u8; 8];
    data[..4].copy_from_slice(&ikid.0[4..]);
    data[4..].copy_from_slice(&counter.to_be_bytes());
    data
}

/// The transaction-originating side: the 32 intermediate derivation key registers and the
/// transaction counter (X9.24-3-2017 6.5). Holds no key from which a used transaction's
/// key can be derived again. Its `Debug` shows the counter, never a key.
pub struct Terminal {
    initial_key_id: InitialKeyId,
    key_type: KeyType,
    /// Register `i`: the key of `counter | 1 << i`, while its bit of `in_use` is set.
    registers: [Zeroizing<[u8; 32]>; REGISTERS],
    in_use: u32,
    /// The next counter to use; past `u32::MAX` when exhausted.
    counter: u64,
}

impl Terminal {
    /// X9.24-3-2017 `LoadInitialKey`: fills every register from the initial key, which is
    /// not kept, and sets the counter to 1.
    pub fn load_initial_key(initial_key: &DerivationKey, initial_key_id: InitialKeyId) -> Self {
        let mut t = Terminal {
            initial_key_id,
            key_type: initial_key.key_type,
            registers: std::array::from_fn(|_| Zeroizing::new([0u8; 32])),
            in_use: 0,
            counter: 0,
        };
        t.fill_registers(initial_key, REGISTERS, 0);
        t.counter = 1;
        t
    }

    /// The KSN the next transaction will use.
    pub fn next_ksn(&self) -> Result<Ksn, DukptError> {
        let (counter, _) = self.current()?;
        Ok(Ksn {
            initial_key_id: self.initial_key_id,
            counter,
        })
    }

    /// Whether every transaction counter has been used.
    pub fn is_exhausted(&self) -> bool {
        self.current().is_err()
    }

    /// Starts a transaction: its KSN and derivation key (from which its working keys
    /// come), and moves the registers on to the next valid counter, erasing this one's.
    pub fn next_transaction(&mut self) -> Result<TransactionKey, DukptError> {
        let (counter, bit) = self.current()?;
        self.counter = u64::from(counter);
        let key = DerivationKey {
            key_type: self.key_type,
            key: Zeroizing::new(self.registers[bit][..self.key_type.key_len()].to_vec()),
        };
        if counter.count_ones() < MAX_ONE_BITS {
            self.fill_registers(&key, bit, counter);
            self.counter += 1;
        } else {
            // Every counter below the next multiple of 1 << bit would have 17 one bits.
            self.counter += 1u64 << bit;
        }
        self.registers[bit].zeroize();
        self.in_use &= !(1u32 << bit);
        Ok(TransactionKey {
            ksn: Ksn {
                initial_key_id: self.initial_key_id,
                counter,
            },
            key,
        })
    }

    /// The counter to use next and its register: the first counter from `self.counter` up
    /// whose register holds a key.
    fn current(&self) -> Result<(u32, usize), DukptError> {
        let mut counter = self.counter;
        loop {
            let c = u32::try_from(counter).map_err(|_| DukptError::Exhausted)?;
            if c == 0 {
                return Err(DukptError::Exhausted);
            }
            let bit = c.trailing_zeros() as usize;
            if self.in_use & (1u32 << bit) != 0 {
                return Ok((c, bit));
            }
            counter += 1u64 << bit;
        }
    }

    /// `UpdateDerivationKeys`: registers `below - 1` down to 0 from `base`, the key of
    /// `counter`.
    fn fill_registers(&mut self, base: &DerivationKey, below: usize, counter: u32) {
        for bit in (0..below).rev() {
            let derived = base.derive_key(
                USAGE_KEY_DERIVATION,
                counter_data(&self.initial_key_id, counter | (1u32 << bit)),
            );
            let len = self.key_type.key_len();
            self.registers[bit][..len].copy_from_slice(derived.as_bytes());
            self.in_use |= 1u32 << bit;
        }
    }
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("initial_key_id", &self.initial_key_id)
            .field("key_type", &self.key_type)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
