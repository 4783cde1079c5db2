//! The options every command takes (`--json`, `--data-dir`, `--keystore`, the simulation
//! switches, verbosity). Their own module so that the commands and their context can read
//! them without importing the top-level parser in `cli`, which is built from the commands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print one JSON document (the schemas in docs/cli.md) instead of readable text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Where posmate keeps its data [default: the platform data directory, e.g.
    /// ~/.local/share/posmate]. Keystore entries are namespaced by this directory.
    #[arg(long, global = true, env = "POSMATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where the phone's keys live: the OS keystore (durable: the Secret Service on Linux,
    /// the login Keychain on macOS), the Secret Service by name, the Linux kernel keyutils
    /// store (lost at reboot), or an in-memory mock (lost at exit; for tests).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = KeystoreArg::Os,
        env = "POSMATE_KEYSTORE"
    )]
    pub keystore: KeystoreArg,

    /// Use simulated terminals (and acquirer) embedded in this process instead of
    /// Bluetooth. Their state is kept in DATA_DIR/sim/world.json between runs.
    /// (An option on the command line beats POSMATE_SIM_ADDR / POSMATE_SIM.)
    #[arg(
        long,
        global = true,
        env = "POSMATE_SIM",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub sim: bool,

    /// Use the simulated terminals of a running `posmate sim` at ADDR (host:port).
    #[arg(long, global = true, env = "POSMATE_SIM_ADDR", value_name = "ADDR")]
    pub connect_sim: Option<String>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr: no progress, notes or warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Accept keeping the phone's database key in a keystore that does not survive a reboot
    /// (keyutils, the mock). Recorded in the data directory, so later calls on it need it
    /// no more; `posmate doctor` shows when it was given. Never implied, not even by --sim.
    #[arg(long, global = true, env = "POSMATE_ALLOW_VOLATILE_KEY", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_volatile_key: bool,

    /// scrypt work factor (log2 N) of new backups [default: 18, about a second and 256 MiB].
    /// Lower only for tests and demos: it is what protects an archive that leaves the phone.
    #[arg(long, global = true, env = "POSMATE_BACKUP_WORK_FACTOR", value_name = "N",
          value_parser = clap::value_parser!(u8).range(10..=20))]
    pub backup_work_factor: Option<u8>,
}

/// The `--keystore` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeystoreArg {
    Os,
    SecretService,
    Keyutils,
    Mock,
}
