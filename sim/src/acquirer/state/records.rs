//! The records the books keep: merchants, terminals and activation applications. Plain data
//! (with the one rule that is a record's own, when an activation goes dormant), so that
//! every part of the books can read them without depending on another part's logic.

use posmate_acquirer_api::{CardBinding, Deregistration, KeyCheck};
use serde::{Deserialize, Serialize};

use super::persist::kcvs;
use crate::acquirer::review::Review;

/// No trading (or activation, or reopening) for this long and a terminal goes dormant.
pub const DORMANT_AFTER_MS: u64 = 90 * 86_400_000;

#[derive(Serialize, Deserialize)]
pub(in crate::acquirer) struct Merchant {
    pub legal_name: String,
    pub review: Review,
    /// Settlement card first, then credit cards in binding order.
    pub cards: Vec<CardBinding>,
}

/// What the manufacturer's feed and the acquirer's own records say about one SN.
#[derive(Serialize, Deserialize)]
pub(in crate::acquirer) struct Terminal {
    pub device_key: [u8; 32],
    pub terminal_no: String,
    pub activation_code: String,
    pub wrong_codes: u32,
    /// The application holding the terminal (under review, approved or confirmed).
    pub current: Option<String>,
    /// Every deregistration, oldest first, with the merchant it was for.
    pub deregistrations: Vec<(String, Deregistration)>,
}

#[derive(Serialize, Deserialize)]
pub(super) enum AppState {
    Pending,
    Approved {
        bundle: Vec<u8>,
        #[serde(with = "kcvs")]
        kcvs: Vec<KeyCheck>,
    },
    Rejected {
        reason_code: String,
        reason: String,
    },
    Confirmed {
        at_ms: u64,
    },
    /// Deregistered: its bundle is never handed out again.
    Revoked,
}

#[derive(Serialize, Deserialize)]
pub(in crate::acquirer) struct Application {
    pub(super) sn: String,
    pub(super) merchant_no: String,
    pub(super) terminal_no: String,
    pub(super) submitted_at_ms: u64,
    pub(super) review: Review,
    pub(super) polls: u32,
    pub(super) state: AppState,
    pub(super) last_trade_at_ms: Option<u64>,
    pub(super) reopened_at_ms: Option<u64>,
    pub(super) reopen_requested_at_ms: Option<u64>,
}

impl Application {
    /// When this confirmed activation goes (or went) dormant.
    pub fn dormant_after_ms(&self) -> Option<u64> {
        let AppState::Confirmed { at_ms } = self.state else {
            return None;
        };
        let active = at_ms
            .max(self.last_trade_at_ms.unwrap_or(0))
            .max(self.reopened_at_ms.unwrap_or(0));
        Some(active + DORMANT_AFTER_MS)
    }

    pub fn dormant(&self, now_ms: u64) -> bool {
        self.dormant_after_ms().is_some_and(|t| now_ms >= t)
    }
}
