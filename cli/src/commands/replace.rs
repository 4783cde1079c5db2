//! `posmate replace`: swaps a terminal for a new one of the same merchant — settle and back
//! up the old one, activate the new one, carry the history over, decommission the old one.
//! One resumable flow; destructive for the old terminal, so confirmed like `decommission`.

use posmate_core::acquirer::MerchantDetails;
use posmate_core::companion::Companion;
use posmate_core::flows::{ActivationInput, ReplacementInput, ReplacementOutcome};
use posmate_core::plural::count;
use zeroize::Zeroizing;

use super::backup::BackupFirst;
use super::{codes_from_screen, report_flow};
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::Report;
use crate::prompt;

/// Replace a terminal by a new one (paired first) for the same merchant.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate pair --sn SN2026000002                  pair the new terminal first
  posmate replace SN2026000001 SN2026000002 --terminal-no 10020302 \\
      --merchant-name 'Zhang San Noodles' --phone '+86 138 0000 0000' \\
      --address '12 Wenhua Road, Hangzhou' --backup old.age

Asks for the new terminal's activation code and the backup passphrase (or reads them as
lines of stdin; --passphrase-file for the passphrase). The settlement card stays with the
merchant; the old terminal's records move under the new one, each keeping its origin.")]
pub struct Args {
    /// The terminal being replaced.
    pub old_sn: String,
    /// Its replacement (paired with this phone, factory-fresh).
    pub new_sn: String,
    /// The new terminal's terminal number.
    #[arg(long, value_name = "NO")]
    pub terminal_no: String,
    /// The merchant [default: the old terminal's].
    #[arg(long, value_name = "NO")]
    pub merchant_no: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub merchant_name: String,
    #[arg(long, value_name = "PHONE")]
    pub phone: String,
    #[arg(long, value_name = "ADDRESS")]
    pub address: String,
    #[command(flatten)]
    pub backup: BackupFirst,
    /// Confirm without typing the old SN back (for scripts).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With --connect-sim: read codes for re-pairing off the simulated screen.
    #[arg(long)]
    pub from_screen: bool,
}

impl Report for ReplacementOutcome {
    fn human(&self) -> String {
        match self {
            ReplacementOutcome::Replaced {
                old_sn,
                new_sn,
                records_moved,
                settlement_card,
                decommission,
                ..
            } => format!(
                "{new_sn} replaces {old_sn}: {} carried over, settlement card {}\n\
                 {old_sn} decommissioned ({}), backup {}\n",
                count(*records_moved, "record", "records"),
                settlement_card.as_deref().unwrap_or("none"),
                decommission.deregistration_ref,
                decommission.backup_path
            ),
            ReplacementOutcome::Pending { application_id, .. } => format!(
                "the acquirer is reviewing the new terminal's activation ({application_id}); \
                 run the same command again later to finish\n"
            ),
        }
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let prepare = async |phone: &Companion| {
        let old = phone.terminal(&args.old_sn)?;
        phone.terminal(&args.new_sn)?;
        prompt::confirm(
            &format!("Replacing (and decommissioning) {}", args.old_sn),
            &args.old_sn,
            args.yes,
        )?;
        let code = prompt::secret("New terminal's activation code: ", "activation code")?;
        let passphrase = args.backup.pass.read(true)?;
        codes_from_screen(ctx, phone, args.from_screen).await?;
        Ok(ReplacementInput {
            old_sn: args.old_sn,
            new: ActivationInput {
                sn: args.new_sn,
                terminal_no: args.terminal_no,
                merchant_no: args.merchant_no.or(old.merchant_no).unwrap_or_default(),
                activation_code: Zeroizing::new(code.to_string()),
                merchant: MerchantDetails {
                    legal_name: args.merchant_name,
                    contact_phone: args.phone,
                    address: args.address,
                },
            },
            backup_path: args.backup.file,
            passphrase,
        })
    };
    report_flow(ctx, "replacement", prepare, Companion::replace).await?;
    Ok(Exit::Ok)
}
