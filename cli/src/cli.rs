//! The top-level parser: the options every command takes (`global`) and the commands
//! (`commands::Command`, each one's own arguments in its module under `commands/`).

use clap::Parser;

use crate::commands::Command;
use crate::global::Global;

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
  posmate fleet activate --csv shops.csv --codes-file codes.txt   many terminals at once
  posmate sim --listen 127.0.0.1:7878     host simulated terminals for other processes
  posmate --connect-sim 127.0.0.1:7878 scan
  posmate acquirer serve --demo           the sandbox acquirer over HTTPS (docs/acquirer-api.md)
  posmate doctor                          what is missing for real Bluetooth
  posmate --profile bench config set sim true    settings kept in a profile of the config file
  posmate config show                     every setting in effect, and where it came from
  posmate --json scan                     machine-readable output (docs/cli.md)

Every option but --config and --profile can also be kept in a profile of the config
file (`posmate config --help`): the command line beats the environment, which beats the
profile, which beats the default.

Exit codes: 0 ok, 1 other, 2 usage, 3 not found, 4 refused, 5 Bluetooth/link,
6 keystore/storage, 7 acquirer, 8 cancelled, 9 security, 10 some rows of a fleet failed
(docs/cli.md).";

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

impl Cli {
    /// Parses the command line (clap's usage errors exit here, with status 2), and keeps
    /// the matches: the settings need each option's source (`settings::Settings::resolve`).
    pub fn parse_args() -> (Cli, clap::ArgMatches) {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        (cli, matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `docs/cli.md` documents clap's own usage errors under the CLI's usage status.
    #[test]
    fn usage_errors_exit_with_the_usage_status() {
        let err = Cli::try_parse_from(["posmate", "--no-such-option"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(Exit::Usage.code()));
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
