//! ISO 8583 in the China UnionPay (CUP) POS profile, issue 14 ("host messages, relayed"):
//! the messages a terminal exchanges with its acquirer's host through the phone — sign-on
//! (0800/0810), settlement (0500/0510), batch upload (0320/0330) and the network management
//! notice (0820). Sans-IO: bytes in, [`Message`] out, and back.
//!
//! The layout, as the UnionPay POS terminal specification (银联 POS 终端规范) publishes it:
//!
//! ```text
//! length (2 bytes, big-endian, of all that follows)
//! TPDU   (5 bytes: 60 ‖ destination address (2) ‖ source address (2))
//! header (6 bytes BCD: application type, software version, terminal status,
//!         processing requirement, reserved)
//! MTI    (2 bytes BCD, e.g. 08 00)
//! bitmap (8 bytes, binary; bit 1, a secondary bitmap, is not used by the profile)
//! fields (in number order, each as the table in [`spec`] says: numeric fields BCD-packed
//!         and left-padded with a zero nibble, LLVAR/LLLVAR lengths in BCD, alphanumeric
//!         fields ASCII, binary fields raw: 52 PIN block, 55 ICC data, 62, 64 MAC)
//! ```
//!
//! Why a codec of our own with a field table: the ISO 8583 crates on crates.io do not fit
//! the CUP layouts. `iso8583-core` has a fixed table of the generic ISO fields (ASCII
//! numerics, no TPDU or CUP header, none of the CUP private fields 60–63 as the profile
//! defines them) and `iso8583_parser` reads hex strings into printouts rather than
//! encoding; none is sans-IO with typed errors for the terminal firmware. The profile needs
//! about thirty fields, a 100-line table and a few BCD rules, so posmate keeps its own and
//! checks it against an independent implementation (`pyiso8583`, in
//! `cargo xtask standards-test`) whose CUP spec is written separately in Python.
//!
//! Decoding any bytes never panics: every failure is an [`Iso8583Error`] with a stable
//! [`Reason`] and the field it happened in. The MAC (field 64) is carried as 8 raw bytes;
//! [`mac`] computes and checks it ([`Message::with_mac`], [`Message::verify_mac`]).

pub mod mac;
pub mod spec;

use std::collections::BTreeMap;

pub use mac::{MacError, MacKey};
pub use spec::{FieldSpec, Kind, Len};

/// Why a message could not be decoded or encoded. Stable: callers may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The bytes end before the part being read.
    Truncated,
    /// A length disagrees: the 2-byte message length with the bytes, or a fixed field's
    /// value with its size.
    BadLength,
    /// A nibble that is not a decimal digit where BCD is expected (or a non-zero pad).
    BadBcd,
    /// A character a field's kind does not allow (a non-digit in a numeric value,
    /// non-printable ASCII in a text field).
    BadCharacter,
    /// The TPDU does not start with its ID `60`.
    BadTpdu,
    /// The bitmap or the message names a field the profile's table does not have.
    UnknownField,
    /// A variable field longer than its maximum.
    FieldTooLong,
    /// Bit 1 is set: the CUP profile uses no secondary bitmap.
    SecondaryBitmapUnsupported,
    /// A value of the wrong kind for its field (e.g. bytes for a numeric field).
    WrongKind,
    /// An MTI above 9999.
    BadMti,
}

impl Reason {
    /// A stable, lower-case name for logs and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Truncated => "truncated",
            Reason::BadLength => "bad length",
            Reason::BadBcd => "bad BCD",
            Reason::BadCharacter => "bad character",
            Reason::BadTpdu => "bad TPDU",
            Reason::UnknownField => "unknown field",
            Reason::FieldTooLong => "field too long",
            Reason::SecondaryBitmapUnsupported => "secondary bitmap unsupported",
            Reason::WrongKind => "wrong kind",
            Reason::BadMti => "bad MTI",
        }
    }
}

/// An ISO 8583 message that could not be decoded or encoded: why, and in which field
/// (`None` for the length, TPDU, header, MTI or bitmap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ISO 8583: {}{}", reason.as_str(), field.map(|f| format!(" in field {f}")).unwrap_or_default())]
pub struct Iso8583Error {
    pub reason: Reason,
    pub field: Option<u8>,
}

