//! `posmate cards`: the merchant's settlement and credit cards — list, bind (read on the
//! terminal, or typed in) and unbind. Only masked numbers (first 6, last 4) ever reach the
//! phone; a typed number is read without echo or from stdin, never from the command line.

use std::time::Duration;

use posmate_core::acquirer::{CardBinding, CardPurposeKind};
use posmate_core::companion::Companion;
use posmate_core::flows::{BindInput, CardSourceInput};
use posmate_core::store::CardRow;
use posmate_sim::terminal::Card;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{parse_duration, with_phone};
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::{list, Report};
use crate::phone;
use crate::prompt;
use posmate_sim_world::world;

/// List, bind and unbind the merchant's cards.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate cards list
  posmate cards list --acquirer                  what the acquirer has on file
  posmate cards bind --sn SN2026000001 --holder 'Zhang San Noodles'   read on the terminal
  posmate cards bind --manual --purpose credit --expiry 0330 --holder 'Zhang San Noodles'
  posmate cards unbind BND-00000002")]
pub enum Action {
    /// The merchant's cards, as this phone has them (or the acquirer, with --acquirer).
    #[command(
        after_help = "Examples:\n  posmate cards list\n  posmate --json cards list --acquirer"
    )]
    List {
        #[command(flatten)]
        merchant: MerchantArg,
        /// Ask the acquirer instead of reading this phone's copy.
        #[arg(long)]
        acquirer: bool,
    },
    /// Bind a card: read on a terminal (tap, insert, swipe), or typed in with --manual.
    #[command(after_help = "Examples:
  posmate cards bind --sn SN2026000001 --holder 'Zhang San Noodles'
  posmate cards bind --manual --expiry 0330 --holder 'Zhang San Noodles'   asks for the number
  printf '%s\\n' \"$PAN\" | posmate cards bind --manual --expiry 0330 --holder …

With --sim the merchant's debit card (622202******0128) is tapped on the simulated
terminal when it asks (--sim-card chooses another); with --connect-sim, hold one to
it with `posmate sim present-card`. A typed number is read without echo, or as one
line of stdin; never from the command line.")]
    Bind {
        #[command(flatten)]
        merchant: MerchantArg,
        /// What the card is for: the one settlement card (a debit card; a new one
        /// replaces the old) or a credit card.
        #[arg(long, value_enum, default_value_t = Purpose::Settlement)]
        purpose: Purpose,
        /// The name on the card (the merchant's registered name).
        #[arg(long, value_name = "NAME")]
        holder: String,
        /// Read the card on this terminal.
        #[arg(
            long,
            value_name = "SN",
            required_unless_present = "manual",
            conflicts_with = "manual"
        )]
        sn: Option<String>,
        /// Type the card number instead (asked for; never an argument).
        #[arg(long, requires = "expiry")]
        manual: bool,
        /// The typed card's expiry, MMYY.
        #[arg(long, value_name = "MMYY")]
        expiry: Option<String>,
        /// How long the terminal waits for the card.
        #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
        timeout: Duration,
        /// With --sim: the card number the simulated merchant taps.
        #[arg(long, value_name = "PAN", hide = true)]
        sim_card: Option<String>,
    },
    /// Unbind a card by its binding id (from `cards list`).
    #[command(after_help = "Examples:\n  posmate cards unbind BND-00000002")]
    Unbind {
        /// The acquirer's binding id, e.g. BND-00000002.
        binding_id: String,
        #[command(flatten)]
        merchant: MerchantArg,
    },
}

