//! `posmate`: the command-line tool. It drives exactly the core the apps use, over real
//! Bluetooth by default or simulated terminals with `--sim` / `--connect-sim`.
//! Conventions, JSON schemas and exit codes: `docs/cli.md`.

mod cli;
mod code_entry;
mod commands;
mod consent;
mod context;
mod error;
mod fmt;
mod global;
mod output;
mod phone;
mod prompt;
mod simhost;
mod transport_select;
mod txn_kind;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::context::Ctx;
use crate::error::Exit;
use crate::global::KeystoreArg;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    init_logging(cli.global.verbose, cli.global.quiet);
    // The keyutils store needs a session keyring, and it is inherited only by threads
    // started afterwards: join one before the runtime starts its workers.
    let keyring_session = match cli.global.keystore {
        KeystoreArg::Keyutils => join_session_keyring(),
        KeystoreArg::Os | KeystoreArg::SecretService | KeystoreArg::Mock => Ok(()),
    };
    let ctx = Ctx::new(cli.global.clone(), keyring_session);
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

/// Logs go to stderr: warnings by default, more with -v, only errors with -q; RUST_LOG
/// overrides.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose > 1)
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
