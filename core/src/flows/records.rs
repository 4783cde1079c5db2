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
//! for that many from staggered positions, and a page the terminal cut short is followed up
//! for the missing range. Out-of-order arrivals wait in a small buffer.

use std::collections::BTreeMap;

use futures::stream::{FuturesOrdered, StreamExt};
use posmate_proto::message::{Info, Record, Request, Response};
use serde::Serialize;

use super::context::Ctx;
use super::Progress;
use crate::error::{Error, Result};
use crate::session::SessionError;

/// Page requests kept in flight (the terminal accepts 4 frames before it returns credit).
pub const PIPELINE: usize = 4;

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Syncs `sn`'s journal up to its current head.
pub(crate) async fn sync(ctx: &Ctx<'_>, sn: &str) -> Result<SyncOutcome> {
    let row = ctx
        .store
        .read(|tx| tx.terminal(sn))?
        .ok_or_else(|| Error::UnknownTerminal { sn: sn.into() })?;
    let info = match ctx.request(sn, Request::GetInfo).await? {
        Response::Info(info) => info,
        _ => return Err(Error::Session(SessionError::UnexpectedResponse)),
    };
    sync_to(
        ctx,
        sn,
        row.merchant_no.as_deref(),
        &info,
        info.journal_head,
    )
    .await
}

/// Syncs `sn`'s journal up to at least `target` (which must not exceed the head).
pub(crate) async fn sync_to(
    ctx: &Ctx<'_>,
    sn: &str,
    merchant_no: Option<&str>,
    info: &Info,
    target: u64,
) -> Result<SyncOutcome> {
    let epoch = info.journal_epoch;
    let cursor = ctx.store.read(|tx| tx.sync_cursor(sn))?;
    let mut last = match cursor {
        Some(c) if c.epoch != epoch => {
            let held = ctx.store.read(|tx| tx.record_count(Some(sn)))?;
            return Err(Error::JournalRewound {
                sn: sn.into(),
                held,
            });
        }
        Some(c) => c.last_seq,
        None => 0,
    };
    let mut out = SyncOutcome {
        sn: sn.into(),
        inserted: 0,
        skipped: 0,
        last_seq: last,
        head: info.journal_head,
        pages: 0,
        record_bytes: 0,
    };
    if last >= target {
        return Ok(out);
    }
    let session = ctx.link.session(sn).await?;
    let started = last;
    let report = |last: u64| {
        let span = (target - started).max(1) as f32;
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
    let mut next_ask = last + 1;
    let mut per_page: u16 = 0;
    in_flight.push_back(request(next_ask, 0));
    next_ask = u64::MAX; // set once the first page tells the page size
    while let Some((from, max, resp)) = in_flight.next().await {
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                if !session.is_open() {
                    ctx.link.drop_session(sn).await;
                }
                return Err(Error::from_session(e));
            }
        };
        let Response::JournalPage {
            epoch: page_epoch,
            records,
            head: _,
        } = resp
        else {
            return Err(Error::Session(SessionError::UnexpectedResponse));
        };
        if page_epoch != epoch {
            let held = ctx.store.read(|tx| tx.record_count(Some(sn)))?;
            return Err(Error::JournalRewound {
                sn: sn.into(),
                held,
            });
        }
        out.pages += 1;
        if records.is_empty() && from <= target {
            return Err(Error::Session(SessionError::UnexpectedResponse));
        }
        let got = records.len() as u64;
        out.record_bytes += records
            .iter()
            .map(|r| posmate_proto::message::encode(r).len() as u64)
            .sum::<u64>();
        if per_page == 0 {
            per_page = u16::try_from(got.max(1)).unwrap_or(u16::MAX);
            next_ask = from + got;
        } else if got < u64::from(max) && from + got <= target {
            // Cut short: ask for the rest of this page's range.
            in_flight.push_back(request(from + got, max - got as u16));
        }
        buffered.insert(from, records);
        // Append every page that now continues the stored journal.
        while let Some(entry) = buffered.first_entry() {
            if *entry.key() > last + 1 {
                break;
            }
            let page = entry.remove();
            let appended = ctx
                .store
                .write(|tx| tx.append_records(sn, merchant_no, epoch, &page))?;
            out.inserted += appended.inserted;
            out.skipped += appended.skipped;
            last = appended.last_seq;
        }
        out.last_seq = last;
        report(last);
        if ctx.control.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        while in_flight.len() < PIPELINE && next_ask <= target {
            in_flight.push_back(request(next_ask, per_page));
            next_ask += u64::from(per_page);
        }
    }
    if last < target {
        return Err(Error::Session(SessionError::UnexpectedResponse));
    }
    Ok(out)
}
