//! Decommission (停用/注销): preconditions → verified backup → deregistration with the
//! acquirer → terminal wipe with a signed receipt → phone-side wipe → confirmation.
//!
//! Persisted steps: `preconditions`, `backup`, `deregister`, `wipe`, `phone-wipe`.
//! Invariants: nothing is deregistered or wiped before a backup has been written, re-read
//! and verified (and the file is checked again right before each destructive step); the
//! wipe nonce is saved before the request, so a wipe whose answer was lost is collected
//! again with the same nonce (the terminal keeps its last receipt) after re-pairing; the
//! phone forgets the terminal only after its receipt verified against the device key read
//! at activation.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use posmate_proto::gatt::Lifecycle;
use posmate_proto::message::{Request, Response};
use posmate_proto::receipt::{self, ReceiptFields};

use super::context::{is_interruption, open_flow, request_id, unknown_step, Ctx, Flow};
use super::records::sync_to_head;
use super::settlement::ensure_batch_settled;
use super::FlowKind;
use crate::acquirer::DeregisterRequest;
use crate::backup::{BackupError, Passphrase, Scope};
use crate::error::{Error, Result};
use crate::session::SessionError;
use crate::store::{BackupRow, FlowStatus, TerminalState};

/// How the decommission gets its backup.
pub enum BackupSpec {
    /// Write a new encrypted archive of this terminal's data to `path`.
    Write {
        path: PathBuf,
        passphrase: Passphrase,
    },
    /// Use a backup already written and verified (replacement does this).
    Existing { backup_id: String },
}

/// What the merchant provides to decommission a terminal.
pub struct DecommissionInput {
    pub sn: String,
    /// Why (recorded with the acquirer and in the audit trail).
    pub reason: String,
    pub backup: BackupSpec,
}

