//! The back office's side of activation reviews: the applications waiting for a decision,
//! and a person's decision on one. Time-decided reviews are settled first, so the list
//! never shows an application the clock has already approved.

use posmate_acquirer_api::AcquirerError;

use super::books::State;
use super::checks::invalid;
use super::records::AppState;
use crate::acquirer::review::{Decision, PendingReview};

impl State {
    /// Every application under review, oldest first (ids are issued in order).
    pub fn pending_reviews(&mut self) -> Vec<PendingReview> {
        self.settle();
        self.applications
            .iter()
            .filter(|(_, a)| matches!(a.state, AppState::Pending))
            .map(|(id, a)| PendingReview {
                application_id: id.clone(),
                sn: a.sn.clone(),
                merchant_no: a.merchant_no.clone(),
                terminal_no: a.terminal_no.clone(),
                submitted_at_ms: a.submitted_at_ms,
            })
            .collect()
    }

    /// Decides application `id`, which must still be under review: a decision is taken
    /// once, so approving twice cannot issue a second set of keys.
    pub fn decide(&mut self, id: &str, decision: Decision) -> Result<(), AcquirerError> {
        self.settle();
        let app = self.application_mut(id)?;
        if !matches!(app.state, AppState::Pending) {
            return Err(invalid(
                "application_id",
                "the application is no longer under review",
            ));
        }
        match decision {
            Decision::Approve => self.approve(id),
            Decision::Reject {
                reason_code,
                reason,
            } => self.reject(id, reason_code, reason),
        }
        Ok(())
    }
}
