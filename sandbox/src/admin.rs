//! The back office (`/admin/v1/…`): what an acquirer's staff do outside the merchant API —
//! sign a merchant up, register a terminal from the manufacturer's feed, decide the
//! activation reviews waiting for a person, move the acquirer's clock, report a trade from
//! the payment network and look a terminal up. JSON in and out; failures are problems in
//! the API's shape. It is the sandbox's own surface, not part of the published API
//! (`docs/acquirer-api.md`, "The sandbox's admin surface").

use posmate_acquirer_api::http::{reply_to_http, HttpResponse, Method, JSON};
use posmate_acquirer_api::AcquirerError;
use posmate_sim::acquirer::{Decision, MerchantSetup, PendingReview, Review};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::books::Books;

/// How a merchant's activations are reviewed, as the admin surface names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReviewJson {
    /// Approved on submission.
    Instant,
    /// Pending until the back office decides (`reviews/{id}/decision`).
    Manual,
    /// Approved at the `polls`th status poll.
    AfterPolls { polls: u32 },
    /// Approved once `ms` of the acquirer's clock have passed.
    AfterMs { ms: u64 },
    /// Rejected at the first status poll.
    Reject { reason_code: String, reason: String },
}

impl From<ReviewJson> for Review {
    fn from(r: ReviewJson) -> Self {
        match r {
            ReviewJson::Instant => Review::Instant,
            ReviewJson::Manual => Review::Manual,
            ReviewJson::AfterPolls { polls } => Review::AfterPolls(polls),
            ReviewJson::AfterMs { ms } => Review::After(ms),
            ReviewJson::Reject {
                reason_code,
                reason,
            } => Review::Reject {
                reason_code,
                reason,
            },
        }
    }
}

/// `POST merchants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantJson {
    pub merchant_no: String,
    pub legal_name: String,
    /// Manual unless said otherwise: a sandbox's staff decide.
    #[serde(default = "manual")]
    pub review: ReviewJson,
}

fn manual() -> ReviewJson {
    ReviewJson::Manual
}

/// `POST terminals`: the manufacturer's record of a terminal and the numbers the acquirer
/// gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalRegistration {
    pub sn: String,
    /// The terminal's factory Ed25519 public key, 64 hex digits.
    pub device_key: String,
    pub terminal_no: String,
    pub activation_code: String,
}

/// A terminal as the back office sees it, whoever it is activated for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalView {
    pub sn: String,
    /// "unknown", "pending", "active", "dormant" or "deregistered".
    pub state: String,
    /// Activation applications ever made for it.
    pub applications: usize,
}

/// `GET reviews`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviews {
    pub reviews: Vec<PendingReview>,
}

/// `POST reviews/{id}/decision`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub application_id: String,
    #[serde(flatten)]
    pub decision: Decision,
}

/// `POST clock`: set it, or let time pass (exactly one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance_ms: Option<u64>,
}

/// The acquirer's clock (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub now_ms: u64,
}

/// `POST trades`: the payment network reports a trade (at the acquirer's now unless
/// `at_ms` says when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    pub sn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// Answers the admin call `method` on `path` (after `/admin/v1/`).
pub fn handle(books: &mut Books, method: Method, path: &str, body: &[u8]) -> HttpResponse {
    match route(books, method, path, body) {
        Ok(response) => response,
        Err(e) => reply_to_http(&Err(e)),
    }
}

