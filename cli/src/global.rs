//! The options every command takes (`--json`, `--data-dir`, `--keystore`, the simulation
//! switches, verbosity, the config file and profile). Their own module so that the commands
//! and their context can read them without importing the top-level parser in `cli`, which
//! is built from the commands.
//!
//! These are only the first two layers of each setting (the command line, then the
//! environment): none has a clap default, so that "not given" stays visible and the
//! profile and the default can fill it in (`settings`). The ids are the config file's keys
//! (`settings::spec`).

use std::path::PathBuf;

use clap::Args;

pub use crate::values::KeystoreArg;
use crate::values::{
    parser, AcquirerUrl, CaFile, CredentialRef, Pins, ProfileName, SimAddr, WorkFactor,
};

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print one JSON document (the schemas in docs/cli.md) instead of readable text.
    #[arg(long, global = true, env = "POSMATE_JSON", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,

    /// The config file [default: posmate/config.toml in the platform config directory,
    /// e.g. ~/.config/posmate/config.toml]. Given explicitly, it must exist.
    #[arg(long, global = true, env = "POSMATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The profile of the config file to use [default: the file's default_profile, else
    /// `default`]. Each profile has its own data directory, hence its own keys.
    #[arg(long, global = true, env = "POSMATE_PROFILE", value_name = "NAME",
          value_parser = parser::<ProfileName>())]
    pub profile: Option<ProfileName>,

    /// Where posmate keeps its data [default: the platform data directory, e.g.
    /// ~/.local/share/posmate, or .../posmate/profiles/NAME for a named profile].
    /// Keystore entries are namespaced by this directory.
    #[arg(long, global = true, env = "POSMATE_DATA_DIR", value_name = "DIR",
          value_parser = parser::<PathBuf>())]
    pub data_dir: Option<PathBuf>,

    /// Where the phone's keys live: the OS keystore (durable: the Secret Service on Linux,
    /// the login Keychain on macOS), the Secret Service by name, the Linux kernel keyutils
    /// store (lost at reboot), or an in-memory mock (lost at exit; for tests) [default: os].
    #[arg(long, global = true, value_enum, env = "POSMATE_KEYSTORE")]
    pub keystore: Option<KeystoreArg>,

    /// Use simulated terminals (and acquirer) embedded in this process instead of
    /// Bluetooth. Their state is kept in DATA_DIR/sim/world.json between runs.
    /// (The stronger of this and --connect-sim wins: command line, environment, profile.)
    #[arg(
        long,
        global = true,
        env = "POSMATE_SIM",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub sim: bool,

    /// Use the simulated terminals of a running `posmate sim` at ADDR (host:port).
    #[arg(long, global = true, env = "POSMATE_SIM_ADDR", value_name = "ADDR",
          value_parser = parser::<SimAddr>())]
    pub connect_sim: Option<SimAddr>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, env = "POSMATE_VERBOSE", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr: no progress, notes or warnings.
    #[arg(short, long, global = true, env = "POSMATE_QUIET", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,

    /// Accept keeping the phone's database key in a keystore that does not survive a reboot
    /// (keyutils, the mock). Recorded in the data directory, so later calls on it need it
    /// no more; `posmate doctor` shows when it was given. Never implied, not even by --sim.
    #[arg(long, global = true, env = "POSMATE_ALLOW_VOLATILE_KEY", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_volatile_key: bool,

    /// scrypt work factor (log2 N) of new backups, 10 to 20 [default: 18, about a second
    /// and 256 MiB]. Lower only for tests and demos: it is what protects an archive that
    /// leaves the phone.
    #[arg(long, global = true, env = "POSMATE_BACKUP_WORK_FACTOR", value_name = "N",
          value_parser = parser::<WorkFactor>())]
    pub backup_work_factor: Option<WorkFactor>,

    /// The acquirer's base URL: https://, or http:// to localhost only. With it the flows
    /// reach that acquirer over HTTPS on Bluetooth and with --connect-sim; with --sim only
    /// when given here or in the environment (a profile's URL leaves --sim its own).
    // No `--acquirer` alias: on a global option it would clash with `cards list --acquirer`
    // ("ask the acquirer"), an existing flag.
    #[arg(long, global = true, env = "POSMATE_ACQUIRER_URL", value_name = "URL",
          value_parser = parser::<AcquirerUrl>())]
    pub acquirer_url: Option<AcquirerUrl>,

    /// The keystore entry that holds the acquirer credential (its name, never the secret).
    #[arg(long, global = true, env = "POSMATE_ACQUIRER_CREDENTIAL", value_name = "NAME",
          value_parser = parser::<CredentialRef>())]
    pub acquirer_credential: Option<CredentialRef>,

    /// A PEM file of CA certificates trusted for the acquirer besides the usual roots (a
    /// sandbox's or a private acquirer's CA).
    #[arg(long, global = true, env = "POSMATE_ACQUIRER_CA", value_name = "FILE",
          value_parser = parser::<CaFile>())]
    pub acquirer_ca: Option<CaFile>,

    /// Pinned acquirer keys (sha256/BASE64 of a certificate's public key, comma-separated):
    /// a certificate chain without one of them is refused before anything is sent.
    #[arg(long, global = true, env = "POSMATE_ACQUIRER_PIN", value_name = "PINS",
          value_parser = parser::<Pins>())]
    pub acquirer_pin: Option<Pins>,
}
