//! The field table of the China UnionPay (CUP) POS profile: each field's content kind and
//! length, as the UnionPay POS terminal specification (银联 POS 终端规范) publishes them.
//! Lengths are in digits for [`Kind::Numeric`] and [`Kind::Track`], in characters for
//! [`Kind::Text`] and in bytes for [`Kind::Binary`]; a variable length is carried in BCD
//! before the data (one byte for LLVAR, two for LLLVAR).

/// What a field holds and how its data is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `n`: decimal digits, BCD-packed two to a byte; an odd count is left-padded with a
    /// zero nibble.
    Numeric,
    /// `z`: track data, BCD-packed like [`Kind::Numeric`] with the field separator as the
    /// nibble `D` (written `D` in the value).
    Track,
    /// `an` / `ans`: printable ASCII (0x20..=0x7E), one byte per character.
    Text,
    /// `b`: raw bytes (PIN block, MAC, ICC data, keys).
    Binary,
}

/// A field's length rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// Exactly this many units.
    Fixed(u16),
    /// At most this many units, the count in one BCD byte (`LL`).
    LlVar(u16),
    /// At most this many units, the count in two BCD bytes (`LLL`, left-padded).
    LllVar(u16),
}

/// One field of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub number: u8,
    pub name: &'static str,
    pub kind: Kind,
    pub len: Len,
}

const fn f(number: u8, name: &'static str, kind: Kind, len: Len) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind,
        len,
    }
}

use Kind::{Binary, Numeric, Text, Track};
use Len::{Fixed, LlVar, LllVar};

/// The fields posmate's host messages use (sign-on, settlement, batch upload, their
/// responses and the 0820 network management notice), in field order.
pub const FIELDS: &[FieldSpec] = &[
    f(2, "primary account number", Numeric, LlVar(19)),
    f(3, "processing code", Numeric, Fixed(6)),
    f(4, "amount, transaction (fen)", Numeric, Fixed(12)),
    f(11, "system trace audit number", Numeric, Fixed(6)),
    f(12, "time, local transaction (hhmmss)", Numeric, Fixed(6)),
    f(13, "date, local transaction (MMDD)", Numeric, Fixed(4)),
    f(14, "date, expiration (YYMM)", Numeric, Fixed(4)),
    f(15, "date, settlement (MMDD)", Numeric, Fixed(4)),
    f(22, "point of service entry mode", Numeric, Fixed(3)),
    f(23, "card sequence number", Numeric, Fixed(3)),
    f(25, "point of service condition code", Numeric, Fixed(2)),
    f(26, "point of service PIN capture code", Numeric, Fixed(2)),
    f(
        32,
        "acquiring institution identification code",
        Numeric,
        LlVar(11),
    ),
    f(35, "track 2 data", Track, LlVar(37)),
    f(36, "track 3 data", Track, LllVar(104)),
    f(37, "retrieval reference number", Text, Fixed(12)),
    f(38, "authorization identification response", Text, Fixed(6)),
    f(39, "response code", Text, Fixed(2)),
    f(41, "card acceptor terminal identification", Text, Fixed(8)),
    f(42, "card acceptor identification code", Text, Fixed(15)),
    f(44, "additional response data", Text, LlVar(25)),
    // Settlement totals (0500/0510) or batch upload details (0320); see `SettlementTotals`
    // and `BatchEntry`.
    f(48, "additional data, private", Numeric, LllVar(322)),
    f(49, "currency code, transaction", Text, Fixed(3)),
    f(52, "PIN data", Binary, Fixed(8)),
    f(
        53,
        "security related control information",
        Numeric,
        Fixed(16),
    ),
    f(54, "balance amount", Text, LllVar(20)),
    f(55, "ICC system related data", Binary, LllVar(255)),
    // Type code, batch number, network management code...; see `Field60`.
    f(
        60,
        "reserved private (type, batch, network management code)",
        Numeric,
        LllVar(17),
    ),
    f(61, "original message", Numeric, LllVar(29)),
    // The working keys of a sign-on response, among others: binary here.
    f(62, "reserved private (working keys)", Binary, LllVar(512)),
    // Operator number on requests, card organisation on responses.
    f(
        63,
        "reserved private (operator, card organisation)",
        Text,
        LllVar(163),
    ),
    f(64, "message authentication code", Binary, Fixed(8)),
];

/// The table entry of field `number`, if the profile has one.
pub fn field(number: u8) -> Option<&'static FieldSpec> {
    FIELDS.iter().find(|s| s.number == number)
}

impl Len {
    /// The most units the field may hold.
    pub fn max(self) -> u16 {
        match self {
            Len::Fixed(n) | Len::LlVar(n) | Len::LllVar(n) => n,
        }
    }
}