fn route(
    books: &mut Books,
    method: Method,
    path: &str,
    body: &[u8],
) -> Result<HttpResponse, AcquirerError> {
    let acquirer = &books.acquirer;
    let segments: Vec<&str> = path.split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Post, ["merchants"]) => {
            let m: MerchantJson = decode("the merchant", body)?;
            text("merchant_no", &m.merchant_no, 32, |c| c.is_ascii_digit())?;
            text("legal_name", &m.legal_name, 100, |c| !c.is_control())?;
            if let ReviewJson::Reject {
                reason_code,
                reason,
            } = &m.review
            {
                reason_text(reason_code, reason)?;
            }
            acquirer.register_merchant(MerchantSetup {
                merchant_no: m.merchant_no.clone(),
                legal_name: m.legal_name.clone(),
                review: m.review.clone().into(),
            });
            ok(&m)
        }
        (Method::Post, ["terminals"]) => {
            let t: TerminalRegistration = decode("the terminal", body)?;
            text("sn", &t.sn, 32, |c| c.is_ascii_alphanumeric())?;
            text("terminal_no", &t.terminal_no, 16, |c| c.is_ascii_digit())?;
            text("activation_code", &t.activation_code, 32, |c| {
                c.is_ascii_alphanumeric()
            })?;
            let key = device_key(&t.device_key)?;
            acquirer.register_terminal(&t.sn, key, &t.terminal_no, &t.activation_code);
            ok(&view(books, &t.sn))
        }
        (Method::Get, ["terminals", sn]) => ok(&view(books, sn)),
        (Method::Get, ["reviews"]) => ok(&Reviews {
            reviews: acquirer.pending_reviews(),
        }),
        (Method::Post, ["reviews", id, "decision"]) => {
            let decision: Decision = decode("the decision", body)?;
            if let Decision::Reject {
                reason_code,
                reason,
            } = &decision
            {
                reason_text(reason_code, reason)?;
            }
            acquirer.decide_review(id, decision.clone())?;
            ok(&Decided {
                application_id: (*id).to_owned(),
                decision,
            })
        }
        (Method::Get, ["clock"]) => ok(&Clock {
            now_ms: acquirer.now_ms(),
        }),
        (Method::Post, ["clock"]) => {
            let change: ClockChange = decode("the clock change", body)?;
            match (change.set_ms, change.advance_ms) {
                (Some(ms), None) => acquirer.set_now(ms),
                (None, Some(ms)) => acquirer.advance(ms),
                _ => {
                    return Err(AcquirerError::Invalid {
                        field: "clock".into(),
                        reason: "give exactly one of set_ms and advance_ms".into(),
                    })
                }
            }
            ok(&Clock {
                now_ms: acquirer.now_ms(),
            })
        }
        (Method::Post, ["trades"]) => {
            let trade: Trade = decode("the trade", body)?;
            text("sn", &trade.sn, 32, |c| c.is_ascii_alphanumeric())?;
            let at = trade.at_ms.unwrap_or_else(|| acquirer.now_ms());
            acquirer.record_trade(&trade.sn, at);
            ok(&view(books, &trade.sn))
        }
        _ => Err(AcquirerError::NotFound {
            what: "admin route".into(),
        }),
    }
}

fn view(books: &Books, sn: &str) -> TerminalView {
    TerminalView {
        sn: sn.to_owned(),
        state: books.acquirer.terminal_state(sn).to_owned(),
        applications: books.acquirer.activations(sn),
    }
}

fn ok(value: &impl Serialize) -> Result<HttpResponse, AcquirerError> {
    Ok(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), JSON.into())],
        body: serde_json::to_vec(value).map_err(|_| AcquirerError::Protocol {
            detail: "the answer does not serialize".into(),
        })?,
    })
}

/// A body of the route's type. Its text is never quoted back: an activation code may be
/// in it.
fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, AcquirerError> {
    serde_json::from_slice(body).map_err(|e| AcquirerError::Protocol {
        detail: format!(
            "{what} is not of the expected shape (line {}, column {})",
            e.line(),
            e.column()
        ),
    })
}

fn text(
    field: &str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), AcquirerError> {
    if value.is_empty() || value.chars().count() > max || !value.chars().all(allowed) {
        return Err(AcquirerError::Invalid {
            field: field.into(),
            reason: format!("1 to {max} characters of the kind the field takes"),
        });
    }
    Ok(())
}

fn reason_text(code: &str, reason: &str) -> Result<(), AcquirerError> {
    text("reason_code", code, 16, |c| c.is_ascii_alphanumeric())?;
    text("reason", reason, 200, |c| !c.is_control())
}

fn device_key(hex: &str) -> Result<[u8; 32], AcquirerError> {
    let bad = || AcquirerError::Invalid {
        field: "device_key".into(),
        reason: "64 hex digits (the terminal's Ed25519 public key)".into(),
    };
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(bad)?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_keys_are_64_hex_digits() {
        assert_eq!(device_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        for bad in ["ab", &"zz".repeat(32), &"é".repeat(32)] {
            assert_eq!(device_key(bad).unwrap_err().code(), "invalid", "{bad}");
        }
    }
}
