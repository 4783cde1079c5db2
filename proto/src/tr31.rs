//! TR-31 (ANSI X9.143) key blocks, version `D`: how acquirers' HSMs hand a key to a
//! terminal under a key-block protection key (KBPK) the two already share, with the key's
//! usage, algorithm and mode of use bound to it in a clear header. Sans-IO, so the terminal
//! firmware and the acquirer use the same codec; the phone only ever reads a block's clear
//! [`Header`] (it never holds a KBPK).
//!
//! Version `D` (AES KBPK of 128, 192 or 256 bits):
//! * KBEK and KBAK (encryption and authentication keys, as long as the KBPK) are derived
//!   with NIST SP 800-108 in counter mode, the PRF being AES-CMAC under the KBPK, over
//!   `counter ‖ usage (0000 encryption, 0001 MAC) ‖ 00 ‖ algorithm (0002/0003/0004 for
//!   AES-128/192/256) ‖ length in bits`;
//! * the clear payload is the key's length in bits (2 bytes), the key and random padding to
//!   a whole number of AES blocks;
//! * the MAC is AES-CMAC under the KBAK of the ASCII header (optional blocks included) and
//!   the clear payload, all 16 bytes; the payload is encrypted with AES-CBC under the KBEK
//!   with the MAC as IV;
//! * the block is `header ‖ HEX(ciphertext) ‖ HEX(MAC)`, its length in the header.
//!
//! Checked against TR-31:2018 A.7.4, ANSI X9.143:2021 8.1 and HSM-made blocks (see tests).

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use cmac::{Cmac, Mac};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// The mandatory header's length in characters.
const HEADER_LEN: usize = 16;
/// The AES block size; version `D` aligns header and payload to it.
const BLOCK: usize = 16;

/// Why a key block cannot be built or opened. Nothing of the key is in any variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tr31Error {
    /// The KBPK is not an AES-128, -192 or -256 key.
    #[error("the key block protection key must be 16, 24 or 32 bytes, not {0}")]
    KbpkLength(usize),
    /// Only version `D` (AES) blocks are handled.
    #[error("key block version '{0}' is not supported (only D)")]
    Version(char),
    /// The block's text is not a well-formed version `D` block.
    #[error("malformed key block: {0}")]
    Malformed(&'static str),
    /// The MAC does not match: a wrong KBPK, or a block changed on the way.
    #[error("the key block's MAC does not match (wrong key, or the block was altered)")]
    Mac,
    /// A header field or optional block cannot be written as asked.
    #[error("invalid key block header: {0}")]
    Header(&'static str),
}

/// An optional block of the header (`KS` for a DUKPT key serial number, `KC` for a KCV, …).
/// `PB` padding is added and removed by the codec itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalBlock {
    pub id: [u8; 2],
    /// Printable ASCII.
    pub data: String,
}

/// A key block's clear header: what the key may be used for, readable without the KBPK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `P0` PIN encryption, `M3`/`M6` MAC, `D0` data encryption, `B1` DUKPT initial key, `K0`
    /// key encryption (a TMK), ….
    pub key_usage: [u8; 2],
    /// `A` AES, `T` triple DES, ….
    pub algorithm: u8,
    /// `E` encrypt only, `D` decrypt only, `B` both, `G`/`C`/`V` MAC, `X` derive, `N` none.
    pub mode_of_use: u8,
    /// `00` when the key has no version.
    pub key_version: [u8; 2],
    /// `E` exportable under a trusted key, `N` not exportable, `S` sensitive.
    pub exportability: u8,
    pub optional_blocks: Vec<OptionalBlock>,
}

