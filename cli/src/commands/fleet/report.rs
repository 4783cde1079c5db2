//! How fleet results read: the per-row table of a run with its totals, the fleet's status
//! table, and the run's progress bar (rows done of all, with an ETA).

use indicatif::{ProgressBar, ProgressStyle};
use posmate_core::fleet::{FleetObserver, FleetReport, FleetRowReport, FleetStatus, RowResult};

use crate::fmt;
use crate::output::{list, table, Output, Report};

/// `1 row`, `2 rows`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn result_name(r: RowResult) -> &'static str {
    match r {
        RowResult::Activated => "activated",
        RowResult::PendingReview => "pending review",
        RowResult::Failed => "failed",
        RowResult::Invalid => "invalid",
        RowResult::Duplicate => "duplicate",
        RowResult::NotRun => "not run",
    }
}

/// What the REASON / NEXT STEP column says of a row.
fn detail(row: &FleetRowReport) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = &row.reason {
        parts.push(match &row.code {
            Some(code) if row.result != RowResult::Activated => format!("{code}: {reason}"),
            _ => reason.clone(),
        });
    }
    if let Some(next) = &row.next_step {
        if row.result != RowResult::Activated {
            parts.push(format!("→ {next}"));
        }
    }
    if row.from_journal {
        parts.push("(from an earlier run)".into());
    }
    parts.join(" ")
}

impl Report for FleetReport {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.line.to_string(),
                    r.sn.clone(),
                    result_name(r.result).to_owned(),
                    detail(r),
                ]
            })
            .collect();
        let t = &self.totals;
        let mut out = table(&["LINE", "SN", "RESULT", "REASON / NEXT STEP"], &rows);
        out.push_str(&format!(
            "{}: {} activated, {} pending review, {} failed",
            plural(t.rows, "row", "rows"),
            t.activated,
            t.pending_review,
            t.failed
        ));
        if t.not_run > 0 {
            out.push_str(&format!(", {} not run (cancelled)", t.not_run));
        }
        out.push('\n');
        out
    }
}

impl Report for FleetStatus {
    fn human(&self) -> String {
        let mut out = list(
            &self.terminals,
            "this phone knows no terminal yet (posmate pair, or posmate fleet activate)",
            &[
                "SN",
                "STATE",
                "TERMINAL NO",
                "MERCHANT NO",
                "LAST SYNC",
                "UNSETTLED",
                "DORMANCY",
            ],
            |t| {
                let u = &t.unsettled;
                vec![
                    t.sn.clone(),
                    t.state.as_str().to_owned(),
                    t.terminal_no.clone().unwrap_or_else(|| "-".into()),
                    t.merchant_no.clone().unwrap_or_else(|| "-".into()),
                    t.last_sync_at_ms
                        .map(fmt::time)
                        .unwrap_or_else(|| "never".into()),
                    format!(
                        "{}, sales {}",
                        plural(u.records as usize, "record", "records"),
                        fmt::money(u.totals.sale_minor, crate::simhost::control::CNY)
                    ),
                    match (&t.dormancy, &t.dormancy_error) {
                        (Some(d), _) => match d.days_left {
                            Some(days) if d.state == "active" => {
                                format!(
                                    "{} ({} left)",
                                    d.state,
                                    plural(days as usize, "day", "days")
                                )
                            }
                            _ => d.state.clone(),
                        },
                        (None, Some(e)) => format!("unknown ({e})"),
                        (None, None) => "-".into(),
                    },
                ]
            },
        );
        let t = &self.totals;
        if t.terminals > 0 {
            let states: Vec<String> = t.by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
            out.push_str(&format!(
                "{}: {}; unsettled {}, sales {}; {} near or past dormancy\n",
                plural(t.terminals, "terminal", "terminals"),
                states.join(", "),
                plural(t.unsettled_records as usize, "record", "records"),
                fmt::money(t.unsettled.sale_minor, crate::simhost::control::CNY),
                t.dormancy_warnings
            ));
        }
        out
    }
}

/// The run's progress on stderr: a bar with an ETA, or — while pairing codes are typed on
/// stdin, which a redrawn bar would garble — one line per row. Neither with --json, -q or
/// when stderr is not a terminal; each row's result is also logged at info level (-v).
pub struct RowsBar {
    bar: ProgressBar,
    out: Output,
    lines: bool,
}

impl RowsBar {
    /// `prompts`: pairing codes will be asked for on the terminal.
    pub fn new(out: &Output, rows: usize, prompts: bool) -> Self {
        let bar = if prompts {
            ProgressBar::hidden()
        } else {
            out.bar(rows as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} fleet [{bar:30}] {pos}/{len} rows, {elapsed} elapsed, ETA {eta} {msg}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        RowsBar {
            bar,
            out: *out,
            lines: prompts && out.shows_progress(),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl FleetObserver for RowsBar {
    fn row_started(&self, _index: usize, _total: usize, sn: &str) {
        self.bar.set_message(sn.to_owned());
    }

    fn row_finished(&self, index: usize, total: usize, row: &FleetRowReport) {
        tracing::info!(line = row.line, sn = %row.sn, result = result_name(row.result), code = ?row.code, "fleet row");
        self.bar.inc(1);
        if self.lines {
            self.out.note(&format!(
                "[{}/{total}] {} {}",
                index + 1,
                row.sn,
                result_name(row.result)
            ));
        }
    }
}
