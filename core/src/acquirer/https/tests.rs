//! The HTTPS gateway and the default client against a real HTTPS server on a loopback port
//! (`test_server`): calls round-trip, retries are bounded and carry one Idempotency-Key,
//! decided answers are final, and every refused certificate is a typed `Tls` error sent
//! before any HTTP.

use std::sync::Arc;
use std::time::Duration;

use posmate_acquirer_api::http::{Health, API_VERSION, IDEMPOTENCY_KEY};
use rcgen::SanType;

use super::client::{ClientOptions, ReqwestClient, SpkiPin};
use super::retry::RetryPolicy;
use super::test_server::{api, Answer, LeafSpec, Pki, Server};
use super::trust::spki_of;
use super::*;
use crate::acquirer::tests::{activation, binding};
use crate::acquirer::{
    AcquirerTerminalState, ActivationState, ActivationStatus, Gateway, TerminalStatus,
};

/// Quick retries, so the tests wait little; the back-off still has to show between
/// attempts.
fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        budget: Duration::from_secs(20),
    }
}

fn trusting(pki: &Pki) -> ClientOptions {
    ClientOptions {
        extra_ca_pem: Some(pki.ca_pem()),
        ..ClientOptions::default()
    }
}

fn gateway(url: &str, options: &ClientOptions) -> HttpsGateway {
    let client = ReqwestClient::new(url, options).expect("a client");
    HttpsGateway::https(Arc::new(client), quick())
}

fn plain(status: u16) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"down for maintenance".to_vec(),
    }
}

fn terminal_status() -> TerminalStatus {
    TerminalStatus {
        sn: "SN2026000001".into(),
        state: AcquirerTerminalState::Active,
        merchant_no: Some("898310148160012".into()),
        last_trade_at_ms: None,
        dormant_after_ms: Some(1_800_000_000_000),
        now_ms: 1_767_225_600_000,
    }
}

#[tokio::test]
async fn calls_round_trip_through_a_real_https_server() {
    let pki = Pki::new();
    let pending = ActivationStatus {
        application_id: "APP-000123".into(),
        state: ActivationState::Pending {
            retry_after_ms: 30_000,
        },
    };
    let answer = pending.clone();
    let server = Server::start(
        &pki.leaf(LeafSpec::loopback()),
        api(move |req| match req {
            ApiRequest::Activate(_) => Ok(ApiResponse::Activation(answer.clone())),
            ApiRequest::Cards { .. } => Ok(ApiResponse::Cards {
                cards: vec![binding(None)],
            }),
            ApiRequest::UnbindCard { .. } => Ok(ApiResponse::Done),
            ApiRequest::TerminalStatus { .. } => Ok(ApiResponse::TerminalStatus(terminal_status())),
            _ => Err(AcquirerError::NotFound {
                what: "the test's route".into(),
            }),
        }),
    )
    .await;
    let gw = gateway(&server.url(), &trusting(&pki));

    assert_eq!(gw.activate(&activation()).await, Ok(pending));
    assert_eq!(gw.cards("898310148160012").await, Ok(vec![binding(None)]));
    assert_eq!(
        gw.unbind_card("898310148160012", "BND-00000001").await,
        Ok(())
    );
    assert_eq!(
        gw.terminal_status("898310148160012", "SN2026000001").await,
        Ok(terminal_status())
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].path, "/v1/activations");
    assert_eq!(seen[0].header(IDEMPOTENCY_KEY), Some("req-1"));
    assert_eq!(seen[2].method, Method::Delete);
    assert_eq!(
        seen[3].path,
        "/v1/merchants/898310148160012/terminals/SN2026000001"
    );
}

#[tokio::test]
async fn a_full_card_number_from_the_acquirer_is_refused_as_over_any_exchange() {
    let pki = Pki::new();
    let server = Server::start(
        &pki.leaf(LeafSpec::loopback()),
        api(|_| {
            let mut leaked = binding(None);
            leaked.masked_pan = "6222021234567890128".into();
            Ok(ApiResponse::Cards {
                cards: vec![leaked],
            })
        }),
    )
    .await;
    let e = gateway(&server.url(), &trusting(&pki))
        .cards("898310148160012")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "protocol");
    assert!(!e.to_string().contains("1234567890"), "{e}");
}

