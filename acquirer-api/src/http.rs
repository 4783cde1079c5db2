//! The API over HTTP: which method and path each call takes, what its body and
//! `Idempotency-Key` are, and how answers travel — the resource itself on success, an RFC 9457
//! problem object (`application/problem+json`) carrying posmate's stable code on failure.
//!
//! Both sides use this one mapping: the phone's HTTPS client (and an app's own OkHttp or
//! URLSession client, which sees only [`HttpRequest`] and [`HttpResponse`]) and the sandbox
//! acquirer server, so a route cannot mean one thing to one side and another to the other.
//! It does no I/O.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{
    ActivationRequest, ActivationStatus, ApiRequest, ApiResponse, BindCardRequest, CardBinding,
    DeregisterRequest, Deregistration, ReopenStatus, TerminalStatus,
};
use crate::error::AcquirerError;

/// The media type of a successful body.
pub const JSON: &str = "application/json";
/// The media type of a failure (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// The header that makes a mutating call safe to repeat.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Where every problem type is documented (`{PROBLEM_BASE}{code}`).
pub const PROBLEM_BASE: &str = "https://posmate.dev/problems/";
/// `GET` answers [`Health`] without authority or side effect: what a client's diagnosis
/// (`posmate doctor`) asks to prove reachability, TLS and the API version.
pub const HEALTH_PATH: &str = "/v1/health";
/// The API version this crate speaks (the `/v1/` of every path).
pub const API_VERSION: u32 = 1;

/// The body of `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub api_version: u32,
    /// Who answers, e.g. `posmate-sandbox 0.1.0`.
    pub server: String,
}

/// The methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }

    /// The method named `s` (as on the request line), if the API uses it.
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// One call as HTTP, without the host: what any HTTP client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    /// Absolute path from the API's base, path segments percent-encoded (`/v1/…`).
    pub path: String,
    /// Lowercase names; `content-type` when there is a body, `idempotency-key` on every
    /// mutating call.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// One answer as HTTP: what any HTTP client hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The body of `POST /v1/activations/{id}/confirmation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    pub test_txn_ref: String,
}

/// The body of `GET /v1/merchants/{m}/cards`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardList {
    pub cards: Vec<CardBinding>,
}

/// `request` as the phone sends it.
pub fn to_http(request: &ApiRequest) -> HttpRequest {
    let (method, path, key, body) = match request {
        ApiRequest::Activate(r) => (
            Method::Post,
            "/v1/activations".to_owned(),
            Some(r.request_id.clone()),
            Some(json(r)),
        ),
        ApiRequest::ActivationStatus { application_id } => (
            Method::Get,
            format!("/v1/activations/{}", segment(application_id)),
            None,
            None,
        ),
        ApiRequest::ConfirmActivation {
            application_id,
            test_txn_ref,
        } => (
            Method::Post,
            format!("/v1/activations/{}/confirmation", segment(application_id)),
            // Confirming twice is confirming once: the key is the call itself.
            Some(format!("confirm:{application_id}:{test_txn_ref}")),
            Some(json(&Confirmation {
                test_txn_ref: test_txn_ref.clone(),
            })),
        ),
        ApiRequest::BindCard(r) => (
            Method::Post,
            format!("/v1/merchants/{}/cards", segment(&r.merchant_no)),
            Some(r.request_id.clone()),
            Some(json(r)),
        ),
        ApiRequest::UnbindCard {
            merchant_no,
            binding_id,
        } => (
            Method::Delete,
            format!(
                "/v1/merchants/{}/cards/{}",
                segment(merchant_no),
                segment(binding_id)
            ),
            Some(format!("unbind:{merchant_no}:{binding_id}")),
            None,
        ),
        ApiRequest::Cards { merchant_no } => (
            Method::Get,
            format!("/v1/merchants/{}/cards", segment(merchant_no)),
            None,
            None,
        ),
        ApiRequest::Deregister(r) => (
            Method::Post,
            format!(
                "/v1/merchants/{}/terminals/{}/deregistration",
                segment(&r.merchant_no),
                segment(&r.sn)
            ),
            Some(r.request_id.clone()),
            Some(json(r)),
        ),
        ApiRequest::Reopen { merchant_no, sn } => (
            Method::Post,
            format!(
                "/v1/merchants/{}/terminals/{}/reopening",
                segment(merchant_no),
                segment(sn)
            ),
            Some(format!("reopen:{merchant_no}:{sn}")),
            None,
        ),
        ApiRequest::TerminalStatus { merchant_no, sn } => (
            Method::Get,
            format!(
                "/v1/merchants/{}/terminals/{}",
                segment(merchant_no),
                segment(sn)
            ),
            None,
            None,
        ),
    };
    let mut headers = vec![("accept".to_owned(), format!("{JSON}, {PROBLEM_JSON}"))];
    if body.is_some() {
        headers.push(("content-type".to_owned(), JSON.to_owned()));
    }
    if let Some(key) = key {
        headers.push((IDEMPOTENCY_KEY.to_owned(), key));
    }
    HttpRequest {
        method,
        path,
        headers,
        body,
    }
}

