//! `posmate records`: sync a terminal's journal to the phone (incremental, resumable: a
//! sync cut anywhere goes on from the last page stored), search the phone's history page
//! by page, and export it as CSV for the merchant's accounting.

use posmate_core::plural::count;
use std::io::Write;
use std::path::PathBuf;

use posmate_core::companion::Companion;
use posmate_core::flows::SyncOutcome;
use posmate_core::store::{HistoryCursor, HistoryQuery, StoredRecord};
use serde::Serialize;

use super::sim::parse_amount;
use super::target::known_sn;
use super::with_phone;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::{list, Report};
use crate::phone;
use crate::txn_kind::KindArg;

/// Sync, search and export the transaction records.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate records sync SN2026000001
  posmate records list --from 2026-01-01 --to 2026-02-01 --kind refund --min 100
  posmate records list --limit 100 --after 1767225600123.42.SN2026000001   the next page
  posmate records export -o january.csv --from 2026-01-01 --to 2026-02-01
  posmate records export > all.csv")]
pub enum Action {
    /// Fetch the records the terminal has and the phone has not (resumable).
    #[command(
        after_help = "Examples:\n  posmate records sync SN2026000001\n  posmate --json records sync"
    )]
    Sync {
        /// The terminal (optional when this phone knows one).
        sn: Option<String>,
    },
    /// Search the phone's records, newest first, one page at a time.
    #[command(after_help = "Examples:
  posmate records list
  posmate records list --sn SN2026000001 --kind sale --kind refund --min 10 --max 99.99
  posmate --json records list --limit 500 --after \"$(posmate --json records list | jq -r .next)\"")]
    List {
        #[command(flatten)]
        filter: Filter,
        /// Records per page (1 to 500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Continue after this page (the `next` a page printed).
        #[arg(long, value_name = "CURSOR", value_parser = parse_cursor)]
        after: Option<HistoryCursor>,
    },
    /// Write the matching records as CSV (RFC 4180) to a file or stdout.
    #[command(after_help = "Examples:
  posmate records export -o records.csv
  posmate records export --from 2026-01-01 --kind sale > sales.csv")]
    Export {
        #[command(flatten)]
        filter: Filter,
        /// Write to FILE (complete or not at all) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Filters shared by `list` and `export`; they combine with AND.
#[derive(Debug, clap::Args)]
pub struct Filter {
    /// Records filed under this terminal.
    #[arg(long, value_name = "SN")]
    pub sn: Option<String>,
    /// Records of this merchant.
    #[arg(long, value_name = "NO")]
    pub merchant_no: Option<String>,
    /// At or after this time: 2026-01-31, 2026-01-31T09:30 (UTC) or epoch milliseconds.
    #[arg(long, value_parser = fmt::parse_time, value_name = "TIME")]
    pub from: Option<u64>,
    /// Before this time (same forms as --from).
    #[arg(long, value_parser = fmt::parse_time, value_name = "TIME")]
    pub to: Option<u64>,
    /// Only these kinds (repeat the option for several).
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Vec<KindArg>,
    /// At least this amount, in major units (12.50).
    #[arg(long, value_parser = parse_amount, value_name = "AMOUNT")]
    pub min: Option<u64>,
    /// At most this amount, in major units.
    #[arg(long, value_parser = parse_amount, value_name = "AMOUNT")]
    pub max: Option<u64>,
}

impl Filter {
    fn query(self, limit: u32, after: Option<HistoryCursor>) -> Result<HistoryQuery, CliError> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                return Err(CliError::usage("--from must be before --to")
                    .hint("--to is exclusive: --from 2026-01-01 --to 2026-01-02 is one day"));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min > max {
                return Err(CliError::usage("--min is more than --max"));
            }
        }
        Ok(HistoryQuery {
            sn: self.sn,
            merchant_no: self.merchant_no,
            from_ms: self.from,
            to_ms: self.to,
            kinds: self.kind.into_iter().map(Into::into).collect(),
            min_minor: self.min,
            max_minor: self.max,
            limit,
            after,
        })
    }
}

/// A page cursor as printed: `AT_MS.SEQ.SN`.
pub fn cursor_text(c: &HistoryCursor) -> String {
    format!("{}.{}.{}", c.at_ms, c.seq, c.sn)
}

fn parse_cursor(text: &str) -> Result<HistoryCursor, String> {
    let bad = || format!("'{text}' is not a page cursor (the `next` a page printed)");
    let mut parts = text.splitn(3, '.');
    let at_ms = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let seq = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let sn = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    Ok(HistoryCursor {
        at_ms,
        sn: sn.to_owned(),
        seq,
    })
}

/// What `records sync` prints: the flow's outcome.
impl Report for SyncOutcome {
    fn human(&self) -> String {
        format!(
            "{}: {}, {} already held; the phone now has 1..{} of {} ({}, {})\n",
            self.sn,
            count(self.inserted, "new record", "new records"),
            self.skipped,
            self.last_seq,
            self.head,
            count(self.pages, "page", "pages"),
            count(self.record_bytes, "byte", "bytes")
        )
    }
}

