//! One contract of acquirer behaviour, run against every acquirer the phone can reach: the
//! simulated acquirer in process (what `--sim` and `posmate sim` use) and the sandbox over
//! HTTPS through the core's own client. Each case is written once, against
//! [`AcquirerUnderTest`] — the phone's `Gateway` plus that acquirer's back office — and
//! the `contract!` list below runs it on both, so the two cannot drift apart: what the
//! phone was tested against in the simulation is what it meets over the network.

mod subjects;

use posmate_core::acquirer::{
    AcquirerError, AcquirerTerminalState, ActivationRequest, ActivationState, ActivationStatus,
    BindCardRequest, CardBinding, CardPurposeKind, CardSource, DeregisterRequest, MerchantDetails,
    ReopenState,
};
use posmate_proto::keybundle::KeyKind;
use posmate_proto::pan::{with_check_digit, MaskedPan};
use posmate_sim::acquirer::{
    Decision, DORMANT_AFTER_MS, MAX_CODE_ATTEMPTS, RECORDS_RETAINED_YEARS, REOPEN_REVIEW_MS,
};
use posmate_sim::{SimTerminal, TerminalConfig};
use subjects::AcquirerUnderTest;
use zeroize::Zeroizing;

const MERCHANT_NO: &str = "898310148160099";
const MERCHANT_NAME: &str = "Wang Wu Dumplings";
/// Another signed-up merchant, for terminals that are not the first merchant's business.
const OTHER_NO: &str = "898310148160098";
const OTHER_NAME: &str = "Zhao Liu Bakery";
const SN: &str = "SNCONTRACT0001";
const TERMINAL_NO: &str = "10029901";
const CODE: &str = "ACT09901";
/// A second registered terminal, for what must not touch the first.
const SN2: &str = "SNCONTRACT0002";
const TERMINAL_NO2: &str = "10029902";
const CODE2: &str = "ACT09902";
/// Debit BINs the acquirer knows (settlement cards are debit) and its credit BIN.
const DEBIT_PAN: &str = "6222021234567890128";
const CREDIT_BIN: &str = "622588000000123";

/// Each test terminal's factory key (a terminal's key comes from its seed alone).
fn device_key(sn: &str) -> [u8; 32] {
    let seed = if sn == SN { 7 } else { 8 };
    SimTerminal::new(TerminalConfig::new(sn, seed)).device_key()
}

/// The merchant and both terminals, as the acquirer's staff set them up.
async fn sign_up(a: &dyn AcquirerUnderTest) {
    a.sign_up(MERCHANT_NO, MERCHANT_NAME).await;
    a.sign_up(OTHER_NO, OTHER_NAME).await;
    a.register_terminal(SN, device_key(SN), TERMINAL_NO, CODE)
        .await;
    a.register_terminal(SN2, device_key(SN2), TERMINAL_NO2, CODE2)
        .await;
}

fn activation(request_id: &str, sn: &str, merchant_no: &str, code: &str) -> ActivationRequest {
    let (terminal_no, name) = match (sn, merchant_no) {
        (SN, MERCHANT_NO) => (TERMINAL_NO, MERCHANT_NAME),
        (SN, _) => (TERMINAL_NO, OTHER_NAME),
        (_, MERCHANT_NO) => (TERMINAL_NO2, MERCHANT_NAME),
        _ => (TERMINAL_NO2, OTHER_NAME),
    };
    ActivationRequest {
        request_id: request_id.into(),
        sn: sn.into(),
        terminal_no: terminal_no.into(),
        merchant_no: merchant_no.into(),
        activation_code: code.into(),
        merchant: MerchantDetails {
            legal_name: name.into(),
            contact_phone: "+86 137 0000 0000".into(),
            address: "8 Jiefang Road, Hangzhou".into(),
        },
        device_key: device_key(sn),
    }
}

/// The merchant's activation of `SN`, as the phone submits it.
fn activate_sn(request_id: &str) -> ActivationRequest {
    activation(request_id, SN, MERCHANT_NO, CODE)
}

fn pending(status: &ActivationStatus) -> bool {
    matches!(status.state, ActivationState::Pending { retry_after_ms } if retry_after_ms > 0)
}

