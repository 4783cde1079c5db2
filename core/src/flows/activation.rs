//! Activation: read the terminal → submit to the acquirer → (review) → install the key
//! bundle the acquirer sealed for this terminal → sign on → confirm → activated.
//!
//! Persisted steps: `read-info`, `submit`, `await-review`, `install-keys`, `sign-on`,
//! `confirm`. The key bundle is never persisted: it is fetched from the acquirer again when
//! a resumed flow needs it (the acquirer keeps returning it until the activation is
//! confirmed). The activation code is kept in the keystore, not the database, only until
//! the acquirer has accepted the request.

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use posmate_proto::gatt::Lifecycle;
use posmate_proto::message::{ErrorCode, Info, Request, Response};

use super::context::{info, is_interruption, open_flow, request_id, unknown_step, Ctx, Flow};
use super::FlowKind;
use crate::acquirer::{ActivationRequest, ActivationState, ActivationStatus, MerchantDetails};
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::{FlowRow, FlowStatus, TerminalRow, TerminalState};

/// What the merchant types to activate a terminal.
#[derive(Clone)]
pub struct ActivationInput {
    pub sn: String,
    pub terminal_no: String,
    pub merchant_no: String,
    /// The one-time code the acquirer gave the merchant; kept out of the database and logs.
    pub activation_code: Zeroizing<String>,
    pub merchant: MerchantDetails,
}

impl std::fmt::Debug for ActivationInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationInput")
            .field("sn", &self.sn)
            .field("terminal_no", &self.terminal_no)
            .field("merchant_no", &self.merchant_no)
            .field("activation_code", &"***")
            .finish()
    }
}

crate::mirrored! {
    (
        replay_activation_outcome,
        derive(Debug, Clone, PartialEq, Serialize),
        serde(tag = "result", rename_all = "kebab-case"),
    )
    /// How an activation attempt ended.
    pub enum ActivationOutcome {
        Activated {
            flow_id: String,
            sn: String,
            terminal_no: String,
            merchant_no: String,
            test_txn_ref: String,
            key_slots: Vec<KeySlotProof>,
        },
        /// The acquirer is still reviewing; poll again after `retry_after_ms`.
        Pending {
            flow_id: String,
            application_id: String,
            retry_after_ms: u64,
        },
    }
}

crate::mirrored! {
    (replay_key_slot_proof, derive(Debug, Clone, PartialEq, Serialize))
    /// One installed key slot, as the terminal proved it (slot, kind, key check value).
    pub struct KeySlotProof {
        pub slot: u8,
        pub kind: String,
        /// Key check value (hex).
        pub kcv: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    request_id: String,
    sn: String,
    terminal_no: String,
    merchant_no: String,
    merchant: MerchantDetails,
    device_key: Option<[u8; 32]>,
    application_id: Option<String>,
    test_txn_ref: Option<String>,
    /// The slots the acquirer said it issued, with their key check values.
    issued: Vec<(u8, [u8; 3])>,
}

/// Checks the typed input before anything is created (no state changes on bad input).
pub(crate) fn validate(input: &ActivationInput) -> Result<()> {
    validate_sn(&input.sn)?;
    let bad = |field, reason: &str| {
        Err(Error::InvalidInput {
            field,
            reason: reason.into(),
        })
    };
    validate_terminal_no(&input.terminal_no)?;
    validate_merchant_no(&input.merchant_no)?;
    let code = input.activation_code.as_str();
    if !(6..=16).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return bad("activation code", "must be 6 to 16 letters or digits");
    }
    if input.merchant.legal_name.trim().is_empty() {
        return bad("merchant name", "must not be empty");
    }
    Ok(())
}

/// A terminal number: the 8 letters or digits the acquirer assigned.
pub(crate) fn validate_terminal_no(terminal_no: &str) -> Result<()> {
    if terminal_no.len() == 8 && terminal_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "terminal number",
            reason: "must be the 8 letters or digits the acquirer assigned".into(),
        })
    }
}

/// A merchant number: the 15 digits the acquirer assigned.
pub(crate) fn validate_merchant_no(merchant_no: &str) -> Result<()> {
    if merchant_no.len() == 15 && merchant_no.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "merchant number",
            reason: "must be the 15 digits the acquirer assigned".into(),
        })
    }
}

/// A terminal serial number: 6–32 upper-case letters, digits or '-'.
pub(crate) fn validate_sn(sn: &str) -> Result<()> {
    let ok = (6..=32).contains(&sn.len())
        && sn
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "SN",
            reason: format!(
                "'{}' is not a terminal serial number (6 to 32 capital letters, digits or '-', as printed on the terminal's label)",
                sn.chars().take(40).collect::<String>()
            ),
        })
    }
}

