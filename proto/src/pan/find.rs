//! Finding full card numbers in free text, so that whatever may reach storage, logs or a file
//! that leaves the phone can be checked for one (PCI DSS 3.4: the PAN is unreadable
//! wherever it is stored).
//!
//! A full PAN here is a run of 13–19 digits, whole (no letter or digit right before or after
//! it, so digits inside hex or identifiers do not count), optionally in groups separated by
//! single spaces or dashes as printed on cards and typed by people, starting with a digit a
//! card scheme uses (2–6: Mastercard's 2-series, Amex and Diners, Visa, Mastercard,
//! UnionPay and Discover), and passing its Luhn check digit. The leading digit rule keeps
//! millisecond timestamps (13 digits starting with 1 until the year 2286) from being
//! flagged; a run of digits that merely happens to pass Luhn is still reported, on purpose:
//! a false alarm costs a look, a missed card number costs a breach.

use core::ops::Range;
use std::borrow::Cow;

use super::luhn_valid;

/// Where in `text` full card numbers appear (byte ranges, separators included), in order.
pub fn full_pans(text: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if !text[i].is_ascii_digit() || (i > 0 && text[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let (end, digits) = digit_run(text, i);
        let bounded = text.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if bounded && looks_like_pan(&digits) {
            found.push(i..end);
        }
        i = end.max(i + 1);
    }
    found
}

/// Whether `text` holds a full card number anywhere.
pub fn contains_full_pan(text: &[u8]) -> bool {
    !full_pans(text).is_empty()
}

/// `text` with every full card number masked as the phone may keep it: the first six and
/// last four digits, `*` for the rest (grouping separators dropped). Borrowed when there
/// is none.
pub fn mask_full_pans(text: &str) -> Cow<'_, str> {
    if text.len() < 13 {
        return Cow::Borrowed(text);
    }
    let found = full_pans(text.as_bytes());
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in found {
        out.push_str(&text[at..range.start]);
        let digits: Vec<char> = text[range.clone()]
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let n = digits.len();
        for (i, d) in digits.into_iter().enumerate() {
            out.push(if i < super::SHOWN_FIRST || i >= n - super::SHOWN_LAST {
                d
            } else {
                '*'
            });
        }
        at = range.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// The run of digits starting at `start` (single spaces or dashes allowed between digits):
/// where it ends and its digits.
fn digit_run(text: &[u8], start: usize) -> (usize, Vec<u8>) {
    let mut digits = Vec::new();
    let mut end = start;
    let mut j = start;
    while j < text.len() {
        let b = text[j];
        if b.is_ascii_digit() {
            digits.push(b);
            j += 1;
            end = j;
        } else if (b == b' ' || b == b'-') && text.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
        } else {
            break;
        }
        if digits.len() > 19 {
            break;
        }
    }
    // A run that went past 19 digits is no card number; skip the whole of it.
    while text.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
        digits.push(b'0');
    }
    (end, digits)
}

fn looks_like_pan(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len())
        && matches!(digits[0], b'2'..=b'6')
        && core::str::from_utf8(digits).is_ok_and(luhn_valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "6222021234567890128";

    #[test]
    fn finds_card_numbers_plain_grouped_and_in_json() {
        for text in [
            PAN.to_string(),
            format!("card {PAN}."),
            format!("{{\"detail\":\"{PAN}\"}}"),
            "4111 1111 1111 1111".into(),
            "4111-1111-1111-1111 declined".into(),
            "amex 378282246310005".into(),
        ] {
            assert_eq!(full_pans(text.as_bytes()).len(), 1, "{text}");
        }
    }

    #[test]
    fn reports_the_range_with_its_separators() {
        let text = b"x 4111 1111 1111 1111 y";
        assert_eq!(full_pans(text), vec![2..21]);
    }

    #[test]
    fn ignores_masked_numbers_timestamps_hex_and_long_runs() {
        for text in [
            "622202*********0128",
            "622202******0128",
            "at 1733580000000 ms",
            "1733580000007",
            "key 3f6222021234567890128ab",
            "id 6222021234567890128x",
            "62220212345678901281234",
            "amount 000000012345",
            "4111 1111 1111 1112",
            "12 Wenhua Road, tel 138 0000 0000",
        ] {
            assert!(full_pans(text.as_bytes()).is_empty(), "{text}");
        }
    }

    #[test]
    fn masks_card_numbers_as_the_phone_keeps_them() {
        assert_eq!(
            mask_full_pans("declined: card 6222021234567890128 blocked"),
            "declined: card 622202*********0128 blocked"
        );
        assert_eq!(
            mask_full_pans("4111 1111 1111 1111 and 378282246310005"),
            "411111******1111 and 378282*****0005"
        );
        let clean = "no card here, at 1733580000000";
        assert!(matches!(mask_full_pans(clean), Cow::Borrowed(s) if s == clean));
        let masked = mask_full_pans(PAN);
        assert!(!contains_full_pan(masked.as_bytes()));
        assert!(crate::pan::MaskedPan::parse(&masked).is_ok(), "{masked}");
    }

    #[test]
    fn finds_every_card_number() {
        let text = format!("{PAN} and 4111111111111111");
        assert_eq!(full_pans(text.as_bytes()).len(), 2);
        assert!(contains_full_pan(text.as_bytes()));
    }
}
