//! `posmate wipe-phone`: erases everything posmate keeps on this phone — after writing and
//! verifying an encrypted backup of it all. The database's key is destroyed before its
//! files are deleted; the phone's identity and the terminals' pins leave the keystore; the
//! CLI's log folder is deleted last.

use posmate_core::companion::PhoneWipe;
use posmate_core::plural::count;

use super::backup::BackupFirst;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::logfile;
use crate::output::Report;
use crate::phone;
use crate::prompt;

/// The word typed to confirm a phone wipe.
const CONFIRM: &str = "WIPE";

/// Wipe this phone's posmate data (after a verified backup).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate wipe-phone --backup phone.age
  posmate wipe-phone --backup phone.age --passphrase-file pass.txt --yes

Asks to type WIPE to confirm (or --yes from a script; without either and without a
terminal it refuses and changes nothing). `posmate backup restore` brings the data back
into a new phone.")]
pub struct Args {
    #[command(flatten)]
    pub backup: BackupFirst,
    /// Confirm without typing WIPE (for scripts; required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl Report for PhoneWipe {
    fn human(&self) -> String {
        format!(
            "this phone's posmate data is erased\nbackup   {} ({}, {}, sha256 {})\n\
             deleted  {}, {}\n",
            self.backup.path,
            count(self.backup.records, "record", "records"),
            count(self.backup.terminals, "terminal", "terminals"),
            self.backup.sha256,
            count(
                self.keystore_entries_deleted,
                "keystore entry",
                "keystore entries"
            ),
            self.files_deleted.join(", ")
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let phone = phone::open(ctx).await?;
    prompt::confirm("Wiping this phone", CONFIRM, args.yes)?;
    let passphrase = args.backup.pass.read(true)?;
    let spinner = ctx
        .out
        .spinner("writing and verifying the backup, then wiping this phone");
    let wiped = phone.wipe_phone(&args.backup.file, &passphrase).await;
    spinner.finish_and_clear();
    let mut wiped = wiped?;
    // The CLI's own log goes too: it names the terminals and merchants this phone served.
    let logs = logfile::delete(ctx.data_dir()?).map_err(|e| {
        CliError::new(
            Exit::Storage,
            "io",
            format!("the phone is wiped, but its log folder could not be deleted: {e}"),
        )
        .hint("delete DATA_DIR/logs by hand")
    })?;
    wiped.files_deleted.extend(logs);
    ctx.out.report(&wiped);
    Ok(Exit::Ok)
}
