//! Masked card numbers. The phone must never hold a full PAN (`docs/protocol.md` §6), so the
//! type that carries one can only be built from a string that is already masked, and
//! decoding a message with anything else fails.
//!
//! The card-number rules every side applies live here too, once: the Luhn check digit (the
//! phone checks a typed number, the acquirer checks it again, test tools make valid ones) and
//! the issuer named by a BIN.

mod bin;
mod find;

pub use bin::{issuer_for, CardScheme, Issuer};
pub use find::{contains_full_pan, full_pans, mask_full_pans};

use core::fmt;
use core::str::FromStr;
use minicbor::{decode, encode, Decode, Decoder, Encode, Encoder};

/// Shortest and longest PAN (ISO/IEC 7812).
pub const PAN_LEN: core::ops::RangeInclusive<usize> = 12..=19;
/// Digits that may stay visible at the start and at the end.
pub const SHOWN_FIRST: usize = 6;
pub const SHOWN_LAST: usize = 4;

/// Why a string is not a masked PAN. Never carries the string itself: it may be a full PAN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanError {
    #[error("a PAN has 12 to 19 characters, not {0}")]
    Length(usize),
    #[error("character {0} of the PAN is neither a digit nor '*'")]
    BadCharacter(usize),
    #[error(
        "digit at position {0} must be masked with '*' (only the first 6 and last 4 may show)"
    )]
    Unmasked(usize),
}

/// A card number showing at most its first 6 and last 4 digits, `*` everywhere else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MaskedPan(String);

impl MaskedPan {
    /// Accepts an already masked PAN such as `411111******1111` (fewer digits shown is fine).
    pub fn parse(s: &str) -> Result<Self, PanError> {
        let len = s.chars().count();
        if !PAN_LEN.contains(&len) {
            return Err(PanError::Length(len));
        }
        for (i, c) in s.chars().enumerate() {
            match c {
                '*' => {}
                '0'..='9' if i < SHOWN_FIRST || i >= len - SHOWN_LAST => {}
                '0'..='9' => return Err(PanError::Unmasked(i)),
                _ => return Err(PanError::BadCharacter(i)),
            }
        }
        Ok(MaskedPan(s.to_owned()))
    }

    /// Masks a full PAN on the terminal side: first 6 and last 4 digits kept.
    pub fn mask(full_pan_digits: &str) -> Result<Self, PanError> {
        let len = full_pan_digits.chars().count();
        if !PAN_LEN.contains(&len) {
            return Err(PanError::Length(len));
        }
        if let Some(i) = full_pan_digits.chars().position(|c| !c.is_ascii_digit()) {
            return Err(PanError::BadCharacter(i));
        }
        let masked = full_pan_digits
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i < SHOWN_FIRST || i >= len - SHOWN_LAST {
                    c
                } else {
                    '*'
                }
            })
            .collect();
        Ok(MaskedPan(masked))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four characters (the digits a merchant recognises a card by).
    pub fn last4(&self) -> &str {
        // All characters are ASCII, so byte offsets are character offsets.
        &self.0[self.0.len() - SHOWN_LAST..]
    }
}

/// The Luhn (mod 10) sum of `digits`, doubling every second digit counted from the right;
/// `double_last` says whether that count starts with the last digit doubled (computing a check
/// digit still to be appended) or not (checking a complete number).
fn luhn_sum(digits: &str, double_last: bool) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_last {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum()
}

/// Whether a complete card number passes its Luhn check digit. Anything but ASCII digits
/// fails.
pub fn luhn_valid(digits: &str) -> bool {
    digits.bytes().all(|b| b.is_ascii_digit()) && luhn_sum(digits, false).is_multiple_of(10)
}

/// `digits` (ASCII digits only) with their Luhn check digit appended: how test cards are made.
pub fn with_check_digit(digits: &str) -> String {
    assert!(
        digits.bytes().all(|b| b.is_ascii_digit()),
        "a card number's digits"
    );
    format!("{digits}{}", (10 - luhn_sum(digits, true) % 10) % 10)
}

impl FromStr for MaskedPan {
    type Err = PanError;
    fn from_str(s: &str) -> Result<Self, PanError> {
        MaskedPan::parse(s)
    }
}

