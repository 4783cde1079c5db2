//! The HTTP mapping on its own: every call and answer through both sides, problems, and
//! what a server refuses before it acts.

use zeroize::Zeroizing;

use crate::http::*;
use crate::tests::{activation, every_activation_state, every_error};
use crate::*;

fn binding() -> CardBinding {
    CardBinding {
        binding_id: "BND-00000042".into(),
        merchant_no: "898310148160012".into(),
        purpose: CardPurposeKind::Settlement,
        masked_pan: "622202*********0128".into(),
        issuer: Some("ICBC".into()),
        holder_name: "Zhang San Noodles".into(),
        bound_at_ms: 1_767_225_600_000,
        replaced: None,
    }
}

pub(crate) fn every_request() -> Vec<ApiRequest> {
    vec![
        ApiRequest::Activate(activation()),
        ApiRequest::ActivationStatus {
            application_id: "APP 7/../1".into(),
        },
        ApiRequest::ConfirmActivation {
            application_id: "APP-1".into(),
            test_txn_ref: "TST000000000009".into(),
        },
        ApiRequest::BindCard(BindCardRequest {
            request_id: "req-2".into(),
            merchant_no: "898310148160012".into(),
            purpose: CardPurposeKind::Credit,
            holder_name: "Zhang San Noodles".into(),
            source: CardSource::Manual {
                pan: Zeroizing::new("6222021234567890128".into()),
                expiry: "0330".into(),
            },
        }),
        ApiRequest::UnbindCard {
            merchant_no: "898310148160012".into(),
            binding_id: "BND-00000042".into(),
        },
        ApiRequest::Cards {
            merchant_no: "898310148160012".into(),
        },
        ApiRequest::Deregister(DeregisterRequest {
            request_id: "req-3".into(),
            merchant_no: "898310148160012".into(),
            sn: "SN2026000001".into(),
            reason: "shop closed".into(),
        }),
        ApiRequest::Reopen {
            merchant_no: "898310148160012".into(),
            sn: "SN2026000001".into(),
        },
        ApiRequest::TerminalStatus {
            merchant_no: "898310148160012".into(),
            sn: "SN-2026-000001".into(),
        },
    ]
}

/// A success answer for each request of [`every_request`], in order.
pub(crate) fn answers() -> Vec<Vec<ApiResponse>> {
    let activations: Vec<ApiResponse> = every_activation_state()
        .into_iter()
        .map(|state| {
            ApiResponse::Activation(ActivationStatus {
                application_id: "APP-1".into(),
                state,
            })
        })
        .collect();
    vec![
        activations.clone(),
        activations,
        vec![ApiResponse::Done],
        vec![ApiResponse::CardBinding(binding())],
        vec![ApiResponse::Done],
        vec![
            ApiResponse::Cards { cards: vec![] },
            ApiResponse::Cards {
                cards: vec![binding(), binding()],
            },
        ],
        vec![ApiResponse::Deregistration(Deregistration {
            reference: "DRG-2026-000007".into(),
            at_ms: 1,
            records_retained_until_ms: 2,
        })],
        vec![
            ApiResponse::Reopen(ReopenStatus {
                state: ReopenState::Pending {
                    retry_after_ms: 5_000,
                },
            }),
            ApiResponse::Reopen(ReopenStatus {
                state: ReopenState::Approved,
            }),
        ],
        vec![ApiResponse::TerminalStatus(TerminalStatus {
            sn: "SN2026000001".into(),
            state: AcquirerTerminalState::Dormant,
            merchant_no: None,
            last_trade_at_ms: Some(3),
            dormant_after_ms: None,
            now_ms: 4,
        })],
    ]
}

#[test]
fn every_call_reads_back_as_itself_and_mutating_ones_carry_a_key() {
    for req in every_request() {
        let http = to_http(&req);
        assert!(http.path.starts_with("/v1/"), "{http:?}");
        assert!(
            !http.path.contains(' ') && !http.path.contains("/../"),
            "segments are encoded: {}",
            http.path
        );
        let mutating = http.method != Method::Get;
        assert_eq!(http.header(IDEMPOTENCY_KEY).is_some(), mutating, "{http:?}");
        assert_eq!(from_http(&http).unwrap(), req);
    }
}

#[test]
fn every_answer_reads_back_as_itself() {
    for (req, answers) in every_request().iter().zip(answers()) {
        for answer in answers {
            let http = reply_to_http(&Ok(answer.clone()));
            assert_eq!(http.status, 200);
            assert_eq!(http.header("content-type"), Some(JSON));
            assert_eq!(reply_from_http(req, &http).unwrap(), answer);
        }
    }
}

