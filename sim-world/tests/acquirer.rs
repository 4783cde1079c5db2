//! The simulated acquirer through the phone's own `RemoteGateway` and JSON wire, in
//! process ([`posmate_sim_world::acquirer`]).

use ed25519_dalek::SigningKey;
use futures::executor::block_on;
use posmate_core::acquirer::{
    AcquirerError, AcquirerTerminalState, ActivationRequest, ActivationState, ActivationStatus,
    BindCardRequest, CardBinding, CardPurposeKind, CardSource, DeregisterRequest, Deregistration,
    Gateway, KeyCheck, MerchantDetails, RemoteGateway, ReopenState, TerminalStatus,
};
use posmate_proto::keybundle::{self, KeyKind};
use posmate_sim::acquirer::*;
use posmate_sim::terminal::{SimTerminal, TerminalConfig};
use zeroize::Zeroizing;

const M1: &str = "898310148160012";
const M2: &str = "898310148169999";
const NAME1: &str = "Zhang San Noodles";
const NAME2: &str = "Li Si Tea House";
const SN: &str = "SN2026A00001";
const TNO: &str = "10020301";
const CODE: &str = "ACT07000";
const DAY: u64 = 86_400_000;

struct World {
    acq: SimAcquirer,
    gw: RemoteGateway<posmate_sim_world::acquirer::InProcess>,
    term: SimTerminal,
}

impl World {
    /// Two merchants (the first reviewed by `review`, the second instantly) and one
    /// registered terminal.
    fn new(review: Review) -> World {
        let acq = SimAcquirer::new(7);
        acq.register_merchant(MerchantSetup {
            merchant_no: M1.into(),
            legal_name: NAME1.into(),
            review,
        });
        acq.register_merchant(MerchantSetup {
            merchant_no: M2.into(),
            legal_name: NAME2.into(),
            review: Review::Instant,
        });
        let term = SimTerminal::new(TerminalConfig::new(SN, 5));
        acq.register_terminal(SN, term.device_key(), TNO, CODE);
        World {
            gw: posmate_sim_world::acquirer::gateway(&acq),
            acq,
            term,
        }
    }

    fn request(&self, request_id: &str, merchant_no: &str) -> ActivationRequest {
        ActivationRequest {
            request_id: request_id.into(),
            sn: SN.into(),
            terminal_no: TNO.into(),
            merchant_no: merchant_no.into(),
            activation_code: CODE.into(),
            merchant: MerchantDetails {
                legal_name: if merchant_no == M1 { NAME1 } else { NAME2 }.into(),
                contact_phone: "+86 138 0000 0000".into(),
                address: "12 Wenhua Road, Hangzhou".into(),
            },
            device_key: self.term.device_key(),
        }
    }

    fn activate(&self, req: &ActivationRequest) -> Result<ActivationStatus, AcquirerError> {
        block_on(self.gw.activate(req))
    }

    fn poll(&self, id: &str) -> Result<ActivationState, AcquirerError> {
        block_on(self.gw.activation_status(id)).map(|s| s.state)
    }

    fn status(&self, merchant_no: &str) -> TerminalStatus {
        block_on(self.gw.terminal_status(merchant_no, SN)).unwrap()
    }

    /// Activates and confirms for `merchant_no` (instant review); returns the kcvs.
    fn activated(&self, request_id: &str, merchant_no: &str) -> Vec<KeyCheck> {
        let st = self
            .activate(&self.request(request_id, merchant_no))
            .unwrap();
        let ActivationState::Approved { bundle, kcvs } = st.state else {
            panic!("{st:?}")
        };
        assert_eq!(self.open(&bundle).merchant_no, merchant_no);
        block_on(
            self.gw
                .confirm_activation(&st.application_id, "TST000000000001"),
        )
        .unwrap();
        kcvs
    }

