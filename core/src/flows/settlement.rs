//! End-of-day settlement: sync → close the open batch on the terminal → sync what the batch
//! holds → reconcile the terminal's totals with the phone's records.
//!
//! Persisted steps: `sync`, `close-batch` (with the batch number saved before the request:
//! closing an already closed batch returns its stored totals, so a lost answer is simply
//! asked again), `reconcile`. A mismatch is stored and reported, never hidden.

use serde::{Deserialize, Serialize};
use serde_json::json;

use posmate_proto::gatt::Lifecycle;
use posmate_proto::message::{Info, Request, Response, Totals};

use super::context::{info, is_interruption, open_flow, unknown_step, Ctx, Flow};
use super::records::{sync_to, sync_to_head};
use super::FlowKind;
use crate::error::{Error, Result};
use crate::session::SessionError;
use crate::store::{FlowStatus, SettlementRow};

crate::mirrored! {
    (replay_settlement_outcome, derive(Debug, Clone, PartialEq, Eq, Serialize))
    /// The result of an end-of-day settlement.
    pub struct SettlementOutcome {
        pub flow_id: String,
        pub sn: String,
        pub batch_no: u32,
        pub first_seq: u64,
        pub last_seq: u64,
        pub terminal: Totals,
        pub phone: Totals,
        /// Whether the phone's records add up to the terminal's totals.
        pub matched: bool,
        pub records: u64,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    sn: String,
    merchant_no: Option<String>,
    batch_no: Option<u32>,
    closed: Option<(u64, u64, Totals)>,
    epoch: Option<[u8; 16]>,
}

/// Settles `sn`'s open batch (or finishes the settlement already in progress).
pub(crate) async fn run(ctx: &Ctx<'_>, sn: &str) -> Result<SettlementOutcome> {
    let row = ctx
        .store
        .read(|tx| tx.terminal(sn))?
        .ok_or_else(|| Error::UnknownTerminal { sn: sn.into() })?;
    let mut flow = match open_flow(ctx, FlowKind::Settlement, sn)? {
        Some(row) => Flow::load(row)?,
        None => Flow::create(
            ctx,
            FlowKind::Settlement,
            Some(sn),
            State {
                sn: sn.into(),
                merchant_no: row.merchant_no.clone(),
                batch_no: None,
                closed: None,
                epoch: None,
            },
        )?,
    };
    match steps(ctx, &mut flow).await {
        Ok(o) => Ok(o),
        Err(e) if is_interruption(&e) || matches!(e, Error::Cancelled) => Err(e),
        Err(e) => Err(flow.fail(ctx, e)),
    }
}

/// Refuses with `UnsettledBatch` while the phone holds records of `sn`'s open batch (as
/// `info` names it): nothing that ends a terminal's or a card's use may strand takings.
pub(crate) fn ensure_batch_settled(ctx: &Ctx<'_>, sn: &str, info: &Info) -> Result<()> {
    let (_, _, _, open) = ctx
        .store
        .read(|tx| tx.batch_totals(sn, info.journal_epoch, info.batch_no))?;
    if open > 0 {
        return Err(Error::UnsettledBatch {
            sn: sn.into(),
            batch_no: info.batch_no,
            records: open,
        });
    }
    Ok(())
}

async fn steps(ctx: &Ctx<'_>, flow: &mut Flow<State>) -> Result<SettlementOutcome> {
    let sn = flow.state.sn.clone();
    loop {
        match flow.step() {
            "start" | "sync" => {
                flow.enter(ctx, "sync", 0.05, "syncing the journal", false)?;
                let info = sync_to_head(ctx, &sn, flow.state.merchant_no.as_deref(), |l| {
                    l == Lifecycle::Activated
                })
                .await?;
                flow.state.batch_no = Some(info.batch_no);
                flow.state.epoch = Some(info.journal_epoch);
                flow.enter(
                    ctx,
                    "close-batch",
                    0.4,
                    "closing the batch on the terminal",
                    false,
                )?;
            }
            "close-batch" => {
                let batch_no = flow.state.batch_no.unwrap_or_default();
                let resp = ctx.request(&sn, Request::CloseBatch { batch_no }).await?;
                let Response::BatchClosed {
                    batch_no: closed,
                    first_seq,
                    last_seq,
                    totals,
                } = resp
                else {
                    return Err(Error::Session(SessionError::UnexpectedResponse));
                };
                if closed != batch_no {
                    return Err(Error::Session(SessionError::UnexpectedResponse));
                }
                flow.state.closed = Some((first_seq, last_seq, totals));
                flow.enter(ctx, "reconcile", 0.7, "reconciling the totals", true)?;
            }
            "reconcile" => {
                let (first_seq, last_seq, terminal) =
                    flow.state.closed.ok_or(Error::NeedsInput {
                        what: "the closed batch (resume from close-batch)",
                    })?;
                let batch_no = flow.state.batch_no.unwrap_or_default();
                let epoch = flow.state.epoch.unwrap_or_default();
                let info = info(ctx, &sn).await?;
                if info.journal_epoch != epoch {
                    let held = ctx.store.read(|tx| tx.record_count(Some(&sn)))?;
                    return Err(Error::JournalRewound { sn, held });
                }
                sync_to(ctx, &sn, flow.state.merchant_no.as_deref(), &info, last_seq).await?;
                let (phone, _, _, count) =
                    ctx.store.read(|tx| tx.batch_totals(&sn, epoch, batch_no))?;
                let matched = phone == terminal;
                let now = ctx.clock.now_ms();
                let row = SettlementRow {
                    sn: sn.clone(),
                    batch_no,
                    epoch,
                    first_seq,
                    last_seq,
                    terminal,
                    phone,
                    matched,
                    settled_at_ms: now,
                };
                ctx.store.write(|tx| tx.put_settlement(&row))?;
                ctx.audit(
                    "settle",
                    Some(&sn),
                    json!({ "sn": sn, "batch_no": batch_no }),
                    if matched { "ok" } else { "mismatch" },
                    json!({ "first_seq": first_seq, "last_seq": last_seq, "terminal": terminal, "phone": phone, "records": count }),
                )?;
                flow.finish(ctx, FlowStatus::Done, None)?;
                return Ok(SettlementOutcome {
                    flow_id: flow.row.id.clone(),
                    sn,
                    batch_no,
                    first_seq,
                    last_seq,
                    terminal,
                    phone,
                    matched,
                    records: count,
                });
            }
            other => return Err(unknown_step("settlement", other)),
        }
    }
}