crate::mirrored! {
    (replay_decommission_outcome, derive(Debug, Clone, PartialEq, Eq, Serialize))
    /// The evidence a finished decommission leaves.
    pub struct DecommissionOutcome {
        pub flow_id: String,
        pub sn: String,
        pub reason: String,
        pub backup_path: String,
        pub backup_sha256: String,
        pub backup_records: u64,
        pub deregistration_ref: String,
        pub deregistered_at_ms: u64,
        pub receipt_nonce: String,
        pub wiped_at_ms: u64,
        pub journal_head: u64,
        pub receipt_signature: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    sn: String,
    reason: String,
    merchant_no: Option<String>,
    device_key: [u8; 32],
    request_id: String,
    backup_id: Option<String>,
    deregistration: Option<(String, u64)>,
    nonce: Option<[u8; 16]>,
    receipt: Option<Receipt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Receipt {
    wiped_at_ms: u64,
    journal_head: u64,
    signature: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts (or resumes) the decommission of `input.sn`.
pub(crate) async fn run(ctx: &Ctx<'_>, input: DecommissionInput) -> Result<DecommissionOutcome> {
    let mut flow = match open_flow(ctx, FlowKind::Decommission, &input.sn)? {
        Some(row) => Flow::load(row)?,
        None => {
            if input.reason.trim().is_empty() {
                return Err(Error::InvalidInput {
                    field: "reason",
                    reason: "say why the terminal is decommissioned (kept as evidence)".into(),
                });
            }
            let row = ctx
                .store
                .read(|tx| tx.terminal(&input.sn))?
                .ok_or_else(|| Error::UnknownTerminal {
                    sn: input.sn.clone(),
                })?;
            if let BackupSpec::Write { passphrase, .. } = &input.backup {
                passphrase.check_strength()?;
            }
            Flow::create(
                ctx,
                FlowKind::Decommission,
                Some(&input.sn),
                State {
                    sn: input.sn.clone(),
                    reason: input.reason.clone(),
                    merchant_no: row.merchant_no.clone(),
                    device_key: row.device_key,
                    request_id: request_id(),
                    backup_id: match &input.backup {
                        BackupSpec::Existing { backup_id } => Some(backup_id.clone()),
                        BackupSpec::Write { .. } => None,
                    },
                    deregistration: None,
                    nonce: None,
                    receipt: None,
                },
            )?
        }
    };
    match steps(ctx, &mut flow, &input.backup).await {
        Ok(o) => Ok(o),
        Err(e) if is_interruption(&e) || matches!(e, Error::Cancelled) => Err(e),
        Err(e) if flow.state.deregistration.is_some() => {
            // Past the point of no return: keep the flow open to be finished.
            flow.row.status = FlowStatus::Paused;
            flow.row.error = Some(format!("{}: {e}", e.code()));
            flow.save(ctx)?;
            Err(e)
        }
        Err(e) => {
            // Nothing destructive happened; a failed precondition leaves no trace but this.
            let _ = ctx.audit(
                "decommission",
                Some(&flow.state.sn),
                json!({ "sn": flow.state.sn, "reason": flow.state.reason }),
                "refused",
                json!({ "code": e.code(), "error": e.to_string() }),
            );
            if flow.step() == "preconditions" || flow.step() == "start" {
                flow.finish(
                    ctx,
                    FlowStatus::Cancelled,
                    Some(format!("{}: {e}", e.code())),
                )?;
                Err(e)
            } else {
                Err(flow.fail(ctx, e))
            }
        }
    }
}

async fn steps(
    ctx: &Ctx<'_>,
    flow: &mut Flow<State>,
    spec: &BackupSpec,
) -> Result<DecommissionOutcome> {
    let sn = flow.state.sn.clone();
    loop {
        match flow.step() {
            "start" | "preconditions" => {
                flow.enter(
                    ctx,
                    "preconditions",
                    0.05,
                    "checking the batch is settled and the journal synced",
                    false,
                )?;
                if open_flow(ctx, FlowKind::Settlement, &sn)?.is_some() {
                    return Err(Error::UnsettledBatch {
                        sn,
                        batch_no: 0,
                        records: 0,
                    });
                }
                let info = sync_to_head(ctx, &sn, flow.state.merchant_no.as_deref(), |l| {
                    matches!(l, Lifecycle::Activated | Lifecycle::Suspended)
                })
                .await?;
                ensure_batch_settled(ctx, &sn, &info)?;
                let next = if flow.state.backup_id.is_some() {
                    "deregister"
                } else {
                    "backup"
                };
                flow.enter(ctx, next, 0.2, "backing up the terminal's records", false)?;
            }
            "backup" => {
                let BackupSpec::Write { path, passphrase } = spec else {
                    return Err(Error::NeedsInput {
                        what: "a backup path and passphrase",
                    });
                };
                let (row, _) = ctx.write_backup(&Scope::Terminal(sn.clone()), path, passphrase)?;
                ctx.audit(
                    "backup",
                    Some(&sn),
                    json!({ "sn": sn, "path": row.path }),
                    "ok",
                    json!({ "sha256": hex(&row.sha256), "records": row.records }),
                )?;
                flow.state.backup_id = Some(row.id);
                flow.enter(
                    ctx,
                    "deregister",
                    0.4,
                    "deregistering with the acquirer",
                    false,
                )?;
            }
            "deregister" => {
                verified_backup(ctx, flow)?;
                let req = DeregisterRequest {
                    request_id: flow.state.request_id.clone(),
                    merchant_no: flow.state.merchant_no.clone().unwrap_or_default(),
                    sn: sn.clone(),
                    reason: flow.state.reason.clone(),
                };
                let d = ctx.gateway.deregister(&req).await?;
                flow.state.deregistration = Some((d.reference.clone(), d.at_ms));
                ctx.store.write(|tx| {
                    if let Some(mut row) = tx.terminal(&sn)? {
                        row.state = TerminalState::Decommissioning;
                        tx.upsert_terminal(&row)?;
                    }
                    Ok(())
                })?;
                ctx.audit(
                    "deregister",
                    Some(&sn),
                    json!({ "sn": sn, "reason": flow.state.reason }),
                    "ok",
                    json!({ "reference": d.reference, "at_ms": d.at_ms, "records_retained_until_ms": d.records_retained_until_ms }),
                )?;
                let mut nonce = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
                flow.state.nonce = Some(nonce);
                flow.enter(ctx, "wipe", 0.6, "wiping the terminal", true)?;
            }
            "wipe" => {
                verified_backup(ctx, flow)?;
                let nonce = flow.state.nonce.ok_or(Error::NeedsInput {
                    what: "the wipe nonce (flow state damaged)",
                })?;
                let request = Request::Wipe {
                    nonce,
                    reason: flow.state.reason.clone(),
                };
                let resp = match ctx.request(&sn, request.clone()).await {
                    Ok(r) => r,
                    // The terminal wiped (and forgot this phone) but its answer was lost:
                    // pair again and collect the stored receipt with the same nonce.
                    Err(Error::NeedsPairing { .. })
                    | Err(Error::Session(SessionError::PossibleImpostor { .. })) => {
                        ctx.link.forget(&sn)?;
                        ctx.link.drop_session(&sn).await;
                        let session = ctx.link.repair(&sn).await?;
                        session
                            .request(request)
                            .await
                            .map_err(Error::from_session)?
                    }
                    Err(e) => return Err(e),
                };
                ctx.link.drop_session(&sn).await;
                let Response::WipeReceipt {
                    sn: rsn,
                    nonce: rnonce,
                    wiped_at_ms,
                    journal_head,
                    signature,
                } = resp
                else {
                    return Err(Error::Session(SessionError::UnexpectedResponse));
                };
                let fields = ReceiptFields {
                    sn: &rsn,
                    nonce: &rnonce,
                    wiped_at_ms,
                    journal_head,
                };
                if rsn != sn || rnonce != nonce {
                    return Err(Error::ReceiptInvalid {
                        sn,
                        why: "it names another terminal or another wipe request".into(),
                    });
                }
                receipt::verify(&flow.state.device_key, &fields, &signature).map_err(|e| {
                    Error::ReceiptInvalid {
                        sn: sn.clone(),
                        why: e.to_string(),
                    }
                })?;
                flow.state.receipt = Some(Receipt {
                    wiped_at_ms,
                    journal_head,
                    signature: signature.to_vec(),
                });
                flow.enter(
                    ctx,
                    "phone-wipe",
                    0.85,
                    "erasing the terminal from this phone",
                    true,
                )?;
            }
            "phone-wipe" => {
                ctx.link.drop_session(&sn).await;
                ctx.link.forget(&sn)?;
                let flow_id = flow.row.id.clone();
                ctx.store.write(|tx| tx.delete_terminal(&sn))?;
                ctx.store.compact()?;
                // Flash keeps old copies of pages wherever wear levelling put them, beyond
                // secure_delete's reach: a new database key makes every copy written under
                // the old one unreadable once that key is gone.
                ctx.store.rekey(ctx.secrets)?;
                let s = flow.state.clone();
                let backup = ctx
                    .store
                    .read(|tx| tx.backup(s.backup_id.as_deref().unwrap_or_default()))?
                    .ok_or(Error::NeedsInput {
                        what: "the backup record",
                    })?;
                let (dref, dat) = s.deregistration.clone().unwrap_or_default();
                let r = s.receipt.clone().ok_or(Error::NeedsInput {
                    what: "the wipe receipt",
                })?;
                let outcome = DecommissionOutcome {
                    flow_id,
                    sn: sn.clone(),
                    reason: s.reason.clone(),
                    backup_path: backup.path.clone(),
                    backup_sha256: hex(&backup.sha256),
                    backup_records: backup.records,
                    deregistration_ref: dref,
                    deregistered_at_ms: dat,
                    receipt_nonce: hex(&s.nonce.unwrap_or_default()),
                    wiped_at_ms: r.wiped_at_ms,
                    journal_head: r.journal_head,
                    receipt_signature: hex(&r.signature),
                };
                ctx.audit(
                    "decommission",
                    Some(&sn),
                    json!({ "sn": sn, "reason": s.reason }),
                    "ok",
                    serde_json::to_value(&outcome).unwrap_or_default(),
                )?;
                flow.finish(ctx, FlowStatus::Done, None)?;
                return Ok(outcome);
            }
            other => return Err(unknown_step("decommission", other)),
        }
    }
}

/// The flow's backup exists, was verified, and its file still has the verified hash.
fn verified_backup(ctx: &Ctx<'_>, flow: &Flow<State>) -> Result<BackupRow> {
    let id = flow.state.backup_id.clone().unwrap_or_default();
    let row = ctx
        .store
        .read(|tx| tx.backup(&id))?
        .filter(|b| b.verified_at_ms.is_some())
        .ok_or(Error::NeedsInput {
            what: "a verified backup",
        })?;
    let bytes = std::fs::read(&row.path).map_err(|e| BackupError::Io {
        detail: format!("{}: {e}", row.path),
    })?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    if digest != row.sha256 {
        return Err(BackupError::Changed.into());
    }
    Ok(row)
}
