//! One fleet run: every row checked first, then each remaining row on its own — pair if the
//! phone does not know the terminal, activate (or resume its open activation) — with the
//! row's state journaled before and after, so a killed run continues where it stood.
//!
//! Rows run one at a time: a phone holds one Bluetooth link at a time well (the
//! terminals share the radio, and pairing needs the merchant at each terminal's screen).

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::plan::{FleetCodes, FleetPlan, FleetRow};
use crate::companion::{Companion, Resumed};
use crate::error::{Error, Result};
use crate::flows::{ActivationInput, ActivationOutcome, FlowControl, FlowKind};
use crate::session::CodeEntry;
use crate::store::{
    FleetJournalRow, FleetRowState, FlowRow, FlowStatus, TerminalRow, TerminalState,
};
use crate::transport::{PeripheralId, ScanFilter};

/// How a run treats rows an earlier run of the same source left failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetOptions {
    /// Run failed rows again (an interrupted activation resumes; a refused one starts anew).
    pub retry_failed: bool,
}

/// Told about each row as the run reaches it (a progress bar, a log).
pub trait FleetObserver: Send + Sync {
    /// Row `index` (from 0) of `total` is about to talk to its terminal or the acquirer.
    fn row_started(&self, index: usize, total: usize, sn: &str);
    /// Row `index` has its result (also for rows checked out or taken from the journal).
    fn row_finished(&self, index: usize, total: usize, row: &FleetRowReport);
}

/// What became of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowResult {
    Activated,
    /// The acquirer is reviewing it: the same run again polls the review.
    PendingReview,
    /// Refused, or interrupted (its activation is saved and resumes on a retry).
    Failed,
    /// The row itself is malformed: nothing was sent.
    Invalid,
    /// The SN is on an earlier row: this row is never run.
    Duplicate,
    /// Not reached: the run was cancelled first.
    NotRun,
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetRowReport {
    pub line: u64,
    pub sn: String,
    pub terminal_no: String,
    pub merchant_no: String,
    pub result: RowResult,
    /// The failure's stable code (`wrong-activation-code`, `invalid-input`, `duplicate`, …).
    pub code: Option<String>,
    pub reason: Option<String>,
    /// What to do about it.
    pub next_step: Option<String>,
    pub flow_id: Option<String>,
    /// Whether this run paired the phone with the terminal.
    pub paired: bool,
    /// The row was finished by an earlier run of the same source and not run again.
    pub from_journal: bool,
    /// How many runs started this row.
    pub attempts: u32,
}

/// The rows by result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FleetTotals {
    pub rows: usize,
    pub activated: usize,
    pub pending_review: usize,
    /// Every row that did not succeed: failed, invalid and duplicate rows.
    pub failed: usize,
    pub not_run: usize,
}

/// A fleet run's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// The run's key in the journal: the SHA-256 of the source.
    pub run_id: String,
    pub rows: Vec<FleetRowReport>,
    pub totals: FleetTotals,
    /// The run was cancelled between rows (or during one: that row resumes next time).
    pub cancelled: bool,
}

/// Why a row did not succeed, as the report says it.
struct Failure {
    code: String,
    reason: String,
    next_step: String,
}

impl Failure {
    fn new(code: &str, reason: String, next_step: &str) -> Self {
        Failure {
            code: code.into(),
            reason,
            next_step: next_step.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            code: e.code().into(),
            reason: e.to_string(),
            next_step: e.user_action(),
        }
    }
}

/// How a row's attempt ended when it did not fail.
enum Done {
    Outcome(ActivationOutcome),
    /// The phone holds the terminal activated with these numbers already (a run killed
    /// after the activation finished, before its row was journaled, or an activation
    /// made outside the run): nothing was sent.
    AlreadyActivated {
        flow_id: Option<String>,
    },
}