#[test]
fn every_error_is_a_problem_object_and_reads_back_as_itself() {
    let req = ApiRequest::Activate(activation());
    for e in every_error() {
        let http = reply_to_http(&Err(e.clone()));
        assert_eq!(http.header("content-type"), Some(PROBLEM_JSON));
        assert_eq!(http.status, status_of(&e));
        assert!(http.status >= 400, "{e:?}");
        let object: serde_json::Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(object["type"], format!("{PROBLEM_BASE}{}", e.code()));
        assert_eq!(object["code"], e.code());
        assert_eq!(object["status"], http.status);
        assert_eq!(object["title"], e.to_string());
        assert_eq!(object["retryable"], e.is_retryable());
        assert_eq!(object["needs_merchant"], needs_merchant(&e));
        assert_eq!(reply_from_http(&req, &http), Err(e));
    }
}

#[test]
fn answers_that_are_not_the_api_are_typed() {
    let req = ApiRequest::Cards {
        merchant_no: "1".into(),
    };
    let answer = |status, media: &str, body: &[u8]| HttpResponse {
        status,
        headers: vec![("content-type".into(), media.into())],
        body: body.to_vec(),
    };
    assert_eq!(
        reply_from_http(&req, &answer(503, "text/html", b"<h1>down</h1>")),
        Err(AcquirerError::Unavailable { status: 503 })
    );
    for bad in [
        answer(404, "text/html", b"nope"),
        answer(200, JSON, b"{\"cards\": 3}"),
        answer(200, JSON, b"not json"),
        answer(409, PROBLEM_JSON, b"{\"code\": \"brand-new-code\"}"),
        answer(409, "application/problem+json; charset=utf-8", b"{"),
    ] {
        let e = reply_from_http(&req, &bad).unwrap_err();
        assert_eq!(e.code(), "protocol", "{bad:?}: {e:?}");
    }
}

#[test]
fn a_server_refuses_calls_it_cannot_trust_before_acting() {
    let good = to_http(&every_request()[0]);
    let mut no_key = good.clone();
    no_key.headers.retain(|(n, _)| n != IDEMPOTENCY_KEY);
    let mut other_key = good.clone();
    other_key
        .headers
        .push((IDEMPOTENCY_KEY.into(), "someone-else".into()));
    other_key.headers.remove(2);
    let mut wrong_method = good.clone();
    wrong_method.method = Method::Delete;
    let mut body_path_disagree = to_http(&every_request()[6]);
    body_path_disagree.path = body_path_disagree.path.replace("SN2026000001", "SN2");
    let mut bad_escape = good.clone();
    bad_escape.path = "/v1/activations/%G1".into();
    bad_escape.method = Method::Get;
    let card = to_http(&every_request()[3]);
    let mut broken_body = card.clone();
    broken_body.body = Some(b"{\"pan\": \"6222021234567890128\"".to_vec());

    let code = |r: &HttpRequest| from_http(r).unwrap_err().code();
    assert_eq!(code(&no_key), "invalid");
    assert_eq!(code(&other_key), "invalid");
    assert_eq!(code(&wrong_method), "not-found");
    assert_eq!(code(&body_path_disagree), "invalid");
    assert_eq!(code(&bad_escape), "protocol");
    let e = from_http(&broken_body).unwrap_err();
    assert_eq!(e.code(), "protocol");
    assert!(!e.to_string().contains("6222"), "{e}");
    for path in ["/v2/activations", "/", "/v1/", "/v1/merchants/1/nothing"] {
        let mut r = good.clone();
        r.path = path.into();
        assert_eq!(code(&r), "not-found", "{path}");
    }
}

#[test]
fn health_is_no_call_of_the_api() {
    let health = HttpRequest {
        method: Method::Get,
        path: HEALTH_PATH.into(),
        headers: vec![],
        body: None,
    };
    // The server answers it itself, before the API's routes.
    assert_eq!(from_http(&health).unwrap_err().code(), "not-found");
    assert!(HEALTH_PATH.starts_with(&format!("/v{API_VERSION}/")));
}

#[test]
fn the_allowed_methods_of_a_route_are_exactly_those_from_http_reads() {
    for request in every_request() {
        let http = to_http(&request);
        let allowed = allowed_methods(&http.path);
        assert!(allowed.contains(&http.method), "{http:?}");
        for method in [Method::Get, Method::Post, Method::Delete] {
            if !allowed.contains(&method) {
                let other = HttpRequest {
                    method,
                    ..http.clone()
                };
                assert!(
                    matches!(from_http(&other), Err(AcquirerError::NotFound { .. })),
                    "{method:?} {}",
                    http.path
                );
            }
        }
    }
    assert_eq!(allowed_methods(HEALTH_PATH), &[Method::Get]);
    assert!(allowed_methods("/v1/merchants").is_empty());
    assert!(allowed_methods("/v2/activations").is_empty());
}
