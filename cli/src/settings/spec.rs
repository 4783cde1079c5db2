//! The settings a profile holds, in one table: each one's key in the config file (also the
//! id of its global option), its option and environment variable, and how its value is
//! checked and written. The layered resolution (`super::resolve`), the file's validation
//! (`super::file`) and `posmate config` all read this table, so a setting is added once.

use std::path::PathBuf;

use crate::global::KeystoreArg;
use crate::values::{
    AcquirerUrl, CaFile, CredentialRef, Kind, Pins, Setting, SimAddr, Verbosity, WorkFactor,
};

/// One setting.
#[derive(Debug)]
pub struct Spec {
    /// The key in a profile's table, and the id of the global option.
    pub key: &'static str,
    /// The option on the command line.
    pub flag: &'static str,
    pub env: &'static str,
    pub kind: Kind,
    /// The text form (an option's value, `config set`) checked and turned into the value
    /// the file holds.
    pub to_toml: fn(&str) -> Result<toml_edit::Value, String>,
    /// Checks a value read from the file.
    pub check: fn(&toml_edit::Value) -> Result<(), String>,
}

const fn spec<T: Setting>(key: &'static str, flag: &'static str, env: &'static str) -> Spec {
    Spec {
        key,
        flag,
        env,
        kind: T::KIND,
        to_toml: to_toml::<T>,
        check: check::<T>,
    }
}

fn to_toml<T: Setting>(text: &str) -> Result<toml_edit::Value, String> {
    T::parse(text).map(|v| v.to_toml())
}

fn check<T: Setting>(value: &toml_edit::Value) -> Result<(), String> {
    T::from_toml(value).map(|_| ())
}

pub const DATA_DIR: Spec = spec::<PathBuf>("data_dir", "--data-dir", "POSMATE_DATA_DIR");
pub const KEYSTORE: Spec = spec::<KeystoreArg>("keystore", "--keystore", "POSMATE_KEYSTORE");
pub const ALLOW_VOLATILE_KEY: Spec = spec::<bool>(
    "allow_volatile_key",
    "--allow-volatile-key",
    "POSMATE_ALLOW_VOLATILE_KEY",
);
pub const SIM: Spec = spec::<bool>("sim", "--sim", "POSMATE_SIM");
pub const CONNECT_SIM: Spec = spec::<SimAddr>("connect_sim", "--connect-sim", "POSMATE_SIM_ADDR");
pub const ACQUIRER_URL: Spec =
    spec::<AcquirerUrl>("acquirer_url", "--acquirer-url", "POSMATE_ACQUIRER_URL");
pub const ACQUIRER_CREDENTIAL: Spec = spec::<CredentialRef>(
    "acquirer_credential",
    "--acquirer-credential",
    "POSMATE_ACQUIRER_CREDENTIAL",
);
pub const ACQUIRER_CA: Spec = spec::<CaFile>("acquirer_ca", "--acquirer-ca", "POSMATE_ACQUIRER_CA");
pub const ACQUIRER_PIN: Spec =
    spec::<Pins>("acquirer_pin", "--acquirer-pin", "POSMATE_ACQUIRER_PIN");
pub const BACKUP_WORK_FACTOR: Spec = spec::<WorkFactor>(
    "backup_work_factor",
    "--backup-work-factor",
    "POSMATE_BACKUP_WORK_FACTOR",
);
pub const JSON: Spec = spec::<bool>("json", "--json", "POSMATE_JSON");
pub const QUIET: Spec = spec::<bool>("quiet", "--quiet", "POSMATE_QUIET");
pub const VERBOSE: Spec = spec::<Verbosity>("verbose", "--verbose", "POSMATE_VERBOSE");

/// Every setting, in the order `config show` lists them.
pub const SETTINGS: [&Spec; 13] = [
    &DATA_DIR,
    &KEYSTORE,
    &ALLOW_VOLATILE_KEY,
    &SIM,
    &CONNECT_SIM,
    &ACQUIRER_URL,
    &ACQUIRER_CREDENTIAL,
    &ACQUIRER_CA,
    &ACQUIRER_PIN,
    &BACKUP_WORK_FACTOR,
    &JSON,
    &QUIET,
    &VERBOSE,
];

/// The setting of `key`, if there is one.
pub fn find(key: &str) -> Option<&'static Spec> {
    SETTINGS.iter().copied().find(|s| s.key == key)
}

/// The keys, for messages.
pub fn keys() -> String {
    SETTINGS.map(|s| s.key).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;

    /// Each setting is a global option of the same id, with the option name and the
    /// environment variable the table says (the resolution looks them up by id).
    #[test]
    fn every_setting_is_the_global_option_the_table_names() {
        let cli = crate::global::Global::augment_args(clap::Command::new("posmate"));
        for spec in SETTINGS {
            let arg = cli
                .get_arguments()
                .find(|a| a.get_id() == spec.key)
                .unwrap_or_else(|| panic!("no global option with id {}", spec.key));
            assert_eq!(
                arg.get_long().map(|l| format!("--{l}")).as_deref(),
                Some(spec.flag)
            );
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(spec.env),
                "{}",
                spec.key
            );
            assert!(arg.is_global_set(), "{} is not global", spec.key);
            assert!(
                arg.get_default_values().is_empty(),
                "{} has a clap default, which would hide that it was not given",
                spec.key
            );
        }
    }

    /// docs/cli.md's global options table has a row for each setting naming its option,
    /// its environment variable and its config key.
    #[test]
    fn the_docs_table_names_every_setting() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md");
        let doc = std::fs::read_to_string(path).expect("docs/cli.md");
        let (_, section) = doc
            .split_once("\n## Global options\n")
            .expect("a Global options section");
        let rows: Vec<&str> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .collect();
        for spec in SETTINGS {
            let cell = |text: &str| format!("`{text}");
            let key = format!("| `{}` |", spec.key);
            assert!(
                rows.iter().any(|r| r.contains(&cell(spec.flag))
                    && r.contains(&cell(spec.env))
                    && r.contains(&key)),
                "docs/cli.md has no row for {} ({}, {})",
                spec.key,
                spec.flag,
                spec.env
            );
        }
    }
}