fn err(reason: Reason, field: Option<u8>) -> Iso8583Error {
    Iso8583Error { reason, field }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Digits (for [`Kind::Numeric`]), or digits and `D` (for [`Kind::Track`]).
    Digits(String),
    /// Printable ASCII, for [`Kind::Text`].
    Text(String),
    /// Raw bytes, for [`Kind::Binary`].
    Bytes(Vec<u8>),
}

impl Field {
    /// Digits of a number, zero-padded on the left to `width`.
    pub fn number(value: u64, width: usize) -> Field {
        Field::Digits(format!("{value:0width$}"))
    }

    /// Text, as given.
    pub fn text(value: &str) -> Field {
        Field::Text(value.to_owned())
    }
}

/// The Transport Protocol Data Unit in front of the header: ID `60`, then the destination
/// and source network addresses (2 bytes each, as the acquirer assigns them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpdu {
    pub destination: [u8; 2],
    pub source: [u8; 2],
}

/// The TPDU's ID byte.
pub const TPDU_ID: u8 = 0x60;

impl Tpdu {
    /// The TPDU of the reply to a message with this one: addresses swapped.
    pub fn reply(self) -> Tpdu {
        Tpdu {
            destination: self.source,
            source: self.destination,
        }
    }
}

/// A CUP ISO 8583 message: TPDU, 6-byte header, MTI (e.g. `800` for 0800) and fields by
/// number. The bitmap follows from the fields present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tpdu: Tpdu,
    /// Application type (2 digits), software version (2), terminal status (1), processing
    /// requirement (1), reserved (6): 12 BCD digits, kept as the 6 bytes.
    pub header: [u8; 6],
    pub mti: u16,
    pub fields: BTreeMap<u8, Field>,
}

/// The bytes in front of the MTI after the length: TPDU and header.
const PREFIX: usize = 5 + 6;

fn digit_nibble(c: u8, kind: Kind, number: u8) -> Result<u8, Iso8583Error> {
    match (c, kind) {
        (b'0'..=b'9', _) => Ok(c - b'0'),
        (b'D', Kind::Track) => Ok(0xD),
        _ => Err(err(Reason::BadCharacter, Some(number))),
    }
}

fn nibble_digit(n: u8, kind: Kind, number: u8) -> Result<char, Iso8583Error> {
    match (n, kind) {
        (0..=9, _) => Ok((b'0' + n) as char),
        (0xD, Kind::Track) => Ok('D'),
        _ => Err(err(Reason::BadBcd, Some(number))),
    }
}

/// Packs ASCII `digits` (already checked: `0`-`9` or `D`) into BCD, left-padding an odd
/// count with a zero nibble.
fn pack(digits: &[u8], out: &mut Vec<u8>) {
    let pad = digits.len() % 2;
    let nibbles = digits.iter().map(|&c| {
        if c == b'D' {
            0xD
        } else {
            c.wrapping_sub(b'0') & 0xF
        }
    });
    let mut nibbles = std::iter::repeat_n(0u8, pad).chain(nibbles);
    while let (Some(hi), Some(lo)) = (nibbles.next(), nibbles.next()) {
        out.push(hi << 4 | lo);
    }
}

/// Reads a BCD number of `bytes` bytes (for lengths and the MTI).
fn bcd_number(bytes: &[u8], field: Option<u8>) -> Result<u32, Iso8583Error> {
    let mut value = 0u32;
    for &b in bytes {
        let (hi, lo) = (b >> 4, b & 0xF);
        if hi > 9 || lo > 9 {
            return Err(err(Reason::BadBcd, field));
        }
        value = value * 100 + u32::from(hi) * 10 + u32::from(lo);
    }
    Ok(value)
}

/// A reader over the message's bytes that fails with `Truncated` instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: Option<u8>) -> Result<&'a [u8], Iso8583Error> {
        if self.bytes.len() < n {
            return Err(err(Reason::Truncated, field));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
}