/// `SN` activated for the merchant: submitted, approved by the back office, confirmed.
/// Returns the application id.
async fn activated(a: &dyn AcquirerUnderTest) -> String {
    let g = a.gateway();
    let submitted = g.activate(&activate_sn("act-1")).await.unwrap();
    assert!(pending(&submitted), "{submitted:?}");
    let id = submitted.application_id;
    a.decide(&id, Decision::Approve).await.unwrap();
    g.confirm_activation(&id, "TXN000001").await.unwrap();
    id
}

fn settlement(request_id: &str, holder: &str, pan: &str) -> BindCardRequest {
    BindCardRequest {
        request_id: request_id.into(),
        merchant_no: MERCHANT_NO.into(),
        purpose: CardPurposeKind::Settlement,
        holder_name: holder.into(),
        source: CardSource::Manual {
            pan: Zeroizing::new(pan.into()),
            expiry: "1230".into(),
        },
    }
}

async fn cards(a: &dyn AcquirerUnderTest) -> Vec<CardBinding> {
    a.gateway().cards(MERCHANT_NO).await.unwrap()
}

async fn an_activation_waits_for_the_back_office_then_brings_the_keys(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let g = a.gateway();
    let submitted = g.activate(&activate_sn("act-1")).await.unwrap();
    assert!(pending(&submitted), "{submitted:?}");
    let id = submitted.application_id.clone();
    assert!(id.starts_with("APP-"), "{id}");

    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(status.state, AcquirerTerminalState::Pending);
    assert_eq!(status.merchant_no.as_deref(), Some(MERCHANT_NO));
    let reviews = a.reviews().await;
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(
        (
            reviews[0].application_id.as_str(),
            reviews[0].sn.as_str(),
            reviews[0].merchant_no.as_str(),
            reviews[0].terminal_no.as_str()
        ),
        (id.as_str(), SN, MERCHANT_NO, TERMINAL_NO)
    );
    // Polling does not decide a review made by hand, and nothing can be confirmed yet.
    assert!(pending(&g.activation_status(&id).await.unwrap()));
    let early = g.confirm_activation(&id, "TXN000001").await.unwrap_err();
    assert_eq!(early.code(), "invalid", "{early:?}");

    a.decide(&id, Decision::Approve).await.unwrap();
    assert_eq!(a.reviews().await, vec![]);
    assert_eq!(
        a.decide(&id, Decision::Approve).await,
        Err("invalid".to_owned()),
        "a decided review is not decided again"
    );
    let approved = g.activation_status(&id).await.unwrap();
    let ActivationState::Approved { bundle, kcvs } = &approved.state else {
        panic!("not approved: {approved:?}");
    };
    assert!(!bundle.is_empty());
    let kinds: Vec<(u8, KeyKind)> = kcvs.iter().map(|(slot, kind, _)| (*slot, *kind)).collect();
    assert_eq!(
        kinds,
        [
            (1, KeyKind::Tmk),
            (2, KeyKind::PinKey),
            (3, KeyKind::MacKey)
        ]
    );
    // Handed out again until confirmed, unchanged (a phone killed mid-install fetches it).
    assert_eq!(g.activation_status(&id).await.unwrap(), approved);

    g.confirm_activation(&id, "TXN000001").await.unwrap();
    assert_eq!(
        g.activation_status(&id).await.unwrap().state,
        ActivationState::Confirmed
    );
    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(status.state, AcquirerTerminalState::Active);
    assert_eq!(
        status.dormant_after_ms,
        Some(status.now_ms + DORMANT_AFTER_MS)
    );
}

async fn a_rejected_review_says_why_and_frees_the_terminal(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let g = a.gateway();
    let first = g.activate(&activate_sn("act-1")).await.unwrap();
    let reject = Decision::Reject {
        reason_code: "KYC01".into(),
        reason: "the shop's licence has expired".into(),
    };
    a.decide(&first.application_id, reject).await.unwrap();
    let rejected = g.activation_status(&first.application_id).await.unwrap();
    assert_eq!(
        rejected.state,
        ActivationState::Rejected {
            reason_code: "KYC01".into(),
            reason: "the shop's licence has expired".into(),
        }
    );
    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(status.state, AcquirerTerminalState::Unknown);
    // Applying again (a new request) is a new application.
    let again = g.activate(&activate_sn("act-2")).await.unwrap();
    assert!(pending(&again));
    assert_ne!(again.application_id, first.application_id);
}

