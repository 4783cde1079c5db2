//! Transaction kinds as the command line and the sim link name them (`sale`, `pre-auth`, …):
//! one spelling for filtering the phone's records and for ringing up a sale on a simulated
//! terminal, so both accept the same words. The kinds themselves are the protocol's
//! [`RecordKind`]; this only spells them with hyphens where the protocol's JSON has
//! underscores (`pre_auth`), as command-line values are.

use std::fmt;
use std::sync::LazyLock;

use posmate_proto::message::RecordKind;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

/// A [`RecordKind`] as a command-line value (clap) and in the sim link's JSON (serde).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindArg(pub RecordKind);

/// The hyphenated names, in [`RecordKind::ALL`] (code) order; built once and kept for the
/// life of the process because clap and serde want `'static` names.
static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    RecordKind::ALL
        .iter()
        .map(|k| &*k.name().replace('_', "-").leak())
        .collect()
});

/// Every kind, for clap.
static VARIANTS: LazyLock<Vec<KindArg>> =
    LazyLock::new(|| RecordKind::ALL.iter().copied().map(KindArg).collect());

impl KindArg {
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0.code())]
    }
}

/// A sale, as the sim link's `ring-up` assumes without a `kind`.
impl Default for KindArg {
    fn default() -> Self {
        KindArg(RecordKind::Sale)
    }
}

impl From<KindArg> for RecordKind {
    fn from(k: KindArg) -> Self {
        k.0
    }
}

impl fmt::Display for KindArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl clap::ValueEnum for KindArg {
    fn value_variants<'a>() -> &'a [Self] {
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl Serialize for KindArg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for KindArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        VARIANTS
            .iter()
            .copied()
            .find(|k| k.name() == text)
            .ok_or_else(|| D::Error::unknown_variant(&text, &NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum as _;

    #[test]
    fn names_are_hyphenated_and_round_trip() {
        let names: Vec<_> = KindArg::value_variants().iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "sale",
                "refund",
                "pre-auth",
                "pre-auth-completion",
                "balance-inquiry",
                "void"
            ]
        );
        for k in KindArg::value_variants() {
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<KindArg>(&json).unwrap(), *k);
            assert_eq!(KindArg::from_str(k.name(), false), Ok(*k));
        }
        let err = serde_json::from_str::<KindArg>("\"pre_auth\"").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown variant `pre_auth`, expected one of `sale`, `refund`"),
            "{err}"
        );
    }
}