    /// Opens a bundle as the terminal would, with its own factory key.
    fn open(&self, bundle: &[u8]) -> keybundle::KeyBundle {
        let sk = SigningKey::from_bytes(&self.term.nvm_snapshot().device_seed);
        keybundle::open(&sk, SN, bundle).expect("sealed for this terminal")
    }

    fn bind(
        &self,
        request_id: &str,
        purpose: CardPurposeKind,
        holder: &str,
        source: CardSource,
    ) -> Result<CardBinding, AcquirerError> {
        block_on(self.gw.bind_card(&BindCardRequest {
            request_id: request_id.into(),
            merchant_no: M1.into(),
            purpose,
            holder_name: holder.into(),
            source,
        }))
    }

    fn deregister(
        &self,
        request_id: &str,
        merchant_no: &str,
    ) -> Result<Deregistration, AcquirerError> {
        block_on(self.gw.deregister(&DeregisterRequest {
            request_id: request_id.into(),
            merchant_no: merchant_no.into(),
            sn: SN.into(),
            reason: "moving shop".into(),
        }))
    }
}

fn token(masked_pan: &str) -> CardSource {
    CardSource::Token {
        token: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
        masked_pan: masked_pan.into(),
    }
}

fn manual(pan: &str, expiry: &str) -> CardSource {
    CardSource::Manual {
        pan: Zeroizing::new(pan.into()),
        expiry: expiry.into(),
    }
}

#[test]
fn review_stays_pending_then_approves_with_a_bundle_for_this_terminal() {
    let w = World::new(Review::AfterPolls(2));
    let st = w.activate(&w.request("r1", M1)).unwrap();
    assert_eq!(st.application_id, "APP-000001");
    assert_eq!(
        st.state,
        ActivationState::Pending {
            retry_after_ms: POLL_INTERVAL_MS
        }
    );
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Pending);
    assert!(matches!(
        w.poll("APP-000001"),
        Ok(ActivationState::Pending { .. })
    ));
    let ActivationState::Approved { bundle, kcvs } = w.poll("APP-000001").unwrap() else {
        panic!("approved at the second poll")
    };
    // The terminal opens it with its factory key; the phone relaying it cannot.
    let opened = w.open(&bundle);
    assert_eq!(
        (opened.terminal_no.as_str(), opened.merchant_no.as_str()),
        (TNO, M1)
    );
    let issued: Vec<KeyCheck> = opened
        .keys
        .iter()
        .map(|k| (k.slot, k.kind, keybundle::kcv(&k.key)))
        .collect();
    assert_eq!(issued, kcvs);
    let kinds: Vec<_> = kcvs.iter().map(|(slot, kind, _)| (*slot, *kind)).collect();
    assert_eq!(
        kinds,
        [
            (1, KeyKind::Tmk),
            (2, KeyKind::PinKey),
            (3, KeyKind::MacKey)
        ]
    );
    let other = SigningKey::from_bytes(&[9; 32]);
    assert!(keybundle::open(&other, SN, &bundle).is_err());

    // Handed out again until confirmed, then no more.
    assert_eq!(
        w.poll("APP-000001").unwrap(),
        ActivationState::Approved {
            bundle: bundle.clone(),
            kcvs
        }
    );
    block_on(w.gw.confirm_activation("APP-000001", "TST123456789012")).unwrap();
    assert_eq!(w.poll("APP-000001").unwrap(), ActivationState::Confirmed);
    // Confirming again is harmless.
    block_on(w.gw.confirm_activation("APP-000001", "TST123456789012")).unwrap();
    let st = w.status(M1);
    assert_eq!(st.state, AcquirerTerminalState::Active);
    assert_eq!(st.merchant_no.as_deref(), Some(M1));
    assert_eq!(st.dormant_after_ms, Some(st.now_ms + DORMANT_AFTER_MS));
    assert_eq!(
        w.activate(&w.request("r2", M1)),
        Err(AcquirerError::AlreadyActivated { sn: SN.into() })
    );
    assert!(matches!(
        w.poll("APP-999999"),
        Err(AcquirerError::NotFound { .. })
    ));
}

