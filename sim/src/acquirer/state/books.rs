//! The books themselves (the `State` the acquirer's lock guards) and the lookups and
//! idempotency every kind of call shares: finding a merchant, a terminal or an application,
//! and replaying the answer a request id already got. The parts that act on the books
//! (activation, cards, terminals, dormancy) build on this and not on each other's data.

use std::collections::BTreeMap;

use posmate_acquirer_api::{AcquirerError, ApiRequest, CardBinding, Deregistration};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checks::{check_merchant_no, check_request_id, check_sn, invalid};
use super::persist::rng_state;
use super::records::{Application, Merchant, Terminal};

/// A request that succeeded, kept under its request id so a repeat gets the same answer.
#[derive(Serialize, Deserialize)]
pub(in crate::acquirer) enum Done {
    Application(String),
    Binding(CardBinding),
    Deregistration(Deregistration),
}

#[derive(Serialize, Deserialize)]
pub(in crate::acquirer) struct State {
    #[serde(with = "rng_state")]
    pub rng: ChaCha20Rng,
    pub now_ms: u64,
    pub online: bool,
    pub lose_answers: u32,
    pub merchants: BTreeMap<String, Merchant>,
    pub terminals: BTreeMap<String, Terminal>,
    pub(super) applications: BTreeMap<String, Application>,
    /// request id → (SHA-256 of the request, what it did).
    requests: BTreeMap<String, ([u8; 32], Done)>,
    pub(super) next_application: u64,
    pub(super) next_binding: u64,
    pub(super) next_deregistration: u64,
}

/// What a request id is bound to: the SHA-256 of the request's encoding.
pub(super) fn fingerprint(req: &ApiRequest) -> [u8; 32] {
    Sha256::digest(posmate_acquirer_api::encode_request(req)).into()
}

fn no_application(id: &str) -> AcquirerError {
    AcquirerError::NotFound {
        what: format!("application {id}"),
    }
}

impl State {
    pub fn new(rng: ChaCha20Rng, now_ms: u64) -> Self {
        State {
            rng,
            now_ms,
            online: true,
            lose_answers: 0,
            merchants: BTreeMap::new(),
            terminals: BTreeMap::new(),
            applications: BTreeMap::new(),
            requests: BTreeMap::new(),
            next_application: 1,
            next_binding: 1,
            next_deregistration: 1,
        }
    }

    pub fn merchant(&self, merchant_no: &str) -> Result<&Merchant, AcquirerError> {
        check_merchant_no(merchant_no)?;
        self.merchants
            .get(merchant_no)
            .ok_or(AcquirerError::UnknownMerchant)
    }

    pub fn terminal(&self, sn: &str) -> Result<&Terminal, AcquirerError> {
        check_sn(sn)?;
        self.terminals
            .get(sn)
            .ok_or_else(|| AcquirerError::UnknownTerminal { sn: sn.to_owned() })
    }

    pub fn application(&self, id: &str) -> Result<&Application, AcquirerError> {
        self.applications.get(id).ok_or_else(|| no_application(id))
    }

    pub fn application_mut(&mut self, id: &str) -> Result<&mut Application, AcquirerError> {
        self.applications
            .get_mut(id)
            .ok_or_else(|| no_application(id))
    }

    /// The answer already given to this request id, if it succeeded before. A success
    /// under the id for different content is refused; failures are not kept, so a request
    /// that failed can be sent again, corrected or not, under the same id.
    pub fn replay(
        &self,
        request_id: &str,
        print: &[u8; 32],
    ) -> Result<Option<&Done>, AcquirerError> {
        check_request_id(request_id)?;
        match self.requests.get(request_id) {
            Some((p, done)) if p == print => Ok(Some(done)),
            Some(_) => Err(invalid(
                "request_id",
                "already used for a different request; use a new one",
            )),
            None => Ok(None),
        }
    }

    /// Keeps a success under its request id (with the request's fingerprint) for
    /// [`Self::replay`].
    pub fn remember(&mut self, request_id: &str, print: [u8; 32], done: Done) {
        self.requests.insert(request_id.to_owned(), (print, done));
    }
}
