//! Every call, answer and error through `RemoteGateway` and the JSON wire, with a fake
//! acquirer behind a fake `Exchange` that decodes what the gateway sent.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use posmate_proto::keybundle::KeyKind;
use zeroize::Zeroizing;

use super::*;

type Handler = Box<dyn Fn(ApiRequest) -> Result<ApiResponse, AcquirerError> + Send + Sync>;

/// An acquirer that answers each decoded request with `handler`, keeping the raw bodies.
struct Fake {
    handler: Handler,
    bodies: Sent,
}

/// The bodies a `Fake` received.
type Sent = Arc<Mutex<Vec<Vec<u8>>>>;

impl Fake {
    fn new(
        handler: impl Fn(ApiRequest) -> Result<ApiResponse, AcquirerError> + Send + Sync + 'static,
    ) -> RemoteGateway<Fake> {
        Fake::recording(handler).0
    }

    fn recording(
        handler: impl Fn(ApiRequest) -> Result<ApiResponse, AcquirerError> + Send + Sync + 'static,
    ) -> (RemoteGateway<Fake>, Sent) {
        let bodies = Sent::default();
        let gw = RemoteGateway::new(Fake {
            handler: Box::new(handler),
            bodies: bodies.clone(),
        });
        (gw, bodies)
    }

    /// Answers `expected` with `answer`; any other request is a test failure.
    fn expecting(expected: ApiRequest, answer: ApiResponse) -> (RemoteGateway<Fake>, Sent) {
        Fake::recording(move |got| {
            assert_eq!(got, expected);
            Ok(answer.clone())
        })
    }
}

#[async_trait]
impl Exchange for Fake {
    async fn call(&self, body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        self.bodies.lock().unwrap().push(body.clone());
        let reply = decode_request(&body).and_then(|req| (self.handler)(req));
        Ok(encode_reply(&reply))
    }
}

/// Answers every call with fixed bytes.
struct Raw(Result<Vec<u8>, AcquirerError>);

#[async_trait]
impl Exchange for Raw {
    async fn call(&self, _body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        self.0.clone()
    }
}

fn sent_json(sent: &Sent) -> serde_json::Value {
    let bodies = sent.lock().unwrap();
    serde_json::from_slice(bodies.last().expect("a request was sent")).unwrap()
}

fn merchant() -> MerchantDetails {
    MerchantDetails {
        legal_name: "Zhang San Noodles".into(),
        contact_phone: "+86 138 0000 0000".into(),
        address: "12 Wenhua Road, Hangzhou".into(),
    }
}

pub(super) fn activation() -> ActivationRequest {
    ActivationRequest {
        request_id: "req-1".into(),
        sn: "SN2026000001".into(),
        terminal_no: "10020301".into(),
        merchant_no: "898310148160012".into(),
        activation_code: "ACT07000".into(),
        merchant: merchant(),
        device_key: [0xA5; 32],
    }
}

pub(super) fn binding(replaced: Option<&str>) -> CardBinding {
    CardBinding {
        binding_id: "BND-00000001".into(),
        merchant_no: "898310148160012".into(),
        purpose: CardPurposeKind::Settlement,
        masked_pan: "622202******8901".into(),
        issuer: Some("ICBC".into()),
        holder_name: "Zhang San Noodles".into(),
        bound_at_ms: 1_767_225_600_000,
        replaced: replaced.map(str::to_owned),
    }
}

fn every_activation_state() -> Vec<ActivationState> {
    vec![
        ActivationState::Pending {
            retry_after_ms: 30_000,
        },
        ActivationState::Approved {
            bundle: vec![0, 1, 2, 0xFE, 0xFF],
            kcvs: vec![
                (1, KeyKind::Tmk, [0x76, 0x3C, 0xBC]),
                (2, KeyKind::PinKey, [1, 2, 3]),
                (3, KeyKind::MacKey, [0, 0, 0]),
                (4, KeyKind::DataKey, [0xFF, 0xFF, 0xFF]),
            ],
        },
        ActivationState::Rejected {
            reason_code: "R07".into(),
            reason: "the shop's business licence has expired".into(),
        },
        ActivationState::Confirmed,
    ]
}

