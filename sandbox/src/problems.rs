//! Refusals the server decides before the API sees a call, as RFC 9457 problems in the
//! very shape `posmate_acquirer_api::http::problem` gives the API's own errors, so a client
//! reads them the same way. Where HTTP has a more precise status than the error's usual
//! one (413, 415, 405, 503) the problem carries that status.

use posmate_acquirer_api::http::{self, HttpResponse, Method, PROBLEM_BASE, PROBLEM_JSON};
use posmate_acquirer_api::AcquirerError;
use serde_json::{json, Value};

use crate::service::ADMIN_PREFIX;

/// The largest request body the server reads.
pub const MAX_BODY: usize = 64 * 1024;

/// `e` as a problem answered with `status` instead of its usual one.
pub fn with_status(e: &AcquirerError, status: u16) -> HttpResponse {
    let mut object: Value = serde_json::from_slice(&http::problem(e)).unwrap_or_else(|_| json!({}));
    object["status"] = status.into();
    answer(status, &object)
}

/// A body over [`MAX_BODY`].
pub fn too_large() -> HttpResponse {
    with_status(
        &AcquirerError::Invalid {
            field: "body".into(),
            reason: format!("larger than {} KiB", MAX_BODY / 1024),
        },
        413,
    )
}

/// A body that is not JSON by its `Content-Type`.
pub fn not_json() -> HttpResponse {
    with_status(
        &AcquirerError::Invalid {
            field: "Content-Type".into(),
            reason: "a body must be application/json".into(),
        },
        415,
    )
}

/// A method the route at `path` does not answer: 405 with the `Allow` header RFC 9110
/// requires (the admin surface's routes take `GET` and `POST`), or 404 where there is no
/// route at all, whatever the method.
pub fn wrong_method(path: &str) -> HttpResponse {
    let allowed = if path.starts_with(ADMIN_PREFIX) {
        &[Method::Get, Method::Post][..]
    } else {
        http::allowed_methods(path)
    };
    if allowed.is_empty() {
        return http::reply_to_http(&Err(AcquirerError::NotFound {
            what: "a route at this path".into(),
        }));
    }
    let mut response = with_status(
        &AcquirerError::NotFound {
            what: "a route for this method".into(),
        },
        405,
    );
    let names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    response.headers.push(("allow".into(), names.join(", ")));
    response
}

/// The books could not be written: nothing was done, and retrying is safe.
pub fn unavailable() -> HttpResponse {
    http::reply_to_http(&Err(AcquirerError::Unavailable { status: 503 }))
}

/// An admin call without the admin token. Not an API error (the API has no such code):
/// the back office's own, in the same shape.
pub fn unauthorized() -> HttpResponse {
    let mut response = answer(
        401,
        &json!({
            "type": format!("{PROBLEM_BASE}unauthorized"),
            "title": "the admin surface needs the sandbox's admin token",
            "status": 401,
            "code": "unauthorized",
            "retryable": false,
            "needs_merchant": false,
            "hint": "send Authorization: Bearer <the admin-token file of the data directory>",
        }),
    );
    response.headers.push((
        "www-authenticate".into(),
        "Bearer realm=\"posmate-sandbox-admin\"".into(),
    ));
    response
}

fn answer(status: u16, object: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), PROBLEM_JSON.into())],
        body: serde_json::to_vec(object).unwrap_or_default(),
    }
}

/// A body that ended early or arrived too slowly.
pub fn truncated() -> HttpResponse {
    with_status(
        &AcquirerError::Protocol {
            detail: "the request body was cut short or too slow".into(),
        },
        400,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_method_is_405_with_allow_where_there_is_a_route_and_404_elsewhere() {
        let r = wrong_method("/v1/merchants/M/cards");
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")));
        let r = wrong_method("/admin/v1/reviews");
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")));
        let r = wrong_method("/v1/nothing");
        assert_eq!((r.status, r.header("allow")), (404, None));
    }
}
