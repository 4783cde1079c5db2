//! A sandbox process killed with SIGKILL — no shutdown, no flush — and restarted from the
//! same data directory has every mutation it answered: the books are on disk before an
//! answer leaves, and the CA, server certificate names and admin token are reused.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use posmate_acquirer_api::http::{self, Method};
use posmate_acquirer_api::{
    ActivationState, ApiRequest, ApiResponse, BindCardRequest, CardPurposeKind, CardSource,
};
use posmate_sandbox::admin::{Clock, ClockChange, Decided, Reviews};
use posmate_sandbox::client::Client;
use posmate_sim::acquirer::Decision;
use tokio::process::Child;
use zeroize::Zeroizing;

/// The sandbox as a child process, and what it printed at start.
async fn spawn(dir: &Path) -> (Child, Client, PathBuf) {
    let (child, started) = spawn_binary(dir).await;
    let ca = PathBuf::from(started["ca_file"].as_str().unwrap());
    let client = Client::new(started["base_url"].as_str().unwrap(), &ca)
        .unwrap()
        .with_token_file(Path::new(started["token_file"].as_str().unwrap()))
        .unwrap();
    (child, client, ca)
}

#[tokio::test]
async fn a_killed_sandbox_restarts_with_everything_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, c, ca) = spawn(dir.path()).await;
    let ca_pem = std::fs::read(&ca).unwrap();
    sign_up(&c).await;
    let submitted = undated(c.send(&http::to_http(&activation("act-1"))).await.unwrap());
    assert_eq!(submitted.status, 200);
    let reviews: Reviews = admin(&c, Method::Get, "reviews", None::<&()>).await;
    let app = reviews.reviews[0].application_id.clone();
    let _: Decided = admin(
        &c,
        Method::Post,
        &format!("reviews/{app}/decision"),
        Some(&Decision::Approve),
    )
    .await;
    let poll = ApiRequest::ActivationStatus {
        application_id: app.clone(),
    };
    let (_, approved) = call(&c, &poll).await;
    let Ok(ApiResponse::Activation(approved)) = approved else {
        panic!("{approved:?}")
    };
    assert!(matches!(approved.state, ActivationState::Approved { .. }));
    let bind = ApiRequest::BindCard(BindCardRequest {
        request_id: "bind-1".into(),
        merchant_no: MERCHANT_NO.into(),
        purpose: CardPurposeKind::Credit,
        holder_name: MERCHANT_NAME.into(),
        source: CardSource::Manual {
            pan: Zeroizing::new(CREDIT_PAN.into()),
            expiry: "1230".into(),
        },
    });
    let bound = undated(c.send(&http::to_http(&bind)).await.unwrap());
    assert_eq!(bound.status, 200);
    let clock: Clock = admin(
        &c,
        Method::Post,
        "clock",
        Some(&ClockChange {
            set_ms: None,
            advance_ms: Some(3_600_000),
        }),
    )
    .await;

    // SIGKILL: nothing runs after the last answer.
    child.kill().await.unwrap();
    let (_child, c, ca_again) = spawn(dir.path()).await;
    assert_eq!(std::fs::read(ca_again).unwrap(), ca_pem, "the same CA");

    // The same keys replay the very answers; the review and the keys stayed as answered.
    assert_eq!(
        undated(c.send(&http::to_http(&activation("act-1"))).await.unwrap()),
        submitted
    );
    assert_eq!(undated(c.send(&http::to_http(&bind)).await.unwrap()), bound);
    let (_, after) = call(&c, &poll).await;
    assert_eq!(
        after,
        Ok(ApiResponse::Activation(approved)),
        "the same sealed keys"
    );
    let reviews: Reviews = admin(&c, Method::Get, "reviews", None::<&()>).await;
    assert!(reviews.reviews.is_empty());
    let now: Clock = admin(&c, Method::Get, "clock", None::<&()>).await;
    assert_eq!(now, clock);
    let (_, cards) = call(
        &c,
        &ApiRequest::Cards {
            merchant_no: MERCHANT_NO.into(),
        },
    )
    .await;
    let Ok(ApiResponse::Cards { cards }) = cards else {
        panic!("{cards:?}")
    };
    assert_eq!(cards.len(), 1);
    assert!(
        !std::fs::read_to_string(dir.path().join(posmate_sandbox::BOOKS_FILE))
            .unwrap()
            .contains(CREDIT_PAN)
    );
}
