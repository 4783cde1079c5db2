//! The successful answers already given under each `Idempotency-Key`, so that a client
//! repeating a mutating call (after a timeout, or a killed app) gets the very answer of the
//! first, byte for byte, whatever happened since — and a key reused for a different call is
//! refused rather than silently answered for the other one. Refusals are not kept (the
//! caller decides): repeated, a refused call is decided again.
//!
//! A call is recognised by a keyed fingerprint (HMAC-SHA256 of method, path and body): a
//! body may carry a full card number, and a plain hash of one can be reversed by trying
//! every number of a BIN. Only the fingerprint and the answer (which carries masked card
//! numbers only) are kept.

use std::collections::{BTreeMap, VecDeque};

use hmac::{Hmac, Mac};
use posmate_acquirer_api::http::{HttpRequest, HttpResponse};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// How many keys are remembered; the oldest is forgotten first. A client retries within
/// minutes, so this covers far more than any retry window of a sandbox.
pub const REMEMBERED_KEYS: usize = 10_000;

/// An answer as it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    /// The answer's JSON text.
    pub body: String,
}

impl Answer {
    pub fn of(response: &HttpResponse) -> Self {
        Answer {
            status: response.status,
            content_type: response
                .header("content-type")
                .unwrap_or_default()
                .to_owned(),
            body: String::from_utf8_lossy(&response.body).into_owned(),
        }
    }

    pub fn to_response(&self) -> HttpResponse {
        HttpResponse {
            status: self.status,
            headers: vec![("content-type".into(), self.content_type.clone())],
            body: self.body.clone().into_bytes(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// Lowercase hex of the call's fingerprint.
    fingerprint: String,
    answer: Answer,
}

/// What a key already stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Never used: act, then [`Answers::remember`].
    New,
    /// The same call again: send this answer.
    Same(Answer),
    /// The key was used for another call.
    Other,
}

/// Lowercase hex of the fingerprint key; wiped when dropped.
#[derive(Serialize, Deserialize)]
struct FingerprintKey(String);

impl Drop for FingerprintKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The remembered answers, kept in the books file.
#[derive(Serialize, Deserialize)]
pub struct Answers {
    key: FingerprintKey,
    entries: BTreeMap<String, Entry>,
    /// Keys in the order they were first used, for forgetting the oldest.
    order: VecDeque<String>,
}

impl Answers {
    pub fn new() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(key.as_mut());
        Answers {
            key: FingerprintKey(hex(key.as_ref())),
            entries: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    fn fingerprint(&self, request: &HttpRequest) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.0.as_bytes()).expect("HMAC takes any key");
        mac.update(request.method.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(request.path.as_bytes());
        mac.update(&[0]);
        mac.update(request.body.as_deref().unwrap_or_default());
        hex(&mac.finalize().into_bytes())
    }

    /// What `key` stands for, given the call `request` now made under it.
    pub fn seen(&self, key: &str, request: &HttpRequest) -> Seen {
        match self.entries.get(key) {
            None => Seen::New,
            Some(e) if e.fingerprint == self.fingerprint(request) => Seen::Same(e.answer.clone()),
            Some(_) => Seen::Other,
        }
    }

    /// Keeps the answer `response` to `request` under `key`.
    pub fn remember(&mut self, key: &str, request: &HttpRequest, response: &HttpResponse) {
        let entry = Entry {
            fingerprint: self.fingerprint(request),
            answer: Answer::of(response),
        };
        if self.entries.insert(key.to_owned(), entry).is_none() {
            self.order.push_back(key.to_owned());
        }
        while self.order.len() > REMEMBERED_KEYS {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use posmate_acquirer_api::http::Method;

    fn call(body: &str) -> HttpRequest {
        HttpRequest {
            method: Method::Post,
            path: "/v1/activations".into(),
            headers: vec![],
            body: Some(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_key_stands_for_one_call_and_its_answer() {
        let mut answers = Answers::new();
        let first = call("{\"a\":1}");
        assert_eq!(answers.seen("k", &first), Seen::New);
        let response = HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"ok\":true}".to_vec(),
        };
        answers.remember("k", &first, &response);
        assert_eq!(answers.seen("k", &first), Seen::Same(Answer::of(&response)));
        assert_eq!(answers.seen("k", &call("{\"a\":2}")), Seen::Other);
        let saved = serde_json::to_string(&answers).unwrap();
        assert!(!saved.contains("\\\"a\\\""), "no request body is kept");
        let restored: Answers = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored.seen("k", &call("{\"a\":2}")), Seen::Other);
        assert_ne!(restored.seen("k", &first), Seen::New);
    }

    #[test]
    fn the_oldest_keys_are_forgotten_first() {
        let mut answers = Answers::new();
        let response = HttpResponse {
            status: 200,
            headers: vec![],
            body: vec![],
        };
        for i in 0..=REMEMBERED_KEYS {
            answers.remember(&format!("k{i}"), &call("{}"), &response);
        }
        assert_eq!(answers.seen("k0", &call("{}")), Seen::New);
        assert_ne!(answers.seen("k1", &call("{}")), Seen::New);
    }
}