impl TryFrom<String> for MaskedPan {
    type Error = PanError;
    fn try_from(s: String) -> Result<Self, PanError> {
        MaskedPan::parse(&s)
    }
}

impl AsRef<str> for MaskedPan {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedPan({})", self.0)
    }
}

impl<C> Encode<C> for MaskedPan {
    fn encode<W: encode::Write>(
        &self,
        e: &mut Encoder<W>,
        _ctx: &mut C,
    ) -> Result<(), encode::Error<W::Error>> {
        e.str(&self.0)?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for MaskedPan {
    fn decode(d: &mut Decoder<'b>, _ctx: &mut C) -> Result<Self, decode::Error> {
        let p = d.position();
        let s = d.str()?;
        MaskedPan::parse(s)
            .map_err(|_| decode::Error::message("masked_pan is not a masked PAN").at(p))
    }
}

/// As its text; reading re-checks the masking, so JSON cannot smuggle a full PAN in.
#[cfg(feature = "serde")]
impl serde::Serialize for MaskedPan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for MaskedPan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MaskedPan::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_typos() {
        for pan in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6222021234567890128",
            "6217001234567893",
        ] {
            assert!(luhn_valid(pan), "{pan}");
        }
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("6217001234567891"));
    }

    #[test]
    fn check_digits_are_luhn_valid() {
        assert_eq!(
            with_check_digit("622202123456789012"),
            "6222021234567890128"
        );
        assert_eq!(with_check_digit("411111111111111"), "4111111111111111");
    }

    #[test]
    fn mask_keeps_first_six_and_last_four() {
        let m = MaskedPan::mask("4111111111111111").unwrap();
        assert_eq!(m.as_str(), "411111******1111");
        assert_eq!(m.last4(), "1111");
        assert_eq!(
            MaskedPan::mask("123456789012").unwrap().as_str(),
            "123456**9012"
        );
        assert_eq!(
            MaskedPan::mask("1234567890123456789").unwrap().as_str(),
            "123456*********6789"
        );
        assert_eq!(MaskedPan::mask("12345678901"), Err(PanError::Length(11)));
        assert_eq!(
            MaskedPan::mask("41111111111111x1"),
            Err(PanError::BadCharacter(14))
        );
    }

    #[test]
    fn parse_accepts_masked_and_rejects_full() {
        assert!(MaskedPan::parse("411111******1111").is_ok());
        assert!(MaskedPan::parse("************1111").is_ok());
        assert!(MaskedPan::parse("4111********1111").is_ok());
        assert_eq!(
            MaskedPan::parse("4111111111111111"),
            Err(PanError::Unmasked(6))
        );
        assert_eq!(
            MaskedPan::parse("411111*1****1111"),
            Err(PanError::Unmasked(7))
        );
        assert_eq!(
            MaskedPan::parse("411111-*****1111"),
            Err(PanError::BadCharacter(6))
        );
        assert_eq!(MaskedPan::parse("4111**1111"), Err(PanError::Length(10)));
        assert_eq!(MaskedPan::parse(&"*".repeat(20)), Err(PanError::Length(20)));
        assert_eq!(
            MaskedPan::parse("41111١******1111"),
            Err(PanError::BadCharacter(5))
        );
        assert!("411111******1111".parse::<MaskedPan>().is_ok());
        assert!(MaskedPan::try_from(String::from("4111111111111111")).is_err());
    }

    #[test]
    fn display_and_debug_show_only_the_masked_form() {
        let m = MaskedPan::mask("5500000000000004").unwrap();
        assert_eq!(m.to_string(), "550000******0004");
        assert_eq!(format!("{m:?}"), "MaskedPan(550000******0004)");
        // Errors never echo the input.
        let e = MaskedPan::parse("5500000000000004")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("5500000000000004"));
    }

    #[test]
    fn cbor_is_a_text_string_and_full_pans_do_not_decode() {
        let m = MaskedPan::mask("5500000000000004").unwrap();
        let bytes = minicbor::to_vec(&m).unwrap();
        assert_eq!(bytes[0], 0x70); // text(16)
        assert_eq!(minicbor::decode::<MaskedPan>(&bytes).unwrap(), m);
        let full = minicbor::to_vec("5500000000000004").unwrap();
        assert!(minicbor::decode::<MaskedPan>(&full).is_err());
    }
}