#[test]
fn timed_review_approves_when_its_time_has_come() {
    let w = World::new(Review::After(3_600_000));
    let st = w.activate(&w.request("r1", M1)).unwrap();
    assert_eq!(
        st.state,
        ActivationState::Pending {
            retry_after_ms: 3_600_000
        }
    );
    w.acq.advance(3_000_000);
    assert_eq!(
        w.poll(&st.application_id).unwrap(),
        ActivationState::Pending {
            retry_after_ms: 600_000
        }
    );
    // Confirming before approval is refused and changes nothing.
    assert!(matches!(
        block_on(w.gw.confirm_activation(&st.application_id, "TST1")),
        Err(AcquirerError::Invalid { .. })
    ));
    w.acq.advance(600_000);
    assert!(matches!(
        w.poll(&st.application_id).unwrap(),
        ActivationState::Approved { .. }
    ));
}

#[test]
fn rejection_carries_its_reason_and_frees_the_terminal() {
    let w = World::new(Review::Reject {
        reason_code: "R07".into(),
        reason: "the business licence has expired".into(),
    });
    let st = w.activate(&w.request("r1", M1)).unwrap();
    assert!(matches!(st.state, ActivationState::Pending { .. }));
    let rejected = ActivationState::Rejected {
        reason_code: "R07".into(),
        reason: "the business licence has expired".into(),
    };
    assert_eq!(w.poll(&st.application_id).unwrap(), rejected);
    assert_eq!(w.poll(&st.application_id).unwrap(), rejected);
    assert!(matches!(
        block_on(w.gw.confirm_activation(&st.application_id, "TST1")),
        Err(AcquirerError::Invalid { .. })
    ));
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Unknown);
    assert_eq!(w.acq.terminal_state(SN), "unknown");
    // Not held by anyone: another merchant may apply.
    w.activated("r2", M2);
}

#[test]
fn bad_activations_change_nothing() {
    let w = World::new(Review::Instant);
    let mut wrong = w.request("r1", M1);
    wrong.activation_code = "ACT99999".into();
    assert_eq!(
        w.activate(&wrong),
        Err(AcquirerError::WrongActivationCode {
            attempts_left: Some(MAX_CODE_ATTEMPTS - 1)
        })
    );
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Unknown);

    let refused = |f: &dyn Fn(&mut ActivationRequest), want: AcquirerError| {
        let mut req = w.request("r2", M1);
        f(&mut req);
        assert_eq!(w.activate(&req), Err(want));
    };
    refused(
        &|r| r.merchant_no = "898310148160099".into(),
        AcquirerError::UnknownMerchant,
    );
    refused(
        &|r| r.sn = "SN2026A99999".into(),
        AcquirerError::UnknownTerminal {
            sn: "SN2026A99999".into(),
        },
    );
    let impostor = SimTerminal::new(TerminalConfig::new(SN, 6)).device_key();
    type Edit<'a> = (&'a str, &'a dyn Fn(&mut ActivationRequest));
    let edits: [Edit; 6] = [
        ("device_key", &|r| r.device_key = impostor),
        ("terminal_no", &|r| r.terminal_no = "10020399".into()),
        ("legal_name", &|r| r.merchant.legal_name = "Wang Wu".into()),
        ("contact_phone", &|r| {
            r.merchant.contact_phone = "call me".into()
        }),
        ("merchant_no", &|r| r.merchant_no = "M1".into()),
        ("activation_code", &|r| r.activation_code = "12".into()),
    ];
    for (field, edit) in edits {
        let mut req = w.request("r3", M1);
        edit(&mut req);
        let e = w.activate(&req).unwrap_err();
        assert!(
            matches!(&e, AcquirerError::Invalid { field: f, .. } if f == field),
            "{field}: {e:?}"
        );
    }
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Unknown);

    // The right code, even under the id of the failed attempt, is accepted and resets
    // the count.
    let st = w.activate(&w.request("r1", M1)).unwrap();
    assert!(matches!(st.state, ActivationState::Approved { .. }));
}

