//! `posmate`: the command-line tool. It drives exactly the core the apps use, over real
//! Bluetooth by default or simulated terminals with `--sim` / `--connect-sim`.
//! Conventions, JSON schemas and exit codes: `docs/cli.md`.

mod acquirer;
mod cli;
mod code_entry;
mod commands;
mod consent;
mod context;
mod error;
mod fmt;
mod global;
mod log_mask;
mod logfile;
mod output;
mod phone;
mod prompt;
mod settings;
mod simhost;
mod stop_signal;
mod transport_select;
mod txn_kind;
mod values;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::context::Ctx;
use crate::error::Exit;
use crate::global::KeystoreArg;
use crate::output::Output;
use crate::settings::Settings;

fn main() -> ExitCode {
    let (cli, matches) = Cli::parse_args();
    let creating = matches!(
        cli.command,
        commands::Command::Config(commands::config::Action::Set { .. })
    );
    let settings = match Settings::resolve(&cli.global, &matches, creating) {
        Ok(settings) => settings,
        Err(err) => {
            // The file could not be read: its output settings are unknown, the command
            // line's and the environment's are not.
            let out = Output {
                json: cli.global.json,
                quiet: cli.global.quiet,
            };
            out.error(&err);
            return ExitCode::from(err.status.code());
        }
    };
    // The keyutils store needs a session keyring, and it is inherited only by threads
    // started afterwards: join one before the runtime starts its workers.
    let keyring_session = match settings.keystore {
        KeystoreArg::Keyutils => join_session_keyring(),
        KeystoreArg::Os | KeystoreArg::SecretService | KeystoreArg::Mock => Ok(()),
    };
    let ctx = Ctx::new(settings, keyring_session);
    init_logging(&ctx);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        command = cli.command.name(),
        "posmate started"
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Other.code());
        }
    };
    let status = runtime.block_on(async {
        let result = commands::run(&ctx, cli.command, Cli::command).await;
        // Whatever happened, the simulated terminals keep what their flash holds.
        let saved = match ctx.opened_link() {
            Some(link) => link.save(),
            None => Ok(()),
        };
        match result.and_then(|exit| saved.map(|()| exit)) {
            Ok(exit) => exit,
            Err(err) => {
                ctx.out.error(&err);
                err.status
            }
        }
    });
    ExitCode::from(status.code())
}

/// Logs go to stderr (warnings by default, more with -v, only errors with -q; RUST_LOG
/// overrides) and, at info level, to the data directory's log file (`logfile`).
fn init_logging(ctx: &Ctx) {
    use tracing_subscriber::prelude::*;
    let (verbose, quiet) = (ctx.settings.verbose, ctx.settings.quiet);
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(log_mask::Masked(std::io::stderr))
        .with_target(verbose > 1)
        .with_filter(filter);
    let file = tracing_subscriber::fmt::layer()
        .with_writer(log_mask::Masked(logfile::LogFile::new(ctx.data_dir().ok())))
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
}

#[cfg(target_os = "linux")]
fn join_session_keyring() -> Result<(), String> {
    posmate_core::keystore::linux::join_session_keyring().map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn join_session_keyring() -> Result<(), String> {
    Ok(())
}