/// Reads a call on the acquirer's side. An unknown route is `NotFound`; a body that is not
/// the route's, a path that disagrees with its body, or a mutating call without its
/// `Idempotency-Key` is `Invalid`/`Protocol` — each answered as a problem.
pub fn from_http(request: &HttpRequest) -> Result<ApiRequest, AcquirerError> {
    let path = request.path.split('?').next().unwrap_or_default();
    let segments: Vec<String> = path
        .strip_prefix("/v1/")
        .ok_or_else(|| no_route(path))?
        .split('/')
        .map(unsegment)
        .collect::<Result<_, _>>()?;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body = request.body.as_deref().unwrap_or_default();
    let key = request.header(IDEMPOTENCY_KEY);
    let call = match (request.method, s.as_slice()) {
        (Method::Post, ["activations"]) => {
            let r: ActivationRequest = decode("the activation request", body)?;
            same_key(key, &r.request_id)?;
            ApiRequest::Activate(r)
        }
        (Method::Get, ["activations", id]) => ApiRequest::ActivationStatus {
            application_id: (*id).to_owned(),
        },
        (Method::Post, ["activations", id, "confirmation"]) => {
            let c: Confirmation = decode("the confirmation", body)?;
            has_key(key)?;
            ApiRequest::ConfirmActivation {
                application_id: (*id).to_owned(),
                test_txn_ref: c.test_txn_ref,
            }
        }
        (Method::Post, ["merchants", m, "cards"]) => {
            let r: BindCardRequest = decode("the card binding", body)?;
            same_field("merchant_no", m, &r.merchant_no)?;
            same_key(key, &r.request_id)?;
            ApiRequest::BindCard(r)
        }
        (Method::Get, ["merchants", m, "cards"]) => ApiRequest::Cards {
            merchant_no: (*m).to_owned(),
        },
        (Method::Delete, ["merchants", m, "cards", b]) => {
            has_key(key)?;
            ApiRequest::UnbindCard {
                merchant_no: (*m).to_owned(),
                binding_id: (*b).to_owned(),
            }
        }
        (Method::Get, ["merchants", m, "terminals", sn]) => ApiRequest::TerminalStatus {
            merchant_no: (*m).to_owned(),
            sn: (*sn).to_owned(),
        },
        (Method::Post, ["merchants", m, "terminals", sn, "deregistration"]) => {
            let r: DeregisterRequest = decode("the deregistration", body)?;
            same_field("merchant_no", m, &r.merchant_no)?;
            same_field("sn", sn, &r.sn)?;
            same_key(key, &r.request_id)?;
            ApiRequest::Deregister(r)
        }
        (Method::Post, ["merchants", m, "terminals", sn, "reopening"]) => {
            has_key(key)?;
            ApiRequest::Reopen {
                merchant_no: (*m).to_owned(),
                sn: (*sn).to_owned(),
            }
        }
        _ => return Err(no_route(path)),
    };
    Ok(call)
}

