//! `posmate fleet`: many terminals at once — `activate` every terminal of a CSV (pairing the
//! ones this phone does not know yet), and `status` across every terminal of this phone.
//! The run itself is the core's (`posmate_core::fleet`); here are its input (the CSV, the
//! codes) and its output (the table, `--json`, the exit status).

mod codes;
mod csv_input;
mod report;

use std::path::PathBuf;
use std::sync::Arc;

use posmate_core::fleet::FleetOptions;
use posmate_core::flows::{FlowControl, NoProgress};

use super::with_phone;
use crate::code_entry::CodeSource;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::phone;
use crate::transport_select::Mode;

/// Act on many terminals at once: activate a CSV of them, or see them all.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate fleet activate --csv shops.csv --codes-file codes.txt
  posmate fleet activate --csv shops.csv < codes.txt         the codes on stdin
  posmate fleet activate --csv shops.csv --retry-failed < codes.txt
  posmate fleet status")]
pub enum Action {
    /// Pair (where needed) and activate every terminal of a CSV, each row on its own.
    #[command(after_help = "Examples:
  posmate --connect-sim 127.0.0.1:7878 fleet activate --csv shops.csv < codes.txt
  posmate fleet activate --csv shops.csv --codes-file codes.txt   (chmod 600 codes.txt)
  posmate --json fleet activate --csv shops.csv --retry-failed < codes.txt

The CSV's first line names its columns (any order; others are ignored):
  sn,terminal_no,merchant_no,merchant_name,phone,address
  SN2026000001,10020301,898310148160012,Zhang San Noodles,+86 138 0000,\"12 Wenhua Rd, Hangzhou\"
Quote a field holding commas; UTF-8 names are fine.

Activation codes are never arguments: one 'SN,CODE' or 'SN CODE' per line on stdin, or in
--codes-file (readable by its owner only). With real Bluetooth stdin is where the pairing
codes of terminals this phone does not know yet are typed, so the activation codes must
come from --codes-file; in simulation the pairing codes are read off the simulated screens.

Rows run one at a time: the phone holds one Bluetooth link well, and pairing needs the
merchant at each terminal. A bad row fails alone (its reason and next step in the table);
nothing it did is undone and no other row waits for it. Running the same CSV again skips
the rows already activated, resumes the ones a killed or interrupted run left (the
acquirer never sees a second activation) and retries failed rows only with --retry-failed.
Exit 0 when every row is activated or under review, 10 when some failed.")]
    Activate {
        /// The fleet CSV.
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Read the activation codes from FILE (mode 600) instead of stdin.
        #[arg(long, value_name = "FILE")]
        codes_file: Option<PathBuf>,
        /// Run again the rows an earlier run of this CSV left failed.
        #[arg(long)]
        retry_failed: bool,
    },
    /// Every terminal of this phone: state, numbers, last sync, unsettled records, dormancy.
    #[command(after_help = "Examples:
  posmate fleet status
  posmate --json fleet status | jq '.totals'

Dormancy is asked of the acquirer for activated terminals (one call each); when it cannot
be asked the row says why and the rest is what the phone holds.")]
    Status,
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    match action {
        Action::Activate {
            csv,
            codes_file,
            retry_failed,
        } => activate(ctx, csv, codes_file, retry_failed).await,
        Action::Status => {
            let status = with_phone(ctx, async |phone| {
                Ok(posmate_core::fleet::status(phone).await?)
            })
            .await?;
            ctx.out.report(&status);
            Ok(Exit::Ok)
        }
    }
}

fn quiet(out: Output) -> Output {
    Output { quiet: true, ..out }
}

async fn activate(
    ctx: &Ctx,
    csv: PathBuf,
    codes_file: Option<PathBuf>,
    retry_failed: bool,
) -> Result<Exit, CliError> {
    if ctx.mode() == Mode::Bluetooth && codes_file.is_none() {
        return Err(CliError::usage(
            "with real Bluetooth the pairing codes are typed on stdin, so the activation codes need --codes-file",
        )
        .hint("put one 'SN CODE' per line in a file only you can read (chmod 600) and pass --codes-file FILE"));
    }
    // Everything that can be wrong with the input is found before the phone is opened.
    let plan = csv_input::read(&csv)?;
    let codes = codes::read(codes_file.as_deref(), &ctx.out)?;
    let listed: std::collections::HashSet<&str> = plan.rows.iter().map(|r| r.sn.as_str()).collect();
    let strays = codes.sns().filter(|sn| !listed.contains(sn)).count();
    if strays > 0 {
        ctx.out.note(&format!(
            "note: {} for terminals not in the CSV, ignored",
            report::plural(strays, "activation code is", "activation codes are")
        ));
    }
    let report = with_phone(ctx, async |phone| {
        // A code read off a simulated screen is not news in a fleet run, and a note would
        // break the progress bar's line.
        let pairing = match phone::code_source(ctx, true).await? {
            CodeSource::RemoteScreen(remote, out) => CodeSource::RemoteScreen(remote, quiet(out)),
            CodeSource::EmbeddedScreen(screens, out) => {
                CodeSource::EmbeddedScreen(screens, quiet(out))
            }
            other => other,
        };
        let prompts = matches!(pairing, CodeSource::Prompt(_));
        let bar = report::RowsBar::new(&ctx.out, plan.rows.len(), prompts);
        // The rows' bar is the progress; Ctrl-C cancels through the token (between steps).
        let control = FlowControl::new(Arc::new(NoProgress));
        let run = posmate_core::fleet::activate(
            phone,
            &plan,
            &codes,
            &pairing,
            FleetOptions { retry_failed },
            &bar,
            &control,
        );
        let result = phone::cancellable(ctx, run, control.cancel.clone()).await;
        bar.finish();
        Ok(result?)
    })
    .await?;
    ctx.out.report(&report);
    Ok(if report.cancelled {
        Exit::Cancelled
    } else if report.totals.failed > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}
