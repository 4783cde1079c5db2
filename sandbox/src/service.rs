//! What the server does with a call once it has read it: `GET /v1/health`, the admin
//! surface under `/admin/v1/`, or the merchant API through the published HTTP mapping
//! (`from_http` → the simulated acquirer, spoken to in the API's JSON → `reply_to_http`).
//!
//! Calls are handled one at a time under one lock: each reads and changes the books and
//! then waits for them to be on disk, and answering two at once could answer one whose
//! effect a crash then loses. A sandbox serves a handful of phones, so this is no limit.

use std::sync::{Arc, Mutex, MutexGuard};

use posmate_acquirer_api::http::{
    self, from_http, reply_to_http, Health, HttpRequest, HttpResponse, Method, API_VERSION,
    HEALTH_PATH, IDEMPOTENCY_KEY, JSON,
};
use posmate_acquirer_api::{decode_reply, encode_request, AcquirerError, ApiRequest};

use crate::admin;
use crate::books::Books;
use crate::idempotency::Seen;
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
    books: Arc<Mutex<Books>>,
    token: Arc<AdminToken>,
}

impl Service {
    pub fn new(books: Books, token: AdminToken) -> Self {
        Service {
            books: Arc::new(Mutex::new(books)),
            token: Arc::new(token),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Books> {
        // A panic under the lock cannot leave half-written books: the file is replaced
        // whole, and memory is rolled back to it when a write fails.
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one call; blocks while the books are written.
    pub fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let path = request.path.split('?').next().unwrap_or_default();
        if path == HEALTH_PATH && request.method == Method::Get {
            return health();
        }
        if let Some(rest) = path.strip_prefix(ADMIN_PREFIX) {
            if !self.token.admits(request.header("authorization")) {
                return problems::unauthorized();
            }
            let mut books = self.lock();
            let response = admin::handle(
                &mut books,
                request.method,
                rest,
                request.body.as_deref().unwrap_or_default(),
            );
            return committed(&mut books, response);
        }
        let allowed = http::allowed_methods(path);
        if !allowed.is_empty() && !allowed.contains(&request.method) {
            return problems::wrong_method(path);
        }
        let call = match from_http(request) {
            Ok(call) => call,
            Err(e) => return reply_to_http(&Err(e)),
        };
        let mut books = self.lock();
        // from_http has checked that every mutating call carries its key. A reopening's
        // answer is where its review stands now, and asking again is how the phone learns
        // that it ended ("ask again until approved"): replaying the first answer under its
        // derived key would be `pending` for ever. Asking twice is applying once anyway
        // (the review starts at the first ask), so it is answered afresh each time.
        let key = match call {
            ApiRequest::Reopen { .. } => None,
            _ => request.header(IDEMPOTENCY_KEY).map(str::to_owned),
        };
        if let Some(key) = &key {
            match books.answers.seen(key, request) {
                Seen::Same(answer) => return answer.to_response(),
                Seen::Other => return reply_to_http(&Err(key_reused())),
                Seen::New => {}
            }
        }
        let reply = books
            .acquirer
            .call(&encode_request(&call))
            .and_then(|bytes| decode_reply(&bytes));
        let response = reply_to_http(&reply);
        // Only successes are kept, as the acquirer keeps request ids: a refusal is decided
        // again when repeated, so a call refused for a situation that has since changed
        // (an unbind while a terminal was active) can succeed under its derived key.
        if let (Some(key), true) = (&key, reply.is_ok()) {
            books.answers.remember(key, request, &response);
        }
        committed(&mut books, response)
    }
}

/// `response` once the books it reflects are on disk, or a retryable 503 if they could not
/// be written (the books are back as they were, so nothing happened).
fn committed(books: &mut Books, response: HttpResponse) -> HttpResponse {
    match books.commit() {
        Ok(()) => response,
        Err(e) => {
            // The error names the file, never a body.
            eprintln!("posmate-sandbox: {e} [{}]", e.code());
            problems::unavailable()
        }
    }
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
