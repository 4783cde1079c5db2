//! A simulated acquirer behind the same JSON API a real adapter would reach over HTTPS
//! (`posmate-acquirer-api`): it reviews activations and issues terminal keys sealed to
//! each terminal's factory key, binds cards, shuts down terminals that stop trading and
//! closes them on deregistration.
//!
//! It shares only the API's types with the phone; the phone reaches this acquirer through
//! bytes alone ([`SimAcquirer::handle`], or [`SimAcquirer::call`] as the network would
//! carry them), never through shared state.
//!
//! Time is a virtual clock in milliseconds that only the test moves ([`SimAcquirer::advance`]),
//! and every random draw comes from the seed, so a run is reproducible.

mod cards;
mod review;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};

use posmate_acquirer_api::{decode_request, encode_reply, AcquirerError, AcquirerTerminalState};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub use review::{Decision, PendingReview, Review};
pub use state::{
    DORMANT_AFTER_MS, MAX_CODE_ATTEMPTS, MAX_CREDIT_CARDS, POLL_INTERVAL_MS,
    RECORDS_RETAINED_YEARS, REOPEN_REVIEW_MS,
};

use state::{Merchant, State, Terminal};

/// A merchant the acquirer has signed up (outside the app, as in reality).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantSetup {
    /// 15 digits.
    pub merchant_no: String,
    /// The name cards must be held in and activations must state.
    pub legal_name: String,
    pub review: Review,
}

/// The simulated acquirer. Clones share one set of books.
#[derive(Clone)]
pub struct SimAcquirer {
    inner: Arc<Mutex<State>>,
}