#[test]
fn five_wrong_codes_lock_the_terminal() {
    let w = World::new(Review::Instant);
    let mut wrong = w.request("r1", M1);
    wrong.activation_code = "ACT99999".into();
    for left in (0..MAX_CODE_ATTEMPTS).rev() {
        assert_eq!(
            w.activate(&wrong),
            Err(AcquirerError::WrongActivationCode {
                attempts_left: Some(left)
            })
        );
    }
    assert_eq!(
        w.activate(&w.request("r2", M1)),
        Err(AcquirerError::WrongActivationCode {
            attempts_left: Some(0)
        })
    );
    // A new code from the acquirer unlocks it.
    w.acq
        .register_terminal(SN, w.term.device_key(), TNO, "ACT00001");
    let mut req = w.request("r3", M1);
    req.activation_code = "ACT00001".into();
    assert!(w.activate(&req).is_ok());
}

#[test]
fn another_merchants_terminal_is_refused_until_deregistered() {
    let w = World::new(Review::Instant);
    let first = w.activated("r1", M1);
    assert_eq!(
        w.activate(&w.request("r2", M2)),
        Err(AcquirerError::OwnedByAnotherMerchant { sn: SN.into() })
    );
    // The other merchant learns nothing about it, and cannot close it.
    let st = w.status(M2);
    assert_eq!(
        (st.state, st.merchant_no),
        (AcquirerTerminalState::Unknown, None)
    );
    assert_eq!(
        w.deregister("d0", M2),
        Err(AcquirerError::OwnedByAnotherMerchant { sn: SN.into() })
    );

    assert_eq!(w.acq.terminal_state(SN), "active");
    let d = w.deregister("d1", M1).unwrap();
    assert_eq!(w.acq.terminal_state(SN), "deregistered");
    assert_eq!(d.reference, "DRG-2026-000001");
    assert_eq!(d.at_ms, w.acq.now_ms());
    // Three calendar years (2026-01-01 → 2029-01-01).
    assert_eq!(d.records_retained_until_ms, d.at_ms + 1_096 * DAY);
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Deregistered);
    assert_eq!(
        block_on(w.gw.reopen(M1, SN)),
        Err(AcquirerError::Deregistered { sn: SN.into() })
    );

    let second = w.activated("r3", M2);
    assert_eq!(w.acq.activations(SN), 2);
    assert_ne!(first, second, "fresh keys for the new merchant");
    assert_eq!(w.status(M2).state, AcquirerTerminalState::Active);
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Unknown);
}

#[test]
fn request_ids_make_every_mutation_idempotent() {
    let w = World::new(Review::Instant);
    let req = w.request("r1", M1);
    let a = w.activate(&req).unwrap();
    assert_eq!(w.acq.terminal_state(SN), "pending");
    assert_eq!(
        w.activate(&req).unwrap(),
        a,
        "same request, same application"
    );
    assert_eq!(w.acq.activations(SN), 1);
    let mut other = req.clone();
    other.merchant.address = "elsewhere 1".into();
    assert!(matches!(
        w.activate(&other),
        Err(AcquirerError::Invalid { field, .. }) if field == "request_id"
    ));
    // A new id from the same merchant finds the application under review, not a second.
    assert_eq!(
        w.activate(&w.request("r1-again", M1))
            .unwrap()
            .application_id,
        a.application_id
    );
    assert_eq!(w.acq.activations(SN), 1, "no second application");

    // Answers lost on the way back: the retry gets what was done, done once.
    w.acq.lose_answers(1);
    assert_eq!(w.activate(&req), Err(AcquirerError::Timeout));
    assert_eq!(w.activate(&req).unwrap(), a);
    assert_eq!(w.acq.activations(SN), 1);
    w.acq.lose_answers(1);
    let src = token("622202******8901");
    assert_eq!(
        w.bind("b1", CardPurposeKind::Settlement, NAME1, src.clone()),
        Err(AcquirerError::Timeout)
    );
    let b = w
        .bind("b1", CardPurposeKind::Settlement, NAME1, src)
        .unwrap();
    assert_eq!(b.binding_id, "BND-00000001");
    assert_eq!(block_on(w.gw.cards(M1)).unwrap(), vec![b]);

    block_on(w.gw.confirm_activation(&a.application_id, "TST1")).unwrap();
    w.acq.lose_answers(1);
    assert_eq!(w.deregister("d1", M1), Err(AcquirerError::Timeout));
    let d = w.deregister("d1", M1).unwrap();
    assert_eq!(d.reference, "DRG-2026-000001");
    // The phone lost even its request id: asking again gives the same evidence.
    w.acq.advance(DAY);
    assert_eq!(w.deregister("d2", M1).unwrap(), d);
}

