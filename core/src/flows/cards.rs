//! Settlement and credit cards: bind (read on the terminal, or typed in) and unbind.
//!
//! Persisted steps of a bind: `read-card` (terminal) → `submit` (acquirer, idempotency key
//! saved first) → `record`. A typed card number is never persisted: a bind of a typed card
//! killed before `submit` cannot resume and is cancelled; one killed after it resumes from
//! the acquirer's answer. Rules (checked here, enforced again by the acquirer): one
//! settlement card per merchant (a new one replaces the old); the settlement card of a
//! merchant with an active terminal can only be replaced; no unbind while a terminal's
//! open batch holds unsettled takings.

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use posmate_proto::message::{CardPurpose, Request, Response};
use posmate_proto::pan::{issuer_for, MaskedPan};

use super::context::{is_interruption, request_id, unknown_step, Ctx, Flow};
use super::records::sync_to_head;
use super::settlement::ensure_batch_settled;
use super::FlowKind;
use crate::acquirer::{AcquirerError, BindCardRequest, CardPurposeKind, CardSource};
use crate::cards::{validate_expiry, CardInputError, ManualPan};
use crate::error::{Error, Result};
use crate::session::SessionError;
use crate::store::{CardRow, FlowStatus, TerminalState};

/// Where the card comes from.
#[derive(Clone)]
pub enum CardSourceInput {
    /// Read on this terminal (tap, insert or swipe); the phone gets a masked PAN and token.
    Terminal { sn: String, timeout_ms: u32 },
    /// Typed by the merchant.
    Manual {
        pan: Zeroizing<String>,
        expiry: String,
    },
}

#[derive(Clone)]
pub struct BindInput {
    pub merchant_no: String,
    pub purpose: CardPurposeKind,
    pub holder_name: String,
    pub source: CardSourceInput,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    request_id: String,
    merchant_no: String,
    purpose: CardPurposeKind,
    holder_name: String,
    /// "terminal" or "manual".
    source: String,
    sn: Option<String>,
    masked_pan: Option<String>,
    token: Option<String>,
    issuer: Option<String>,
}

/// Binds a card; returns the stored card.
pub(crate) async fn bind(ctx: &Ctx<'_>, input: BindInput) -> Result<CardRow> {
    if input.holder_name.trim().is_empty() {
        return Err(CardInputError::HolderName.into());
    }
    super::activation::validate_merchant_no(&input.merchant_no)?;
    // Validate a typed card before anything is persisted.
    let manual = match &input.source {
        CardSourceInput::Manual { pan, expiry } => {
            validate_expiry(expiry)?;
            Some((ManualPan::parse(pan)?, expiry.clone()))
        }
        CardSourceInput::Terminal { sn, .. } => {
            let row = ctx
                .store
                .read(|tx| tx.terminal(sn))?
                .ok_or_else(|| Error::UnknownTerminal { sn: sn.clone() })?;
            if row.state != TerminalState::Activated {
                return Err(Error::NotActivated {
                    sn: sn.clone(),
                    state: row.state.as_str().into(),
                });
            }
            None
        }
    };
    let state = State {
        request_id: request_id(),
        merchant_no: input.merchant_no.clone(),
        purpose: input.purpose,
        holder_name: input.holder_name.trim().to_owned(),
        source: if manual.is_some() {
            "manual"
        } else {
            "terminal"
        }
        .into(),
        sn: match &input.source {
            CardSourceInput::Terminal { sn, .. } => Some(sn.clone()),
            CardSourceInput::Manual { .. } => None,
        },
        masked_pan: manual.as_ref().map(|(p, _)| p.masked().as_str().to_owned()),
        token: None,
        issuer: manual
            .as_ref()
            .and_then(|(p, _)| p.issuer())
            .map(|i| i.display()),
    };
    let sn = state.sn.clone();
    let mut flow = Flow::create(ctx, FlowKind::CardBind, sn.as_deref(), state)?;
    let timeout = match &input.source {
        CardSourceInput::Terminal { timeout_ms, .. } => *timeout_ms,
        CardSourceInput::Manual { .. } => 0,
    };
    match bind_steps(ctx, &mut flow, manual.as_ref(), timeout).await {
        Ok(card) => Ok(card),
        Err(e) if is_interruption(&e) && flow.state.source == "terminal" => Err(e),
        Err(e) if is_interruption(&e) && flow.step() != "submit" => Err(e),
        Err(Error::Cancelled) => Err(Error::Cancelled),
        Err(e) => {
            let _ = ctx.audit(
                "card-bind",
                None,
                bind_inputs(&flow.state),
                "failed",
                json!({ "code": e.code(), "error": e.to_string() }),
            );
            Err(flow.fail(ctx, e))
        }
    }
}