impl Header {
    /// The header text for a block whose payload and MAC take `body_len` characters,
    /// optional blocks padded (`PB`) to a whole number of AES blocks as version `D` requires.
    fn render(&self, body_len: usize) -> Result<String, Tr31Error> {
        let blocks = self.blocks_text()?;
        let total_len = HEADER_LEN + blocks.0.len() + body_len;
        let count = self.optional_blocks.len() + usize::from(blocks.1);
        let fields = [
            &self.key_usage[..],
            &[self.algorithm, self.mode_of_use],
            &self.key_version[..],
            &[self.exportability],
        ];
        if !fields.concat().iter().all(|b| b.is_ascii_graphic()) {
            return Err(Tr31Error::Header("fields must be printable ASCII"));
        }
        if total_len > 9999 || count > 99 {
            return Err(Tr31Error::Header("too long"));
        }
        let mut out = format!("D{total_len:04}");
        for field in fields {
            out.push_str(std::str::from_utf8(field).expect("checked ASCII"));
        }
        out.push_str(&format!("{count:02}00"));
        out.push_str(&blocks.0);
        Ok(out)
    }

    /// The optional blocks' text and whether a `PB` block was added to align it.
    fn blocks_text(&self) -> Result<(String, bool), Tr31Error> {
        let mut text = String::new();
        for b in &self.optional_blocks {
            if !b
                .id
                .iter()
                .chain(b.data.as_bytes())
                .all(|c| c.is_ascii_graphic())
            {
                return Err(Tr31Error::Header("optional blocks must be printable ASCII"));
            }
            if &b.id == b"PB" {
                return Err(Tr31Error::Header("PB padding is added by the codec"));
            }
            let len = 4 + b.data.len();
            if len > 0xFF {
                return Err(Tr31Error::Header("optional block over 255 characters"));
            }
            text.push_str(std::str::from_utf8(&b.id).expect("checked ASCII"));
            text.push_str(&format!("{len:02X}"));
            text.push_str(&b.data);
        }
        let rem = (HEADER_LEN + text.len()) % BLOCK;
        if rem == 0 {
            return Ok((text, false));
        }
        // A PB block is at least its 4-character id and length.
        let mut pad = BLOCK - rem;
        if pad < 4 {
            pad += BLOCK;
        }
        text.push_str(&format!("PB{pad:02X}"));
        text.push_str(&"0".repeat(pad - 4));
        Ok((text, true))
    }

    /// Parses the header at the start of `block`; returns it and its length in characters.
    fn parse(block: &str) -> Result<(Header, usize), Tr31Error> {
        let b = block.as_bytes();
        if b.len() < HEADER_LEN || !b[..HEADER_LEN].is_ascii() {
            return Err(Tr31Error::Malformed("shorter than its header"));
        }
        if b[0] != b'D' {
            return Err(Tr31Error::Version(char::from(b[0])));
        }
        let count = decimal(&b[12..14]).ok_or(Tr31Error::Malformed("optional block count"))?;
        let mut header = Header {
            key_usage: [b[5], b[6]],
            algorithm: b[7],
            mode_of_use: b[8],
            key_version: [b[9], b[10]],
            exportability: b[11],
            optional_blocks: Vec::new(),
        };
        let mut at = HEADER_LEN;
        for _ in 0..count {
            let id = b
                .get(at..at + 2)
                .ok_or(Tr31Error::Malformed("optional block"))?;
            let len_hex = b
                .get(at + 2..at + 4)
                .ok_or(Tr31Error::Malformed("optional block"))?;
            let (len, data_at) = match hex_number(len_hex) {
                // "00": the length follows, itself preceded by the length of its hex digits.
                Some(0) => {
                    let digits = b
                        .get(at + 4..at + 6)
                        .and_then(hex_number)
                        .ok_or(Tr31Error::Malformed("optional block length"))?;
                    let len = b
                        .get(at + 6..at + 6 + digits)
                        .and_then(hex_number)
                        .ok_or(Tr31Error::Malformed("optional block length"))?;
                    (len, at + 6 + digits)
                }
                Some(len) => (len, at + 4),
                None => return Err(Tr31Error::Malformed("optional block length")),
            };
            let data = b
                .get(data_at..at + len)
                .filter(|d| d.iter().all(u8::is_ascii_graphic))
                .ok_or(Tr31Error::Malformed("optional block data"))?;
            if id != b"PB" {
                header.optional_blocks.push(OptionalBlock {
                    id: [id[0], id[1]],
                    data: String::from_utf8(data.to_vec()).expect("checked ASCII"),
                });
            }
            at += len;
        }
        if !at.is_multiple_of(BLOCK) {
            return Err(Tr31Error::Malformed(
                "header not a whole number of AES blocks",
            ));
        }
        Ok((header, at))
    }
}