#[test]
fn deregistration_revokes_the_bundle_and_reactivation_issues_fresh_keys() {
    let w = World::new(Review::Instant);
    let st = w.activate(&w.request("r1", M1)).unwrap();
    let ActivationState::Approved { kcvs: old, .. } = st.state else {
        panic!()
    };
    // Deregistered before the keys were installed: the bundle is never handed out again.
    w.deregister("d1", M1).unwrap();
    assert_eq!(
        w.poll(&st.application_id),
        Err(AcquirerError::Deregistered { sn: SN.into() })
    );
    assert_eq!(
        block_on(w.gw.confirm_activation(&st.application_id, "TST1")),
        Err(AcquirerError::Deregistered { sn: SN.into() })
    );
    let again = w.activate(&w.request("r2", M1)).unwrap();
    assert_ne!(again.application_id, st.application_id);
    let ActivationState::Approved { bundle, kcvs } = again.state else {
        panic!()
    };
    assert_ne!(kcvs, old);
    assert_eq!(w.open(&bundle).merchant_no, M1);
}

#[test]
fn dormant_after_ninety_days_without_trading_and_reopened_on_request() {
    let w = World::new(Review::Instant);
    w.activated("r1", M1);
    let t0 = w.acq.now_ms();
    // Not dormant: reopening is a no-op.
    assert_eq!(
        block_on(w.gw.reopen(M1, SN)).unwrap().state,
        ReopenState::Approved
    );
    w.acq.advance(10 * DAY);
    w.acq.record_trade(SN, w.acq.now_ms());
    let st = w.status(M1);
    assert_eq!(st.last_trade_at_ms, Some(t0 + 10 * DAY));
    assert_eq!(st.dormant_after_ms, Some(t0 + 100 * DAY));

    w.acq.set_now(t0 + 100 * DAY - 1);
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Active);
    w.acq.advance(1);
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Dormant);
    // Trades on a dormant terminal are declined by the network and revive nothing.
    w.acq.record_trade(SN, w.acq.now_ms());
    let st = w.status(M1);
    assert_eq!(
        (st.state, st.last_trade_at_ms),
        (AcquirerTerminalState::Dormant, Some(t0 + 10 * DAY))
    );

    assert_eq!(
        block_on(w.gw.reopen(M1, SN)).unwrap().state,
        ReopenState::Pending {
            retry_after_ms: REOPEN_REVIEW_MS
        }
    );
    w.acq.advance(REOPEN_REVIEW_MS / 2);
    assert_eq!(
        block_on(w.gw.reopen(M1, SN)).unwrap().state,
        ReopenState::Pending {
            retry_after_ms: REOPEN_REVIEW_MS / 2
        }
    );
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Dormant);
    w.acq.advance(REOPEN_REVIEW_MS / 2);
    assert_eq!(
        block_on(w.gw.reopen(M1, SN)).unwrap().state,
        ReopenState::Approved
    );
    let reopened_at = t0 + 100 * DAY + REOPEN_REVIEW_MS;
    let st = w.status(M1);
    assert_eq!(st.state, AcquirerTerminalState::Active);
    assert_eq!(st.dormant_after_ms, Some(reopened_at + DORMANT_AFTER_MS));
}