fn bind_inputs(s: &State) -> serde_json::Value {
    json!({
        "merchant_no": s.merchant_no,
        "purpose": s.purpose,
        "holder_name": s.holder_name,
        "source": s.source,
        "masked_pan": s.masked_pan,
    })
}

/// Resumes a bind from a fresh start of the app (a typed card needs typing again).
pub(crate) async fn resume_bind(ctx: &Ctx<'_>, row: crate::store::FlowRow) -> Result<CardRow> {
    let mut flow: Flow<State> = Flow::load(row)?;
    if flow.state.source == "manual" && flow.step() != "record" {
        // The acquirer may have the request already: ask it by the same idempotency key
        // is impossible without the number, so the bind is cancelled; binding again is safe
        // (the acquirer replaces a settlement card, and a duplicate credit card is listed).
        flow.finish(
            ctx,
            FlowStatus::Cancelled,
            Some("the typed card number is not kept; bind the card again".into()),
        )?;
        return Err(Error::NeedsInput {
            what: "the card number (typed cards are never stored)",
        });
    }
    bind_steps(ctx, &mut flow, None, 30_000).await
}

/// Moves to `submit`, the step after the card is known (read on the terminal or typed in).
fn enter_submit(ctx: &Ctx<'_>, flow: &mut Flow<State>) -> Result<()> {
    flow.enter(
        ctx,
        "submit",
        0.4,
        "asking the acquirer to bind the card",
        false,
    )
}

async fn bind_steps(
    ctx: &Ctx<'_>,
    flow: &mut Flow<State>,
    manual: Option<&(ManualPan, String)>,
    timeout_ms: u32,
) -> Result<CardRow> {
    loop {
        match flow.step() {
            "start" | "read-card" if flow.state.source == "terminal" => {
                flow.enter(
                    ctx,
                    "read-card",
                    0.1,
                    "present the card to the terminal",
                    false,
                )?;
                let sn = flow.state.sn.clone().unwrap_or_default();
                let purpose = match flow.state.purpose {
                    CardPurposeKind::Settlement => CardPurpose::Settlement,
                    CardPurposeKind::Credit => CardPurpose::Credit,
                };
                let session = ctx.link.session(&sn).await?;
                let resp = session
                    .request_with_timeout(
                        Request::ReadCard {
                            purpose,
                            timeout_ms,
                        },
                        std::time::Duration::from_millis(u64::from(timeout_ms) + 15_000),
                    )
                    .await
                    .map_err(Error::from_session)?;
                let Response::CardRead {
                    masked_pan, token, ..
                } = resp
                else {
                    return Err(Error::Session(SessionError::UnexpectedResponse));
                };
                flow.state.issuer = None;
                flow.state.masked_pan = Some(masked_pan.as_str().to_owned());
                flow.state.token = Some(token);
                enter_submit(ctx, flow)?;
            }
            "start" => enter_submit(ctx, flow)?,
            "submit" => {
                let s = flow.state.clone();
                let source = match (&s.token, manual) {
                    (Some(token), _) => CardSource::Token {
                        token: token.clone(),
                        masked_pan: s.masked_pan.clone().unwrap_or_default(),
                    },
                    (None, Some((pan, expiry))) => CardSource::Manual {
                        pan: Zeroizing::new(pan.expose().to_owned()),
                        expiry: expiry.clone(),
                    },
                    (None, None) => {
                        return Err(Error::NeedsInput {
                            what: "the card (read it again)",
                        })
                    }
                };
                let req = BindCardRequest {
                    request_id: s.request_id.clone(),
                    merchant_no: s.merchant_no.clone(),
                    purpose: s.purpose,
                    holder_name: s.holder_name.clone(),
                    source,
                };
                let binding = ctx.gateway.bind_card(&req).await?;
                drop(req);
                let masked =
                    MaskedPan::parse(&binding.masked_pan).map_err(|e| Error::InvalidInput {
                        field: "masked PAN from the acquirer",
                        reason: e.to_string(),
                    })?;
                let issuer = binding
                    .issuer
                    .clone()
                    .or(s.issuer.clone())
                    .or_else(|| issuer_for(masked.as_str()).map(|i| i.display()))
                    .unwrap_or_default();
                let card = CardRow {
                    binding_id: binding.binding_id.clone(),
                    merchant_no: s.merchant_no.clone(),
                    purpose: s.purpose,
                    masked_pan: masked,
                    issuer,
                    holder_name: s.holder_name.clone(),
                    source: s.source.clone(),
                    bound_at_ms: binding.bound_at_ms,
                };
                ctx.store.write(|tx| {
                    if let Some(old) = &binding.replaced {
                        tx.delete_card(old)?;
                    }
                    tx.upsert_card(&card)
                })?;
                ctx.audit(
                    "card-bind",
                    None,
                    bind_inputs(&s),
                    "ok",
                    json!({ "binding_id": card.binding_id, "replaced": binding.replaced, "issuer": card.issuer }),
                )?;
                flow.finish(ctx, FlowStatus::Done, None)?;
                return Ok(card);
            }
            other => return Err(unknown_step("card-bind", other)),
        }
    }
}