/// The clear header of `block`, for showing a key's usage without opening it.
pub fn header(block: &str) -> Result<Header, Tr31Error> {
    Header::parse(block).map(|(h, _)| h)
}

/// Wraps `key` under `kbpk`. The payload is padded with random bytes, and, when `mask_to` is
/// longer than the key, to `mask_to` bytes so the block does not reveal the key's length.
pub fn wrap(
    kbpk: &[u8],
    header: &Header,
    key: &[u8],
    mask_to: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<String, Tr31Error> {
    let clear = 2 + key.len().max(mask_to);
    let mut pad = Zeroizing::new(vec![0u8; BLOCK - clear % BLOCK + clear - 2 - key.len()]);
    rng.fill_bytes(&mut pad);
    wrap_with_padding(kbpk, header, key, &pad)
}

/// [`wrap`] with the padding given (tests reproduce published blocks with it).
fn wrap_with_padding(
    kbpk: &[u8],
    header: &Header,
    key: &[u8],
    pad: &[u8],
) -> Result<String, Tr31Error> {
    let keys = Keys::derive(kbpk)?;
    let bits = u16::try_from(key.len() * 8).map_err(|_| Tr31Error::Header("key too long"))?;
    let mut payload = Zeroizing::new(Vec::with_capacity(2 + key.len() + pad.len()));
    payload.extend_from_slice(&bits.to_be_bytes());
    payload.extend_from_slice(key);
    payload.extend_from_slice(pad);
    if payload.len() % BLOCK != 0 {
        return Err(Tr31Error::Header("padding does not align the payload"));
    }
    let text = header.render(2 * payload.len() + 2 * BLOCK)?;
    let mac = keys.mac(text.as_bytes(), &payload);
    let mut cipher = payload.clone();
    keys.cbc_encrypt(&mac, &mut cipher);
    Ok(format!("{text}{}{}", hex_upper(&cipher), hex_upper(&mac)))
}

/// Opens `block` with `kbpk`: its header and the key, once the MAC proves both.
pub fn unwrap(kbpk: &[u8], block: &str) -> Result<(Header, Zeroizing<Vec<u8>>), Tr31Error> {
    let (header, header_len) = Header::parse(block)?;
    let total = decimal(&block.as_bytes()[1..5]).ok_or(Tr31Error::Malformed("length field"))?;
    if total != block.len() {
        return Err(Tr31Error::Malformed(
            "length field does not match the block",
        ));
    }
    let body = &block.as_bytes()[header_len..];
    if body.len() < 4 * BLOCK || !body.len().is_multiple_of(2 * BLOCK) {
        return Err(Tr31Error::Malformed("payload and MAC length"));
    }
    let (cipher_hex, mac_hex) = body.split_at(body.len() - 2 * BLOCK);
    let mut payload = Zeroizing::new(from_hex(cipher_hex)?);
    let mac: [u8; BLOCK] = from_hex(mac_hex)?.try_into().expect("32 hex digits");
    let keys = Keys::derive(kbpk)?;
    keys.cbc_decrypt(&mac, &mut payload);
    let expected = keys.mac(&block.as_bytes()[..header_len], &payload);
    if !constant_time_eq(&expected, &mac) {
        return Err(Tr31Error::Mac);
    }
    let bits = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
    if bits % 8 != 0 || 2 + bits / 8 > payload.len() {
        return Err(Tr31Error::Malformed("key length"));
    }
    Ok((header, Zeroizing::new(payload[2..2 + bits / 8].to_vec())))
}

/// The KBEK and KBAK derived from one KBPK.
struct Keys {
    kbek: Zeroizing<Vec<u8>>,
    kbak: Zeroizing<Vec<u8>>,
}

impl Keys {
    fn derive(kbpk: &[u8]) -> Result<Keys, Tr31Error> {
        let algorithm: u8 = match kbpk.len() {
            16 => 2,
            24 => 3,
            32 => 4,
            n => return Err(Tr31Error::KbpkLength(n)),
        };
        let bits = u16::try_from(kbpk.len() * 8).expect("at most 256");
        let derive = |usage: u8| {
            let mut out = Zeroizing::new(Vec::with_capacity(2 * BLOCK));
            for counter in 1..=kbpk.len().div_ceil(BLOCK) as u8 {
                let [hi, lo] = bits.to_be_bytes();
                let data = [counter, 0, usage, 0, 0, algorithm, hi, lo];
                out.extend_from_slice(&cmac(kbpk, &[&data]));
            }
            out.truncate(kbpk.len());
            out
        };
        Ok(Keys {
            kbek: derive(0),
            kbak: derive(1),
        })
    }

    fn mac(&self, header: &[u8], payload: &[u8]) -> [u8; BLOCK] {
        cmac(&self.kbak, &[header, payload])
    }

    fn cbc_encrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) {
        let mut prev = *iv;
        for chunk in data.chunks_exact_mut(BLOCK) {
            for (c, p) in chunk.iter_mut().zip(prev) {
                *c ^= p;
            }
            aes_block(&self.kbek, chunk, true);
            prev.copy_from_slice(chunk);
        }
    }

    fn cbc_decrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) {
        let mut prev = *iv;
        for chunk in data.chunks_exact_mut(BLOCK) {
            let mut this = [0u8; BLOCK];
            this.copy_from_slice(chunk);
            aes_block(&self.kbek, chunk, false);
            for (c, p) in chunk.iter_mut().zip(prev) {
                *c ^= p;
            }
            prev = this;
        }
    }
}