/// The methods the route at `path` answers, empty if there is no such route: what a server
/// lists in `Allow` when it answers 405 to another method (RFC 9110 requires the header).
/// `from_http` reads every call these name, and nothing else (`http_tests`).
pub fn allowed_methods(path: &str) -> &'static [Method] {
    let path = path.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix("/v1/") else {
        return &[];
    };
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| unsegment(s).unwrap_or_default())
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["health"] | ["activations", _] | ["merchants", _, "terminals", _] => &[Method::Get],
        ["activations"]
        | ["activations", _, "confirmation"]
        | ["merchants", _, "terminals", _, "deregistration" | "reopening"] => &[Method::Post],
        ["merchants", _, "cards"] => &[Method::Get, Method::Post],
        ["merchants", _, "cards", _] => &[Method::Delete],
        _ => &[],
    }
}

/// The acquirer's answer as HTTP: `200` with the resource, or a problem object with the
/// error's status.
pub fn reply_to_http(reply: &Result<ApiResponse, AcquirerError>) -> HttpResponse {
    let (status, media, body) = match reply {
        Ok(resp) => (200, JSON, success_body(resp)),
        Err(e) => (status_of(e), PROBLEM_JSON, problem(e)),
    };
    HttpResponse {
        status,
        headers: vec![("content-type".to_owned(), media.to_owned())],
        body,
    }
}

/// Reads the answer to `request` on the phone's side. A problem becomes the very error the
/// acquirer chose; a 5xx without one (a proxy, a crashed server) is `Unavailable` and
/// retryable; anything else unexpected is `Protocol`.
pub fn reply_from_http(
    request: &ApiRequest,
    response: &HttpResponse,
) -> Result<ApiResponse, AcquirerError> {
    let media = response
        .header("content-type")
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if media.eq_ignore_ascii_case(PROBLEM_JSON) {
        return Err(read_problem(response.status, &response.body));
    }
    match response.status {
        200..=299 => {}
        500..=599 => {
            return Err(AcquirerError::Unavailable {
                status: response.status,
            })
        }
        status => {
            return Err(AcquirerError::Protocol {
                detail: format!("the acquirer answered HTTP {status} without a problem object"),
            })
        }
    }
    let body = &response.body;
    Ok(match request {
        ApiRequest::Activate(_) | ApiRequest::ActivationStatus { .. } => {
            ApiResponse::Activation(decode_answer::<ActivationStatus>(body)?)
        }
        ApiRequest::ConfirmActivation { .. } | ApiRequest::UnbindCard { .. } => ApiResponse::Done,
        ApiRequest::BindCard(_) => ApiResponse::CardBinding(decode_answer::<CardBinding>(body)?),
        ApiRequest::Cards { .. } => ApiResponse::Cards {
            cards: decode_answer::<CardList>(body)?.cards,
        },
        ApiRequest::Deregister(_) => {
            ApiResponse::Deregistration(decode_answer::<Deregistration>(body)?)
        }
        ApiRequest::Reopen { .. } => ApiResponse::Reopen(decode_answer::<ReopenStatus>(body)?),
        ApiRequest::TerminalStatus { .. } => {
            ApiResponse::TerminalStatus(decode_answer::<TerminalStatus>(body)?)
        }
    })
}

/// The HTTP status each error is answered with.
pub fn status_of(e: &AcquirerError) -> u16 {
    match e {
        AcquirerError::Protocol { .. } => 400,
        AcquirerError::WrongActivationCode { .. } => 403,
        AcquirerError::UnknownTerminal { .. }
        | AcquirerError::UnknownMerchant
        | AcquirerError::NotFound { .. } => 404,
        AcquirerError::OwnedByAnotherMerchant { .. }
        | AcquirerError::AlreadyActivated { .. }
        | AcquirerError::SettlementCardRequired
        | AcquirerError::Dormant { .. } => 409,
        AcquirerError::Deregistered { .. } => 410,
        AcquirerError::NameMismatch
        | AcquirerError::CardRefused { .. }
        | AcquirerError::Invalid { .. } => 422,
        // Decided by the phone's client, never sent by a server: a bad gateway if one did.
        AcquirerError::Unreachable { .. } | AcquirerError::Tls { .. } => 502,
        AcquirerError::Unavailable { status } => *status,
        AcquirerError::Timeout => 504,
    }
}

