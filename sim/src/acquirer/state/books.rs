//! The books themselves (the `State` the acquirer's lock guards) and the lookups and
//! idempotency every kind of call shares: finding a merchant, a terminal or an application,
//! and replaying the answer a request id already got. The parts that act on the books
//! (activation, cards, terminals, dormancy) build on this and not on each other's data.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use posmate_acquirer_api::{AcquirerError, ApiRequest, CardBinding, Deregistration};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

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
    /// request id → (the request's fingerprint, what it did).
    requests: BTreeMap<String, ([u8; 32], Done)>,
    /// The key of request fingerprints (HMAC-SHA256): requests that bind a card carry its
    /// full number, and an unkeyed hash of one can be reversed by trying every number of
    /// a BIN (PCI DSS 3.5.1.1). Books saved before fingerprints were keyed have none and
    /// keep their plain SHA-256 fingerprints, so their request ids still replay.
    #[serde(default)]
    fingerprint_key: Option<FingerprintKey>,
    pub(super) next_application: u64,
    pub(super) next_binding: u64,
    pub(super) next_deregistration: u64,
}

/// The secret key request fingerprints are made with; wiped when dropped.
#[derive(Clone, Serialize, Deserialize)]
struct FingerprintKey([u8; 32]);

impl Drop for FingerprintKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn no_application(id: &str) -> AcquirerError {
    AcquirerError::NotFound {
        what: format!("application {id}"),
    }
}

impl State {
    pub fn new(mut rng: ChaCha20Rng, now_ms: u64) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        State {
            fingerprint_key: Some(FingerprintKey(key)),
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

    /// What a request id is bound to: HMAC-SHA256 of the request's encoding under the
    /// books' fingerprint key (plain SHA-256 in books saved before there was one).
    pub fn fingerprint(&self, req: &ApiRequest) -> [u8; 32] {
        let encoded = posmate_acquirer_api::encode_request(req);
        match &self.fingerprint_key {
            Some(FingerprintKey(key)) => {
                let mut mac =
                    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(&encoded);
                mac.finalize().into_bytes().into()
            }
            None => Sha256::digest(encoded).into(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use posmate_acquirer_api::{BindCardRequest, CardPurposeKind, CardSource};
    use rand_core::SeedableRng;
    use zeroize::Zeroizing;

    fn bind(pan: &str) -> ApiRequest {
        ApiRequest::BindCard(BindCardRequest {
            request_id: "req-1".into(),
            merchant_no: "898310148160012".into(),
            purpose: CardPurposeKind::Credit,
            holder_name: "Zhang San Noodles".into(),
            source: CardSource::Manual {
                pan: Zeroizing::new(pan.into()),
                expiry: "0330".into(),
            },
        })
    }

    #[test]
    fn fingerprints_of_card_requests_are_keyed_per_acquirer() {
        let req = bind("6225880000001238");
        let plain: [u8; 32] = Sha256::digest(posmate_acquirer_api::encode_request(&req)).into();
        let one = State::new(ChaCha20Rng::seed_from_u64(1), 0);
        let two = State::new(ChaCha20Rng::seed_from_u64(2), 0);
        assert_ne!(
            one.fingerprint(&req),
            plain,
            "not a plain hash of the card number"
        );
        assert_ne!(
            one.fingerprint(&req),
            two.fingerprint(&req),
            "a key per acquirer"
        );
        assert_eq!(
            one.fingerprint(&req),
            one.fingerprint(&bind("6225880000001238"))
        );
        assert_ne!(
            one.fingerprint(&req),
            one.fingerprint(&bind("6225880000001246"))
        );
        // Books saved before fingerprints were keyed keep their plain ones.
        let mut saved = serde_json::to_value(&one).unwrap();
        saved.as_object_mut().unwrap().remove("fingerprint_key");
        let legacy: State = serde_json::from_value(saved).unwrap();
        assert_eq!(legacy.fingerprint(&req), plain);
        // A saved key comes back: request ids replay after a restart.
        let restored: State = serde_json::from_value(serde_json::to_value(&one).unwrap()).unwrap();
        assert_eq!(restored.fingerprint(&req), one.fingerprint(&req));
    }
}