/// Activates every row of `plan` on `phone` (see the module documentation): each row its
/// own activation, pairing first (codes from `pairing`) with terminals the phone does not
/// know. Fails only when the journal cannot be read or written: then continuing could run
/// a row twice.
pub async fn activate(
    phone: &Companion,
    plan: &FleetPlan,
    codes: &FleetCodes,
    pairing: &dyn CodeEntry,
    options: FleetOptions,
    observer: &dyn FleetObserver,
    control: &FlowControl,
) -> Result<FleetReport> {
    let total = plan.rows.len();
    let mut first_line: HashMap<&str, u64> = HashMap::new();
    let mut run = Run {
        phone,
        run_id: plan.run_id(),
        codes,
        pairing,
        options,
        observer,
        control,
        finder: Finder::new(phone.scan_time()),
    };
    let mut rows = Vec::with_capacity(total);
    let mut cancelled = false;
    for (index, row) in plan.rows.iter().enumerate() {
        let report = if let Err(e) = row.validate() {
            let f = Failure::from(e);
            checked_out(
                row,
                RowResult::Invalid,
                f.code,
                f.reason,
                "correct the row in the list, then run it again",
            )
        } else if let Some(line) = first_line.get(row.sn.as_str()) {
            checked_out(
                row,
                RowResult::Duplicate,
                "duplicate".into(),
                format!(
                    "{} is also on line {line}; a terminal is activated once",
                    row.sn
                ),
                "remove one of the two rows",
            )
        } else {
            first_line.insert(&row.sn, row.line);
            if cancelled || control.cancel.is_cancelled() {
                cancelled = true;
                checked_out(
                    row,
                    RowResult::NotRun,
                    "cancelled".into(),
                    "the run was cancelled before this row".into(),
                    "run the same list again",
                )
            } else {
                let report = run.row(row, (index, total)).await?;
                cancelled |= report.result == RowResult::NotRun;
                report
            }
        };
        observer.row_finished(index, total, &report);
        rows.push(report);
    }
    let totals = FleetTotals {
        rows: rows.len(),
        activated: count(&rows, &[RowResult::Activated]),
        pending_review: count(&rows, &[RowResult::PendingReview]),
        failed: count(
            &rows,
            &[RowResult::Failed, RowResult::Invalid, RowResult::Duplicate],
        ),
        not_run: count(&rows, &[RowResult::NotRun]),
    };
    Ok(FleetReport {
        run_id: plan.run_id().to_owned(),
        rows,
        totals,
        cancelled,
    })
}

fn count(rows: &[FleetRowReport], results: &[RowResult]) -> usize {
    rows.iter().filter(|r| results.contains(&r.result)).count()
}

/// A row settled without running it (checked out, or not reached).
fn checked_out(
    row: &FleetRow,
    result: RowResult,
    code: String,
    reason: String,
    next: &str,
) -> FleetRowReport {
    FleetRowReport {
        line: row.line,
        sn: row.sn.clone(),
        terminal_no: row.terminal_no.clone(),
        merchant_no: row.merchant_no.clone(),
        result,
        code: Some(code),
        reason: Some(reason),
        next_step: Some(next.into()),
        flow_id: None,
        paired: false,
        from_journal: false,
        attempts: 0,
    }
}

/// The report of a row as its journal entry has it.
fn journaled(
    row: &FleetRow,
    j: &FleetJournalRow,
    paired: bool,
    from_journal: bool,
) -> FleetRowReport {
    FleetRowReport {
        line: row.line,
        sn: row.sn.clone(),
        terminal_no: row.terminal_no.clone(),
        merchant_no: row.merchant_no.clone(),
        result: match j.state {
            FleetRowState::Done => RowResult::Activated,
            FleetRowState::Paused => RowResult::PendingReview,
            FleetRowState::Failed => RowResult::Failed,
            FleetRowState::Pending | FleetRowState::Running => RowResult::NotRun,
        },
        code: j.error_code.clone(),
        reason: j.reason.clone(),
        next_step: j.next_step.clone(),
        flow_id: j.flow_id.clone(),
        paired,
        from_journal,
        attempts: j.attempts,
    }
}

/// What every row of a run shares.
struct Run<'a> {
    phone: &'a Companion,
    run_id: &'a str,
    codes: &'a FleetCodes,
    pairing: &'a dyn CodeEntry,
    options: FleetOptions,
    observer: &'a dyn FleetObserver,
    control: &'a FlowControl,
    finder: Finder,
}

