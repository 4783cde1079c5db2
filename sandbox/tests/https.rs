//! The sandbox over real TLS on loopback: health, a terminal's whole life through the
//! published API with the back office deciding its review, idempotent repeats, the
//! refusals the server decides itself, and a client that does not trust the sandbox's CA.

mod common;

use common::*;
use posmate_acquirer_api::http::{self, Health, Method, API_VERSION, HEALTH_PATH, IDEMPOTENCY_KEY};
use posmate_acquirer_api::{
    AcquirerError, AcquirerTerminalState, ActivationState, ApiRequest, ApiResponse,
    BindCardRequest, CardPurposeKind, CardSource, DeregisterRequest, ReopenState,
};
use posmate_sandbox::admin::{Clock, ClockChange, Decided, Reviews, TerminalView, Trade};
use posmate_sandbox::client::Client;
use posmate_sim::acquirer::{Decision, DORMANT_AFTER_MS, REOPEN_REVIEW_MS};
use zeroize::Zeroizing;

fn bind(request_id: &str, purpose: CardPurposeKind, pan: &str) -> ApiRequest {
    ApiRequest::BindCard(BindCardRequest {
        request_id: request_id.into(),
        merchant_no: MERCHANT_NO.into(),
        purpose,
        holder_name: MERCHANT_NAME.into(),
        source: CardSource::Manual {
            pan: Zeroizing::new(pan.into()),
            expiry: "1230".into(),
        },
    })
}