fn code_entry(flow_id: &str) -> String {
    format!("activation-code.{flow_id}")
}

/// Starts an activation (or resumes the one already open for this SN).
pub(crate) async fn run(ctx: &Ctx<'_>, input: ActivationInput) -> Result<ActivationOutcome> {
    validate(&input)?;
    let known = ctx.store.read(|tx| tx.terminal(&input.sn))?;
    let Some(row) = known else {
        return Err(Error::UnknownTerminal { sn: input.sn });
    };
    if row.state == TerminalState::Activated {
        return Err(Error::AlreadyActivated {
            sn: row.sn,
            merchant_no: row.merchant_no.unwrap_or_default(),
        });
    }
    if let Some(open) = open_flow(ctx, FlowKind::Activation, &input.sn)? {
        return resume(ctx, open).await;
    }
    let state = State {
        request_id: request_id(),
        sn: input.sn.clone(),
        terminal_no: input.terminal_no.clone(),
        merchant_no: input.merchant_no.clone(),
        merchant: input.merchant.clone(),
        device_key: None,
        application_id: None,
        test_txn_ref: None,
        issued: Vec::new(),
    };
    let mut flow = Flow::create(ctx, FlowKind::Activation, Some(&input.sn), state)?;
    ctx.secrets.set(
        &code_entry(&flow.row.id),
        &Secret::from_slice(input.activation_code.as_bytes()),
    )?;
    flow.enter(ctx, "read-info", 0.0, "reading the terminal", false)?;
    drive(ctx, &mut flow).await
}

/// Continues a persisted activation from its saved step.
pub(crate) async fn resume(ctx: &Ctx<'_>, row: FlowRow) -> Result<ActivationOutcome> {
    let mut flow: Flow<State> = Flow::load(row)?;
    drive(ctx, &mut flow).await
}

async fn drive(ctx: &Ctx<'_>, flow: &mut Flow<State>) -> Result<ActivationOutcome> {
    match steps(ctx, flow).await {
        Ok(outcome) => Ok(outcome),
        Err(Error::Cancelled) => {
            if flow.row.status == FlowStatus::Cancelled {
                let _ = ctx.secrets.delete(&code_entry(&flow.row.id));
            }
            Err(Error::Cancelled)
        }
        Err(e) if is_interruption(&e) => Err(e),
        Err(e) => {
            let _ = ctx.secrets.delete(&code_entry(&flow.row.id));
            // The terminal keeps whatever state it had; the phone's row goes back to paired
            // unless the terminal really is activated.
            let s = &flow.state;
            let _ = ctx.store.write(|tx| {
                if let Some(mut row) = tx.terminal(&s.sn)? {
                    if row.state == TerminalState::Activating {
                        row.state = TerminalState::Paired;
                        tx.upsert_terminal(&row)?;
                    }
                }
                Ok(())
            });
            ctx.audit(
                "activate",
                Some(&s.sn),
                inputs(s),
                "failed",
                json!({ "code": e.code(), "error": e.to_string(), "application_id": s.application_id }),
            )?;
            Err(flow.fail(ctx, e))
        }
    }
}

fn inputs(s: &State) -> serde_json::Value {
    json!({
        "sn": s.sn,
        "terminal_no": s.terminal_no,
        "merchant_no": s.merchant_no,
        "merchant_name": s.merchant.legal_name,
        "activation_code": "***",
    })
}