#[test]
fn a_terminal_activated_and_never_used_goes_dormant_too() {
    let w = World::new(Review::Instant);
    w.activated("r1", M1);
    assert_eq!(w.acq.terminal_state(SN), "active");
    w.acq.advance(DORMANT_AFTER_MS);
    assert_eq!(w.acq.terminal_state(SN), "dormant");
    let st = w.status(M1);
    assert_eq!(
        (st.state, st.last_trade_at_ms),
        (AcquirerTerminalState::Dormant, None)
    );
    // Deregistering a dormant terminal is allowed.
    w.deregister("d1", M1).unwrap();
}

#[test]
fn cards_in_another_name_are_refused() {
    let w = World::new(Review::Instant);
    assert_eq!(
        w.bind(
            "b1",
            CardPurposeKind::Credit,
            "Wang Wu",
            token("622202******8901")
        ),
        Err(AcquirerError::NameMismatch)
    );
    assert!(block_on(w.gw.cards(M1)).unwrap().is_empty());
    let b = w
        .bind(
            "b2",
            CardPurposeKind::Credit,
            "  zhang SAN   noodles ",
            token("622202******8901"),
        )
        .unwrap();
    assert_eq!(b.purpose, CardPurposeKind::Credit);
    assert_eq!(b.issuer.as_deref(), Some("ICBC (UnionPay)"));
}

#[test]
fn one_settlement_card_replaced_never_removed_while_a_terminal_is_active() {
    let w = World::new(Review::Instant);
    let a = w
        .bind(
            "b1",
            CardPurposeKind::Settlement,
            NAME1,
            token("622202******8901"),
        )
        .unwrap();
    assert_eq!(a.replaced, None);
    let b = w
        .bind(
            "b2",
            CardPurposeKind::Settlement,
            NAME1,
            manual("6217001234567893", "1230"),
        )
        .unwrap();
    assert_eq!(b.replaced.as_deref(), Some(a.binding_id.as_str()));
    assert_eq!(b.masked_pan, "621700******7893");
    assert_eq!(b.issuer, None, "a typed card's issuer is for the phone");
    let credit = w
        .bind(
            "b3",
            CardPurposeKind::Credit,
            NAME1,
            token("622588******0001"),
        )
        .unwrap();
    assert_eq!(
        block_on(w.gw.cards(M1)).unwrap(),
        vec![b.clone(), credit.clone()]
    );

    w.activated("r1", M1);
    assert_eq!(
        block_on(w.gw.unbind_card(M1, &b.binding_id)),
        Err(AcquirerError::SettlementCardRequired)
    );
    block_on(w.gw.unbind_card(M1, &credit.binding_id)).unwrap();
    assert_eq!(
        block_on(w.gw.unbind_card(M1, &credit.binding_id)),
        Err(AcquirerError::NotFound {
            what: format!("card binding {}", credit.binding_id)
        })
    );
    // Replacing is the way: the new card takes its place.
    let c = w
        .bind(
            "b4",
            CardPurposeKind::Settlement,
            NAME1,
            token("622848******4321"),
        )
        .unwrap();
    assert_eq!(c.replaced.as_deref(), Some(b.binding_id.as_str()));
    // Once the terminal is closed the last settlement card may go.
    w.deregister("d1", M1).unwrap();
    block_on(w.gw.unbind_card(M1, &c.binding_id)).unwrap();
    assert!(block_on(w.gw.cards(M1)).unwrap().is_empty());
}