async fn a_wrong_activation_code_counts_the_attempts_left(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let g = a.gateway();
    for (n, left) in [(1, MAX_CODE_ATTEMPTS - 1), (2, MAX_CODE_ATTEMPTS - 2)] {
        let wrong = activation(&format!("bad-{n}"), SN, MERCHANT_NO, "WRONG999");
        assert_eq!(
            g.activate(&wrong).await,
            Err(AcquirerError::WrongActivationCode {
                attempts_left: Some(left)
            })
        );
    }
    assert_eq!(
        a.reviews().await,
        vec![],
        "a wrong code makes no application"
    );
    // The right code still works before the attempts run out.
    assert!(pending(&g.activate(&activate_sn("act-1")).await.unwrap()));

    // Another terminal whose attempts all went: locked, even with the right code.
    for n in 1..=MAX_CODE_ATTEMPTS {
        let wrong = activation(&format!("bad2-{n}"), SN2, MERCHANT_NO, "WRONG999");
        let e = g.activate(&wrong).await.unwrap_err();
        assert_eq!(
            e,
            AcquirerError::WrongActivationCode {
                attempts_left: Some(MAX_CODE_ATTEMPTS - n)
            }
        );
    }
    let right = activation("act2-1", SN2, MERCHANT_NO, CODE2);
    assert_eq!(
        g.activate(&right).await,
        Err(AcquirerError::WrongActivationCode {
            attempts_left: Some(0)
        })
    );
    assert_eq!(a.reviews().await.len(), 1);
}

async fn unknown_terminals_merchants_and_applications_are_refused(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let g = a.gateway();
    // Looking the merchant up: known and without cards; an unknown one is refused.
    assert_eq!(g.cards(MERCHANT_NO).await.unwrap(), vec![]);
    assert_eq!(
        g.cards("898310148169999").await,
        Err(AcquirerError::UnknownMerchant)
    );
    let mut unknown_sn = activate_sn("act-1");
    unknown_sn.sn = "SNNOTREGISTERED".into();
    assert_eq!(
        g.activate(&unknown_sn).await,
        Err(AcquirerError::UnknownTerminal {
            sn: "SNNOTREGISTERED".into()
        })
    );
    let mut unknown_merchant = activate_sn("act-2");
    unknown_merchant.merchant_no = "898310148169999".into();
    assert_eq!(
        g.activate(&unknown_merchant).await,
        Err(AcquirerError::UnknownMerchant)
    );
    assert_eq!(
        g.terminal_status(MERCHANT_NO, "SNNOTREGISTERED").await,
        Err(AcquirerError::UnknownTerminal {
            sn: "SNNOTREGISTERED".into()
        })
    );
    // A terminal whose factory key is not the manufacturer's record, and a merchant who
    // does not state their registered name.
    let mut forged = activate_sn("act-3");
    forged.device_key = device_key(SN2);
    let e = g.activate(&forged).await.unwrap_err();
    assert!(
        matches!(&e, AcquirerError::Invalid { field, .. } if field == "device_key"),
        "{e:?}"
    );
    let mut misnamed = activate_sn("act-4");
    misnamed.merchant.legal_name = "Someone Else Ltd".into();
    let e = g.activate(&misnamed).await.unwrap_err();
    assert!(
        matches!(&e, AcquirerError::Invalid { field, .. } if field == "legal_name"),
        "{e:?}"
    );
    let e = g.activation_status("APP-999999").await.unwrap_err();
    assert_eq!(e.code(), "not-found", "{e:?}");
    assert_eq!(
        a.reviews().await,
        vec![],
        "no refused call made an application"
    );
}

async fn an_activated_terminal_is_not_activated_twice(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    activated(a).await;
    let g = a.gateway();
    assert_eq!(
        g.activate(&activate_sn("act-2")).await,
        Err(AcquirerError::AlreadyActivated { sn: SN.into() })
    );
    let other = activation("other-1", SN, OTHER_NO, CODE);
    assert_eq!(
        g.activate(&other).await,
        Err(AcquirerError::OwnedByAnotherMerchant { sn: SN.into() })
    );
    // Another merchant learns nothing of it.
    let seen = g.terminal_status(OTHER_NO, SN).await.unwrap();
    assert_eq!(
        (seen.state, seen.merchant_no),
        (AcquirerTerminalState::Unknown, None)
    );
    assert_eq!(a.reviews().await, vec![]);
}