fn encode_field(spec: &FieldSpec, value: &Field, out: &mut Vec<u8>) -> Result<(), Iso8583Error> {
    let number = Some(spec.number);
    let data: &[u8] = match (spec.kind, value) {
        (Kind::Numeric | Kind::Track, Field::Digits(d)) => d.as_bytes(),
        (Kind::Text, Field::Text(t)) => t.as_bytes(),
        (Kind::Binary, Field::Bytes(b)) => b,
        _ => return Err(err(Reason::WrongKind, number)),
    };
    match spec.kind {
        Kind::Numeric | Kind::Track => {
            for &c in data {
                digit_nibble(c, spec.kind, spec.number)?;
            }
        }
        Kind::Text => {
            if !data.iter().all(|c| (0x20..=0x7E).contains(c)) {
                return Err(err(Reason::BadCharacter, number));
            }
        }
        Kind::Binary => {}
    }
    let units = data.len();
    match spec.len {
        Len::Fixed(n) if units != usize::from(n) => return Err(err(Reason::BadLength, number)),
        Len::Fixed(_) => {}
        Len::LlVar(max) | Len::LllVar(max) if units > usize::from(max) => {
            return Err(err(Reason::FieldTooLong, number))
        }
        Len::LlVar(_) => pack(format!("{units:02}").as_bytes(), out),
        Len::LllVar(_) => pack(format!("{units:04}").as_bytes(), out),
    }
    match spec.kind {
        Kind::Numeric | Kind::Track => pack(data, out),
        Kind::Text | Kind::Binary => out.extend_from_slice(data),
    }
    Ok(())
}

fn decode_field(spec: &FieldSpec, r: &mut Reader<'_>) -> Result<Field, Iso8583Error> {
    let number = Some(spec.number);
    let units = match spec.len {
        Len::Fixed(n) => usize::from(n),
        Len::LlVar(max) | Len::LllVar(max) => {
            let width = if matches!(spec.len, Len::LlVar(_)) {
                1
            } else {
                2
            };
            let n = bcd_number(r.take(width, number)?, number)? as usize;
            if n > usize::from(max) {
                return Err(err(Reason::FieldTooLong, number));
            }
            n
        }
    };
    match spec.kind {
        Kind::Numeric | Kind::Track => {
            let bytes = r.take(units.div_ceil(2), number)?;
            let mut digits = String::with_capacity(units);
            for (i, &b) in bytes.iter().enumerate() {
                let (hi, lo) = (b >> 4, b & 0xF);
                if i == 0 && units % 2 == 1 {
                    if hi != 0 {
                        return Err(err(Reason::BadBcd, number));
                    }
                } else {
                    digits.push(nibble_digit(hi, spec.kind, spec.number)?);
                }
                digits.push(nibble_digit(lo, spec.kind, spec.number)?);
            }
            Ok(Field::Digits(digits))
        }
        Kind::Text => {
            let bytes = r.take(units, number)?;
            if !bytes.iter().all(|c| (0x20..=0x7E).contains(c)) {
                return Err(err(Reason::BadCharacter, number));
            }
            // Printable ASCII is UTF-8.
            Ok(Field::Text(bytes.iter().map(|&c| c as char).collect()))
        }
        Kind::Binary => Ok(Field::Bytes(r.take(units, number)?.to_vec())),
    }
}

impl Message {
    /// A message with no fields yet.
    pub fn new(tpdu: Tpdu, header: [u8; 6], mti: u16) -> Message {
        Message {
            tpdu,
            header,
            mti,
            fields: BTreeMap::new(),
        }
    }

    /// Sets field `number` (builder style).
    pub fn with(mut self, number: u8, value: Field) -> Message {
        self.fields.insert(number, value);
        self
    }

    /// The digits or text of field `number`, if present and not binary.
    pub fn get_str(&self, number: u8) -> Option<&str> {
        match self.fields.get(&number)? {
            Field::Digits(s) | Field::Text(s) => Some(s),
            Field::Bytes(_) => None,
        }
    }

    /// The wire bytes, 2-byte length first.
    pub fn encode(&self) -> Result<Vec<u8>, Iso8583Error> {
        if self.mti > 9999 {
            return Err(err(Reason::BadMti, None));
        }
        let mut out = vec![0, 0, TPDU_ID];
        out.extend_from_slice(&self.tpdu.destination);
        out.extend_from_slice(&self.tpdu.source);
        out.extend_from_slice(&self.header);
        pack(format!("{:04}", self.mti).as_bytes(), &mut out);
        let mut bitmap = 0u64;
        for &number in self.fields.keys() {
            if !(2..=64).contains(&number) || spec::field(number).is_none() {
                return Err(err(Reason::UnknownField, Some(number)));
            }
            bitmap |= 1 << (64 - u32::from(number));
        }
        out.extend_from_slice(&bitmap.to_be_bytes());
        for (&number, value) in &self.fields {
            let spec = spec::field(number).ok_or(err(Reason::UnknownField, Some(number)))?;
            encode_field(spec, value, &mut out)?;
        }
        let len = u16::try_from(out.len() - 2).map_err(|_| err(Reason::BadLength, None))?;
        out[..2].copy_from_slice(&len.to_be_bytes());
        Ok(out)
    }