impl SimAcquirer {
    /// An acquirer with no merchants or terminals, its clock at the simulated terminals'
    /// default epoch, online.
    pub fn new(seed: u64) -> Self {
        SimAcquirer {
            inner: Arc::new(Mutex::new(State::new(
                ChaCha20Rng::seed_from_u64(seed),
                crate::terminal::DEFAULT_CLOCK_BASE_MS,
            ))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent books (every call mutates last).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The acquirer's clock (ms since the Unix epoch).
    pub fn now_ms(&self) -> u64 {
        self.lock().now_ms
    }

    /// Lets `ms` pass: reviews and reopenings that come due are decided at the next call.
    pub fn advance(&self, ms: u64) {
        let mut s = self.lock();
        s.now_ms = s.now_ms.saturating_add(ms);
    }

    /// Sets the clock, e.g. to agree with a terminal's (a test may move it anywhere).
    pub fn set_now(&self, ms: u64) {
        self.lock().now_ms = ms;
    }

    /// Offline: every call through [`Self::exchange`] fails with `Unreachable` and changes
    /// nothing, as when the phone has no connection.
    pub fn set_online(&self, online: bool) {
        self.lock().online = online;
    }

    /// The next `n` calls through [`Self::exchange`] reach the acquirer and take effect,
    /// but their answers are lost on the way back (`Timeout`): what idempotency is for.
    pub fn lose_answers(&self, n: u32) {
        self.lock().lose_answers = n;
    }

    /// Signs a merchant up, or changes the name or review of one already signed up (its
    /// cards stay).
    pub fn register_merchant(&self, setup: MerchantSetup) {
        let mut s = self.lock();
        let cards = s
            .merchants
            .remove(&setup.merchant_no)
            .map(|m| m.cards)
            .unwrap_or_default();
        s.merchants.insert(
            setup.merchant_no,
            Merchant {
                legal_name: setup.legal_name,
                review: setup.review,
                cards,
            },
        );
    }

    /// The manufacturer's and the acquirer's record of a terminal: its factory device key
    /// (the only one activation accepts and seals keys to), the terminal number assigned
    /// to it and its activation code. Registering an SN again updates the record (a
    /// terminal re-provisioned after deregistration) and keeps its history.
    pub fn register_terminal(
        &self,
        sn: &str,
        device_key: [u8; 32],
        terminal_no: &str,
        activation_code: &str,
    ) {
        let mut s = self.lock();
        let t = s
            .terminals
            .entry(sn.to_owned())
            .or_insert_with(|| Terminal {
                device_key,
                terminal_no: String::new(),
                activation_code: String::new(),
                wrong_codes: 0,
                current: None,
                deregistrations: Vec::new(),
            });
        t.device_key = device_key;
        t.terminal_no = terminal_no.to_owned();
        t.activation_code = activation_code.to_owned();
        t.wrong_codes = 0;
    }

    /// The payment network reports a trade on `sn` at `at_ms` (acquirer time). It keeps an
    /// active terminal from going dormant; on a dormant, pending or unknown terminal it
    /// counts for nothing.
    pub fn record_trade(&self, sn: &str, at_ms: u64) {
        self.lock().record_trade(sn, at_ms);
    }

    /// The acquirer's back-office view of `sn`, whoever it is activated for, in the words
    /// of the API's `AcquirerTerminalState`: "unknown" (never activated, or rejected),
    /// "pending", "active", "dormant" or "deregistered".
    pub fn terminal_state(&self, sn: &str) -> &'static str {
        match self.lock().terminal_state(sn) {
            AcquirerTerminalState::Unknown => "unknown",
            AcquirerTerminalState::Pending => "pending",
            AcquirerTerminalState::Active => "active",
            AcquirerTerminalState::Dormant => "dormant",
            AcquirerTerminalState::Deregistered => "deregistered",
        }
    }

    /// The applications waiting for the back office's decision, oldest first.
    pub fn pending_reviews(&self) -> Vec<PendingReview> {
        self.lock().pending_reviews()
    }

    /// The back office approves or rejects application `application_id`; the phone learns
    /// it at its next status poll. Refused (`not-found`, `invalid`) unless the application
    /// exists and is still under review.
    pub fn decide_review(
        &self,
        application_id: &str,
        decision: Decision,
    ) -> Result<(), AcquirerError> {
        self.lock().decide(application_id, decision)
    }

    /// How many activation applications were ever made for `sn` (by any merchant): a
    /// retried or resumed activation must not make a second.
    pub fn activations(&self, sn: &str) -> usize {
        self.lock().activations(sn)
    }

    /// The acquirer's books (merchants, terminals, applications, answered requests, clock
    /// and random state) as JSON, so a simulated world can be kept between runs.
    pub fn save(&self) -> serde_json::Value {
        serde_json::to_value(&*self.lock()).expect("the books serialise")
    }

    /// An acquirer with the books [`Self::save`] returned: it answers exactly as the saved
    /// one would have.
    pub fn restore(books: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(SimAcquirer {
            inner: Arc::new(Mutex::new(serde_json::from_value(books)?)),
        })
    }

    /// Serves one API call: a JSON request in, a JSON answer (or `{"error": …}`) out.
    pub fn handle(&self, request_json: &[u8]) -> Vec<u8> {
        let reply = decode_request(request_json).and_then(|req| self.lock().handle(req));
        encode_reply(&reply)
    }

    /// Serves one call as the network between the phone and the acquirer would: refused as
    /// unreachable while [`Self::set_online`]`(false)`, and with the answer lost (a
    /// [`AcquirerError::Timeout`] after the acquirer acted) while [`Self::lose_answers`] has
    /// answers left to lose. What the phone's in-process gateway calls.
    pub fn call(&self, body: &[u8]) -> Result<Vec<u8>, AcquirerError> {
        if !self.lock().online {
            return Err(AcquirerError::Unreachable {
                detail: "the simulated acquirer is offline".into(),
            });
        }
        let reply = self.handle(body);
        let mut s = self.lock();
        if s.lose_answers > 0 {
            s.lose_answers -= 1;
            return Err(AcquirerError::Timeout);
        }
        Ok(reply)
    }
}