async fn steps(ctx: &Ctx<'_>, flow: &mut Flow<State>) -> Result<ActivationOutcome> {
    let mut bundle: Option<Vec<u8>> = None;
    loop {
        match flow.step() {
            "start" | "read-info" => {
                flow.enter(ctx, "read-info", 0.05, "reading the terminal", false)?;
                let info = info(ctx, &flow.state.sn).await?;
                flow.state.device_key = Some(info.device_key);
                let s = &flow.state;
                if info.lifecycle == Lifecycle::Activated {
                    let same = info.terminal_no.as_deref() == Some(s.terminal_no.as_str())
                        && info.merchant_no.as_deref() == Some(s.merchant_no.as_str());
                    if !same || s.application_id.is_none() {
                        return Err(Error::AlreadyActivated {
                            sn: s.sn.clone(),
                            merchant_no: info.merchant_no.unwrap_or_default(),
                        });
                    }
                } else if info.lifecycle != Lifecycle::Factory {
                    return Err(Error::TerminalRefused {
                        code: ErrorCode::WrongLifecycleState,
                        message: format!(
                            "terminal {} is {}; only a factory-fresh terminal can be activated",
                            s.sn,
                            info.lifecycle.name()
                        ),
                    });
                }
                update_row(ctx, &info, None)?;
                flow.enter(
                    ctx,
                    "submit",
                    0.15,
                    "sending the activation to the acquirer",
                    false,
                )?;
            }
            "submit" => {
                let code =
                    ctx.secrets
                        .get(&code_entry(&flow.row.id))?
                        .ok_or(Error::NeedsInput {
                            what: "the activation code",
                        })?;
                let s = &flow.state;
                let req = ActivationRequest {
                    request_id: s.request_id.clone(),
                    sn: s.sn.clone(),
                    terminal_no: s.terminal_no.clone(),
                    merchant_no: s.merchant_no.clone(),
                    activation_code: String::from_utf8_lossy(code.expose()).into_owned(),
                    merchant: s.merchant.clone(),
                    device_key: s.device_key.ok_or(Error::NeedsInput {
                        what: "the terminal's device key (resume from read-info)",
                    })?,
                };
                let status = ctx.gateway.activate(&req).await;
                drop(req);
                let status = status?;
                ctx.secrets.delete(&code_entry(&flow.row.id))?;
                if let Some(done) = on_status(ctx, flow, status, &mut bundle)? {
                    return Ok(done);
                }
            }
            "await-review" => {
                let app = flow.state.application_id.clone().unwrap_or_default();
                let status = ctx.gateway.activation_status(&app).await?;
                if let Some(done) = on_status(ctx, flow, status, &mut bundle)? {
                    return Ok(done);
                }
            }
            "install-keys" => {
                let sealed = match bundle.take() {
                    Some(b) => b,
                    None => {
                        let app = flow.state.application_id.clone().unwrap_or_default();
                        match ctx.gateway.activation_status(&app).await?.state {
                            ActivationState::Approved { bundle, kcvs } => {
                                flow.state.issued = kcvs.iter().map(|(s, _, k)| (*s, *k)).collect();
                                bundle
                            }
                            ActivationState::Confirmed => {
                                flow.enter(ctx, "sign-on", 0.7, "signing on", true)?;
                                continue;
                            }
                            other => {
                                return Err(Error::InvalidInput {
                                    field: "activation",
                                    reason: format!(
                                        "the acquirer reports {other:?} for an approved activation"
                                    ),
                                })
                            }
                        }
                    }
                };
                let sn = flow.state.sn.clone();
                let installed = match ctx
                    .request(&sn, Request::InstallKeys { bundle: sealed })
                    .await
                {
                    Ok(Response::KeysInstalled { slots }) => Some(slots),
                    Ok(_) => {
                        return Err(Error::Session(
                            crate::session::SessionError::UnexpectedResponse,
                        ))
                    }
                    // Installed and signed on before the answer was lost: the terminal is
                    // past factory state; sign-on below is idempotent and proves the keys.
                    Err(Error::TerminalRefused {
                        code: ErrorCode::WrongLifecycleState,
                        ..
                    }) => None,
                    Err(e) => return Err(e),
                };
                if let Some(slots) = installed {
                    let mut got: Vec<(u8, [u8; 3])> =
                        slots.iter().map(|k| (k.slot, k.kcv)).collect();
                    let mut want = flow.state.issued.clone();
                    got.sort_unstable();
                    want.sort_unstable();
                    if got != want {
                        return Err(Error::KeyCheckFailed { sn });
                    }
                }
                flow.enter(
                    ctx,
                    "sign-on",
                    0.7,
                    "signing on with a test transaction",
                    true,
                )?;
            }
            "sign-on" => {
                let s = &flow.state;
                let resp = ctx
                    .request(
                        &s.sn.clone(),
                        Request::SignOn {
                            terminal_no: s.terminal_no.clone(),
                            merchant_no: s.merchant_no.clone(),
                        },
                    )
                    .await?;
                let Response::SignedOn { test_txn_ref } = resp else {
                    return Err(Error::Session(
                        crate::session::SessionError::UnexpectedResponse,
                    ));
                };
                flow.state.test_txn_ref = Some(test_txn_ref);
                flow.enter(ctx, "confirm", 0.85, "confirming with the acquirer", true)?;
            }
            "confirm" => {
                let s = flow.state.clone();
                let app = s.application_id.clone().unwrap_or_default();
                let test_ref = s.test_txn_ref.clone().unwrap_or_default();
                ctx.gateway.confirm_activation(&app, &test_ref).await?;
                let info = info(ctx, &s.sn).await?;
                if info.lifecycle != Lifecycle::Activated {
                    return Err(Error::NotActivated {
                        sn: s.sn.clone(),
                        state: info.lifecycle.name().into(),
                    });
                }
                update_row(ctx, &info, Some(ctx.clock.now_ms()))?;
                let slots: Vec<KeySlotProof> = info
                    .key_slots
                    .iter()
                    .map(|k| KeySlotProof {
                        slot: k.slot,
                        kind: format!("{:?}", k.kind),
                        kcv: k.kcv.iter().map(|b| format!("{b:02X}")).collect(),
                    })
                    .collect();
                ctx.audit(
                    "activate",
                    Some(&s.sn),
                    inputs(&s),
                    "ok",
                    json!({ "application_id": app, "test_txn_ref": test_ref, "key_slots": slots }),
                )?;
                flow.finish(ctx, FlowStatus::Done, None)?;
                return Ok(ActivationOutcome::Activated {
                    flow_id: flow.row.id.clone(),
                    sn: s.sn,
                    terminal_no: s.terminal_no,
                    merchant_no: s.merchant_no,
                    test_txn_ref: test_ref,
                    key_slots: slots,
                });
            }
            "done" => {
                return Err(Error::FlowNotFound {
                    id: flow.row.id.clone(),
                })
            }
            other => return Err(unknown_step("activation", other)),
        }
    }
}