    /// Reads a message from its wire bytes (2-byte length first; the length must cover
    /// exactly the rest).
    pub fn decode(bytes: &[u8]) -> Result<Message, Iso8583Error> {
        let mut r = Reader { bytes };
        let len = r.take(2, None)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        match r.bytes.len().cmp(&len) {
            std::cmp::Ordering::Less => return Err(err(Reason::Truncated, None)),
            std::cmp::Ordering::Greater => return Err(err(Reason::BadLength, None)),
            std::cmp::Ordering::Equal => {}
        }
        let prefix = r.take(PREFIX, None)?;
        if prefix[0] != TPDU_ID {
            return Err(err(Reason::BadTpdu, None));
        }
        let tpdu = Tpdu {
            destination: [prefix[1], prefix[2]],
            source: [prefix[3], prefix[4]],
        };
        let mut header = [0u8; 6];
        header.copy_from_slice(&prefix[5..]);
        let mti = bcd_number(r.take(2, None)?, None)? as u16;
        let bitmap = r.take(8, None)?;
        let bitmap = u64::from_be_bytes(
            bitmap
                .try_into()
                .map_err(|_| err(Reason::Truncated, None))?,
        );
        if bitmap & (1 << 63) != 0 {
            return Err(err(Reason::SecondaryBitmapUnsupported, None));
        }
        let mut fields = BTreeMap::new();
        for number in 2..=64u8 {
            if bitmap & (1 << (64 - u32::from(number))) == 0 {
                continue;
            }
            let spec = spec::field(number).ok_or(err(Reason::UnknownField, Some(number)))?;
            fields.insert(number, decode_field(spec, &mut r)?);
        }
        if !r.bytes.is_empty() {
            return Err(err(Reason::BadLength, None));
        }
        Ok(Message {
            tpdu,
            header,
            mti,
            fields,
        })
    }
}

/// Field 60 as the CUP profile defines it (numeric, LLLVAR): 60.1 message type code (n2:
/// `00` for management messages, `22` consumption, ...), 60.2 batch number (n6), 60.3
/// network management information code (n3: `003` sign-on with double-length keys, `201`
/// settlement and batch upload, `202` end of batch upload, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field60 {
    pub type_code: u8,
    pub batch: u32,
    pub network_code: u16,
}

/// 60.3 of a sign-on that asks for double-length working keys (PIN and MAC keys).
pub const NET_SIGN_ON_DOUBLE_KEYS: u16 = 3;
/// 60.3 of settlement and of batch upload.
pub const NET_SETTLEMENT: u16 = 201;
/// 60.3 of the last batch upload message (end of batch upload notice).
pub const NET_BATCH_UPLOAD_END: u16 = 202;

impl Field60 {
    /// The field: `type_code (2) ‖ batch (6) ‖ network_code (3)`, 11 digits.
    pub fn field(self) -> Field {
        Field::Digits(format!(
            "{:02}{:06}{:03}",
            self.type_code % 100,
            self.batch % 1_000_000,
            self.network_code % 1000
        ))
    }

    /// Reads 60.1–60.3 from a field 60 value (later subfields ignored).
    pub fn parse(value: &Field) -> Option<Field60> {
        let Field::Digits(d) = value else { return None };
        if d.len() < 11 || !d.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(Field60 {
            type_code: d[0..2].parse().ok()?,
            batch: d[2..8].parse().ok()?,
            network_code: d[8..11].parse().ok()?,
        })
    }
}

/// One side of the settlement totals in field 48: debit (sales) count n3 and amount n12,
/// credit (refunds, voids) count n3 and amount n12, amounts in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub debit_count: u16,
    pub debit_amount: u64,
    pub credit_count: u16,
    pub credit_amount: u64,
}

/// Field 48 of a settlement request (0500), CUP layout, 62 digits: the domestic (UnionPay)
/// card totals (30 digits) and their reconciliation code (n1, `0` on a request; the host's
/// `1` balanced / `2` unbalanced / `3` error in the 0510), then the same for foreign cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettlementTotals {
    pub domestic: Totals,
    pub foreign: Totals,
}

