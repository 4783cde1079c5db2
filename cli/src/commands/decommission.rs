//! `posmate decommission`: takes a terminal out of service for good — a verified, encrypted
//! backup first, then deregistration with the acquirer, the terminal's wipe (with a signed
//! receipt) and the phone's own erasure of it. Destructive: the user types the SN back, or
//! passes `--yes` from a script. Killed or cut off anywhere, the same command resumes it.

use posmate_core::backup::Passphrase;
use posmate_core::companion::Companion;
use posmate_core::flows::{BackupSpec, DecommissionInput, DecommissionOutcome};

use super::backup::BackupFirst;
use super::target::known_sn;
use super::{codes_from_screen, report_flow};
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::Report;
use crate::prompt;

/// Decommission a terminal: verified backup, deregistration, wipe with a signed receipt.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate decommission SN2026000001 --reason 'shop closed' --backup sn1.age
  posmate decommission SN2026000001 --reason 'shop closed' --backup sn1.age \\
      --passphrase-file pass.txt --yes                 from a script

The batch must be settled first (posmate settle). Nothing is deregistered or wiped
before the backup has been written, read back and verified. Interrupted (Ctrl-C, a lost
link, a killed process), the same command finishes what was started.")]
pub struct Args {
    /// The terminal (optional when this phone knows one).
    pub sn: Option<String>,
    /// Why (kept with the acquirer and in the audit trail).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    #[command(flatten)]
    pub backup: BackupFirst,
    /// Confirm without typing the SN back (for scripts; required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With --connect-sim: if the terminal must be paired again (its wipe's answer was
    /// lost), read the code off the simulated screen.
    #[arg(long)]
    pub from_screen: bool,
}

impl Report for DecommissionOutcome {
    fn human(&self) -> String {
        format!(
            "{} is decommissioned ({})\n\
             backup        {} ({} records, sha256 {})\n\
             deregistered  {} at {}\n\
             wiped         {} at journal head {}, receipt verified (nonce {})\n",
            self.sn,
            self.reason,
            self.backup_path,
            self.backup_records,
            self.backup_sha256,
            self.deregistration_ref,
            fmt::time(self.deregistered_at_ms),
            fmt::time(self.wiped_at_ms),
            self.journal_head,
            self.receipt_nonce
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let prepare = async |phone: &Companion| {
        // No check that the phone still knows the terminal: a decommission cut after its
        // last step erased the terminal from the phone is finished by the flow, which it
        // finds by SN.
        let sn = known_sn(phone, args.sn)?;
        prompt::confirm(&format!("Decommissioning {sn}"), &sn, args.yes)?;
        let passphrase: Passphrase = args.backup.pass.read(true)?;
        codes_from_screen(ctx, phone, args.from_screen).await?;
        Ok(DecommissionInput {
            sn,
            reason: args.reason,
            backup: BackupSpec::Write {
                path: args.backup.file,
                passphrase,
            },
        })
    };
    report_flow(ctx, "decommission", prepare, Companion::decommission).await?;
    Ok(Exit::Ok)
}