async fn a_repeated_request_id_gets_the_first_answer(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let g = a.gateway();
    let first = g.activate(&activate_sn("act-1")).await.unwrap();
    let again = g.activate(&activate_sn("act-1")).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(a.reviews().await.len(), 1, "one application, not two");
    // The same id for another request is refused, not answered for the first.
    let reused = g
        .activate(&activation("act-1", SN, MERCHANT_NO, "ACT00000"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), "invalid", "{reused:?}");

    let bind = settlement("bind-1", MERCHANT_NAME, DEBIT_PAN);
    let bound = g.bind_card(&bind).await.unwrap();
    assert_eq!(g.bind_card(&bind).await.unwrap(), bound);
    assert_eq!(cards(a).await, vec![bound]);

    a.decide(&first.application_id, Decision::Approve)
        .await
        .unwrap();
    g.confirm_activation(&first.application_id, "TXN000001")
        .await
        .unwrap();
    let close = DeregisterRequest {
        request_id: "drg-1".into(),
        merchant_no: MERCHANT_NO.into(),
        sn: SN.into(),
        reason: "shop closed".into(),
    };
    let closed = g.deregister(&close).await.unwrap();
    assert_eq!(g.deregister(&close).await.unwrap(), closed);
}

async fn cards_follow_the_holder_name_and_one_settlement_card(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let g = a.gateway();
    assert_eq!(
        g.bind_card(&settlement("bind-1", "Somebody Else", DEBIT_PAN))
            .await,
        Err(AcquirerError::NameMismatch)
    );
    let credit_pan = with_check_digit(CREDIT_BIN);
    let e = g
        .bind_card(&settlement("bind-2", MERCHANT_NAME, &credit_pan))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "card-refused",
        "a settlement card is debit: {e:?}"
    );
    assert_eq!(cards(a).await, vec![]);

    // The name as the clerk reads it: case and spacing aside.
    let first = g
        .bind_card(&settlement("bind-3", "  wang WU   dumplings ", DEBIT_PAN))
        .await
        .unwrap();
    assert_eq!(
        (
            first.purpose,
            first.masked_pan.as_str(),
            first.replaced.as_deref()
        ),
        (CardPurposeKind::Settlement, "622202*********0128", None)
    );
    // A second settlement card, read on a terminal, replaces the first.
    let masked = MaskedPan::mask(&with_check_digit("621700123456789012")).unwrap();
    let tapped = BindCardRequest {
        source: CardSource::Token {
            token: "a1".repeat(16),
            masked_pan: masked.to_string(),
        },
        ..settlement("bind-4", MERCHANT_NAME, "")
    };
    let second = g.bind_card(&tapped).await.unwrap();
    assert_eq!(second.replaced.as_deref(), Some(first.binding_id.as_str()));
    assert_eq!(second.masked_pan, masked.to_string());
    assert!(second.issuer.is_some(), "the acquirer knows the BIN");
    assert_eq!(cards(a).await, vec![second.clone()]);

    let credit = BindCardRequest {
        purpose: CardPurposeKind::Credit,
        ..settlement("bind-5", MERCHANT_NAME, &credit_pan)
    };
    let credit = g.bind_card(&credit).await.unwrap();
    assert_eq!(credit.replaced, None, "a credit card replaces nothing");
    assert_eq!(cards(a).await, vec![second.clone(), credit.clone()]);
    g.unbind_card(MERCHANT_NO, &credit.binding_id)
        .await
        .unwrap();
    assert_eq!(cards(a).await, vec![second.clone()]);
    // Unbinding it again (the first answer was lost) leaves it unbound. Over HTTPS the
    // derived Idempotency-Key replays the first answer; the simulated acquirer says it is
    // gone. The phone's unbind flow takes either as done, and that is the contract.
    let again = g.unbind_card(MERCHANT_NO, &credit.binding_id).await;
    assert!(
        matches!(again, Ok(()) | Err(AcquirerError::NotFound { .. })),
        "{again:?}"
    );
    assert_eq!(cards(a).await, vec![second.clone()]);
    let e = g
        .unbind_card(MERCHANT_NO, "BND-99999999")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not-found", "a binding that never was: {e:?}");

    // Once a terminal trades, its merchant's settlement card can only be replaced.
    activated(a).await;
    assert_eq!(
        g.unbind_card(MERCHANT_NO, &second.binding_id).await,
        Err(AcquirerError::SettlementCardRequired)
    );
    assert_eq!(cards(a).await, vec![second]);
}

