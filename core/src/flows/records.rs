//! Incremental journal sync by sequence number.
//!
//! The persisted state is the store's sync cursor `(epoch, last_seq)`, moved in the same
//! transaction as the records it covers, so a sync cut anywhere resumes from the last page
//! stored: no gaps (pages are appended only when contiguous), no duplicates (the store skips
//! what it holds). A terminal whose journal epoch differs from the cursor's was wiped or
//! swapped: its records are not merged.
//!
//! To keep the link full, up to [`PIPELINE`] page requests are in flight at once: the first
//! page (as many records as fit) tells how many records a page holds, later requests ask
//! for a little less than that from staggered positions, and a page the terminal cut short
//! is followed up for the missing range. Out-of-order arrivals wait in a small buffer.
//!
//! What `docs/performance.md` measured shaped three details. Requests are refilled in
//! batches, once half the pipeline is answered, and put on the link before the answered
//! pages are written to the store: a batch leaves in one write and the terminal answers it
//! back to back, while the pages still queued on the terminal cover the round trip. A plain
//! [`sync`] asks no `GetInfo` first: every page carries the journal's epoch and head, so
//! the first page tells them, which saves a round trip per sync.

use std::collections::{BTreeMap, VecDeque};

use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use posmate_proto::gatt::Lifecycle;
use posmate_proto::message::{Info, Record, Request, Response};
use serde::Serialize;

use super::context::{info, Ctx};
use super::Progress;
use crate::error::{Error, Result};
use crate::session::SessionError;

/// Page requests kept in flight (the terminal accepts 4 frames before it returns credit).
pub const PIPELINE: usize = 4;
/// Pages after the first ask for 1/PAGE_SLACK fewer records than the last page held.
const PAGE_SLACK: u16 = 32;

crate::mirrored! {
    (replay_sync_outcome, derive(Debug, Clone, PartialEq, Eq, Serialize))
    /// What a sync did.
    pub struct SyncOutcome {
        pub sn: String,
        pub inserted: u64,
        pub skipped: u64,
        /// The last record now held.
        pub last_seq: u64,
        /// The terminal's head when the sync started.
        pub head: u64,
        pub pages: u64,
        /// Journal payload bytes received (CBOR records).
        pub record_bytes: u64,
    }
}

/// The journal being read: its epoch, its head when the sync started, and how far to read.
#[derive(Debug, Clone, Copy)]
struct Goal {
    epoch: [u8; 16],
    head: u64,
    target: u64,
}

/// Syncs `sn`'s journal up to its current head (as the first page reports it).
pub(crate) async fn sync(ctx: &Ctx<'_>, sn: &str) -> Result<SyncOutcome> {
    let row = ctx
        .store
        .read(|tx| tx.terminal(sn))?
        .ok_or_else(|| Error::UnknownTerminal { sn: sn.into() })?;
    pull(ctx, sn, row.merchant_no.as_deref(), None).await
}

/// Syncs `sn`'s journal up to at least `target` (which must not exceed the head).
pub(crate) async fn sync_to(
    ctx: &Ctx<'_>,
    sn: &str,
    merchant_no: Option<&str>,
    info: &Info,
    target: u64,
) -> Result<SyncOutcome> {
    let goal = Goal {
        epoch: info.journal_epoch,
        head: info.journal_head,
        target,
    };
    pull(ctx, sn, merchant_no, Some(goal)).await
}

/// Reads `sn`'s info, refuses it as not activated unless `usable` accepts its lifecycle,
/// and syncs its journal up to the head: where settlement, decommission and unbinding a
/// card start, so the phone holds every record before a batch is closed, the terminal
/// wiped or its settlement card dropped.
pub(crate) async fn sync_to_head(
    ctx: &Ctx<'_>,
    sn: &str,
    merchant_no: Option<&str>,
    usable: impl FnOnce(Lifecycle) -> bool,
) -> Result<Info> {
    let info = info(ctx, sn).await?;
    if !usable(info.lifecycle) {
        return Err(Error::NotActivated {
            sn: sn.into(),
            state: info.lifecycle.name().into(),
        });
    }
    sync_to(ctx, sn, merchant_no, &info, info.journal_head).await?;
    Ok(info)
}