impl SettlementTotals {
    /// The field 48 value with both reconciliation codes `0`.
    pub fn field(&self) -> Field {
        let side = |t: &Totals| {
            format!(
                "{:03}{:012}{:03}{:012}0",
                t.debit_count % 1000,
                t.debit_amount % 1_000_000_000_000,
                t.credit_count % 1000,
                t.credit_amount % 1_000_000_000_000
            )
        };
        Field::Digits(side(&self.domestic) + &side(&self.foreign))
    }
}

/// One transaction in a batch upload's field 48: card organisation (n2, `00` UnionPay), its
/// trace number (n6), card number (n20, zero-padded on the left) and amount (n12, fen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub organisation: u8,
    pub stan: u32,
    pub pan: String,
    pub amount: u64,
}

/// How many transactions one 0320 carries: `2 + 8 × 40` digits fills field 48's 322.
pub const BATCH_ENTRIES_PER_MESSAGE: usize = 8;

/// The terminal's identity and session, common to the management messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub tpdu: Tpdu,
    pub header: [u8; 6],
    /// Field 41, 8 characters.
    pub terminal_id: String,
    /// Field 42, 15 characters.
    pub merchant_id: String,
    /// Field 63.1 on requests, the operator number (3 characters).
    pub operator: String,
}

impl Terminal {
    fn base(&self, mti: u16, stan: u32) -> Message {
        Message::new(self.tpdu, self.header, mti)
            .with(11, Field::number(u64::from(stan % 1_000_000), 6))
            .with(41, Field::text(&self.terminal_id))
            .with(42, Field::text(&self.merchant_id))
    }

    /// 0800 sign-on: 11, 41, 42, 60 (`00`, batch, `003`: double-length working keys) and 63
    /// (operator number). The host's 0810 returns the working keys in 62.
    pub fn sign_on(&self, stan: u32, batch: u32) -> Message {
        let f60 = Field60 {
            type_code: 0,
            batch,
            network_code: NET_SIGN_ON_DOUBLE_KEYS,
        };
        self.base(800, stan)
            .with(60, f60.field())
            .with(63, Field::text(&self.operator))
    }

    /// 0500 settlement: 11, 41, 42, 48 (totals), 49 (currency, `156` for CNY), 60 (`00`,
    /// batch, `201`) and 63 (operator number).
    pub fn settlement(&self, stan: u32, batch: u32, totals: &SettlementTotals) -> Message {
        let f60 = Field60 {
            type_code: 0,
            batch,
            network_code: NET_SETTLEMENT,
        };
        self.base(500, stan)
            .with(48, totals.field())
            .with(49, Field::text("156"))
            .with(60, f60.field())
            .with(63, Field::text(&self.operator))
    }

    /// 0320 batch upload of up to [`BATCH_ENTRIES_PER_MESSAGE`] transactions: 11, 41, 42,
    /// 48 (count n2 and the entries), 60 (`00`, batch, `201`, or `202` on the last
    /// message). `None` if there are too many entries or a card number is not 1–20 digits.
    pub fn batch_upload(
        &self,
        stan: u32,
        batch: u32,
        entries: &[BatchEntry],
        last: bool,
    ) -> Option<Message> {
        if entries.len() > BATCH_ENTRIES_PER_MESSAGE {
            return None;
        }
        let mut f48 = format!("{:02}", entries.len());
        for e in entries {
            if e.pan.is_empty() || e.pan.len() > 20 || !e.pan.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            f48 += &format!(
                "{:02}{:06}{:0>20}{:012}",
                e.organisation % 100,
                e.stan % 1_000_000,
                e.pan,
                e.amount % 1_000_000_000_000
            );
        }
        let f60 = Field60 {
            type_code: 0,
            batch,
            network_code: if last {
                NET_BATCH_UPLOAD_END
            } else {
                NET_SETTLEMENT
            },
        };
        Some(
            self.base(320, stan)
                .with(48, Field::Digits(f48))
                .with(60, f60.field()),
        )
    }
}

/// The host's reply to `request`: MTI + 10, TPDU addresses swapped, fields 11, 41, 42 and
/// 60 echoed, 39 the response code. The caller adds the rest (12, 13, 37, 62, ...).
pub fn response(request: &Message, code: &str) -> Message {
    let mut reply = Message::new(request.tpdu.reply(), request.header, request.mti + 10)
        .with(39, Field::text(code));
    for number in [11, 41, 42, 60] {
        if let Some(v) = request.fields.get(&number) {
            reply.fields.insert(number, v.clone());
        }
    }
    reply
}

#[cfg(test)]
mod tests;
