//! Replacement (更换): settle and back up the old terminal → activate the new one for the
//! same merchant → carry the history over → decommission the old one. One resumable flow
//! whose steps run the other flows (each resumable in its own right).
//!
//! Persisted steps: `settle-old`, `backup-old`, `activate-new` (may pause while the
//! acquirer reviews), `carry-over`, `decommission-old`. The settlement card is bound to the
//! merchant, not the terminal, so it carries over by itself; carry-over checks it is there
//! and moves the old terminal's records under the new one (each keeps its origin SN).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::activation::{self, ActivationInput, ActivationOutcome};
use super::context::{is_interruption, open_flow, random_id, unknown_step, Ctx, Flow};
use super::decommission::{self, BackupSpec, DecommissionInput, DecommissionOutcome};
use super::{settlement, FlowKind};
use crate::acquirer::{CardPurposeKind, MerchantDetails};
use crate::backup::{self, Passphrase, Scope};
use crate::error::{Error, Result};
use crate::store::{BackupRow, FlowStatus, TerminalState};

pub struct ReplacementInput {
    pub old_sn: String,
    /// The new terminal's activation (same merchant number as the old one).
    pub new: ActivationInput,
    pub backup_path: PathBuf,
    pub passphrase: Passphrase,
}

crate::mirrored! {
    (
        replay_replacement_outcome,
        derive(Debug, Clone, PartialEq, Serialize),
        serde(tag = "result", rename_all = "kebab-case"),
        // Returned once, by value: boxing the large variant would buy nothing.
        allow(clippy::large_enum_variant),
    )
    /// How a replacement ended.
    pub enum ReplacementOutcome {
        Replaced {
            flow_id: String,
            old_sn: String,
            new_sn: String,
            records_moved: u64,
            settlement_card: Option<String>,
            decommission: DecommissionOutcome,
        },
        /// The new terminal's activation is under review; resume later.
        Pending {
            flow_id: String,
            application_id: String,
            retry_after_ms: u64,
        },
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    old_sn: String,
    new_sn: String,
    merchant_no: String,
    terminal_no: String,
    merchant: MerchantDetails,
    backup_id: Option<String>,
    records_moved: Option<u64>,
}

/// Runs (or resumes) the replacement of `input.old_sn` by `input.new.sn`.
pub(crate) async fn run(ctx: &Ctx<'_>, input: ReplacementInput) -> Result<ReplacementOutcome> {
    let mut flow = match open_flow(ctx, FlowKind::Replacement, &input.old_sn)? {
        Some(row) => Flow::load(row)?,
        None => {
            activation::validate(&input.new)?;
            input.passphrase.check_strength()?;
            let old = ctx
                .store
                .read(|tx| tx.terminal(&input.old_sn))?
                .ok_or_else(|| Error::UnknownTerminal {
                    sn: input.old_sn.clone(),
                })?;
            if old.state != TerminalState::Activated {
                return Err(Error::NotActivated {
                    sn: old.sn,
                    state: old.state.as_str().into(),
                });
            }
            if old.merchant_no.as_deref() != Some(input.new.merchant_no.as_str()) {
                return Err(Error::InvalidInput {
                    field: "merchant number",
                    reason: "a replacement terminal is activated for the old terminal's merchant"
                        .into(),
                });
            }
            if ctx.store.read(|tx| tx.terminal(&input.new.sn))?.is_none() {
                return Err(Error::UnknownTerminal {
                    sn: input.new.sn.clone(),
                });
            }
            Flow::create(
                ctx,
                FlowKind::Replacement,
                Some(&input.old_sn),
                State {
                    old_sn: input.old_sn.clone(),
                    new_sn: input.new.sn.clone(),
                    merchant_no: input.new.merchant_no.clone(),
                    terminal_no: input.new.terminal_no.clone(),
                    merchant: input.new.merchant.clone(),
                    backup_id: None,
                    records_moved: None,
                },
            )?
        }
    };
    match steps(ctx, &mut flow, &input).await {
        Ok(o) => Ok(o),
        Err(e) if is_interruption(&e) || matches!(e, Error::Cancelled) => Err(e),
        Err(e) if flow.state.backup_id.is_some() => {
            flow.row.status = FlowStatus::Paused;
            flow.row.error = Some(format!("{}: {e}", e.code()));
            flow.save(ctx)?;
            Err(e)
        }
        Err(e) => Err(flow.fail(ctx, e)),
    }
}

async fn steps(
    ctx: &Ctx<'_>,
    flow: &mut Flow<State>,
    input: &ReplacementInput,
) -> Result<ReplacementOutcome> {
    let old_sn = flow.state.old_sn.clone();
    let new_sn = flow.state.new_sn.clone();
    loop {
        match flow.step() {
            "start" | "settle-old" => {
                flow.enter(ctx, "settle-old", 0.05, "settling the old terminal", false)?;
                let settled = settlement::run(ctx, &old_sn).await?;
                if !settled.matched {
                    return Err(Error::InvalidInput {
                        field: "settlement",
                        reason: format!(
                            "batch {} of {old_sn} does not reconcile; resolve the mismatch before replacing the terminal",
                            settled.batch_no
                        ),
                    });
                }
                flow.enter(ctx, "backup-old", 0.2, "backing up the old terminal", false)?;
            }
            "backup-old" => {
                let archive = backup::collect(
                    ctx.store,
                    &Scope::Terminal(old_sn.clone()),
                    ctx.clock.now_ms(),
                    None,
                )?;
                let summary = backup::write_archive(
                    &input.backup_path,
                    &archive,
                    &input.passphrase,
                    ctx.backup,
                )?;
                let row = BackupRow {
                    id: random_id("backup"),
                    path: input.backup_path.display().to_string(),
                    sha256: summary.sha256,
                    created_at_ms: ctx.clock.now_ms(),
                    verified_at_ms: Some(ctx.clock.now_ms()),
                    records: summary.manifest.records.count,
                    sn: Some(old_sn.clone()),
                };
                ctx.store.write(|tx| tx.put_backup(&row))?;
                flow.state.backup_id = Some(row.id);
                flow.enter(
                    ctx,
                    "activate-new",
                    0.35,
                    "activating the new terminal",
                    true,
                )?;
            }
            "activate-new" => {
                let is_active = ctx
                    .store
                    .read(|tx| tx.terminal(&new_sn))?
                    .is_some_and(|t| t.state == TerminalState::Activated);
                if !is_active {
                    let outcome = match open_flow(ctx, FlowKind::Activation, &new_sn)? {
                        Some(row) => activation::resume(ctx, row).await?,
                        None => activation::run(ctx, input.new.clone()).await?,
                    };
                    if let ActivationOutcome::Pending {
                        application_id,
                        retry_after_ms,
                        ..
                    } = outcome
                    {
                        flow.finish(ctx, FlowStatus::Paused, None)?;
                        return Ok(ReplacementOutcome::Pending {
                            flow_id: flow.row.id.clone(),
                            application_id,
                            retry_after_ms,
                        });
                    }
                }
                flow.enter(ctx, "carry-over", 0.6, "carrying the history over", true)?;
            }
            "carry-over" => {
                let moved = ctx.store.write(|tx| {
                    let moved = tx.move_records(&old_sn, &new_sn)?;
                    if let Some(mut old) = tx.terminal(&old_sn)? {
                        old.replaced_by = Some(new_sn.clone());
                        tx.upsert_terminal(&old)?;
                    }
                    Ok(moved)
                })?;
                flow.state.records_moved = Some(moved);
                ctx.audit(
                    "replace-carry-over",
                    Some(&old_sn),
                    json!({ "old_sn": old_sn, "new_sn": new_sn }),
                    "ok",
                    json!({ "records_moved": moved }),
                )?;
                flow.enter(
                    ctx,
                    "decommission-old",
                    0.7,
                    "decommissioning the old terminal",
                    true,
                )?;
            }
            "decommission-old" => {
                let d = decommission::run(
                    ctx,
                    DecommissionInput {
                        sn: old_sn.clone(),
                        reason: format!("replaced by {new_sn}"),
                        backup: BackupSpec::Existing {
                            backup_id: flow.state.backup_id.clone().unwrap_or_default(),
                        },
                    },
                )
                .await?;
                let card = ctx
                    .store
                    .read(|tx| tx.cards(&flow.state.merchant_no))?
                    .into_iter()
                    .find(|c| c.purpose == CardPurposeKind::Settlement)
                    .map(|c| c.masked_pan.as_str().to_owned());
                let moved = flow.state.records_moved.unwrap_or(0);
                ctx.audit(
                    "replace",
                    Some(&old_sn),
                    json!({ "old_sn": old_sn, "new_sn": new_sn }),
                    "ok",
                    json!({ "records_moved": moved, "settlement_card": card, "receipt_nonce": d.receipt_nonce }),
                )?;
                flow.finish(ctx, FlowStatus::Done, None)?;
                return Ok(ReplacementOutcome::Replaced {
                    flow_id: flow.row.id.clone(),
                    old_sn,
                    new_sn,
                    records_moved: moved,
                    settlement_card: card,
                    decommission: d,
                });
            }
            other => return Err(unknown_step("replacement", other)),
        }
    }
}