/// Reads the journal up to `goal` (see [`pull_pages`]), then records when `sn` was last
/// synced (what the fleet's status shows).
async fn pull(
    ctx: &Ctx<'_>,
    sn: &str,
    merchant_no: Option<&str>,
    goal: Option<Goal>,
) -> Result<SyncOutcome> {
    let out = pull_pages(ctx, sn, merchant_no, goal).await?;
    ctx.store
        .write(|tx| tx.mark_synced(sn, ctx.clock.now_ms()))?;
    Ok(out)
}

/// Reads the journal from the cursor on, up to `goal`'s target, or, without a goal, up to
/// the head the first page reports.
async fn pull_pages(
    ctx: &Ctx<'_>,
    sn: &str,
    merchant_no: Option<&str>,
    mut goal: Option<Goal>,
) -> Result<SyncOutcome> {
    let cursor = ctx.store.read(|tx| tx.sync_cursor(sn))?;
    let mut last = cursor.as_ref().map_or(0, |c| c.last_seq);
    let started = last;
    let mut out = SyncOutcome {
        sn: sn.into(),
        inserted: 0,
        skipped: 0,
        last_seq: last,
        head: goal.map_or(0, |g| g.head),
        pages: 0,
        record_bytes: 0,
    };
    if let Some(g) = goal {
        check_epoch(ctx, sn, cursor.as_ref().map(|c| c.epoch), g.epoch)?;
        if last >= g.target {
            return Ok(out);
        }
    }
    let session = ctx.link.session(sn).await?;
    let report = |last: u64, target: u64| {
        let span = target.saturating_sub(started).max(1) as f32;
        ctx.control.progress.on_progress(&Progress {
            flow_id: format!("sync-{sn}"),
            kind: "sync".into(),
            step: "read-journal".into(),
            fraction: ((last - started) as f32 / span).min(1.0),
            detail: format!("{last} of {target} records"),
        });
    };
    // Pages received, keyed by their first seq, waiting to become contiguous.
    let mut buffered: BTreeMap<u64, Vec<Record>> = BTreeMap::new();
    let mut in_flight = FuturesOrdered::new();
    let request = |from: u64, max: u16| {
        let session = session.clone();
        async move {
            let resp = session
                .request(Request::ReadJournal {
                    from_seq: from,
                    max_records: max,
                })
                .await;
            (from, max, resp)
        }
    };
    // Next seq not yet requested, and the page size learned from the first page.
    let mut next_ask = u64::MAX; // set once the first page tells the page size
    let mut per_page: u16 = 0;
    in_flight.push_back(request(last + 1, 0));
    // Answers taken off the session and not yet accounted for.
    let mut answered = VecDeque::new();
    loop {
        if answered.is_empty() {
            match in_flight.next().await {
                Some(a) => answered.push_back(a),
                None => break,
            }
        }
        // Take every other answer that is already in, so that the requests replacing
        // them leave together.
        take_ready(&mut in_flight, &mut answered);
        let mut failure = None;
        let mut drop_session = false;
        for (from, max, resp) in answered.drain(..) {
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    // As `Ctx::request` does: a session that ended or stopped answering
                    // is dropped, so that the next call reconnects.
                    drop_session = !session.is_open()
                        || matches!(
                            e,
                            SessionError::Timeout(_)
                                | SessionError::Closed(_)
                                | SessionError::Transport(_)
                        );
                    failure = Some(match Error::from_session(e) {
                        Error::NeedsPairing { .. } => Error::NeedsPairing { sn: sn.into() },
                        other => other,
                    });
                    break;
                }
            };
            let page = accept_page(ctx, sn, &mut goal, cursor.as_ref(), from, resp);
            let (records, g) = match page {
                Ok(p) => p,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            out.head = g.head;
            out.pages += 1;
            let got = records.len() as u64;
            out.record_bytes += records
                .iter()
                .map(|r| posmate_proto::message::encode(r).len() as u64)
                .sum::<u64>();
            if per_page == 0 {
                per_page = page_size(got);
                next_ask = from + got;
            } else if got < u64::from(max) && from + got <= g.target {
                // Cut short: ask for the rest of this page's range, and ask for no more
                // than fitted from now on.
                in_flight.push_back(request(from + got, max - got as u16));
                per_page = per_page.min(page_size(got));
            }
            buffered.insert(from, records);
        }
        let target = goal.map_or(0, |g| g.target);
        // Refill once half the pipeline is answered: the pages still queued on the
        // terminal cover the round trip, and the new batch leaves in one write.
        if failure.is_none() && in_flight.len() <= PIPELINE / 2 {
            while in_flight.len() < PIPELINE && next_ask <= target {
                in_flight.push_back(request(next_ask, per_page));
                next_ask += u64::from(per_page);
            }
        }
        // Put new requests on the link now, before the store writes below, so that the
        // terminal's answers overlap the writes instead of following them.
        take_ready(&mut in_flight, &mut answered);
        // Append every page that now continues the stored journal (also before reporting
        // a failure: what arrived intact is kept, and a resume starts after it).
        if let Some(g) = goal {
            while let Some(entry) = buffered.first_entry() {
                if *entry.key() > last + 1 {
                    break;
                }
                let page = entry.remove();
                let appended = ctx
                    .store
                    .write(|tx| tx.append_records(sn, merchant_no, g.epoch, &page))?;
                out.inserted += appended.inserted;
                out.skipped += appended.skipped;
                last = appended.last_seq;
            }
        }
        out.last_seq = last;
        if let Some(e) = failure {
            if drop_session {
                ctx.link.drop_session(sn).await;
            }
            return Err(e);
        }
        report(last, target);
        if ctx.control.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
    }
    if last < goal.map_or(0, |g| g.target) {
        return Err(Error::Session(SessionError::UnexpectedResponse));
    }
    Ok(out)
}