#[test]
fn typed_card_numbers_are_checked_and_never_echoed() {
    let w = World::new(Review::Instant);
    let bad = |pan: &str, expiry: &str| {
        w.bind("b1", CardPurposeKind::Credit, NAME1, manual(pan, expiry))
            .unwrap_err()
    };
    for pan in ["4111111111111112", "411111111111", "41111111111111111111"] {
        let e = bad(pan, "1230");
        assert!(
            matches!(&e, AcquirerError::Invalid { field, .. } if field == "pan"),
            "{e:?}"
        );
        assert!(!e.to_string().contains(pan), "{e}");
    }
    assert_eq!(
        bad("4111111111111111", "1225"),
        AcquirerError::CardRefused {
            reason: "the card has expired".into()
        }
    );
    assert!(matches!(
        bad("4111111111111111", "13/30"),
        AcquirerError::Invalid { .. }
    ));
    // A credit card cannot receive the takings.
    assert!(matches!(
        w.bind(
            "b2",
            CardPurposeKind::Settlement,
            NAME1,
            token("622588******0001")
        ),
        Err(AcquirerError::CardRefused { .. })
    ));
    // A token must come with a masked number.
    assert!(matches!(
        w.bind("b3", CardPurposeKind::Credit, NAME1, token("6225881234560001")),
        Err(AcquirerError::Invalid { field, .. }) if field == "masked_pan"
    ));
    assert!(block_on(w.gw.cards(M1)).unwrap().is_empty());
}

#[test]
fn offline_is_unreachable_and_changes_nothing() {
    let w = World::new(Review::Instant);
    w.acq.set_online(false);
    let req = w.request("r1", M1);
    let e = w.activate(&req).unwrap_err();
    assert!(matches!(e, AcquirerError::Unreachable { .. }));
    assert!(e.needs_internet() && e.is_retryable());
    assert!(matches!(
        block_on(w.gw.terminal_status(M1, SN)),
        Err(AcquirerError::Unreachable { .. })
    ));
    w.acq.set_online(true);
    assert_eq!(w.status(M1).state, AcquirerTerminalState::Unknown);
    assert_eq!(w.activate(&req).unwrap().application_id, "APP-000001");
}

#[test]
fn same_seed_same_keys() {
    let bundle = |seed| {
        let acq = SimAcquirer::new(seed);
        acq.register_merchant(MerchantSetup {
            merchant_no: M1.into(),
            legal_name: NAME1.into(),
            review: Review::Instant,
        });
        let term = SimTerminal::new(TerminalConfig::new(SN, 5));
        acq.register_terminal(SN, term.device_key(), TNO, CODE);
        let w = World {
            gw: posmate_sim_world::acquirer::gateway(&acq),
            acq,
            term,
        };
        w.activate(&w.request("r1", M1)).unwrap()
    };
    assert_eq!(bundle(1), bundle(1));
    assert_ne!(bundle(1), bundle(2));
}

#[test]
fn garbage_gets_a_protocol_error_in_json() {
    let acq = SimAcquirer::new(1);
    let reply: serde_json::Value = serde_json::from_slice(&acq.handle(b"{\"op\":")).unwrap();
    assert_eq!(reply["error"]["code"], "protocol");
}

#[test]
fn saved_books_answer_as_the_original_would() {
    let w = World::new(Review::AfterPolls(1));
    let pending = w.activate(&w.request("req-1", M1)).unwrap();
    let restored = SimAcquirer::restore(w.acq.save()).unwrap();
    let gw = posmate_sim_world::acquirer::gateway(&restored);
    // The same request id gets the same application; the next poll approves it, and the
    // keys drawn from the restored generator are the ones the original would draw.
    let again = block_on(gw.activate(&w.request("req-1", M1))).unwrap();
    assert_eq!(again.application_id, pending.application_id);
    let from_restored = block_on(gw.activation_status(&pending.application_id)).unwrap();
    let from_original = w.poll(&pending.application_id).unwrap();
    assert_eq!(from_restored.state, from_original);
    assert!(matches!(from_original, ActivationState::Approved { .. }));
    assert_eq!(restored.now_ms(), w.acq.now_ms());
}
