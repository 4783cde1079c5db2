//! Card bindings: a merchant's settlement card (debit, one at a time, replaced by the next)
//! and credit cards (a few at most), bound from a terminal's card token or a typed number
//! held in the merchant's name, and unbound unless trading still needs the settlement card.

use posmate_acquirer_api::{
    AcquirerError, ApiRequest, BindCardRequest, CardBinding, CardPurposeKind, CardSource,
};
use proto::pan::MaskedPan;

use super::books::{Done, State};
use super::checks::{check, check_text, invalid};
use super::records::AppState;
use crate::acquirer::cards::{self, Funding};

/// Credit cards one merchant may bind.
pub const MAX_CREDIT_CARDS: usize = 5;

impl State {
    pub fn bind_card(&mut self, req: &BindCardRequest) -> Result<CardBinding, AcquirerError> {
        let print = self.fingerprint(&ApiRequest::BindCard(req.clone()));
        if let Some(Done::Binding(b)) = self.replay(&req.request_id, &print)? {
            return Ok(b.clone());
        }
        let merchant = self.merchant(&req.merchant_no)?;
        check(
            !req.holder_name.trim().is_empty(),
            "holder_name",
            "the name on the card is required",
        )?;
        if !cards::same_name(&req.holder_name, &merchant.legal_name) {
            return Err(AcquirerError::NameMismatch);
        }
        let (masked_pan, issuer) = match &req.source {
            CardSource::Token { token, masked_pan } => {
                check_text(
                    token,
                    16..=64,
                    u8::is_ascii_hexdigit,
                    "token",
                    "not a card token from a terminal",
                )?;
                let masked = MaskedPan::parse(masked_pan)
                    .map_err(|e| invalid("masked_pan", e.to_string()))?;
                let issuer = cards::bin(masked.as_str()).map(|(name, _)| name.to_owned());
                (masked, issuer)
            }
            CardSource::Manual { pan, expiry } => {
                cards::check_pan(pan)?;
                cards::check_expiry(expiry, self.now_ms)?;
                let masked = MaskedPan::mask(pan).map_err(|e| invalid("pan", e.to_string()))?;
                // The issuer of a typed card is for the phone to look up.
                (masked, None)
            }
        };
        // The BIN (first six digits) shows in the masked number too.
        let funding = cards::bin(masked_pan.as_str()).map(|(_, f)| f);
        if req.purpose == CardPurposeKind::Settlement && funding == Some(Funding::Credit) {
            return Err(AcquirerError::CardRefused {
                reason: "a settlement card must be a debit card".into(),
            });
        }
        if let Some(same) = merchant
            .cards
            .iter()
            .find(|c| c.purpose == req.purpose && c.masked_pan == masked_pan.as_str())
        {
            // Already bound for this purpose: nothing new to do.
            let same = same.clone();
            self.remember(&req.request_id, print, Done::Binding(same.clone()));
            return Ok(same);
        }
        let credit_cards = merchant
            .cards
            .iter()
            .filter(|c| c.purpose == CardPurposeKind::Credit)
            .count();
        if req.purpose == CardPurposeKind::Credit && credit_cards >= MAX_CREDIT_CARDS {
            return Err(AcquirerError::CardRefused {
                reason: format!("a merchant may bind at most {MAX_CREDIT_CARDS} credit cards"),
            });
        }
        let binding_id = format!("BND-{:08}", self.next_binding);
        self.next_binding += 1;
        let merchant = self
            .merchants
            .get_mut(&req.merchant_no)
            .expect("checked above");
        let replaced = if req.purpose == CardPurposeKind::Settlement {
            let old = merchant
                .cards
                .iter()
                .position(|c| c.purpose == CardPurposeKind::Settlement);
            old.map(|i| merchant.cards.remove(i).binding_id)
        } else {
            None
        };
        let binding = CardBinding {
            binding_id,
            merchant_no: req.merchant_no.clone(),
            purpose: req.purpose,
            masked_pan: masked_pan.to_string(),
            issuer,
            holder_name: req.holder_name.clone(),
            bound_at_ms: self.now_ms,
            replaced,
        };
        if req.purpose == CardPurposeKind::Settlement {
            merchant.cards.insert(0, binding.clone());
        } else {
            merchant.cards.push(binding.clone());
        }
        self.remember(&req.request_id, print, Done::Binding(binding.clone()));
        Ok(binding)
    }

    /// Whether the merchant has a terminal activated (active or dormant) with the acquirer.
    fn has_active_terminal(&self, merchant_no: &str) -> bool {
        self.terminals.values().any(|t| {
            t.current.as_ref().is_some_and(|id| {
                let app = &self.applications[id];
                app.merchant_no == merchant_no && matches!(app.state, AppState::Confirmed { .. })
            })
        })
    }

    pub fn unbind_card(
        &mut self,
        merchant_no: &str,
        binding_id: &str,
    ) -> Result<(), AcquirerError> {
        let merchant = self.merchant(merchant_no)?;
        let i = merchant
            .cards
            .iter()
            .position(|c| c.binding_id == binding_id)
            .ok_or_else(|| AcquirerError::NotFound {
                what: format!("card binding {binding_id}"),
            })?;
        if merchant.cards[i].purpose == CardPurposeKind::Settlement
            && self.has_active_terminal(merchant_no)
        {
            return Err(AcquirerError::SettlementCardRequired);
        }
        self.merchants
            .get_mut(merchant_no)
            .expect("checked above")
            .cards
            .remove(i);
        Ok(())
    }
}