/// One record in `records list`: flat, with the kind spelled as `--kind` takes it
/// (`pre-auth`), as `schemas/records-list.schema.json` documents. The phone's own JSON of a
/// record ([`StoredRecord`]) nests it and spells kinds `pre_auth`, so it cannot be printed
/// as is.
#[derive(Debug, Serialize)]
pub struct RecordView {
    pub sn: String,
    pub origin_sn: String,
    pub merchant_no: Option<String>,
    pub seq: u64,
    pub batch_no: u32,
    pub kind: &'static str,
    pub amount_minor: u64,
    pub currency: u16,
    pub at_ms: u64,
    pub masked_pan: String,
    pub auth_code: String,
    pub rrn: String,
    pub status: &'static str,
    pub orig_seq: Option<u64>,
}

impl From<StoredRecord> for RecordView {
    fn from(r: StoredRecord) -> Self {
        let rec = r.record;
        RecordView {
            sn: r.sn,
            origin_sn: r.origin_sn,
            merchant_no: r.merchant_no,
            seq: rec.seq,
            batch_no: rec.batch_no,
            kind: KindArg(rec.kind).name(),
            amount_minor: rec.amount_minor,
            currency: rec.currency,
            at_ms: rec.at_ms,
            masked_pan: rec.masked_pan.as_str().to_owned(),
            auth_code: rec.auth_code,
            rrn: rec.rrn,
            status: rec.status.name(),
            orig_seq: rec.orig_seq,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ListReport {
    pub records: Vec<RecordView>,
    /// Pass to `--after` for the next page; null on the last page.
    pub next: Option<String>,
}

impl Report for ListReport {
    fn human(&self) -> String {
        // `next` is only set on a full page, so "no records match" is never followed by it.
        let mut out = list(
            &self.records,
            "no records match",
            &[
                "SN",
                "SEQ",
                "TIME (UTC)",
                "KIND",
                "AMOUNT",
                "CARD",
                "STATUS",
                "AUTH",
            ],
            |r| {
                vec![
                    r.sn.clone(),
                    r.seq.to_string(),
                    fmt::time(r.at_ms),
                    r.kind.to_owned(),
                    fmt::money(r.amount_minor, r.currency),
                    r.masked_pan.clone(),
                    r.status.to_owned(),
                    r.auth_code.clone(),
                ]
            },
        );
        if let Some(next) = &self.next {
            out.push_str(&format!("more: posmate records list … --after {next}\n"));
        }
        out
    }
}

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub path: String,
    pub records: u64,
}

impl Report for ExportReport {
    fn human(&self) -> String {
        format!(
            "wrote {} to {}\n",
            count(self.records, "record", "records"),
            self.path
        )
    }
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    with_phone(ctx, async |phone| act(ctx, phone, action).await).await
}

async fn act(ctx: &Ctx, phone: &Companion, action: Action) -> Result<Exit, CliError> {
    match action {
        Action::Sync { sn } => {
            let sn = known_sn(phone, sn)?;
            let outcome =
                phone::run_flow(ctx, "sync", |c| async move { phone.sync(&sn, &c).await }).await?;
            ctx.out.report(&outcome);
        }
        Action::List {
            filter,
            limit,
            after,
        } => {
            let page = phone.history(&filter.query(limit, after)?)?;
            ctx.out.report(&ListReport {
                next: page.next.as_ref().map(cursor_text),
                records: page.records.into_iter().map(Into::into).collect(),
            });
        }
        Action::Export { filter, output } => {
            let query = filter.query(500, None)?;
            match output {
                None if ctx.out.json => {
                    return Err(CliError::usage(
                        "with --json, stdout carries the JSON report: the CSV needs a file",
                    )
                    .hint("add -o FILE"))
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut out = std::io::BufWriter::new(stdout.lock());
                    phone.export_csv(&mut out, &query)?;
                    out.flush()
                        .map_err(|e| CliError::storage("cannot write stdout", e))?;
                }
                Some(path) => {
                    let records = write_file(phone, &path, &query)?;
                    ctx.out.report(&ExportReport {
                        path: path.display().to_string(),
                        records,
                    });
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// Writes the CSV next to `path` and renames it into place: a failed export leaves no
/// half-written file under the name the merchant asked for.
fn write_file(
    phone: &Companion,
    path: &std::path::Path,
    query: &HistoryQuery,
) -> Result<u64, CliError> {
    let fail = |e| CliError::storage(format!("cannot write {}", path.display()), e);
    let tmp = path.with_extension("csv.tmp");
    let file = std::fs::File::create(&tmp).map_err(fail)?;
    let mut out = std::io::BufWriter::new(file);
    let written = phone.export_csv(&mut out, query);
    let records = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let file = out.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = HistoryCursor {
            at_ms: 1_767_225_600_123,
            sn: "SN2026000001".into(),
            seq: 42,
        };
        assert_eq!(cursor_text(&c), "1767225600123.42.SN2026000001");
        assert_eq!(parse_cursor(&cursor_text(&c)), Ok(c));
        assert!(parse_cursor("12.x.SN").is_err());
        assert!(parse_cursor("12.3.").is_err());
    }
}
