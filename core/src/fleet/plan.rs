//! What a fleet run is given: the rows (as a front end parsed them from its source), the
//! source's hash that names the run in the journal, and the activation codes.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::acquirer::MerchantDetails;
use crate::error::Result;
use crate::flows::{validate_merchant_no, validate_sn, validate_terminal_no};

/// One row of the list: a terminal and the merchant it is activated for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRow {
    /// Where the row is in the source (a CSV's line number), for people.
    pub line: u64,
    pub sn: String,
    pub terminal_no: String,
    pub merchant_no: String,
    pub merchant: MerchantDetails,
}

impl FleetRow {
    /// The checks the activation would make of these fields, made before anything is
    /// sent, so a malformed row fails alone and at once.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_sn(&self.sn)?;
        validate_terminal_no(&self.terminal_no)?;
        validate_merchant_no(&self.merchant_no)?;
        if self.merchant.legal_name.trim().is_empty() {
            return Err(crate::error::Error::InvalidInput {
                field: "merchant name",
                reason: "must not be empty".into(),
            });
        }
        Ok(())
    }
}

/// The rows of one source, and the run they make: the lowercase hex SHA-256 of the
/// source's bytes, so running the same file again continues the same run while an edited
/// file is a new one.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    run_id: String,
    pub rows: Vec<FleetRow>,
}

impl FleetPlan {
    pub fn new(source: &[u8], rows: Vec<FleetRow>) -> Self {
        let digest = Sha256::digest(source);
        FleetPlan {
            run_id: digest.iter().map(|b| format!("{b:02x}")).collect(),
            rows,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }
}

/// Activation codes by SN. Kept in memory only (zeroized when dropped); its `Debug` shows
/// which SNs have a code, never a code.
#[derive(Default)]
pub struct FleetCodes(HashMap<String, Zeroizing<String>>);

impl FleetCodes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `sn`'s code; returns whether `sn` already had one (the later one wins).
    pub fn insert(&mut self, sn: String, code: Zeroizing<String>) -> bool {
        self.0.insert(sn, code).is_some()
    }

    pub fn get(&self, sn: &str) -> Option<&Zeroizing<String>> {
        self.0.get(sn)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The SNs that have a code.
    pub fn sns(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for FleetCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sns: Vec<&str> = self.sns().collect();
        sns.sort_unstable();
        f.debug_struct("FleetCodes").field("for", &sns).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sn: &str, terminal_no: &str, merchant_no: &str) -> FleetRow {
        FleetRow {
            line: 2,
            sn: sn.into(),
            terminal_no: terminal_no.into(),
            merchant_no: merchant_no.into(),
            merchant: MerchantDetails {
                legal_name: "Zhang San Noodles".into(),
                contact_phone: "+86 138 0000 0000".into(),
                address: "12 Wenhua Road".into(),
            },
        }
    }

    #[test]
    fn rows_are_checked_field_by_field() {
        assert!(row("SN2026000001", "10020301", "898310148160012")
            .validate()
            .is_ok());
        let field = |r: FleetRow| match r.validate() {
            Err(crate::error::Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(row("sn-2026/1", "10020301", "898310148160012")), "SN");
        assert_eq!(
            field(row("SN2026000001", "1002", "898310148160012")),
            "terminal number"
        );
        assert_eq!(
            field(row("SN2026000001", "10020301", "89831014816001X")),
            "merchant number"
        );
        let mut unnamed = row("SN2026000001", "10020301", "898310148160012");
        unnamed.merchant.legal_name = "  ".into();
        assert_eq!(field(unnamed), "merchant name");
    }

    #[test]
    fn the_run_is_named_by_the_source_bytes_and_codes_never_print() {
        let a = FleetPlan::new(b"sn\nSN1\n", vec![]);
        assert_eq!(a.run_id().len(), 64);
        assert_eq!(a.run_id(), FleetPlan::new(b"sn\nSN1\n", vec![]).run_id());
        assert_ne!(a.run_id(), FleetPlan::new(b"sn\nSN2\n", vec![]).run_id());
        let mut codes = FleetCodes::new();
        assert!(!codes.insert("SN1".into(), Zeroizing::new("ACT07001".into())));
        assert!(codes.insert("SN1".into(), Zeroizing::new("ACT07009".into())));
        assert_eq!(codes.get("SN1").map(|c| c.as_str()), Some("ACT07009"));
        let shown = format!("{codes:?}");
        assert!(shown.contains("SN1") && !shown.contains("ACT"), "{shown}");
    }
}
