//! `posmate support`: what a support engineer asks a merchant or a developer for.

mod archive;
mod bundle;

use std::path::PathBuf;

use crate::context::Ctx;
use crate::error::{CliError, Exit};

/// What a support engineer asks for: a diagnostics bundle that holds no secret.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate support bundle -o posmate-support.tar   send this file to support")]
pub enum Action {
    /// Write a diagnostics bundle: versions, doctor's checks, the phone's terminals, flows,
    /// cards and recent records, the link traces' summaries and the logs — checked for keys
    /// and card numbers before it is written.
    #[command(after_help = "Examples:
  posmate support bundle -o posmate-support.tar
  posmate --sim support bundle -o /tmp/support.tar --force
  tar tvf posmate-support.tar                   what it holds

The bundle is a plain tar file. It holds no key, no full card number, no activation or
pairing code and no passphrase: posmate never stores or logs those, and every byte of
the bundle is scanned before it is written, for the phone's keystore secrets (raw, hex,
base64) and for anything that looks like a full card number; if the scan finds one, no
file is written and the error says where it was (exit 9). It does hold what a diagnosis
needs: serial, terminal and merchant numbers, masked card numbers, holder names, record
amounts and the log. A part that cannot be read (the keystore is locked, say) is listed in
manifest.json with the reason instead; the rest is still written.")]
    Bundle {
        /// Where to write the bundle.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    match action {
        Action::Bundle { output, force } => bundle::run(ctx, &output, force).await,
    }
}