#[derive(Debug, clap::Args)]
pub struct MerchantArg {
    /// The merchant (15 digits) [default: the merchant of this phone's activated terminals].
    #[arg(long, value_name = "NO")]
    pub merchant_no: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Purpose {
    Settlement,
    Credit,
}

impl From<Purpose> for CardPurposeKind {
    fn from(p: Purpose) -> Self {
        match p {
            Purpose::Settlement => CardPurposeKind::Settlement,
            Purpose::Credit => CardPurposeKind::Credit,
        }
    }
}

/// A card in reports, from the phone's store or the acquirer's list.
#[derive(Debug, Serialize)]
pub struct CardView {
    pub binding_id: String,
    pub merchant_no: String,
    pub purpose: CardPurposeKind,
    pub masked_pan: String,
    pub issuer: Option<String>,
    pub holder_name: String,
    /// "terminal" or "manual" (the phone's record); null in the acquirer's list.
    pub source: Option<String>,
    pub bound_at_ms: u64,
}

impl From<CardRow> for CardView {
    fn from(c: CardRow) -> Self {
        CardView {
            binding_id: c.binding_id,
            merchant_no: c.merchant_no,
            purpose: c.purpose,
            masked_pan: c.masked_pan.as_str().to_owned(),
            issuer: Some(c.issuer).filter(|i| !i.is_empty()),
            holder_name: c.holder_name,
            source: Some(c.source),
            bound_at_ms: c.bound_at_ms,
        }
    }
}

impl From<CardBinding> for CardView {
    fn from(c: CardBinding) -> Self {
        CardView {
            binding_id: c.binding_id,
            merchant_no: c.merchant_no,
            purpose: c.purpose,
            masked_pan: c.masked_pan,
            issuer: c.issuer,
            holder_name: c.holder_name,
            source: None,
            bound_at_ms: c.bound_at_ms,
        }
    }
}

impl CardView {
    fn row(&self) -> Vec<String> {
        vec![
            self.binding_id.clone(),
            self.purpose.as_str().to_owned(),
            self.masked_pan.clone(),
            self.issuer.clone().unwrap_or_else(|| "-".into()),
            self.holder_name.clone(),
            self.source.clone().unwrap_or_else(|| "-".into()),
            fmt::time(self.bound_at_ms),
        ]
    }
}

const HEADER: [&str; 7] = [
    "BINDING", "PURPOSE", "CARD", "ISSUER", "HOLDER", "READ", "BOUND",
];

#[derive(Debug, Serialize)]
pub struct ListReport {
    pub merchant_no: String,
    /// "phone" or "acquirer".
    pub from: &'static str,
    pub cards: Vec<CardView>,
}

impl Report for ListReport {
    fn human(&self) -> String {
        let none = format!("no cards bound for merchant {}", self.merchant_no);
        list(&self.cards, &none, &HEADER, CardView::row)
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct BindReport(pub CardView);

impl Report for BindReport {
    fn human(&self) -> String {
        format!(
            "bound {} card {} ({}) for merchant {} as {}\n",
            self.0.purpose.as_str(),
            self.0.masked_pan,
            self.0.issuer.as_deref().unwrap_or("issuer unknown"),
            self.0.merchant_no,
            self.0.binding_id
        )
    }
}

#[derive(Debug, Serialize)]
pub struct UnbindReport {
    pub merchant_no: String,
    pub unbound: String,
}

impl Report for UnbindReport {
    fn human(&self) -> String {
        format!(
            "unbound {} from merchant {}\n",
            self.unbound, self.merchant_no
        )
    }
}

/// The merchant number given, or the one every activated terminal of this phone shares.
pub fn merchant_of(phone: &Companion, given: Option<String>) -> Result<String, CliError> {
    if let Some(m) = given {
        return Ok(m);
    }
    let mut merchants: Vec<String> = phone
        .terminals()?
        .into_iter()
        .filter_map(|t| t.merchant_no)
        .collect();
    merchants.sort();
    merchants.dedup();
    match merchants.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CliError::usage(
            "no terminal of this phone is activated, so the merchant is not known",
        )
        .hint("pass --merchant-no")),
        _ => Err(CliError::usage(format!(
            "this phone's terminals belong to several merchants: {}",
            merchants.join(", ")
        ))
        .hint("pass --merchant-no")),
    }
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    with_phone(ctx, async |phone| act(ctx, phone, action).await).await
}

async fn act(ctx: &Ctx, phone: &Companion, action: Action) -> Result<Exit, CliError> {
    match action {
        Action::List { merchant, acquirer } => {
            let merchant_no = merchant_of(phone, merchant.merchant_no)?;
            let (from, cards) = if acquirer {
                let cards = phone.acquirer_cards(&merchant_no).await?;
                ("acquirer", cards.into_iter().map(CardView::from).collect())
            } else {
                let cards = phone.cards(&merchant_no)?;
                ("phone", cards.into_iter().map(CardView::from).collect())
            };
            ctx.out.report(&ListReport {
                merchant_no,
                from,
                cards,
            });
        }
        Action::Bind {
            merchant,
            purpose,
            holder,
            sn,
            manual: _,
            expiry,
            timeout,
            sim_card,
        } => {
            let merchant_no = merchant_of(phone, merchant.merchant_no)?;
            let source = match sn {
                Some(sn) => {
                    tap_simulated_card(ctx, &sn, sim_card).await?;
                    CardSourceInput::Terminal {
                        sn,
                        timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
                    }
                }
                None => {
                    let pan = prompt::secret("Card number: ", "card number")?;
                    CardSourceInput::Manual {
                        pan: Zeroizing::new(pan.replace([' ', '-'], "")),
                        expiry: expiry.unwrap_or_default(),
                    }
                }
            };
            let input = BindInput {
                merchant_no,
                purpose: purpose.into(),
                holder_name: holder,
                source,
            };
            let card = phone::run_flow(
                ctx,
                "card",
                |c| async move { phone.bind_card(input, &c).await },
            )
            .await?;
            ctx.out.report(&BindReport(card.into()));
        }
        Action::Unbind {
            binding_id,
            merchant,
        } => {
            let merchant_no = merchant_of(phone, merchant.merchant_no)?;
            let (m, b) = (merchant_no.clone(), binding_id.clone());
            phone::run_flow(ctx, "card", |c| async move {
                phone.unbind_card(&m, &b, &c).await
            })
            .await?;
            ctx.out.report(&UnbindReport {
                merchant_no,
                unbound: binding_id,
            });
        }
    }
    Ok(Exit::Ok)
}

/// In the embedded simulation nobody else can hold a card to the terminal: the simulated
/// merchant taps it now, and the terminal keeps it for its next card read.
async fn tap_simulated_card(ctx: &Ctx, sn: &str, pan: Option<String>) -> Result<(), CliError> {
    let link = ctx.link().await?;
    let Some(sim) = link.embedded() else {
        if pan.is_some() {
            return Err(super::needs_sim("--sim-card"));
        }
        ctx.out
            .note(&format!("present the card to terminal {sn} when it asks"));
        return Ok(());
    };
    if let Some((_, terminal, _)) = sim.find(sn) {
        let pan = pan.unwrap_or_else(|| world::SETTLEMENT_PAN.to_owned());
        terminal.present_card(
            terminal.link_now(),
            Card::tap(&pan, world::SETTLEMENT_EXPIRY),
        );
        ctx.out
            .note(&format!("the merchant taps a card on terminal {sn}"));
    }
    Ok(())
}