/// Acts on the acquirer's answer; returns an outcome when the flow stops here.
fn on_status(
    ctx: &Ctx<'_>,
    flow: &mut Flow<State>,
    status: ActivationStatus,
    bundle: &mut Option<Vec<u8>>,
) -> Result<Option<ActivationOutcome>> {
    if flow.state.application_id.is_none() {
        flow.state.application_id = Some(status.application_id.clone());
        mark_activating(ctx, &flow.state.sn)?;
        ctx.audit(
            "activation-submitted",
            Some(&flow.state.sn),
            inputs(&flow.state),
            "ok",
            json!({ "application_id": status.application_id }),
        )?;
    }
    match status.state {
        ActivationState::Pending { retry_after_ms } => {
            flow.row.step = "await-review".into();
            flow.finish(ctx, FlowStatus::Paused, None)?;
            flow.report(ctx, 0.3, "the acquirer is reviewing the activation");
            Ok(Some(ActivationOutcome::Pending {
                flow_id: flow.row.id.clone(),
                application_id: status.application_id,
                retry_after_ms,
            }))
        }
        ActivationState::Rejected {
            reason_code,
            reason,
        } => Err(Error::ActivationRejected {
            reason_code,
            reason,
        }),
        ActivationState::Approved { bundle: b, kcvs } => {
            flow.state.issued = kcvs.iter().map(|(s, _, k)| (*s, *k)).collect();
            *bundle = Some(b);
            flow.enter(
                ctx,
                "install-keys",
                0.5,
                "installing the keys on the terminal",
                true,
            )?;
            Ok(None)
        }
        ActivationState::Confirmed => {
            flow.enter(ctx, "confirm", 0.85, "confirming", true)?;
            Ok(None)
        }
    }
}

fn mark_activating(ctx: &Ctx<'_>, sn: &str) -> Result<()> {
    ctx.store.write(|tx| {
        if let Some(mut row) = tx.terminal(sn)? {
            row.state = TerminalState::Activating;
            tx.upsert_terminal(&row)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Refreshes the phone's row from the terminal's own report.
fn update_row(ctx: &Ctx<'_>, info: &Info, activated_at: Option<u64>) -> Result<()> {
    let now = ctx.clock.now_ms();
    ctx.store.write(|tx| {
        let Some(mut row) = tx.terminal(&info.sn)? else {
            return Ok(());
        };
        let unchanged = row.model == info.model
            && row.firmware == info.firmware
            && row.device_key == info.device_key;
        if unchanged && activated_at.is_none() {
            return Ok(());
        }
        row.model = info.model.clone();
        row.firmware = info.firmware.clone();
        row.device_key = info.device_key;
        if let Some(at) = activated_at {
            row.state = TerminalState::Activated;
            row.merchant_no = info.merchant_no.clone();
            row.terminal_no = info.terminal_no.clone();
            row.activated_at_ms = Some(at);
        }
        row.updated_at_ms = now;
        tx.upsert_terminal(&row)
    })?;
    Ok(())
}

/// A terminal row for a freshly paired terminal.
pub(crate) fn paired_row(info: &Info, peripheral_id: &str, now: u64) -> TerminalRow {
    TerminalRow {
        sn: info.sn.clone(),
        peripheral_id: Some(peripheral_id.into()),
        model: info.model.clone(),
        firmware: info.firmware.clone(),
        device_key: info.device_key,
        state: match info.lifecycle {
            Lifecycle::Activated => TerminalState::Activated,
            Lifecycle::Suspended => TerminalState::Suspended,
            _ => TerminalState::Paired,
        },
        merchant_no: info.merchant_no.clone(),
        terminal_no: info.terminal_no.clone(),
        activated_at_ms: None,
        replaced_by: None,
        updated_at_ms: now,
    }
}
