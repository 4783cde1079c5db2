//! Card input on the phone: validating a manually entered card number and naming its issuer.
//!
//! A manually entered PAN is the one moment a full card number exists on the phone. It lives
//! only in a [`ManualPan`] (zeroized on drop, never printed), is sent to the acquirer once,
//! and only its [`MaskedPan`] is kept. Reading a card on the terminal never exposes the PAN
//! to the phone at all (the terminal returns a masked PAN and a token).

use posmate_proto::pan::{issuer_for, luhn_valid, Issuer, MaskedPan};
use zeroize::Zeroizing;

/// Shortest and longest card number accepted for manual entry. 12-digit numbers exist in
/// ISO/IEC 7812 but no scheme a merchant can settle to issues them.
pub const MANUAL_PAN_LEN: core::ops::RangeInclusive<usize> = 13..=19;

/// Why a manually entered card number was refused. Never carries the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardInputError {
    #[error("a card number has 13 to 19 digits; this one has {0}")]
    Length(usize),
    #[error("a card number holds only digits (spaces and dashes are ignored)")]
    NotDigits,
    #[error("this card number fails its check digit (Luhn); check it for a typo")]
    Luhn,
    #[error("the expiry date must be MMYY with a month from 01 to 12")]
    Expiry,
    #[error("the cardholder name must not be empty")]
    HolderName,
}

/// A full card number typed by the merchant: zeroized on drop, `Debug` shows it masked.
pub struct ManualPan(Zeroizing<String>);

impl ManualPan {
    /// Validates a typed card number: digits only once spaces and dashes are removed,
    /// 13–19 digits, Luhn check digit.
    pub fn parse(typed: &str) -> Result<Self, CardInputError> {
        let mut digits = Zeroizing::new(String::with_capacity(19));
        for c in typed.chars() {
            match c {
                ' ' | '-' => {}
                '0'..='9' => digits.push(c),
                _ => return Err(CardInputError::NotDigits),
            }
        }
        if !MANUAL_PAN_LEN.contains(&digits.len()) {
            return Err(CardInputError::Length(digits.len()));
        }
        if !luhn_valid(&digits) {
            return Err(CardInputError::Luhn);
        }
        Ok(ManualPan(digits))
    }

    /// The digits, for the one request that sends them to the acquirer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// First 6 and last 4 digits: all the phone may keep.
    pub fn masked(&self) -> MaskedPan {
        MaskedPan::mask(&self.0).expect("a validated PAN always masks")
    }

    /// The issuer named by the card's BIN, if the built-in table knows it.
    pub fn issuer(&self) -> Option<Issuer> {
        issuer_for(&self.0)
    }
}

impl core::fmt::Debug for ManualPan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ManualPan({})", self.masked().as_str())
    }
}

/// Checks an expiry typed as `MMYY`.
pub fn validate_expiry(mmyy: &str) -> Result<(), CardInputError> {
    let ok = mmyy.len() == 4
        && mmyy.bytes().all(|b| b.is_ascii_digit())
        && matches!(mmyy[..2].parse::<u8>(), Ok(1..=12));
    if ok {
        Ok(())
    } else {
        Err(CardInputError::Expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_strips_separators_and_checks_length_and_luhn() {
        let pan = ManualPan::parse("4111 1111-1111 1111").unwrap();
        assert_eq!(pan.masked().as_str(), "411111******1111");
        assert_eq!(format!("{pan:?}"), "ManualPan(411111******1111)");
        assert_eq!(
            ManualPan::parse("411111111111").unwrap_err(),
            CardInputError::Length(12)
        );
        assert_eq!(
            ManualPan::parse("41111111111111111111").unwrap_err(),
            CardInputError::Length(20)
        );
        assert_eq!(
            ManualPan::parse("4111111111111112").unwrap_err(),
            CardInputError::Luhn
        );
        assert_eq!(
            ManualPan::parse("4111x11111111111").unwrap_err(),
            CardInputError::NotDigits
        );
        assert_eq!(ManualPan::parse("").unwrap_err(), CardInputError::Length(0));
    }

    #[test]
    fn errors_never_echo_the_number() {
        let e = ManualPan::parse("4111111111111112").unwrap_err();
        assert!(!e.to_string().contains("4111"));
    }

    #[test]
    fn expiry_is_mmyy() {
        assert!(validate_expiry("1228").is_ok());
        assert!(validate_expiry("0130").is_ok());
        for bad in ["1328", "0028", "12/28", "122", "abcd"] {
            assert_eq!(validate_expiry(bad), Err(CardInputError::Expiry), "{bad}");
        }
    }
}
