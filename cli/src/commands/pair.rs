//! `posmate pair`: first pairing with a terminal — the merchant types the 6-digit code the
//! terminal shows; the terminal's key is pinned in the keystore once it has confirmed.

use std::time::Duration;

use posmate_core::keystore::{SecretStore, TerminalPins};
use serde::Serialize;

use super::{needs_sim, parse_duration, target};
use crate::code_entry::CodeSource;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::{hex, Report};
use crate::phone;

/// Pair this phone with a terminal (it shows a code; you type it).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate pair                        the strongest terminal in range; asks for the code
  posmate pair --sn 42A1
  posmate --sim pair                  simulated: the code is read off the terminal's screen
  posmate --sim pair --type-code      simulated, but the code typed as on a real terminal
  posmate --connect-sim 127.0.0.1:7878 pair --from-screen

The code is never taken from the command line (ps and shell history keep arguments):
it is typed on stdin, without echo on a terminal; an empty line cancels.")]
pub struct Args {
    /// Pair with the terminal whose serial number ends with this; without it, the
    /// strongest signal in range.
    #[arg(long, value_name = "SN")]
    pub sn: Option<String>,
    /// Pair with the terminal with this id (from `posmate scan`), without scanning.
    #[arg(long, conflicts_with = "sn")]
    pub id: Option<String>,
    /// Type the code the terminal shows on stdin even in simulation, where it is otherwise
    /// read off the simulated screen (over Bluetooth it is always typed).
    #[arg(long, conflicts_with = "from_screen")]
    pub type_code: bool,
    /// Read the code off the simulated terminal's screen (simulation only; --sim does so
    /// unless --type-code is given).
    #[arg(long)]
    pub from_screen: bool,
    /// How long to scan: 500ms, 5s [default: 5s over Bluetooth, less in simulation].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Serialize)]
pub struct PairReport {
    pub id: String,
    pub sn: String,
    pub model: String,
    pub firmware: String,
    pub lifecycle: &'static str,
    /// The terminal's pinned Noise static key.
    pub terminal_key: String,
    /// The keystore backend holding the phone's identity and the pin.
    pub keystore: &'static str,
    pub keystore_durable: bool,
}

impl Report for PairReport {
    fn human(&self) -> String {
        format!(
            "paired with {} ({} {}, {})\nterminal key {} pinned in the {} keystore\n",
            self.sn, self.model, self.firmware, self.lifecycle, self.terminal_key, self.keystore
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    // The phone first: a keystore it may not use refuses before anything is scanned.
    let phone = phone::open(ctx).await?;
    let link = ctx.link().await?;
    if args.from_screen && link.embedded().is_none() && link.remote().is_none() {
        return Err(needs_sim("--from-screen"));
    }
    let candidates = target::candidates(
        ctx,
        link,
        args.sn.as_deref(),
        args.id.as_deref(),
        args.timeout,
    )
    .await?;
    let chosen = &candidates[0];
    if candidates.len() > 1 {
        ctx.out.note(&format!(
            "{} terminals in range; pairing with the strongest, {} (choose with --sn)",
            candidates.len(),
            chosen.local_name.as_deref().unwrap_or(chosen.id.as_str())
        ));
    }
    let code = if args.type_code {
        CodeSource::Prompt(ctx.out)
    } else {
        phone::code_source(ctx, args.from_screen).await?
    };
    let spinner = ctx.out.spinner("pairing");
    // The prompt must not fight with the spinner for the terminal.
    if matches!(code, CodeSource::Prompt(_)) {
        spinner.finish_and_clear();
    }
    let paired = phone.pair(&chosen.id, &code).await;
    spinner.finish_and_clear();
    let row = paired?;
    let info = phone.info(&row.sn).await;
    phone.disconnect_all().await;
    let info = info?;
    let keystore = ctx.keystore()?;
    let key = TerminalPins::new(&*keystore)
        .get(&row.sn)?
        .map(|k| hex(&k))
        .unwrap_or_default();
    let backend = keystore.backend();
    if let Some(warning) = backend.warning() {
        ctx.out.note(&format!("warning: {warning}"));
    }
    ctx.out.report(&PairReport {
        id: chosen.id.to_string(),
        sn: info.sn,
        model: info.model,
        firmware: info.firmware,
        lifecycle: info.lifecycle.name(),
        terminal_key: key,
        keystore: backend.name,
        keystore_durable: backend.durable,
    });
    Ok(Exit::Ok)
}