/// One of every error, each with its wire code. The exhaustive match makes a new variant
/// fail to compile here until it is added to the list.
fn every_error() -> Vec<AcquirerError> {
    let all = vec![
        AcquirerError::Unreachable {
            detail: "dns".into(),
        },
        AcquirerError::Timeout,
        AcquirerError::Unavailable { status: 503 },
        AcquirerError::UnknownTerminal { sn: "SN1".into() },
        AcquirerError::OwnedByAnotherMerchant { sn: "SN1".into() },
        AcquirerError::WrongActivationCode {
            attempts_left: Some(3),
        },
        AcquirerError::WrongActivationCode {
            attempts_left: None,
        },
        AcquirerError::UnknownMerchant,
        AcquirerError::AlreadyActivated { sn: "SN1".into() },
        AcquirerError::NameMismatch,
        AcquirerError::CardRefused {
            reason: "expired".into(),
        },
        AcquirerError::SettlementCardRequired,
        AcquirerError::NotFound {
            what: "binding BND-1".into(),
        },
        AcquirerError::Dormant { sn: "SN1".into() },
        AcquirerError::Deregistered { sn: "SN1".into() },
        AcquirerError::Invalid {
            field: "pan".into(),
            reason: "fails the Luhn check".into(),
        },
        AcquirerError::Tls {
            reason: TlsReason::UnknownCa,
            detail: "invalid peer certificate: UnknownIssuer".into(),
        },
        AcquirerError::Protocol {
            detail: "bad".into(),
        },
    ];
    for e in &all {
        match e {
            AcquirerError::Unreachable { .. }
            | AcquirerError::Timeout
            | AcquirerError::Unavailable { .. }
            | AcquirerError::UnknownTerminal { .. }
            | AcquirerError::OwnedByAnotherMerchant { .. }
            | AcquirerError::WrongActivationCode { .. }
            | AcquirerError::UnknownMerchant
            | AcquirerError::AlreadyActivated { .. }
            | AcquirerError::NameMismatch
            | AcquirerError::CardRefused { .. }
            | AcquirerError::SettlementCardRequired
            | AcquirerError::NotFound { .. }
            | AcquirerError::Dormant { .. }
            | AcquirerError::Deregistered { .. }
            | AcquirerError::Invalid { .. }
            | AcquirerError::Tls { .. }
            | AcquirerError::Protocol { .. } => {}
        }
    }
    all
}

#[tokio::test]
async fn activation_calls_round_trip_every_state() {
    for state in every_activation_state() {
        let status = ActivationStatus {
            application_id: "APP-000123".into(),
            state,
        };
        let (gw, sent) = Fake::expecting(
            ApiRequest::Activate(activation()),
            ApiResponse::Activation(status.clone()),
        );
        assert_eq!(gw.activate(&activation()).await.unwrap(), status);
        let sent = sent_json(&sent);
        assert_eq!(sent["op"], "activate");
        assert_eq!(sent["device_key"], "a5".repeat(32));
        assert_eq!(sent["merchant"]["contact_phone"], "+86 138 0000 0000");

        let (gw, _) = Fake::expecting(
            ApiRequest::ActivationStatus {
                application_id: "APP-000123".into(),
            },
            ApiResponse::Activation(status.clone()),
        );
        assert_eq!(gw.activation_status("APP-000123").await.unwrap(), status);
    }
    let (gw, _) = Fake::expecting(
        ApiRequest::ConfirmActivation {
            application_id: "APP-000123".into(),
            test_txn_ref: "TST000000000042".into(),
        },
        ApiResponse::Done,
    );
    gw.confirm_activation("APP-000123", "TST000000000042")
        .await
        .unwrap();
}

#[tokio::test]
async fn card_calls_round_trip_both_sources() {
    let token = BindCardRequest {
        request_id: "req-2".into(),
        merchant_no: "898310148160012".into(),
        purpose: CardPurposeKind::Settlement,
        holder_name: "Zhang San Noodles".into(),
        source: CardSource::Token {
            token: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            masked_pan: "622202******8901".into(),
        },
    };
    let manual = BindCardRequest {
        request_id: "req-3".into(),
        purpose: CardPurposeKind::Credit,
        source: CardSource::Manual {
            pan: Zeroizing::new("4111111111111111".into()),
            expiry: "1228".into(),
        },
        ..token.clone()
    };
    for (req, replaced) in [(token, Some("BND-00000000")), (manual, None)] {
        let answer = binding(replaced);
        let (gw, sent) = Fake::expecting(
            ApiRequest::BindCard(req.clone()),
            ApiResponse::CardBinding(answer.clone()),
        );
        assert_eq!(gw.bind_card(&req).await.unwrap(), answer);
        assert_eq!(sent_json(&sent)["op"], "bind_card");
    }

    let (gw, _) = Fake::expecting(
        ApiRequest::UnbindCard {
            merchant_no: "898310148160012".into(),
            binding_id: "BND-00000001".into(),
        },
        ApiResponse::Done,
    );
    gw.unbind_card("898310148160012", "BND-00000001")
        .await
        .unwrap();

    let cards = vec![binding(None), binding(Some("BND-00000000"))];
    let (gw, _) = Fake::expecting(
        ApiRequest::Cards {
            merchant_no: "898310148160012".into(),
        },
        ApiResponse::Cards {
            cards: cards.clone(),
        },
    );
    assert_eq!(gw.cards("898310148160012").await.unwrap(), cards);
}

