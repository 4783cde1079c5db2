//! What the server does with a call once it has read it: `GET /v1/health`, the admin
//! surface under `/admin/v1/`, or the merchant API through the published HTTP mapping
//! (`from_http` → the simulated acquirer, spoken to in the API's JSON → `reply_to_http`).
//!
//! Calls are applied one at a time under one lock, and each is answered only once its
//! effect, and all it could have seen, is on disk ([`crate::ledger`]). Each call is
//! handled by one function whether it is answered or replayed from the journal at start
//! ([`replay`]), so replaying makes exactly the change answering made.

use std::sync::Arc;

use posmate_acquirer_api::http::{
    self, from_http, reply_to_http, Health, HttpRequest, HttpResponse, Method, API_VERSION,
    HEALTH_PATH, IDEMPOTENCY_KEY, JSON,
};
use posmate_acquirer_api::{
    decode_reply, encode_request, AcquirerError, ApiRequest, BindCardRequest, CardSource,
};

use crate::admin;
use crate::books::{Books, Call, Surface};
use crate::idempotency::Seen;
use crate::ledger::{Change, Ledger};
use crate::problems;
use crate::token::AdminToken;

/// Where the admin surface lives (not part of the published API).
pub const ADMIN_PREFIX: &str = "/admin/v1/";

/// Who answers, in `/v1/health`.
pub fn server_name() -> String {
    format!("posmate-sandbox {}", env!("CARGO_PKG_VERSION"))
}

/// The sandbox's books and admin token, shared by every connection.
#[derive(Clone)]
pub struct Service {
    ledger: Arc<Ledger>,
    token: Arc<AdminToken>,
}

impl Service {
    pub fn new(books: Books, token: AdminToken) -> Self {
        Service {
            ledger: Arc::new(Ledger::new(books)),
            token: Arc::new(token),
        }
    }

    /// Answers one call; blocks until its effect is on disk.
    pub fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let path = request.path.split('?').next().unwrap_or_default();
        if path == HEALTH_PATH && request.method == Method::Get {
            return health();
        }
        if let Some(rest) = path.strip_prefix(ADMIN_PREFIX) {
            if !self.token.admits(request.header("authorization")) {
                return problems::unauthorized();
            }
            let call = Call {
                surface: Surface::Admin,
                method: request.method,
                path: rest.to_owned(),
                key: None,
                body: request.body.clone().unwrap_or_default(),
            };
            return self.ledger.run(|books| {
                let response = admin::handle(books, call.method, &call.path, &call.body);
                // Admin calls carry no key to tell a repeat by, and reads among them may
                // settle reviews: every one is journaled.
                (response, Change::Journal(call))
            });
        }
        let allowed = http::allowed_methods(path);
        if !allowed.is_empty() && !allowed.contains(&request.method) {
            return problems::wrong_method(path);
        }
        let call = match from_http(request) {
            Ok(call) => call,
            Err(e) => return reply_to_http(&Err(e)),
        };
        self.ledger.run(|books| api(books, request, &call))
    }
}

/// Handles a journaled call again, as [`Service::handle`] did when it answered it.
pub fn replay(books: &mut Books, call: &Call) {
    match call.surface {
        Surface::Admin => {
            admin::handle(books, call.method, &call.path, &call.body);
        }
        Surface::Api => {
            let request = HttpRequest {
                method: call.method,
                path: call.path.clone(),
                headers: call
                    .key
                    .iter()
                    .map(|key| (IDEMPOTENCY_KEY.to_owned(), key.clone()))
                    .collect(),
                body: (!call.body.is_empty()).then(|| call.body.clone()),
            };
            // It was read the same way when answered; a call that does not read was never
            // journaled.
            if let Ok(api_call) = from_http(&request) {
                api(books, &request, &api_call);
            }
        }
    }
}

/// A merchant API call on the books: its answer, and how its effect is made durable.
fn api(books: &mut Books, request: &HttpRequest, call: &ApiRequest) -> (HttpResponse, Change) {
    // from_http has checked that every mutating call carries its key. A reopening's
    // answer is where its review stands now, and asking again is how the phone learns
    // that it ended ("ask again until approved"): replaying the first answer under its
    // derived key would be `pending` for ever. Asking twice is applying once anyway
    // (the review starts at the first ask), so it is answered afresh each time.
    let key = match call {
        ApiRequest::Reopen { .. } => None,
        _ => request.header(IDEMPOTENCY_KEY),
    };
    if let Some(key) = key {
        match books.answers.seen(key, request) {
            Seen::Same(answer) => return (answer.to_response(), Change::None),
            Seen::Other => return (reply_to_http(&Err(key_reused())), Change::None),
            Seen::New => {}
        }
    }
    let reply = books
        .acquirer
        .call(&encode_request(call))
        .and_then(|bytes| decode_reply(&bytes));
    let response = reply_to_http(&reply);
    // Only successes are kept, as the acquirer keeps request ids: a refusal is decided
    // again when repeated, so a call refused for a situation that has since changed
    // (an unbind while a terminal was active) can succeed under its derived key.
    if let (Some(key), true) = (key, reply.is_ok()) {
        books.answers.remember(key, request, &response);
    }
    // A refusal may change the books too (a wrong activation code is counted), so every
    // call that reached the acquirer is kept.
    let change = if carries_card_number(call) {
        Change::Snapshot
    } else {
        Change::Journal(Call {
            surface: Surface::Api,
            method: request.method,
            path: request.path.clone(),
            // The call's own key, even where it is not used to replay an answer: replaying
            // the journal reads the call as it arrived.
            key: request.header(IDEMPOTENCY_KEY).map(str::to_owned),
            body: request.body.clone().unwrap_or_default(),
        })
    };
    (response, change)
}

/// A typed card's full number never reaches the disk (the books keep it masked, with keyed
/// fingerprints only), so such a call is made durable by a snapshot, not the journal.
fn carries_card_number(call: &ApiRequest) -> bool {
    matches!(
        call,
        ApiRequest::BindCard(BindCardRequest {
            source: CardSource::Manual { .. },
            ..
        })
    )
}

fn health() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), JSON.into())],
        body: serde_json::to_vec(&Health {
            api_version: API_VERSION,
            server: server_name(),
        })
        .unwrap_or_default(),
    }
}

fn key_reused() -> AcquirerError {
    AcquirerError::Invalid {
        field: "Idempotency-Key".into(),
        reason: "already used for a different request; use a new key for a new request".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_names_the_api_version_and_this_server() {
        let answer = health();
        let h: Health = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(h.api_version, API_VERSION);
        assert!(h.server.starts_with("posmate-sandbox "));
        assert_eq!(posmate_acquirer_api::http::status_of(&key_reused()), 422);
    }
}
