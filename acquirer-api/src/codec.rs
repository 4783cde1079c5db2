//! The JSON encoding of calls and answers. A success is the [`ApiResponse`] itself; a failure
//! travels as `{"error": {"code": …}}` and decodes to the very [`AcquirerError`] the acquirer
//! chose. Both sides use these four functions, so the acquirer encodes exactly what the phone
//! decodes.

use serde::{Deserialize, Serialize};

use crate::api::{ApiRequest, ApiResponse};
use crate::error::AcquirerError;

/// `{"error": {...}}`: how a failure travels.
#[derive(Serialize, Deserialize)]
struct ErrorReply {
    error: AcquirerError,
}

/// A serde_json error without the offending text: it may be a card number.
fn where_json_broke(what: &str, e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "not of the expected shape",
        serde_json::error::Category::Eof => "cut short",
    };
    format!(
        "{what} is {kind} (line {}, column {})",
        e.line(),
        e.column()
    )
}

/// Writes a call as the phone sends it.
pub fn encode_request(req: &ApiRequest) -> Vec<u8> {
    serde_json::to_vec(req).expect("API requests always serialize")
}

/// Reads a request on the acquirer's side; a malformed one is a `Protocol` error to send
/// back.
pub fn decode_request(body: &[u8]) -> Result<ApiRequest, AcquirerError> {
    serde_json::from_slice(body).map_err(|e| AcquirerError::Protocol {
        detail: where_json_broke("the request", &e),
    })
}

/// Writes the acquirer's answer: the response itself, or `{"error": {"code": …}}`.
pub fn encode_reply(reply: &Result<ApiResponse, AcquirerError>) -> Vec<u8> {
    match reply {
        Ok(resp) => serde_json::to_vec(resp),
        Err(e) => serde_json::to_vec(&ErrorReply { error: e.clone() }),
    }
    .expect("API replies always serialize")
}

/// Reads the acquirer's answer. An error code this side does not know (a newer acquirer)
/// and any other malformed answer are `Protocol` errors.
pub fn decode_reply(body: &[u8]) -> Result<ApiResponse, AcquirerError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AcquirerError::Protocol {
            detail: where_json_broke("the answer", &e),
        })?;
    if let Some(error) = value.get("error") {
        let code = error
            .get("code")
            .and_then(|c| c.as_str())
            .map(|c| c.chars().take(40).collect::<String>())
            .unwrap_or_default();
        return Err(match serde_json::from_value::<ErrorReply>(value) {
            Ok(reply) => reply.error,
            Err(e) => AcquirerError::Protocol {
                detail: format!(
                    "error '{code}' is unknown or malformed ({})",
                    where_json_broke("it", &e)
                ),
            },
        });
    }
    serde_json::from_value(value).map_err(|e| AcquirerError::Protocol {
        detail: where_json_broke("the answer", &e),
    })
}
