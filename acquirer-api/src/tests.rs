//! The API's data and codec on their own: wire forms, retry rules, redaction. The round trip
//! through the phone's gateway is tested with it in `posmate-core`.

use posmate_proto::keybundle::KeyKind;
use zeroize::Zeroizing;

use crate::*;

fn merchant() -> MerchantDetails {
    MerchantDetails {
        legal_name: "Zhang San Noodles".into(),
        contact_phone: "+86 138 0000 0000".into(),
        address: "12 Wenhua Road, Hangzhou".into(),
    }
}

pub(crate) fn activation() -> ActivationRequest {
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

pub(crate) fn every_activation_state() -> Vec<ActivationState> {
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
pub(crate) fn every_error() -> Vec<AcquirerError> {
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

#[test]
fn approved_state_wire_form_is_hex_and_named_kinds() {
    let approved = every_activation_state().remove(1);
    let json = serde_json::to_value(&approved).unwrap();
    assert_eq!(json["kind"], "approved");
    assert_eq!(json["bundle"], "000102feff");
    assert_eq!(
        json["kcvs"][0],
        serde_json::json!({"slot": 1, "kind": "tmk", "kcv": "763cbc"})
    );
    let kinds: Vec<_> = (0..4).map(|i| json["kcvs"][i]["kind"].clone()).collect();
    assert_eq!(kinds, ["tmk", "pin", "mac", "data"]);
    // Malformed binary fields are refused, not truncated.
    let mut bad = json.clone();
    bad["kcvs"][0]["kcv"] = "66e9".into();
    assert!(serde_json::from_value::<ActivationState>(bad).is_err());
    let mut bad = json.clone();
    bad["kcvs"][0]["kind"] = "zmk".into();
    assert!(serde_json::from_value::<ActivationState>(bad).is_err());
    let mut bad = json;
    bad["bundle"] = "0g".into();
    assert!(serde_json::from_value::<ActivationState>(bad).is_err());
}

#[test]
fn retry_and_internet_follow_whether_the_acquirer_decided() {
    for e in every_error() {
        let transport = matches!(
            e,
            AcquirerError::Unreachable { .. }
                | AcquirerError::Timeout
                | AcquirerError::Unavailable { .. }
        );
        assert_eq!(e.is_retryable(), transport, "{e:?}");
        assert_eq!(
            e.needs_internet(),
            matches!(e, AcquirerError::Unreachable { .. }),
            "{e:?}"
        );
        assert!(!e.to_string().is_empty() && !e.user_action().is_empty());
    }
    let locked = AcquirerError::WrongActivationCode {
        attempts_left: Some(0),
    };
    assert!(
        locked.to_string().contains("no attempts are left"),
        "{locked}"
    );
    assert!(locked.user_action().contains("new activation code"));
    let two = AcquirerError::WrongActivationCode {
        attempts_left: Some(2),
    };
    assert!(two.to_string().ends_with("2 attempts are left"), "{two}");
    assert!(two.user_action().contains("exactly"));
}

#[test]
fn a_malformed_request_is_refused_without_echoing_it() {
    let body = br#"{"op":"bind_card","request_id":"r","merchant_no":"m","purpose":"credit","holder_name":"h","source":{"type":"manual","pan":4111111111111111,"expiry":"1228"}}"#;
    match decode_request(body) {
        Err(AcquirerError::Protocol { detail }) => {
            assert!(!detail.contains("4111111111111111"), "{detail}");
            assert!(detail.contains("expected shape"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn secrets_never_show_in_debug() {
    let req = activation();
    let s = format!("{req:?}");
    assert!(!s.contains("ACT07000") && s.contains("<redacted>"), "{s}");
    let source = CardSource::Manual {
        pan: Zeroizing::new("4111111111111111".into()),
        expiry: "1228".into(),
    };
    let s = format!("{source:?}");
    assert!(
        !s.contains("4111111111111111") && s.contains("411111******1111"),
        "{s}"
    );
    let s = format!("{:?}", every_activation_state()[1]);
    assert!(s.contains("bundle_len: 5"), "{s}");
}

#[test]
fn card_purpose_is_lowercase_text() {
    for p in [CardPurposeKind::Settlement, CardPurposeKind::Credit] {
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::Value::from(p.as_str())
        );
        assert_eq!(p.as_str().parse::<CardPurposeKind>(), Ok(p));
        assert_eq!(p.to_string(), p.as_str());
    }
    assert!("Settlement".parse::<CardPurposeKind>().is_err());
    assert_eq!(
        posmate_proto::message::CardPurpose::from(CardPurposeKind::Credit),
        posmate_proto::message::CardPurpose::Credit
    );
}
