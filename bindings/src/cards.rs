//! The merchant's cards: binding one (read on the terminal or typed in), unbinding, and
//! the cards as this phone and as the acquirer have them.

use std::sync::Arc;

use posmate_core::acquirer as acq;
use posmate_core::flows as core_flows;
use posmate_core::store as st;
use zeroize::Zeroizing;

use crate::companion::PosmateCompanion;
use crate::error::PosmateError;
use crate::handles::FlowControl;

#[uniffi::export]
impl PosmateCompanion {
    /// Binds a card (read on the terminal, or typed in) to the merchant.
    #[uniffi::method(default(control = None))]
    pub async fn bind_card(
        &self,
        input: BindInput,
        control: Option<Arc<FlowControl>>,
    ) -> Result<Card, PosmateError> {
        self.flow(control, move |c, ctl| async move {
            Ok(c.bind_card(input.into(), &ctl).await?.into())
        })
        .await
    }

    #[uniffi::method(default(control = None))]
    pub async fn unbind_card(
        &self,
        merchant_no: String,
        binding_id: String,
        control: Option<Arc<FlowControl>>,
    ) -> Result<(), PosmateError> {
        self.flow(control, move |c, ctl| async move {
            c.unbind_card(&merchant_no, &binding_id, &ctl).await
        })
        .await
    }

    /// The merchant's cards as this phone keeps them.
    pub fn cards(&self, merchant_no: String) -> Result<Vec<Card>, PosmateError> {
        self.read(|c| Ok(c.cards(&merchant_no)?.into_iter().map(Into::into).collect()))
    }

    /// The merchant's cards as the acquirer has them.
    pub async fn acquirer_cards(
        &self,
        merchant_no: String,
    ) -> Result<Vec<AcquirerCard>, PosmateError> {
        self.call(move |c| async move {
            Ok(c.acquirer_cards(&merchant_no)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }
}

/// What a bound card is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CardPurpose {
    /// Where the takings are paid (one per merchant; a new one replaces the old).
    Settlement,
    /// One of the merchant's own credit cards.
    Credit,
}

impl From<CardPurpose> for acq::CardPurposeKind {
    fn from(p: CardPurpose) -> Self {
        match p {
            CardPurpose::Settlement => acq::CardPurposeKind::Settlement,
            CardPurpose::Credit => acq::CardPurposeKind::Credit,
        }
    }
}

impl From<acq::CardPurposeKind> for CardPurpose {
    fn from(p: acq::CardPurposeKind) -> Self {
        match p {
            acq::CardPurposeKind::Settlement => CardPurpose::Settlement,
            acq::CardPurposeKind::Credit => CardPurpose::Credit,
        }
    }
}

/// Where the card's number comes from.
#[derive(Clone, uniffi::Enum)]
pub enum CardSource {
    /// Read on this terminal (tap, insert, swipe): the phone only ever sees it masked.
    Terminal { sn: String, timeout_ms: u32 },
    /// Typed in by the merchant; wiped from memory after use.
    Manual { pan: String, expiry: String },
}

#[derive(Clone, uniffi::Record)]
pub struct BindInput {
    pub merchant_no: String,
    pub purpose: CardPurpose,
    pub holder_name: String,
    pub source: CardSource,
}

impl From<BindInput> for core_flows::BindInput {
    fn from(b: BindInput) -> Self {
        core_flows::BindInput {
            merchant_no: b.merchant_no,
            purpose: b.purpose.into(),
            holder_name: b.holder_name,
            source: match b.source {
                CardSource::Terminal { sn, timeout_ms } => {
                    core_flows::CardSourceInput::Terminal { sn, timeout_ms }
                }
                CardSource::Manual { pan, expiry } => core_flows::CardSourceInput::Manual {
                    pan: Zeroizing::new(pan),
                    expiry,
                },
            },
        }
    }
}

/// A card bound to the merchant, as this phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Card {
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurpose,
    /// First 6 and last 4 digits at most.
    pub masked_pan: String,
    pub issuer: String,
    pub holder_name: String,
    /// `terminal` or `manual`.
    pub source: String,
    pub bound_at_ms: u64,
}

impl From<st::CardRow> for Card {
    fn from(c: st::CardRow) -> Self {
        Card {
            binding_id: c.binding_id,
            merchant_no: c.merchant_no,
            purpose: c.purpose.into(),
            masked_pan: c.masked_pan.as_str().into(),
            issuer: c.issuer,
            holder_name: c.holder_name,
            source: c.source,
            bound_at_ms: c.bound_at_ms,
        }
    }
}

/// A card as the acquirer has it bound.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AcquirerCard {
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurpose,
    pub masked_pan: String,
    pub issuer: Option<String>,
    pub holder_name: String,
    pub bound_at_ms: u64,
    pub replaced: Option<String>,
}

impl From<acq::CardBinding> for AcquirerCard {
    fn from(c: acq::CardBinding) -> Self {
        AcquirerCard {
            binding_id: c.binding_id,
            merchant_no: c.merchant_no,
            purpose: c.purpose.into(),
            masked_pan: c.masked_pan,
            issuer: c.issuer,
            holder_name: c.holder_name,
            bound_at_ms: c.bound_at_ms,
            replaced: c.replaced,
        }
    }
}
