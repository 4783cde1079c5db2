//! `posmate audit`: the phone's tamper-evident audit trail (each entry chained to the one
//! before by SHA-256) — show it, verify the chain, export it as JSON Lines.

use posmate_core::plural::count;
use std::io::Write;
use std::path::PathBuf;

use posmate_core::companion::Companion;
use posmate_core::store::{AuditCheck, AuditEntry};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::{hex, list, Report};
use crate::phone;

/// Show, verify and export the audit trail.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate audit show --limit 20
  posmate audit verify
  posmate audit export -o audit.jsonl")]
pub enum Action {
    /// Entries in order, from --from.
    #[command(
        after_help = "Examples:\n  posmate audit show\n  posmate --json audit show --from 10 --limit 5"
    )]
    Show {
        /// The first entry's number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Walk the whole chain; exit 9 if an entry was altered, removed or reordered.
    #[command(after_help = "Examples:\n  posmate audit verify")]
    Verify,
    /// Every entry as JSON Lines (one entry per line) to a file or stdout.
    #[command(
        after_help = "Examples:\n  posmate audit export -o audit.jsonl\n  posmate audit export | jq .action"
    )]
    Export {
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Serialize)]
pub struct ShowReport {
    pub entries: Vec<AuditEntry>,
}

impl Report for ShowReport {
    fn human(&self) -> String {
        list(
            &self.entries,
            "no audit entries",
            &["SEQ", "TIME (UTC)", "ACTION", "SN", "OUTCOME", "HASH"],
            |e| {
                vec![
                    e.seq.to_string(),
                    fmt::time(e.event.at_ms),
                    e.event.action.clone(),
                    e.event.sn.clone().unwrap_or_else(|| "-".into()),
                    e.event.outcome.clone(),
                    hex(&e.hash[..6]),
                ]
            },
        )
    }
}

impl Report for AuditCheck {
    fn human(&self) -> String {
        format!(
            "the audit chain is intact: {}, head {}\n",
            count(self.entries, "entry", "entries"),
            hex(&self.head)
        )
    }
}

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub path: String,
    pub entries: u64,
}

impl Report for ExportReport {
    fn human(&self) -> String {
        format!(
            "wrote {} to {}\n",
            count(self.entries, "audit entry", "audit entries"),
            self.path
        )
    }
}

/// Every entry, in order.
fn all_entries(phone: &Companion) -> Result<Vec<AuditEntry>, CliError> {
    let mut all = Vec::new();
    loop {
        let next = all.last().map_or(1, |e: &AuditEntry| e.seq + 1);
        let page = phone.audit_entries(next, 1000)?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

fn json_lines(entries: &[AuditEntry], out: &mut impl Write) -> std::io::Result<()> {
    for e in entries {
        serde_json::to_writer(&mut *out, e)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    let phone = phone::open(ctx).await?;
    match action {
        Action::Show { from, limit } => {
            let entries = phone.audit_entries(from, limit)?;
            ctx.out.report(&ShowReport { entries });
        }
        Action::Verify => {
            ctx.out.report(&phone.verify_audit()?);
        }
        Action::Export { output } => {
            let entries = all_entries(&phone)?;
            match output {
                None if ctx.out.json => {
                    return Err(CliError::usage(
                        "with --json, stdout carries the JSON report: the export needs a file",
                    )
                    .hint("add -o FILE"))
                }
                None => json_lines(&entries, &mut std::io::stdout().lock())
                    .map_err(|e| CliError::storage("cannot write stdout", e))?,
                Some(path) => {
                    let fail = |e| CliError::storage(format!("cannot write {}", path.display()), e);
                    let tmp = path.with_extension("jsonl.tmp");
                    let mut file =
                        std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(fail)?);
                    json_lines(&entries, &mut file).map_err(fail)?;
                    drop(file);
                    std::fs::rename(&tmp, &path).map_err(fail)?;
                    ctx.out.report(&ExportReport {
                        path: path.display().to_string(),
                        entries: entries.len() as u64,
                    });
                }
            }
        }
    }
    Ok(Exit::Ok)
}
