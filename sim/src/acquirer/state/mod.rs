//! The simulated acquirer's books and rules: merchants, the terminal registry, activation
//! applications and their keys, card bindings, dormancy and deregistrations.
//!
//! Every answer is decided here from the request and the books; the caller holds the lock.
//! Reviews and reopenings whose time has come are settled lazily, at the next call, in a
//! fixed order, so that a run is deterministic for a given seed and sequence of calls.
//!
//! This module is the entry point (settle, then dispatch); each concern has a submodule
//! of its own. They build on `books` (the state and its shared lookups), `records`,
//! `checks` and `persist`, which import none of them, and not on one another, except
//! `dormancy` on `terminals` (which terminal a merchant holds).
//!
//! The books' types are visible to the whole acquirer, whose front holds them under its
//! lock, so their methods are plain `pub` (reaching no further than the types); fields that
//! only the rules may touch are private to this module.

mod activation;
mod back_office;
mod books;
mod card_bindings;
mod checks;
mod dormancy;
mod persist;
mod records;
mod terminals;

use posmate_acquirer_api::{AcquirerError, AcquirerTerminalState, ApiRequest, ApiResponse};

pub use activation::{MAX_CODE_ATTEMPTS, POLL_INTERVAL_MS};
pub(super) use books::State;
pub use card_bindings::MAX_CREDIT_CARDS;
pub use dormancy::REOPEN_REVIEW_MS;
pub use records::DORMANT_AFTER_MS;
pub(super) use records::{Merchant, Terminal};
pub use terminals::RECORDS_RETAINED_YEARS;

/// The answer to a call that succeeds with nothing more to say.
fn done(result: Result<(), AcquirerError>) -> Result<ApiResponse, AcquirerError> {
    result.map(|()| ApiResponse::Done)
}

impl State {
    pub fn handle(&mut self, req: ApiRequest) -> Result<ApiResponse, AcquirerError> {
        self.settle();
        match req {
            ApiRequest::Activate(r) => self.activate(&r).map(ApiResponse::Activation),
            ApiRequest::ActivationStatus { application_id } => self
                .activation_status(&application_id)
                .map(ApiResponse::Activation),
            ApiRequest::ConfirmActivation {
                application_id,
                test_txn_ref,
            } => done(self.confirm(&application_id, &test_txn_ref)),
            ApiRequest::BindCard(r) => self.bind_card(&r).map(ApiResponse::CardBinding),
            ApiRequest::UnbindCard {
                merchant_no,
                binding_id,
            } => done(self.unbind_card(&merchant_no, &binding_id)),
            ApiRequest::Cards { merchant_no } => {
                let cards = self.merchant(&merchant_no)?.cards.clone();
                Ok(ApiResponse::Cards { cards })
            }
            ApiRequest::Deregister(r) => self.deregister(&r).map(ApiResponse::Deregistration),
            ApiRequest::Reopen { merchant_no, sn } => {
                self.reopen(&merchant_no, &sn).map(ApiResponse::Reopen)
            }
            ApiRequest::TerminalStatus { merchant_no, sn } => self
                .terminal_status(&merchant_no, &sn)
                .map(ApiResponse::TerminalStatus),
        }
    }

    /// Decides what time alone decides: timed reviews and reopenings that are due.
    pub fn settle(&mut self) {
        self.settle_reviews();
        self.settle_reopenings();
    }

    /// The acquirer's own view of `sn`, whoever it is activated for.
    pub fn terminal_state(&mut self, sn: &str) -> AcquirerTerminalState {
        self.settle();
        self.back_office_state(sn)
    }

    /// A trade the payment network reports, counted once time has had its say (a trade
    /// after the terminal went dormant counts for nothing).
    pub fn record_trade(&mut self, sn: &str, at_ms: u64) {
        self.settle();
        self.count_trade(sn, at_ms);
    }
}