/// The problem object of `e`: RFC 9457's `type`, `title`, `status` (and `detail` where the
/// error has one), then posmate's members: the stable `code` with the error's own fields,
/// `retryable`, `needs_merchant` and the `hint` for the user.
pub fn problem(e: &AcquirerError) -> Vec<u8> {
    let mut object = match serde_json::to_value(e) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    object.insert("type".into(), format!("{PROBLEM_BASE}{}", e.code()).into());
    object.insert("title".into(), e.to_string().into());
    object.insert("status".into(), status_of(e).into());
    object.insert("retryable".into(), e.is_retryable().into());
    object.insert("needs_merchant".into(), needs_merchant(e).into());
    object.insert("hint".into(), e.user_action().into());
    serde_json::to_vec(&object).expect("a problem object always serializes")
}

/// Whether only the merchant can change the outcome (a field to correct, a decision to
/// take): the acquirer decided, and it was not about a malformed call.
pub fn needs_merchant(e: &AcquirerError) -> bool {
    !e.is_retryable() && !matches!(e, AcquirerError::Protocol { .. })
}

fn read_problem(status: u16, body: &[u8]) -> AcquirerError {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return AcquirerError::Protocol {
                detail: format!("the problem object of an HTTP {status} is {}", broke(&e)),
            }
        }
    };
    let code: String = value
        .get("code")
        .and_then(Value::as_str)
        .map(|c| c.chars().take(40).collect())
        .unwrap_or_default();
    serde_json::from_value(value).unwrap_or_else(|_| AcquirerError::Protocol {
        detail: format!("HTTP {status}: problem code '{code}' is unknown or malformed"),
    })
}

fn success_body(resp: &ApiResponse) -> Vec<u8> {
    match resp {
        ApiResponse::Activation(s) => json(s),
        ApiResponse::Done => b"{}".to_vec(),
        ApiResponse::CardBinding(b) => json(b),
        ApiResponse::Cards { cards } => json(&CardList {
            cards: cards.clone(),
        }),
        ApiResponse::Deregistration(d) => json(d),
        ApiResponse::Reopen(r) => json(r),
        ApiResponse::TerminalStatus(t) => json(t),
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("API bodies always serialize")
}

/// A request body of the route's type; the text of a body is never quoted back (it may
/// hold a card number).
fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, AcquirerError> {
    serde_json::from_slice(body).map_err(|e| AcquirerError::Protocol {
        detail: format!("{what} is {}", broke(&e)),
    })
}

fn decode_answer<T: DeserializeOwned>(body: &[u8]) -> Result<T, AcquirerError> {
    serde_json::from_slice(body).map_err(|e| AcquirerError::Protocol {
        detail: format!("the answer is {}", broke(&e)),
    })
}

fn broke(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "not of the expected shape",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{kind} (line {}, column {})", e.line(), e.column())
}

fn no_route(path: &str) -> AcquirerError {
    AcquirerError::NotFound {
        what: format!(
            "route {}",
            path.chars()
                .take(80)
                .filter(|c| c.is_ascii_graphic())
                .collect::<String>()
        ),
    }
}

fn has_key(key: Option<&str>) -> Result<(), AcquirerError> {
    match key {
        Some(k) if !k.is_empty() && k.len() <= 255 => Ok(()),
        _ => Err(AcquirerError::Invalid {
            field: "Idempotency-Key".into(),
            reason: "a mutating call needs one (1 to 255 characters)".into(),
        }),
    }
}

fn same_key(key: Option<&str>, request_id: &str) -> Result<(), AcquirerError> {
    has_key(key)?;
    if key != Some(request_id) {
        return Err(AcquirerError::Invalid {
            field: "Idempotency-Key".into(),
            reason: "it must equal the body's request_id".into(),
        });
    }
    Ok(())
}

fn same_field(field: &str, in_path: &str, in_body: &str) -> Result<(), AcquirerError> {
    if in_path != in_body {
        return Err(AcquirerError::Invalid {
            field: field.into(),
            reason: "the path and the body name different values".into(),
        });
    }
    Ok(())
}

/// A path segment: unreserved characters (RFC 3986) as they are, every other byte as `%XX`.
fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unsegment(segment: &str) -> Result<String, AcquirerError> {
    let bad = || AcquirerError::Protocol {
        detail: "a path segment is badly percent-encoded".into(),
    };
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}