/// Unbinds a card after checking the rules; `reachable_sns` are the merchant's activated
/// terminals whose open batch must be empty.
pub(crate) async fn unbind(ctx: &Ctx<'_>, merchant_no: &str, binding_id: &str) -> Result<()> {
    let cards = ctx.store.read(|tx| tx.cards(merchant_no))?;
    let card = cards
        .iter()
        .find(|c| c.binding_id == binding_id)
        .cloned()
        .ok_or_else(|| Error::CardNotFound {
            binding_id: binding_id.into(),
        })?;
    let terminals: Vec<_> = ctx
        .store
        .read(|tx| tx.terminals())?
        .into_iter()
        .filter(|t| t.merchant_no.as_deref() == Some(merchant_no))
        .filter(|t| matches!(t.state, TerminalState::Activated | TerminalState::Suspended))
        .collect();
    if card.purpose == CardPurposeKind::Settlement && !terminals.is_empty() {
        return Err(AcquirerError::SettlementCardRequired.into());
    }
    // No unbind while takings are unsettled: check every active terminal's open batch.
    for t in &terminals {
        let info = sync_to_head(ctx, &t.sn, Some(merchant_no), |_| true).await?;
        ensure_batch_settled(ctx, &t.sn, &info)?;
    }
    let mut flow = Flow::create(
        ctx,
        FlowKind::CardUnbind,
        None,
        json!({ "merchant_no": merchant_no, "binding_id": binding_id }),
    )?;
    flow.enter(
        ctx,
        "submit",
        0.3,
        "asking the acquirer to unbind the card",
        false,
    )?;
    finish_unbind(ctx, &mut flow, merchant_no, binding_id).await
}

/// Finishes an unbind whose flow was persisted before the app stopped.
pub(crate) async fn resume_unbind(
    ctx: &Ctx<'_>,
    row: crate::store::FlowRow,
    merchant_no: &str,
    binding_id: &str,
) -> Result<()> {
    let mut flow: Flow<serde_json::Value> = Flow::load(row)?;
    finish_unbind(ctx, &mut flow, merchant_no, binding_id).await
}

async fn finish_unbind(
    ctx: &Ctx<'_>,
    flow: &mut Flow<serde_json::Value>,
    merchant_no: &str,
    binding_id: &str,
) -> Result<()> {
    let card = ctx
        .store
        .read(|tx| tx.cards(merchant_no))?
        .into_iter()
        .find(|c| c.binding_id == binding_id);
    match ctx.gateway.unbind_card(merchant_no, binding_id).await {
        Ok(()) | Err(AcquirerError::NotFound { .. }) => {}
        Err(e) => {
            let e = Error::from(e);
            if is_interruption(&e) {
                return Err(e);
            }
            return Err(flow.fail(ctx, e));
        }
    }
    ctx.store.write(|tx| tx.delete_card(binding_id))?;
    ctx.audit(
        "card-unbind",
        None,
        json!({
            "merchant_no": merchant_no,
            "binding_id": binding_id,
            "masked_pan": card.as_ref().map(|c| c.masked_pan.as_str().to_owned()),
            "purpose": card.as_ref().map(|c| c.purpose),
        }),
        "ok",
        json!({}),
    )?;
    flow.finish(ctx, FlowStatus::Done, None)?;
    Ok(())
}
