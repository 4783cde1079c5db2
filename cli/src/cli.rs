//! The command line: global options and the command list. Each command's own arguments
//! live in its module under `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

const EXAMPLES: &str = "\
Examples:
  posmate demo                            a terminal's whole life, simulated, in seconds
  posmate --sim scan                      simulated terminals in this process
  posmate --sim pair                      pair with the nearest one (code read off its screen)
  posmate --sim info                      its info over the encrypted session
  posmate --sim sim acquirer              the simulated merchant, terminal numbers, codes
  printf 'ACT07001\\n' | posmate --sim activate SN2026000001 --terminal-no 10020301 \\
      --merchant-no 898310148160012 --merchant-name 'Zhang San Noodles' \\
      --phone '+86 138 0000 0000' --address '12 Wenhua Road, Hangzhou'
  posmate sim --listen 127.0.0.1:7878     host simulated terminals for other processes
  posmate --connect-sim 127.0.0.1:7878 scan
  posmate doctor                          what is missing for real Bluetooth
  posmate --json scan                     machine-readable output (docs/cli.md)

Exit codes: 0 ok, 1 other, 2 usage, 3 not found, 4 refused, 5 Bluetooth/link,
6 keystore/storage, 7 acquirer, 8 cancelled, 9 security (docs/cli.md).";

/// posmate: pair, activate and look after a Bluetooth card terminal from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "posmate",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

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

    /// Where the phone's keys live: the OS keystore, the Linux kernel keyutils store, or an
    /// in-memory mock (lost at exit; for tests).
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

    /// Keep the phone's database key in a keystore that does not survive a reboot (the
    /// Linux kernel keystore, the mock). Implied with --sim and --connect-sim.
    #[arg(long, global = true, env = "POSMATE_ALLOW_VOLATILE_KEY", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_volatile_key: bool,

    /// scrypt work factor (log2 N) of new backups [default: 18, about a second and 256 MiB].
    /// Lower only for tests and demos: it is what protects an archive that leaves the phone.
    #[arg(long, global = true, env = "POSMATE_BACKUP_WORK_FACTOR", value_name = "N",
          value_parser = clap::value_parser!(u8).range(10..=20))]
    pub backup_work_factor: Option<u8>,
}

impl Cli {
    /// Parses the command line. `--sim` and `--connect-sim` together on the command line
    /// are a usage error; otherwise the command line beats the environment, and of two
    /// environment variables POSMATE_SIM_ADDR wins.
    pub fn parse_args() -> Cli {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        let mut command = Cli::command();
        let matches = command.clone().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let from_line = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        if cli.global.sim && cli.global.connect_sim.is_some() {
            if from_line("sim") && from_line("connect_sim") {
                command
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "--sim and --connect-sim choose different simulations; pass one",
                    )
                    .exit();
            }
            if from_line("sim") {
                cli.global.connect_sim = None;
            } else {
                cli.global.sim = false;
            }
        }
        cli
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeystoreArg {
    Os,
    Keyutils,
    Mock,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(commands::demo::Args),
    Scan(commands::scan::Args),
    Pair(commands::pair::Args),
    Info(commands::info::Args),
    Activate(commands::activate::Args),
    Cards(commands::cards::Args),
    Records(commands::records::Args),
    Settle(commands::settle::Args),
    Decommission(commands::decommission::Args),
    Replace(commands::replace::Args),
    Dormancy(commands::dormancy::Args),
    WipePhone(commands::wipe_phone::Args),
    Backup(commands::backup::Args),
    Audit(commands::audit::Args),
    Flows(commands::flows::Args),
    Doctor(commands::doctor::Args),
    Sim(commands::sim::Args),
    Completions(commands::completions::Args),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        fn walk(cmd: &clap::Command, path: String, missing: &mut Vec<String>) {
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !help.contains("Examples:") && cmd.get_name() != "help" {
                missing.push(path.clone());
            }
            for sub in cmd.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()), missing);
            }
        }
        walk(&cli, "posmate".into(), &mut missing);
        assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
    }
}
