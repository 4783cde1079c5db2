//! The fleet CSV: a header naming the columns (any order, any case; extra columns are
//! ignored), then one terminal per row. Quoted fields, commas and line breaks inside
//! quotes, UTF-8 names and a spreadsheet's byte-order mark are accepted. What is wrong with
//! the file as a whole (unreadable, not UTF-8, a column missing, no rows) refuses the run
//! before anything is sent; what is wrong with one row is that row's failure, reported by
//! the core's checks (a short row's missing fields are empty, so the check names the
//! first field missing).

use std::path::Path;

use posmate_core::acquirer::MerchantDetails;
use posmate_core::fleet::{FleetPlan, FleetRow};

use crate::error::{CliError, Exit};

/// The columns, in the order the documentation lists them.
pub const COLUMNS: [&str; 6] = [
    "sn",
    "terminal_no",
    "merchant_no",
    "merchant_name",
    "phone",
    "address",
];

/// Reads `path` into a plan named by the file's bytes.
pub fn read(path: &Path) -> Result<FleetPlan, CliError> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            Exit::Usage,
            "csv-unreadable",
            format!("cannot read the fleet CSV {}: {e}", path.display()),
        )
    })?;
    let rows = parse(&bytes).map_err(|e| {
        CliError::new(
            Exit::Usage,
            e.code,
            format!("the fleet CSV {}: {}", path.display(), e.message),
        )
        .hint(format!(
            "the first line names the columns {}; docs/cli.md shows an example",
            COLUMNS.join(", ")
        ))
    })?;
    Ok(FleetPlan::new(&bytes, rows))
}

/// Why a CSV cannot be used at all.
#[derive(Debug, PartialEq, Eq)]
pub struct CsvError {
    pub code: &'static str,
    pub message: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> CsvError {
    CsvError {
        code,
        message: message.into(),
    }
}

/// The rows of a fleet CSV.
pub fn parse(bytes: &[u8]) -> Result<Vec<FleetRow>, CsvError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        bad(
            "csv-not-utf8",
            format!(
                "it is not UTF-8 text (byte {}); save it as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| bad("csv-malformed", e.to_string()))?
        .clone();
    let names: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let mut index = [0usize; 6];
    let mut missing = Vec::new();
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        let mut found = names.iter().enumerate().filter(|(_, n)| *n == column);
        match (found.next(), found.next()) {
            (Some((i, _)), None) => *slot = i,
            (Some(_), Some(_)) => {
                return Err(bad(
                    "csv-header",
                    format!("the column {column} is named twice"),
                ))
            }
            (None, _) => missing.push(column),
        }
    }
    if !missing.is_empty() {
        return Err(bad(
            "csv-header",
            format!("the header has no column {}", missing.join(", ")),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad("csv-malformed", e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(index[i]).unwrap_or_default().to_owned();
        rows.push(FleetRow {
            line,
            sn: field(0),
            terminal_no: field(1),
            merchant_no: field(2),
            merchant: MerchantDetails {
                legal_name: field(3),
                contact_phone: field(4),
                address: field(5),
            },
        });
    }
    if rows.is_empty() {
        return Err(bad("csv-empty", "it has a header but no rows"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_utf8_any_column_order_and_a_bom_are_read() {
        let csv = "\u{feff}Merchant_Name,sn,terminal_no,merchant_no,phone,address,notes\n\
                   \"Zhang San Noodles, Ltd\",SN2026000001,10020301,898310148160012,+86 138,\"12 Wenhua Road,\nHangzhou\",x\n\
                   张三面馆, SN2026000002 ,10020302,898310148160012,+86 138,\"he said \"\"hi\"\"\",\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].merchant.legal_name, "Zhang San Noodles, Ltd");
        assert_eq!(rows[0].merchant.address, "12 Wenhua Road,\nHangzhou");
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].line, 4, "the quoted line break counts");
        assert_eq!(rows[1].sn, "SN2026000002", "fields are trimmed");
        assert_eq!(rows[1].merchant.legal_name, "张三面馆");
        assert_eq!(rows[1].merchant.address, "he said \"hi\"");
    }

    #[test]
    fn a_short_row_is_kept_with_empty_fields_for_the_checks_to_name() {
        let csv = "sn,terminal_no,merchant_no,merchant_name,phone,address\nSN2026000001,10020301\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].terminal_no, "10020301");
        assert_eq!(rows[0].merchant_no, "");
    }

    #[test]
    fn files_that_cannot_be_used_are_refused_with_a_code() {
        let code = |text: &[u8]| parse(text).unwrap_err().code;
        assert_eq!(code(b"sn,terminal_no\nSN1,1\n"), "csv-header");
        assert_eq!(
            code(b"sn,sn,terminal_no,merchant_no,merchant_name,phone,address\n"),
            "csv-header"
        );
        assert_eq!(
            code(b"sn,terminal_no,merchant_no,merchant_name,phone,address\n"),
            "csv-empty"
        );
        assert_eq!(code(b"sn,terminal_no\n\xff\xfe\n"), "csv-not-utf8");
        let missing = parse(b"sn,phone\nSN1,2\n").unwrap_err();
        assert!(
            missing
                .message
                .contains("terminal_no, merchant_no, merchant_name, address"),
            "{}",
            missing.message
        );
    }
}