impl Run<'_> {
    /// One row: skipped if its journal says done (or failed, unless retrying); otherwise
    /// journaled as running, attempted, and journaled with its result.
    async fn row(
        &mut self,
        row: &FleetRow,
        (index, total): (usize, usize),
    ) -> Result<FleetRowReport> {
        let (phone, run_id, options) = (self.phone, self.run_id, self.options);
        let store = phone.store();
        let earlier = store.read(|tx| tx.fleet_row(run_id, &row.sn))?;
        if let Some(j) = &earlier {
            let settled = match j.state {
                FleetRowState::Done => true,
                FleetRowState::Failed => !options.retry_failed,
                _ => false,
            };
            if settled {
                return Ok(journaled(row, j, false, true));
            }
        }
        let now = phone.now_ms();
        let mut j = earlier.unwrap_or(FleetJournalRow {
            run_id: run_id.into(),
            sn: row.sn.clone(),
            line: row.line,
            state: FleetRowState::Pending,
            flow_id: None,
            error_code: None,
            reason: None,
            next_step: None,
            result: None,
            attempts: 0,
            updated_at_ms: now,
        });
        j.line = row.line;
        j.state = FleetRowState::Running;
        j.attempts += 1;
        (j.error_code, j.reason, j.next_step) = (None, None, None);
        j.updated_at_ms = now;
        store.write(|tx| tx.fleet_put(&j))?;
        self.observer.row_started(index, total, &row.sn);
        let mut paired = false;
        let attempt = self.attempt(row, &mut paired).await;
        phone.disconnect_all().await;
        let open = open_activation(phone, &row.sn)?;
        j.flow_id = open.as_ref().map(|f| f.id.clone()).or(j.flow_id.take());
        match attempt {
            Ok(Done::Outcome(outcome)) => {
                let (state, flow_id) = match &outcome {
                    ActivationOutcome::Activated { flow_id, .. } => (FleetRowState::Done, flow_id),
                    ActivationOutcome::Pending { flow_id, .. } => (FleetRowState::Paused, flow_id),
                };
                j.state = state;
                j.flow_id = Some(flow_id.clone());
                j.result = serde_json::to_value(&outcome).ok();
                if state == FleetRowState::Paused {
                    j.next_step =
                        Some("run the same list again later: the review is polled".into());
                }
            }
            Ok(Done::AlreadyActivated { flow_id }) => {
                j.state = FleetRowState::Done;
                j.flow_id = flow_id.or(j.flow_id.take());
                j.reason = Some(
                    "already activated for these numbers on this phone; nothing was sent".into(),
                );
                j.result = Some(json!({
                    "result": "activated",
                    "sn": row.sn,
                    "terminal_no": row.terminal_no,
                    "merchant_no": row.merchant_no,
                }));
            }
            // Ctrl-C: the run stops here. (A pairing code not given is this row's failure.)
            Err(failure) if self.control.cancel.is_cancelled() => {
                // Left running: the next run resumes (or restarts) it.
                j.updated_at_ms = phone.now_ms();
                store.write(|tx| tx.fleet_put(&j))?;
                let mut report = journaled(row, &j, paired, false);
                report.code = Some(failure.code);
                report.reason = Some(
                    "cancelled during this row; its activation resumes on the next run".into(),
                );
                report.next_step = Some("run the same list again".into());
                return Ok(report);
            }
            Err(failure) => {
                let next_step = match &open {
                    Some(flow) => format!(
                        "its activation is saved at step '{}': run the same list again with \
                         --retry-failed to resume it ({})",
                        flow.step, failure.next_step
                    ),
                    None => failure.next_step,
                };
                j.state = FleetRowState::Failed;
                j.error_code = Some(failure.code);
                j.reason = Some(failure.reason);
                j.next_step = Some(next_step);
                j.result = None;
            }
        }
        j.updated_at_ms = phone.now_ms();
        store.write(|tx| tx.fleet_put(&j))?;
        Ok(journaled(row, &j, paired, false))
    }

    /// Resume the row's open activation, or see it is already done, or pair if needed and
    /// activate.
    async fn attempt(
        &mut self,
        row: &FleetRow,
        paired: &mut bool,
    ) -> std::result::Result<Done, Failure> {
        let (phone, control) = (self.phone, self.control);
        if let Some(flow) = open_activation(phone, &row.sn)? {
            return match phone.resume(&flow.id, control).await? {
                Resumed::Activation(outcome) => Ok(Done::Outcome(outcome)),
                _ => Err(Failure::new(
                    "unexpected-flow",
                    format!("flow {} of {} is not an activation", flow.id, row.sn),
                    "contact support with this error's code",
                )),
            };
        }
        let known = match phone.terminal(&row.sn) {
            Ok(t) => Some(t),
            Err(Error::UnknownTerminal { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(done) = already_activated(phone, row, known.as_ref())? {
            return Ok(done);
        }
        let Some(code) = self.codes.get(&row.sn) else {
            return Err(Failure::new(
            "missing-activation-code",
            format!("no activation code was given for {}", row.sn),
            "add a line 'SN CODE' for it to the codes, then run the same list again with --retry-failed",
        ));
        };
        if known.is_none() {
            let id = self.finder.find(phone, &row.sn).await?;
            let paired_row = phone.pair(&id, self.pairing).await?;
            *paired = true;
            if paired_row.sn != row.sn {
                return Err(Error::WrongTerminal {
                    expected: row.sn.clone(),
                    found: paired_row.sn,
                }
                .into());
            }
            // Pairing learnt the terminal's state: it may be activated for these numbers.
            if let Some(done) = already_activated(phone, row, Some(&paired_row))? {
                return Ok(done);
            }
        }
        let input = ActivationInput {
            sn: row.sn.clone(),
            terminal_no: row.terminal_no.clone(),
            merchant_no: row.merchant_no.clone(),
            activation_code: code.clone(),
            merchant: row.merchant.clone(),
        };
        Ok(Done::Outcome(phone.activate(input, control).await?))
    }
}

/// The activation flow left open for `sn` (running, or paused for review), if any.
fn open_activation(phone: &Companion, sn: &str) -> Result<Option<FlowRow>> {
    Ok(phone
        .store()
        .read(|tx| tx.flows_for(sn))?
        .into_iter()
        .find(|f| {
            f.kind == FlowKind::Activation.as_str()
                && matches!(f.status, FlowStatus::Running | FlowStatus::Paused)
        }))
}

/// `Done` when the phone holds `sn` activated with the row's numbers: nothing to send.
fn already_activated(
    phone: &Companion,
    row: &FleetRow,
    known: Option<&TerminalRow>,
) -> Result<Option<Done>> {
    let Some(t) = known else { return Ok(None) };
    let same = t.terminal_no.as_deref() == Some(row.terminal_no.as_str())
        && t.merchant_no.as_deref() == Some(row.merchant_no.as_str());
    if t.state != TerminalState::Activated || !same {
        return Ok(None);
    }
    let flow_id = phone
        .store()
        .read(|tx| tx.flows_for(&row.sn))?
        .into_iter()
        .rev()
        .find(|f| f.kind == FlowKind::Activation.as_str() && f.status == FlowStatus::Done)
        .map(|f| f.id);
    Ok(Some(Done::AlreadyActivated { flow_id }))
}

/// Where the terminals to pair are: one scan of everything in range on first need, then a
/// scan for one terminal only when it was not seen (it may have been switched on since).
struct Finder {
    scan_time: Duration,
    /// Peripherals by the SN suffix they advertise.
    seen: Option<HashMap<String, Vec<PeripheralId>>>,
}

impl Finder {
    fn new(scan_time: Duration) -> Self {
        Finder {
            scan_time,
            seen: None,
        }
    }

    async fn find(
        &mut self,
        phone: &Companion,
        sn: &str,
    ) -> std::result::Result<PeripheralId, Failure> {
        // Terminals advertise the last 8 characters of their SN.
        let suffix: String = sn
            .chars()
            .skip(sn.chars().count().saturating_sub(8))
            .collect();
        if self.seen.is_none() {
            let mut seen: HashMap<String, Vec<PeripheralId>> = HashMap::new();
            for c in phone.scan(ScanFilter::any(), self.scan_time).await? {
                seen.entry(c.sn_suffix).or_default().push(c.peripheral_id);
            }
            self.seen = Some(seen);
        }
        let mut ids = self
            .seen
            .as_ref()
            .and_then(|s| s.get(&suffix))
            .cloned()
            .unwrap_or_default();
        if ids.is_empty() {
            ids = phone
                .scan(ScanFilter::sn_suffix(suffix.clone()), self.scan_time)
                .await?
                .into_iter()
                .map(|c| c.peripheral_id)
                .collect();
        }
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(Failure::new(
                "not-in-range",
                format!("no terminal with SN ending {suffix} is in range"),
                "switch the terminal on, bring it close and run the same list again with --retry-failed",
            )),
            many => Err(Failure::new(
                "ambiguous-terminal",
                format!("{} terminals in range have SNs ending {suffix}", many.len()),
                "pair this one first (posmate pair --id ID), then run the list again with --retry-failed",
            )),
        }
    }
}