#[tokio::test]
async fn a_503_is_retried_with_back_off_and_the_same_idempotency_key() {
    let pki = Pki::new();
    let answer = ActivationStatus {
        application_id: "APP-000123".into(),
        state: ActivationState::Confirmed,
    };
    let reply = answer.clone();
    let acquirer = api(move |_| Ok(ApiResponse::Activation(reply.clone())));
    let server = Server::start(&pki.leaf(LeafSpec::loopback()), move |req, n| {
        if n < 2 {
            Answer::Reply(plain(503))
        } else {
            acquirer(req, n)
        }
    })
    .await;
    let gw = gateway(&server.url(), &trusting(&pki));
    assert_eq!(gw.activate(&activation()).await, Ok(answer));

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|r| r.header(IDEMPOTENCY_KEY) == Some("req-1")));
    let at = server.arrivals();
    for pair in at.windows(2) {
        // The back-off waits at least half its base (the jitter's floor), 50 ms here.
        assert!(pair[1] - pair[0] >= Duration::from_millis(50), "{at:?}");
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    let pki = Pki::new();
    let server = Server::start(&pki.leaf(LeafSpec::loopback()), |_, _| {
        Answer::Reply(plain(503))
    })
    .await;
    let e = gateway(&server.url(), &trusting(&pki))
        .activate(&activation())
        .await
        .unwrap_err();
    assert_eq!(e, AcquirerError::Unavailable { status: 503 });
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_problem_the_acquirer_decided_is_not_retried() {
    let pki = Pki::new();
    let server = Server::start(
        &pki.leaf(LeafSpec::loopback()),
        api(|req| match req {
            ApiRequest::Activate(r) => Err(AcquirerError::AlreadyActivated { sn: r.sn }),
            _ => Ok(ApiResponse::Done),
        }),
    )
    .await;
    let e = gateway(&server.url(), &trusting(&pki))
        .activate(&activation())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        AcquirerError::AlreadyActivated {
            sn: "SN2026000001".into()
        }
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_is_retried_with_the_same_key() {
    let pki = Pki::new();
    let server = Server::start(&pki.leaf(LeafSpec::loopback()), |_, _| Answer::Never).await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(500),
        ..trusting(&pki)
    };
    let e = gateway(&server.url(), &options)
        .activate(&activation())
        .await
        .unwrap_err();
    assert_eq!(e, AcquirerError::Timeout);
    let seen = server.requests();
    assert_eq!(seen.len(), 3, "each attempt reached the server");
    assert!(seen
        .iter()
        .all(|r| r.header(IDEMPOTENCY_KEY) == Some("req-1")));
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = ReqwestClient::new(
        &format!("https://127.0.0.1:{port}"),
        &ClientOptions::default(),
    )
    .unwrap();
    let failure = client
        .send(posmate_acquirer_api::http::to_http(&ApiRequest::Cards {
            merchant_no: "1".into(),
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(failure, HttpFailure::CouldNotConnect { .. }),
        "{failure:?}"
    );
    let e = HttpsGateway::https(Arc::new(client), quick())
        .cards("1")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unreachable", "{e:?}");
    assert!(e.needs_internet());
}

/// Connects with `options` to a server presenting `leaf`; expects a `Tls` refusal for
/// `reason` before any HTTP, and no second attempt.
async fn refused(leaf: super::test_server::Leaf, options: ClientOptions, reason: TlsReason) {
    let server = Server::start(&leaf, api(|_| Ok(ApiResponse::Done))).await;
    let e = gateway(&server.url(), &options)
        .unbind_card("898310148160012", "BND-1")
        .await
        .unwrap_err();
    match &e {
        AcquirerError::Tls { reason: got, .. } => assert_eq!(*got, reason, "{e}"),
        other => panic!("expected a TLS refusal for {reason}, got {other:?}"),
    }
    assert!(!e.is_retryable());
    assert_eq!(e.user_action(), reason.fix());
    assert!(server.requests().is_empty(), "no HTTP request may be sent");
    assert_eq!(
        server.connections(),
        1,
        "a refused certificate is not retried"
    );
}

#[tokio::test]
async fn an_untrusted_ca_is_refused_before_anything_is_sent() {
    let (ours, theirs) = (Pki::new(), Pki::new());
    refused(
        theirs.leaf(LeafSpec::loopback()),
        trusting(&ours),
        TlsReason::UnknownCa,
    )
    .await;
}

#[tokio::test]
async fn an_expired_certificate_is_refused_before_anything_is_sent() {
    let pki = Pki::new();
    let expired = LeafSpec {
        validity: ((2020, 1, 1), (2021, 1, 1)),
        ..LeafSpec::loopback()
    };
    refused(pki.leaf(expired), trusting(&pki), TlsReason::Expired).await;
}

#[tokio::test]
async fn another_hosts_certificate_is_refused_before_anything_is_sent() {
    let pki = Pki::new();
    let other = LeafSpec {
        san: SanType::DnsName("acquirer.example.com".try_into().unwrap()),
        ..LeafSpec::loopback()
    };
    refused(pki.leaf(other), trusting(&pki), TlsReason::WrongHost).await;
}

#[tokio::test]
async fn a_pin_mismatch_is_refused_before_anything_is_sent() {
    let pki = Pki::new();
    let elsewhere = pki.leaf(LeafSpec::loopback());
    let options = ClientOptions {
        pins: vec![SpkiPin::of_spki(&elsewhere.spki)],
        ..trusting(&pki)
    };
    refused(
        pki.leaf(LeafSpec::loopback()),
        options,
        TlsReason::PinMismatch,
    )
    .await;
}

#[tokio::test]
async fn the_right_pin_connects_and_health_reports_the_api() {
    let pki = Pki::new();
    let leaf = pki.leaf(LeafSpec::loopback());
    assert_eq!(spki_of(&leaf.cert), Some(leaf.spki.as_slice()));
    let pin = SpkiPin::of_spki(&leaf.spki);
    assert_eq!(SpkiPin::parse(&pin.to_string()), Ok(pin));
    let server = Server::start(&leaf, |req, _| {
        assert_eq!(req.path, HEALTH_PATH);
        Answer::Reply(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&Health {
                api_version: API_VERSION,
                server: "posmate-test".into(),
            })
            .unwrap(),
        })
    })
    .await;
    let options = ClientOptions {
        pins: vec![
            SpkiPin::parse("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap(),
            pin,
        ],
        ..trusting(&pki)
    };
    let client = ReqwestClient::new(&server.url(), &options).unwrap();
    assert_eq!(
        health(&client).await,
        Ok(Health {
            api_version: API_VERSION,
            server: "posmate-test".into()
        })
    );
}

#[test]
fn bad_pins_and_ca_files_are_refused_when_configured() {
    for bad in ["", "sha256/", "sha256/not base64!", "c2hvcnQ="] {
        assert!(SpkiPin::parse(bad).is_err(), "{bad}");
    }
    assert!(super::trust::certificates_from_pem(b"").is_err());
    assert!(super::trust::certificates_from_pem(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    .is_err());
    assert_eq!(
        super::trust::certificates_from_pem(&Pki::new().ca_pem()).map(|c| c.len()),
        Ok(1)
    );
    let options = ClientOptions {
        extra_ca_pem: Some(b"not a certificate".to_vec()),
        ..ClientOptions::default()
    };
    assert!(ReqwestClient::new("https://127.0.0.1:1", &options).is_err());
    for url in ["ftp://host", "https://host/?q=1", "not a url"] {
        assert!(
            ReqwestClient::new(url, &ClientOptions::default()).is_err(),
            "{url}"
        );
    }
}