async fn deregistration_closes_the_terminal_and_gives_evidence(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    let id = activated(a).await;
    let g = a.gateway();
    let close = |request_id: &str, reason: &str| DeregisterRequest {
        request_id: request_id.into(),
        merchant_no: MERCHANT_NO.into(),
        sn: SN.into(),
        reason: reason.into(),
    };
    let e = g.deregister(&close("drg-1", "  ")).await.unwrap_err();
    assert!(
        matches!(&e, AcquirerError::Invalid { field, .. } if field == "reason"),
        "{e:?}"
    );
    let before = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(before.state, AcquirerTerminalState::Active);

    let d = g.deregister(&close("drg-2", "shop closed")).await.unwrap();
    assert!(d.reference.starts_with("DRG-2026-"), "{d:?}");
    assert_eq!(d.at_ms, before.now_ms);
    let three_years = RECORDS_RETAINED_YEARS as u64 * 365 * 86_400_000;
    assert!(
        d.records_retained_until_ms >= d.at_ms + three_years,
        "{d:?}"
    );
    let after = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(
        (after.state, after.merchant_no),
        (AcquirerTerminalState::Deregistered, None)
    );
    assert_eq!(
        g.activation_status(&id).await,
        Err(AcquirerError::Deregistered { sn: SN.into() })
    );
    assert_eq!(
        g.reopen(MERCHANT_NO, SN).await,
        Err(AcquirerError::Deregistered { sn: SN.into() })
    );
    // Asked again under a new request id (the phone lost the first): the same evidence.
    assert_eq!(
        g.deregister(&close("drg-3", "shop closed")).await.unwrap(),
        d
    );
    // The terminal is free: activating it again is a new application.
    let again = g.activate(&activate_sn("act-2")).await.unwrap();
    assert!(pending(&again));
    assert_ne!(again.application_id, id);
}

async fn a_terminal_that_stops_trading_goes_dormant_until_reopened(a: &dyn AcquirerUnderTest) {
    sign_up(a).await;
    activated(a).await;
    let g = a.gateway();
    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    let dormant_at = status
        .dormant_after_ms
        .expect("an active terminal's cut-off");
    a.advance(dormant_at - status.now_ms - 1).await;
    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(
        (status.state, status.now_ms),
        (AcquirerTerminalState::Active, dormant_at - 1)
    );
    // Nothing to reopen yet.
    assert_eq!(
        g.reopen(MERCHANT_NO, SN).await.unwrap().state,
        ReopenState::Approved
    );

    a.advance(1).await;
    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(status.state, AcquirerTerminalState::Dormant);
    assert_eq!(
        g.reopen(MERCHANT_NO, SN).await.unwrap().state,
        ReopenState::Pending {
            retry_after_ms: REOPEN_REVIEW_MS
        }
    );
    a.advance(REOPEN_REVIEW_MS - 1).await;
    assert_eq!(
        g.reopen(MERCHANT_NO, SN).await.unwrap().state,
        ReopenState::Pending { retry_after_ms: 1 },
        "asking again does not restart the review"
    );
    a.advance(1).await;
    assert_eq!(
        g.reopen(MERCHANT_NO, SN).await.unwrap().state,
        ReopenState::Approved
    );
    let status = g.terminal_status(MERCHANT_NO, SN).await.unwrap();
    assert_eq!(status.state, AcquirerTerminalState::Active);
}

/// Runs each case against both acquirers, as `in_process::CASE` and `https_sandbox::CASE`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::subjects::InProcess::start().await).await;
                }
            )*
        }
        mod https_sandbox {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::subjects::Sandbox::start().await).await;
                }
            )*
        }
    };
}

contract![
    an_activation_waits_for_the_back_office_then_brings_the_keys,
    a_rejected_review_says_why_and_frees_the_terminal,
    a_wrong_activation_code_counts_the_attempts_left,
    unknown_terminals_merchants_and_applications_are_refused,
    an_activated_terminal_is_not_activated_twice,
    a_repeated_request_id_gets_the_first_answer,
    cards_follow_the_holder_name_and_one_settlement_card,
    deregistration_closes_the_terminal_and_gives_evidence,
    a_terminal_that_stops_trading_goes_dormant_until_reopened,
];