/// One AES block operation under `key` (16, 24 or 32 bytes, checked by [`Keys::derive`]).
/// Payloads are a few blocks long, so the key schedule per block costs nothing that matters.
fn aes_block(key: &[u8], block: &mut [u8], encrypt: bool) {
    fn run<C: KeyInit + BlockEncrypt + BlockDecrypt>(key: &[u8], block: &mut [u8], encrypt: bool) {
        let cipher = C::new_from_slice(key).expect("an AES key length");
        let block = aes::cipher::Block::<C>::from_mut_slice(block);
        if encrypt {
            cipher.encrypt_block(block);
        } else {
            cipher.decrypt_block(block);
        }
    }
    match key.len() {
        16 => run::<Aes128>(key, block, encrypt),
        24 => run::<Aes192>(key, block, encrypt),
        _ => run::<Aes256>(key, block, encrypt),
    }
}

/// AES-CMAC (NIST SP 800-38B) under `key` of the concatenated `parts`.
fn cmac(key: &[u8], parts: &[&[u8]]) -> [u8; BLOCK] {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> [u8; BLOCK] {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("an AES key length");
        for p in parts {
            mac.update(p);
        }
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; BLOCK];
        out.copy_from_slice(&tag);
        out
    }
    match key.len() {
        16 => run::<Cmac<Aes128>>(key, parts),
        24 => run::<Cmac<Aes192>>(key, parts),
        _ => run::<Cmac<Aes256>>(key, parts),
    }
}

fn constant_time_eq(a: &[u8; BLOCK], b: &[u8; BLOCK]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })
}

/// Hex as key blocks spell it: digits and upper-case `A`–`F` only, so one block has one
/// spelling.
fn hex_number(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        Some(n * 16 + usize::from(v))
    })
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn from_hex(text: &[u8]) -> Result<Vec<u8>, Tr31Error> {
    text.chunks(2)
        .map(|pair| u8::try_from(hex_number(pair).filter(|_| pair.len() == 2)?).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or(Tr31Error::Malformed("not hex"))
}

#[cfg(test)]
mod tests;