#[tokio::test]
async fn terminal_calls_round_trip() {
    let req = DeregisterRequest {
        request_id: "req-4".into(),
        merchant_no: "898310148160012".into(),
        sn: "SN2026000001".into(),
        reason: "shop closed".into(),
    };
    let dereg = Deregistration {
        reference: "DRG-2026-000001".into(),
        at_ms: 1_767_225_600_000,
        records_retained_until_ms: 1_861_920_000_000,
    };
    let (gw, _) = Fake::expecting(
        ApiRequest::Deregister(req.clone()),
        ApiResponse::Deregistration(dereg.clone()),
    );
    assert_eq!(gw.deregister(&req).await.unwrap(), dereg);

    for state in [
        ReopenState::Pending {
            retry_after_ms: 7_200_000,
        },
        ReopenState::Approved,
    ] {
        let answer = ReopenStatus { state };
        let (gw, _) = Fake::expecting(
            ApiRequest::Reopen {
                merchant_no: "898310148160012".into(),
                sn: "SN2026000001".into(),
            },
            ApiResponse::Reopen(answer.clone()),
        );
        assert_eq!(
            gw.reopen("898310148160012", "SN2026000001").await.unwrap(),
            answer
        );
    }

    for state in [
        AcquirerTerminalState::Unknown,
        AcquirerTerminalState::Pending,
        AcquirerTerminalState::Active,
        AcquirerTerminalState::Dormant,
        AcquirerTerminalState::Deregistered,
    ] {
        let answer = TerminalStatus {
            sn: "SN2026000001".into(),
            state,
            merchant_no: Some("898310148160012".into()),
            last_trade_at_ms: Some(5),
            dormant_after_ms: Some(7_776_000_005),
            now_ms: 6,
        };
        let (gw, _) = Fake::expecting(
            ApiRequest::TerminalStatus {
                merchant_no: "898310148160012".into(),
                sn: "SN2026000001".into(),
            },
            ApiResponse::TerminalStatus(answer.clone()),
        );
        assert_eq!(
            gw.terminal_status("898310148160012", "SN2026000001")
                .await
                .unwrap(),
            answer
        );
    }
}

#[tokio::test]
async fn every_error_comes_back_as_the_same_variant_with_its_code() {
    let errors = every_error();
    let mut codes: Vec<_> = errors.iter().map(AcquirerError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 17, "one code per variant: {codes:?}");
    for e in errors {
        let sent = e.clone();
        let gw = Fake::new(move |_| Err(sent.clone()));
        assert_eq!(gw.cards("898310148160012").await.unwrap_err(), e);
        // On the wire: {"error": {"code": …, fields…}}.
        let wire: serde_json::Value =
            serde_json::from_slice(&encode_reply(&Err(e.clone()))).unwrap();
        assert_eq!(wire["error"]["code"], e.code(), "{wire}");
        // The same variant through every kind of call, not just one.
        let sent = e.clone();
        let gw = Fake::new(move |_| Err(sent.clone()));
        assert_eq!(gw.activate(&activation()).await.unwrap_err(), e);
        assert_eq!(gw.reopen("m", "s").await.unwrap_err(), e);
    }
}

#[tokio::test]
async fn malformed_or_unexpected_answers_are_protocol_errors() {
    let protocol = |r: Result<_, AcquirerError>| match r {
        Err(AcquirerError::Protocol { detail }) => detail,
        other => panic!("expected a protocol error, got {other:?}"),
    };
    let raw = |bytes: &[u8]| RemoteGateway::new(Raw(Ok(bytes.to_vec())));

    let d = protocol(raw(b"<html>502</html>").cards("m").await);
    assert!(d.contains("not valid JSON"), "{d}");
    let d = protocol(
        raw(br#"{"error": {"code": "quota-exceeded"}}"#)
            .cards("m")
            .await,
    );
    assert!(d.contains("quota-exceeded"), "{d}");
    protocol(raw(br#"{"op": "nonsense"}"#).cards("m").await);
    // A well-formed answer to another call.
    let d = protocol(raw(&encode_reply(&Ok(ApiResponse::Done))).cards("m").await);
    assert!(d.contains("expected a cards answer, got done"), "{d}");
    // A binding carrying a full card number never gets in.
    let mut leaky = binding(None);
    leaky.masked_pan = "6222021234568901".into();
    let d = protocol(
        raw(&encode_reply(&Ok(ApiResponse::Cards {
            cards: vec![leaky],
        })))
        .cards("m")
        .await,
    );
    assert!(!d.contains("6222021234568901"), "{d}");
    // Transport failures pass through untouched.
    let down = RemoteGateway::new(Raw(Err(AcquirerError::Unreachable {
        detail: "no route".into(),
    })));
    assert_eq!(
        down.confirm_activation("APP-1", "TST1").await,
        Err(AcquirerError::Unreachable {
            detail: "no route".into()
        })
    );
}
