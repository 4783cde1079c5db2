//! `posmate acquirer`: the sandbox acquirer (`posmate-sandbox`) — `serve` runs it as an
//! HTTPS peer the phone's acquirer client can reach, `admin` does what the acquirer's back
//! office does (decide reviews, sign merchants up, register terminals, move its clock)
//! over its admin surface. Schemas `acquirer-serve` and `acquirer-admin-<op>`.

mod admin;
mod serve;

use std::path::PathBuf;

use posmate_sandbox::SandboxError;

use crate::context::Ctx;
use crate::error::{CliError, Exit};

/// Run the sandbox acquirer over HTTPS, or act as its back office.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate acquirer serve --demo
  posmate --json acquirer serve --listen 127.0.0.1:0 --state /tmp/acq
  posmate acquirer admin reviews
  posmate acquirer admin approve APP-000001

The sandbox keeps its books, TLS material and admin token in DATA_DIR/sandbox
unless --state DIR says otherwise; admin finds the running server there.")]
pub enum Action {
    Serve(serve::Args),
    #[command(subcommand)]
    Admin(admin::Action),
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    match action {
        Action::Serve(args) => serve::run(ctx, args).await,
        Action::Admin(action) => admin::run(ctx, action).await,
    }
}

/// The sandbox's data directory: `--state DIR`, else `DATA_DIR/sandbox`.
fn state_dir(ctx: &Ctx, state: Option<PathBuf>) -> Result<PathBuf, CliError> {
    match state {
        Some(dir) => Ok(dir),
        None => Ok(ctx.data_dir()?.join("sandbox")),
    }
}

/// The sandbox's errors in the CLI's terms: its files are local storage (6), an address
/// that cannot be bound is the transport's (5), and the sandbox unreachable or refusing
/// is the acquirer's (7), with the problem's own code.
fn cli_error(e: SandboxError) -> CliError {
    let message = e.to_string();
    match e {
        SandboxError::Io { .. } | SandboxError::Corrupt { .. } => {
            CliError::new(Exit::Storage, e.code(), message)
                .hint("check the sandbox's data directory (--state DIR), or start from a new one")
        }
        SandboxError::Tls { .. } => CliError::new(Exit::Storage, e.code(), message)
            .hint("check the --cert/--key files, or let the sandbox make its own"),
        SandboxError::Listen { .. } => CliError::new(Exit::Transport, "listen-failed", message)
            .hint("choose another address, e.g. --listen 127.0.0.1:0 for any free port"),
        SandboxError::Unreachable { .. } => CliError::new(Exit::Acquirer, e.code(), message)
            .hint("start it with `posmate acquirer serve` (same --state), or pass --url"),
        SandboxError::Refused { code, hint, .. } => {
            let hint = if hint.is_empty() {
                "see docs/acquirer-api.md, \"The sandbox's admin surface\"".to_owned()
            } else {
                hint
            };
            CliError::new(Exit::Acquirer, code, message).hint(hint)
        }
    }
}
