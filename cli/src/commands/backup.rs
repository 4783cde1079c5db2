//! `posmate backup`: encrypted archives (age, passphrase) of everything on this phone —
//! create (written, read back and verified before it takes its name), verify, and restore
//! into this phone (idempotent: what the phone already has is kept once).

use posmate_core::plural::count;
use std::path::PathBuf;

use posmate_core::backup::{Passphrase, RestoreSummary};
use posmate_core::companion::BackupInfo;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::Report;
use crate::phone;
use crate::prompt;

/// Create, verify and restore encrypted backups of this phone's data.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate backup create phone.age
  posmate backup verify phone.age --passphrase-file pass.txt
  posmate backup restore phone.age

The passphrase is asked for without echo (twice for a new backup), read from the first
line of --passphrase-file, or read as a line of stdin. The archive is a standard age file:
`age -d phone.age` opens it too.")]
pub enum Action {
    /// Write an encrypted backup of everything on this phone to FILE, and verify it.
    #[command(after_help = "Examples:\n  posmate backup create phone.age")]
    Create {
        file: PathBuf,
        #[command(flatten)]
        pass: PassArg,
    },
    /// Decrypt FILE and check it end to end (passphrase, format, manifest, digests).
    #[command(after_help = "Examples:\n  posmate backup verify phone.age")]
    Verify {
        file: PathBuf,
        #[command(flatten)]
        pass: PassArg,
    },
    /// Restore FILE into this phone (what it already has is kept, not duplicated).
    #[command(after_help = "Examples:\n  posmate --data-dir new-phone backup restore phone.age")]
    Restore {
        file: PathBuf,
        #[command(flatten)]
        pass: PassArg,
    },
}

#[derive(Debug, clap::Args)]
pub struct PassArg {
    /// Read the backup passphrase from the first line of FILE instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

impl PassArg {
    /// The passphrase from the file, or asked for (twice when `new`, to catch a typo in one
    /// that will encrypt a backup).
    pub fn read(&self, new: bool) -> Result<Passphrase, CliError> {
        prompt::passphrase(self.passphrase_file.as_deref(), new)
    }
}

/// The backup a destructive command writes, and verifies, before it erases anything.
#[derive(Debug, clap::Args)]
pub struct BackupFirst {
    /// Where to write the encrypted backup (age format) first.
    #[arg(long = "backup", value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub pass: PassArg,
}

#[derive(Debug, Serialize)]
pub struct InfoReport {
    /// "created" or "verified".
    pub action: &'static str,
    #[serde(flatten)]
    pub info: BackupInfo,
}

impl Report for InfoReport {
    fn human(&self) -> String {
        let b = &self.info;
        format!(
            "{} {} ({}, made {})\n{}, {}, {}, {}\nsha256 {}\n",
            self.action,
            b.path,
            count(b.size, "byte", "bytes"),
            fmt::time(b.created_at_ms),
            count(b.records, "record", "records"),
            count(b.terminals, "terminal", "terminals"),
            count(b.cards, "card", "cards"),
            count(b.audit_entries, "audit entry", "audit entries"),
            b.sha256
        )
    }
}

/// What `backup restore` prints: the archive's path and the core's summary, its fields
/// inline.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub path: String,
    #[serde(flatten)]
    pub summary: RestoreSummary,
}

impl Report for RestoreReport {
    fn human(&self) -> String {
        let s = &self.summary;
        format!(
            "restored {}: {} added ({} already here), {}, {}, {}\n",
            self.path,
            count(s.records_inserted, "record", "records"),
            s.records_present,
            count(s.terminals, "terminal", "terminals"),
            count(s.cards, "card", "cards"),
            count(s.settlements, "settlement", "settlements")
        )
    }
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    let phone = phone::open(ctx).await?;
    match action {
        Action::Create { file, pass } => {
            let passphrase = pass.read(true)?;
            let spinner = ctx.out.spinner("writing and verifying the backup");
            let info = phone.backup_create(&file, &passphrase);
            spinner.finish_and_clear();
            let info = info?;
            ctx.out.report(&InfoReport {
                action: "created",
                info,
            });
        }
        Action::Verify { file, pass } => {
            let passphrase = pass.read(false)?;
            let spinner = ctx.out.spinner("verifying the backup");
            let info = phone.backup_verify(&file, &passphrase);
            spinner.finish_and_clear();
            let info = info?;
            ctx.out.report(&InfoReport {
                action: "verified",
                info,
            });
        }
        Action::Restore { file, pass } => {
            let passphrase = pass.read(false)?;
            let spinner = ctx.out.spinner("restoring the backup");
            let summary = phone.restore(&file, &passphrase);
            spinner.finish_and_clear();
            let summary = summary?;
            ctx.out.report(&RestoreReport {
                path: file.display().to_string(),
                summary,
            });
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_report_is_flat_with_the_path_first() {
        let report = RestoreReport {
            path: "phone.age".into(),
            summary: RestoreSummary {
                terminals: 1,
                cursors: 2,
                records_inserted: 3,
                records_present: 4,
                cards: 5,
                settlements: 6,
                audit_entries: 7,
            },
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"path":"phone.age","terminals":1,"cursors":2,"records_inserted":3,"records_present":4,"cards":5,"settlements":6,"audit_entries":7}"#
        );
    }
}
