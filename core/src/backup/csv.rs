//! CSV export of records for the merchant's accountant (RFC 4180, opened in a spreadsheet).
//!
//! Spreadsheets execute a cell that starts with `=`, `+`, `-` or `@` as a formula, and some
//! record fields (authorisation code, RRN) come from the terminal and the network, not from
//! posmate: such cells are prefixed with `'` so they show as text (OWASP "CSV injection").

use std::io::Write;

use super::BackupError;
use crate::store::StoredRecord;

const HEADER: &[&str] = &[
    "sn",
    "seq",
    "batch",
    "kind",
    "status",
    "amount",
    "currency",
    "time_utc",
    "masked_pan",
    "auth_code",
    "rrn",
    "orig_seq",
];

/// Writes a header row and one row per record; returns how many records were written.
///
/// Columns: `sn` is the terminal that took the payment (after a replacement, records synced
/// through the new terminal still name the old one); `amount` is a decimal in the currency's
/// unit with the currency's minor digits (`12.34` CNY, `1234` JPY); `currency` is the ISO 4217
/// letter code, or the numeric code for currencies not in the table below (their amount is
/// then shown with 2 decimals, the ISO default); `time_utc` is ISO 8601 in UTC. Lines end in
/// CRLF as RFC 4180 says.
pub fn export_csv(
    mut w: impl Write,
    records: impl Iterator<Item = StoredRecord>,
) -> Result<u64, BackupError> {
    let io_err = |e: std::io::Error| BackupError::from_io(&e);
    let mut line = String::with_capacity(256);
    for (i, name) in HEADER.iter().enumerate() {
        push_cell(&mut line, i, name);
    }
    line.push_str("\r\n");
    w.write_all(line.as_bytes()).map_err(io_err)?;

    let mut count = 0u64;
    for stored in records {
        let r = &stored.record;
        let (currency, exponent) = currency(r.currency);
        let cells = [
            stored.origin_sn.clone(),
            r.seq.to_string(),
            r.batch_no.to_string(),
            r.kind.name().to_owned(),
            r.status.name().to_owned(),
            decimal(r.amount_minor, exponent),
            currency,
            iso8601_utc(r.at_ms),
            r.masked_pan.as_str().to_owned(),
            r.auth_code.clone(),
            r.rrn.clone(),
            r.orig_seq.map(|s| s.to_string()).unwrap_or_default(),
        ];
        line.clear();
        for (i, cell) in cells.iter().enumerate() {
            push_cell(&mut line, i, cell);
        }
        line.push_str("\r\n");
        w.write_all(line.as_bytes()).map_err(io_err)?;
        count += 1;
    }
    w.flush().map_err(io_err)?;
    Ok(count)
}

/// Appends one cell (with its separator) to `line`: defused if a spreadsheet would run it as
/// a formula, then quoted if it holds a separator, a quote or a line break.
fn push_cell(line: &mut String, index: usize, cell: &str) {
    if index > 0 {
        line.push(',');
    }
    let defused = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = cell.contains([',', '"', '\r', '\n']);
    if needs_quotes {
        line.push('"');
    }
    if defused {
        line.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            line.push('"');
        }
        line.push(c);
    }
    if needs_quotes {
        line.push('"');
    }
}

/// ISO 4217 letter code and minor-unit digits for the currencies posmate's merchants use;
/// others keep their numeric code and the ISO default of 2 digits.
fn currency(numeric: u16) -> (String, u32) {
    let known = match numeric {
        156 => Some(("CNY", 2)),
        344 => Some(("HKD", 2)),
        446 => Some(("MOP", 2)),
        901 => Some(("TWD", 2)),
        392 => Some(("JPY", 0)),
        410 => Some(("KRW", 0)),
        702 => Some(("SGD", 2)),
        840 => Some(("USD", 2)),
        978 => Some(("EUR", 2)),
        826 => Some(("GBP", 2)),
        _ => None,
    };
    match known {
        Some((alpha, exponent)) => (alpha.to_owned(), exponent),
        None => (format!("{numeric:03}"), 2),
    }
}

/// `minor` units as a decimal with `exponent` fraction digits, without floating point.
fn decimal(minor: u64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let unit = 10u64.pow(exponent);
    format!(
        "{}.{:0width$}",
        minor / unit,
        minor % unit,
        width = exponent as usize
    )
}

/// `2024-03-01T09:30:05Z` for a Unix time in milliseconds (seconds are enough for
/// accounting; the journal's own order is `seq`).
fn iso8601_utc(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// restricted to dates after the epoch, which is all a `u64` of milliseconds can hold).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_dates_match_known_calendar_days() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (leap day of a year divisible by 400) 12:34:56.789
        assert_eq!(iso8601_utc(951_827_696_789), "2000-02-29T12:34:56Z");
        assert_eq!(iso8601_utc(1_709_285_405_000), "2024-03-01T09:30:05Z");
        // 2100 is not a leap year: 2100-02-28 23:59:59 is followed by 2100-03-01.
        assert_eq!(iso8601_utc(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(iso8601_utc(4_107_542_400_000), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn csv_amounts_use_the_currency_minor_digits() {
        assert_eq!(decimal(1234, 2), "12.34");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(1234, 0), "1234");
        assert_eq!(currency(392), ("JPY".to_owned(), 0));
        assert_eq!(currency(156), ("CNY".to_owned(), 2));
        assert_eq!(currency(48), ("048".to_owned(), 2));
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        let row = |cells: &[&str]| {
            let mut line = String::new();
            for (i, c) in cells.iter().enumerate() {
                push_cell(&mut line, i, c);
            }
            line
        };
        assert_eq!(row(&["a", "b c", ""]), "a,b c,");
        assert_eq!(row(&["x,y", "say \"hi\""]), "\"x,y\",\"say \"\"hi\"\"\"");
        assert_eq!(row(&["line\nbreak", "cr\r"]), "\"line\nbreak\",\"cr\r\"");
        assert_eq!(
            row(&["=1+1", "+1", "-1", "@SUM(A1)", "\tx"]),
            "'=1+1,'+1,'-1,'@SUM(A1),'\tx"
        );
        // Defused and quoted: the apostrophe goes inside the quotes.
        assert_eq!(
            row(&["=HYPERLINK(\"http://x\",\"y\")"]),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(row(&["a=b", "1-2"]), "a=b,1-2");
    }
}