/// A journal whose epoch differs from the cursor's was wiped or swapped: not merged.
fn check_epoch(ctx: &Ctx<'_>, sn: &str, cursor: Option<[u8; 16]>, epoch: [u8; 16]) -> Result<()> {
    match cursor {
        Some(c) if c != epoch => {
            let held = ctx.store.read(|tx| tx.record_count(Some(sn)))?;
            Err(Error::JournalRewound {
                sn: sn.into(),
                held,
            })
        }
        _ => Ok(()),
    }
}

/// Records per page to ask for, given that a page held `got`: a little less, since later
/// records tend to encode longer (growing sequence numbers and amounts), and a page the
/// terminal cuts short costs a follow-up request for its tail.
fn page_size(got: u64) -> u16 {
    let got = u16::try_from(got).unwrap_or(u16::MAX);
    (got - got / PAGE_SLACK).max(1)
}

/// Moves every answer that is already in to `answered`, in request order. Polling also
/// sends requests pushed since the last poll.
fn take_ready<F: std::future::Future>(
    in_flight: &mut FuturesOrdered<F>,
    answered: &mut VecDeque<F::Output>,
) {
    while let Some(Some(a)) = in_flight.next().now_or_never() {
        answered.push_back(a);
    }
}

/// Checks one page answering `ReadJournal { from_seq: from }`: a page of the expected journal,
/// not empty while records up to the target are missing. Without a goal yet, the first page
/// sets it: its epoch (checked against the cursor's) and its head as the target.
fn accept_page(
    ctx: &Ctx<'_>,
    sn: &str,
    goal: &mut Option<Goal>,
    cursor: Option<&crate::store::SyncCursor>,
    from: u64,
    resp: Response,
) -> Result<(Vec<Record>, Goal)> {
    let Response::JournalPage {
        epoch,
        records,
        head,
    } = resp
    else {
        return Err(Error::Session(SessionError::UnexpectedResponse));
    };
    let g = match *goal {
        Some(g) => g,
        None => {
            check_epoch(ctx, sn, cursor.map(|c| c.epoch), epoch)?;
            *goal.insert(Goal {
                epoch,
                head,
                target: head,
            })
        }
    };
    if epoch != g.epoch {
        let held = ctx.store.read(|tx| tx.record_count(Some(sn)))?;
        return Err(Error::JournalRewound {
            sn: sn.into(),
            held,
        });
    }
    if records.is_empty() && from <= g.target {
        return Err(Error::Session(SessionError::UnexpectedResponse));
    }
    Ok((records, g))
}
