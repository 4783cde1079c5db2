//! The acquirer's own checks on a card: number (length, Luhn), expiry against its clock, a
//! tiny BIN table (issuer, debit or credit) and the holder's name against the merchant's.

use posmate_acquirer_api::AcquirerError;
use posmate_proto::pan::{issuer_for, luhn_valid};

/// A card's type as its BIN says; a settlement card must be a debit card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Funding {
    Debit,
    Credit,
}

/// BINs the simulated acquirer knows and whether they are debit or credit. The issuer's name
/// is the shared table's (`posmate_proto::pan::issuer_for`), so it reads as the phone shows it.
const BINS: &[(&str, Funding)] = &[
    ("622202", Funding::Debit),
    ("621700", Funding::Debit),
    ("622848", Funding::Debit),
    ("622588", Funding::Credit),
];

/// Issuer and funding of a card from the first six characters of its (masked) number.
pub(super) fn bin(pan: &str) -> Option<(String, Funding)> {
    let six = pan.get(..6)?;
    let funding = BINS.iter().find(|(b, _)| *b == six)?.1;
    Some((issuer_for(six)?.display(), funding))
}

fn invalid(field: &str, reason: &str) -> AcquirerError {
    AcquirerError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A typed card number: 13 to 19 digits passing the Luhn check. Errors never echo it.
pub(super) fn check_pan(pan: &str) -> Result<(), AcquirerError> {
    if !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("pan", "a card number has digits only"));
    }
    if !(13..=19).contains(&pan.len()) {
        return Err(invalid("pan", "a card number has 13 to 19 digits"));
    }
    if !luhn_valid(pan) {
        return Err(invalid(
            "pan",
            "the card number fails its check digit; check it was typed correctly",
        ));
    }
    Ok(())
}

/// `MMYY`, valid through the end of that month of the acquirer's calendar.
pub(super) fn check_expiry(expiry: &str, now_ms: u64) -> Result<(), AcquirerError> {
    let bad = || invalid("expiry", "the expiry date is MMYY, as printed on the card");
    if expiry.len() != 4 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let month: u32 = expiry[..2].parse().map_err(|_| bad())?;
    let year: i64 = 2000 + expiry[2..].parse::<i64>().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    let (now_year, now_month, _) = civil_from_ms(now_ms);
    if (year, month) < (now_year, now_month) {
        return Err(AcquirerError::CardRefused {
            reason: "the card has expired".to_owned(),
        });
    }
    Ok(())
}

/// Names compared as a bank's clerk would: case and spacing aside.
pub(super) fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

const DAY_MS: u64 = 86_400_000;

/// (year, month 1–12, day 1–31) of a UTC instant (Howard Hinnant's civil_from_days).
pub(super) fn civil_from_ms(ms: u64) -> (i64, u32, u32) {
    let z = (ms / DAY_MS) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The same instant `years` calendar years later (29 February becomes 28 February).
pub(super) fn add_years(ms: u64, years: i64) -> u64 {
    let (y, m, d) = civil_from_ms(ms);
    let y2 = y + years;
    let leap = (y2 % 4 == 0 && y2 % 100 != 0) || y2 % 400 == 0;
    let d2 = if m == 2 && d == 29 && !leap { 28 } else { d };
    let days = days_from_civil(y2, m, d2);
    u64::try_from(days).unwrap_or(0) * DAY_MS + ms % DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_1_2026: u64 = 1_767_225_600_000;

    #[test]
    fn luhn_and_length() {
        assert!(check_pan("4111111111111111").is_ok());
        assert!(check_pan("6222021234567890128").is_ok());
        assert!(check_pan("4111111111111112").is_err());
        assert!(check_pan("411111111111").is_err(), "12 digits");
        assert!(check_pan("4111 1111 1111 1111").is_err());
        let e = check_pan("4111111111111112").unwrap_err().to_string();
        assert!(!e.contains("4111111111111112"), "{e}");
    }

    #[test]
    fn calendar_matches_known_dates() {
        assert_eq!(civil_from_ms(JAN_1_2026), (2026, 1, 1));
        assert_eq!(civil_from_ms(JAN_1_2026 - 1), (2025, 12, 31));
        assert_eq!(civil_from_ms(951_782_400_000), (2000, 2, 29));
        assert_eq!(add_years(JAN_1_2026 + 5, 3), 1_861_920_000_005);
        assert_eq!(civil_from_ms(add_years(951_782_400_000, 3)), (2003, 2, 28));
    }

    #[test]
    fn expiry_is_the_end_of_its_month() {
        assert!(check_expiry("0126", JAN_1_2026).is_ok());
        assert!(matches!(
            check_expiry("1225", JAN_1_2026),
            Err(AcquirerError::CardRefused { .. })
        ));
        assert!(matches!(
            check_expiry("1326", JAN_1_2026),
            Err(AcquirerError::Invalid { .. })
        ));
        assert!(check_expiry("12/28", JAN_1_2026).is_err());
    }

    #[test]
    fn names_ignore_case_and_spacing() {
        assert!(same_name("Zhang San  Noodles", " zhang san noodles"));
        assert!(!same_name("Zhang San Noodles", "Li Si"));
    }
}