#[tokio::test]
async fn health_names_the_api_version_and_the_sandbox() {
    let s = Sandbox::start().await;
    let response = s
        .client
        .send(&raw(Method::Get, HEALTH_PATH, &[], None))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let health: Health = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(health.api_version, API_VERSION);
    assert_eq!(
        health.server,
        format!("posmate-sandbox {}", env!("CARGO_PKG_VERSION"))
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_terminal_lives_its_whole_life_through_the_api() {
    let s = Sandbox::start().await;
    let c = &s.client;
    sign_up(c).await;

    // Submitted: under review until the back office decides.
    let (_, reply) = call(c, &activation("act-1")).await;
    let Ok(ApiResponse::Activation(status)) = reply else {
        panic!("{reply:?}")
    };
    assert!(
        matches!(status.state, ActivationState::Pending { .. }),
        "{status:?}"
    );
    let app = status.application_id.clone();
    let poll = ApiRequest::ActivationStatus {
        application_id: app.clone(),
    };
    let (_, reply) = call(c, &poll).await;
    assert!(matches!(
        reply,
        Ok(ApiResponse::Activation(ref s)) if matches!(s.state, ActivationState::Pending { .. })
    ));
    let reviews: Reviews = admin(c, Method::Get, "reviews", None::<&()>).await;
    assert_eq!(reviews.reviews.len(), 1);
    assert_eq!(reviews.reviews[0].application_id, app);
    assert_eq!(reviews.reviews[0].sn, SN);

    let decided: Decided = admin(
        c,
        Method::Post,
        &format!("reviews/{app}/decision"),
        Some(&Decision::Approve),
    )
    .await;
    assert_eq!(decided.decision, Decision::Approve);
    let twice = c
        .admin::<Decided>(
            Method::Post,
            &format!("reviews/{app}/decision"),
            Some(&Decision::Approve),
        )
        .await
        .unwrap_err();
    assert_eq!(twice.code(), "sandbox-refused");
    assert!(twice.to_string().contains("invalid"), "{twice}");
    let reviews: Reviews = admin(c, Method::Get, "reviews", None::<&()>).await;
    assert!(reviews.reviews.is_empty());

    // Approved: the keys, sealed to the terminal, which the phone installs, then confirms.
    let (_, reply) = call(c, &poll).await;
    let Ok(ApiResponse::Activation(status)) = reply else {
        panic!("{reply:?}")
    };
    let ActivationState::Approved { bundle, kcvs } = status.state else {
        panic!("{status:?}")
    };
    assert!(!bundle.is_empty());
    assert_eq!(kcvs.len(), 3);
    let confirm = ApiRequest::ConfirmActivation {
        application_id: app.clone(),
        test_txn_ref: "TXN000001".into(),
    };
    assert_eq!(call(c, &confirm).await.1, Ok(ApiResponse::Done));
    let view: TerminalView = admin(c, Method::Get, &format!("terminals/{SN}"), None::<&()>).await;
    assert_eq!(view.state, "active");
    assert_eq!(view.applications, 1);

    // Cards: a settlement card and a credit card.
    let (response, reply) = call(c, &bind("bind-1", CardPurposeKind::Settlement, DEBIT_PAN)).await;
    assert!(
        !String::from_utf8_lossy(&response.body).contains(DEBIT_PAN),
        "only a masked number comes back"
    );
    let Ok(ApiResponse::CardBinding(settlement)) = reply else {
        panic!("{reply:?}")
    };
    let (_, reply) = call(c, &bind("bind-2", CardPurposeKind::Credit, CREDIT_PAN)).await;
    let Ok(ApiResponse::CardBinding(credit)) = reply else {
        panic!("{reply:?}")
    };
    let list = ApiRequest::Cards {
        merchant_no: MERCHANT_NO.into(),
    };
    let (_, reply) = call(c, &list).await;
    let Ok(ApiResponse::Cards { cards }) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(cards, vec![settlement.clone(), credit.clone()]);

    // The only settlement card of a merchant with an active terminal stays; a credit card goes.
    let unbind = |binding_id: &str| ApiRequest::UnbindCard {
        merchant_no: MERCHANT_NO.into(),
        binding_id: binding_id.into(),
    };
    let (response, reply) = call(c, &unbind(&settlement.binding_id)).await;
    assert_eq!(reply, Err(AcquirerError::SettlementCardRequired));
    problem(&response, 409);
    assert_eq!(
        call(c, &unbind(&credit.binding_id)).await.1,
        Ok(ApiResponse::Done)
    );

    // A trade keeps it from going dormant; then the merchant closes it.
    let traded: TerminalView = admin(
        c,
        Method::Post,
        "trades",
        Some(&Trade {
            sn: SN.into(),
            at_ms: None,
        }),
    )
    .await;
    assert_eq!(traded.state, "active");
    let deregister = ApiRequest::Deregister(DeregisterRequest {
        request_id: "dereg-1".into(),
        merchant_no: MERCHANT_NO.into(),
        sn: SN.into(),
        reason: "shop closed".into(),
    });
    let (_, reply) = call(c, &deregister).await;
    assert!(
        matches!(reply, Ok(ApiResponse::Deregistration(_))),
        "{reply:?}"
    );
    let (_, reply) = call(
        c,
        &ApiRequest::TerminalStatus {
            merchant_no: MERCHANT_NO.into(),
            sn: SN.into(),
        },
    )
    .await;
    let Ok(ApiResponse::TerminalStatus(t)) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(t.state, AcquirerTerminalState::Deregistered);
    // With no active terminal left the settlement card may go too.
    assert_eq!(
        call(c, &unbind(&settlement.binding_id)).await.1,
        Ok(ApiResponse::Done)
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn the_same_key_gets_the_same_answer_and_another_call_under_it_is_refused() {
    let s = Sandbox::start().await;
    let c = &s.client;
    sign_up(c).await;
    let first = undated(c.send(&http::to_http(&activation("act-1"))).await.unwrap());
    assert_eq!(first.status, 200);
    let again = undated(c.send(&http::to_http(&activation("act-1"))).await.unwrap());
    assert_eq!(again, first, "byte for byte");

    // Unbinding twice under one key answers as the first time, not "not found".
    let (_, reply) = call(c, &bind("bind-1", CardPurposeKind::Credit, CREDIT_PAN)).await;
    let Ok(ApiResponse::CardBinding(card)) = reply else {
        panic!("{reply:?}")
    };
    let unbind = http::to_http(&ApiRequest::UnbindCard {
        merchant_no: MERCHANT_NO.into(),
        binding_id: card.binding_id.clone(),
    });
    let first = undated(c.send(&unbind).await.unwrap());
    assert_eq!(first.status, 200);
    assert_eq!(undated(c.send(&unbind).await.unwrap()), first);
    let mut fresh_key = unbind.clone();
    fresh_key.headers.retain(|(n, _)| n != IDEMPOTENCY_KEY);
    fresh_key
        .headers
        .push((IDEMPOTENCY_KEY.into(), "unbind-again".into()));
    problem(&c.send(&fresh_key).await.unwrap(), 404);

    // Another body under a used key: 422, and nothing done.
    let mut other = http::to_http(&bind("bind-1", CardPurposeKind::Settlement, DEBIT_PAN));
    other.path = format!("/v1/merchants/{MERCHANT_NO}/cards");
    let v = problem(&c.send(&other).await.unwrap(), 422);
    assert_eq!(v["code"], "invalid");
    let (_, reply) = call(
        c,
        &ApiRequest::Cards {
            merchant_no: MERCHANT_NO.into(),
        },
    )
    .await;
    assert_eq!(reply, Ok(ApiResponse::Cards { cards: vec![] }));
    s.running.shutdown().await;
}

#[tokio::test]
async fn the_server_refuses_what_it_cannot_take_with_problems() {
    let s = Sandbox::start().await;
    let c = &s.client;
    let json = [("content-type", "application/json")];

    let v = problem(
        &c.send(&raw(Method::Get, "/v1/nothing", &[], None))
            .await
            .unwrap(),
        404,
    );
    assert_eq!(v["code"], "not-found");
    // A route asked with a method it does not take: 405 and what it takes.
    for (method, path, allow) in [
        (Method::Delete, "/v1/activations", "POST"),
        (Method::Post, HEALTH_PATH, "GET"),
        (
            Method::Get,
            "/v1/merchants/898310148160099/cards/B-1",
            "DELETE",
        ),
    ] {
        let response = c.send(&raw(method, path, &[], None)).await.unwrap();
        assert_eq!(problem(&response, 405)["code"], "not-found");
        assert_eq!(response.header("allow"), Some(allow), "{path}");
    }

    let big = vec![b' '; posmate_sandbox::MAX_BODY + 1];
    let v = problem(
        &c.send(&raw(Method::Post, "/v1/activations", &json, Some(&big)))
            .await
            .unwrap(),
        413,
    );
    assert_eq!(v["code"], "invalid");

    let text = [("content-type", "text/plain")];
    problem(
        &c.send(&raw(Method::Post, "/v1/activations", &text, Some(b"{}")))
            .await
            .unwrap(),
        415,
    );

    let mut no_key = http::to_http(&activation("act-1"));
    no_key.headers.retain(|(n, _)| n != IDEMPOTENCY_KEY);
    let v = problem(&c.send(&no_key).await.unwrap(), 422);
    assert_eq!(v["field"], "Idempotency-Key");

    // The admin surface without (or with a wrong) token.
    let anonymous = Client::new(
        &s.running.started.base_url,
        s.running.started.ca_file.as_deref().unwrap(),
    )
    .unwrap();
    let v = problem(
        &anonymous
            .send(&raw(Method::Get, "/admin/v1/reviews", &[], None))
            .await
            .unwrap(),
        401,
    );
    assert_eq!(v["code"], "unauthorized");
    let wrong = [("authorization", "Bearer 0000000000000000000000000000000000")];
    problem(
        &anonymous
            .send(&raw(Method::Get, "/admin/v1/reviews", &wrong, None))
            .await
            .unwrap(),
        401,
    );
    let e = c
        .admin::<Clock>(
            Method::Post,
            "clock",
            Some(&ClockChange {
                set_ms: Some(1),
                advance_ms: Some(1),
            }),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 422"), "{e}");
    let clock: Clock = admin(
        c,
        Method::Post,
        "clock",
        Some(&ClockChange {
            set_ms: None,
            advance_ms: Some(60_000),
        }),
    )
    .await;
    assert_eq!(
        clock.now_ms,
        posmate_sim::terminal::DEFAULT_CLOCK_BASE_MS + 60_000
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_sandbox_ca_fails_the_handshake() {
    let s = Sandbox::start().await;
    // Another sandbox's CA: a well-formed CA, just not this server's.
    let other = tempfile::tempdir().unwrap();
    let stranger = start_in(other.path(), false).await;
    let client = Client::new(
        &s.running.started.base_url,
        stranger.started.ca_file.as_deref().unwrap(),
    )
    .unwrap();
    let e = client
        .send(&raw(Method::Get, HEALTH_PATH, &[], None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "sandbox-unreachable");
    assert!(e.to_string().contains("TLS"), "{e}");
    stranger.shutdown().await;
    s.running.shutdown().await;
}

#[tokio::test]
async fn the_demo_world_is_the_one_posmate_sim_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_in(dir.path(), true).await;
    let c = client_of(&running.started);
    let view: TerminalView = admin(&c, Method::Get, "terminals/SN2026000001", None::<&()>).await;
    assert_eq!(view.state, "unknown");
    // The demo merchant is signed up: its card list exists (an unknown merchant's does not).
    let (_, reply) = call(
        &c,
        &ApiRequest::Cards {
            merchant_no: posmate_sim::demo::MERCHANT_NO.into(),
        },
    )
    .await;
    assert_eq!(reply, Ok(ApiResponse::Cards { cards: vec![] }));
    let (_, reply) = call(
        &c,
        &ApiRequest::Cards {
            merchant_no: MERCHANT_NO.into(),
        },
    )
    .await;
    assert_eq!(reply, Err(AcquirerError::UnknownMerchant));
    running.shutdown().await;
}

#[tokio::test]
async fn a_reopening_is_answered_afresh_under_its_derived_key() {
    let s = Sandbox::start().await;
    let c = &s.client;
    sign_up(c).await;
    let (_, reply) = call(c, &activation("act-1")).await;
    let Ok(ApiResponse::Activation(status)) = reply else {
        panic!("{reply:?}")
    };
    let app = status.application_id;
    let _: Decided = admin(
        c,
        Method::Post,
        &format!("reviews/{app}/decision"),
        Some(&Decision::Approve),
    )
    .await;
    let confirm = ApiRequest::ConfirmActivation {
        application_id: app,
        test_txn_ref: "TXN000001".into(),
    };
    assert_eq!(call(c, &confirm).await.1, Ok(ApiResponse::Done));
    let reopen = ApiRequest::Reopen {
        merchant_no: MERCHANT_NO.into(),
        sn: SN.into(),
    };
    let advance = |ms: u64| ClockChange {
        set_ms: None,
        advance_ms: Some(ms),
    };
    let state = |reply: Result<ApiResponse, AcquirerError>| match reply {
        Ok(ApiResponse::Reopen(r)) => r.state,
        other => panic!("{other:?}"),
    };
    // Asked while active (approved at once), then dormant, then after the review: every
    // answer under the same derived key is the situation's, not the first one replayed.
    assert_eq!(state(call(c, &reopen).await.1), ReopenState::Approved);
    let _: Clock = admin(c, Method::Post, "clock", Some(&advance(DORMANT_AFTER_MS))).await;
    assert_eq!(
        state(call(c, &reopen).await.1),
        ReopenState::Pending {
            retry_after_ms: REOPEN_REVIEW_MS
        }
    );
    let _: Clock = admin(c, Method::Post, "clock", Some(&advance(REOPEN_REVIEW_MS))).await;
    assert_eq!(state(call(c, &reopen).await.1), ReopenState::Approved);
    let view: TerminalView = admin(c, Method::Get, &format!("terminals/{SN}"), None::<&()>).await;
    assert_eq!(view.state, "active");
    s.running.shutdown().await;
}
