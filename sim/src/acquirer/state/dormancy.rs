//! Dormancy: a terminal that stops trading goes dormant, trades the payment network
//! reports keep an active one awake, and a merchant's request to reopen a dormant one is
//! reviewed for a while and then granted.

use posmate_acquirer_api::{AcquirerError, ReopenState, ReopenStatus};

use super::books::State;
use super::checks::invalid;
use super::records::AppState;

/// How long a request to reopen a dormant terminal is under review.
pub const REOPEN_REVIEW_MS: u64 = 2 * 3_600_000;

impl State {
    /// Grants the reopenings whose review has ended.
    pub fn settle_reopenings(&mut self) {
        let now = self.now_ms;
        for app in self.applications.values_mut() {
            if let Some(asked) = app.reopen_requested_at_ms {
                if now >= asked + REOPEN_REVIEW_MS {
                    app.reopen_requested_at_ms = None;
                    app.reopened_at_ms = Some(asked + REOPEN_REVIEW_MS);
                }
            }
        }
    }

    pub fn reopen(&mut self, merchant_no: &str, sn: &str) -> Result<ReopenStatus, AcquirerError> {
        let now = self.now_ms;
        let app = self.held_by(merchant_no, sn)?;
        if !matches!(app.state, AppState::Confirmed { .. }) {
            return Err(invalid(
                "sn",
                "the terminal's activation is not complete; finish activating it",
            ));
        }
        if !app.dormant(now) {
            return Ok(ReopenStatus {
                state: ReopenState::Approved,
            });
        }
        let id = self.terminals[sn].current.clone().expect("held");
        let app = self.applications.get_mut(&id).expect("exists");
        let asked = *app.reopen_requested_at_ms.get_or_insert(now);
        Ok(ReopenStatus {
            state: ReopenState::Pending {
                retry_after_ms: (asked + REOPEN_REVIEW_MS).saturating_sub(now).max(1),
            },
        })
    }

    /// Counts a trade the payment network reports, as the books stand (nothing settled).
    /// It counts only while the terminal is active: a dormant terminal's trades are
    /// declined by the network and do not revive it.
    pub fn count_trade(&mut self, sn: &str, at_ms: u64) {
        let Some(id) = self.terminals.get(sn).and_then(|t| t.current.clone()) else {
            return;
        };
        let app = self.applications.get_mut(&id).expect("exists");
        if app.dormant_after_ms().is_some_and(|t| at_ms < t) {
            app.last_trade_at_ms = Some(app.last_trade_at_ms.unwrap_or(0).max(at_ms));
        }
    }
}
