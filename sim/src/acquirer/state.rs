//! The simulated acquirer's books and rules: merchants, the terminal registry, activation
//! applications and their keys, card bindings, dormancy and deregistrations.
//!
//! Every answer is decided here from the request and the books; the caller holds the lock.
//! Reviews and reopenings whose time has come are settled lazily, at the next call, in a
//! fixed order, so that a run is deterministic for a given seed and sequence of calls.

use std::collections::BTreeMap;

use posmate_acquirer_api::{
    AcquirerError, AcquirerTerminalState, ActivationRequest, ActivationState, ActivationStatus,
    ApiRequest, ApiResponse, BindCardRequest, CardBinding, CardPurposeKind, CardSource,
    DeregisterRequest, Deregistration, KeyCheck, ReopenState, ReopenStatus, TerminalStatus,
};
use proto::keybundle::{self, BundleKey, KeyBundle, KeyKind, KEY_LEN};
use proto::pan::MaskedPan;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cards::{self, Funding};
use super::Review;

/// No trading (or activation, or reopening) for this long and a terminal goes dormant.
pub const DORMANT_AFTER_MS: u64 = 90 * 86_400_000;
/// How long a request to reopen a dormant terminal is under review.
pub const REOPEN_REVIEW_MS: u64 = 2 * 3_600_000;
/// How long after deregistration the acquirer keeps a terminal's records.
pub const RECORDS_RETAINED_YEARS: i64 = 3;
/// When to ask again about an application whose review ends on polling.
pub const POLL_INTERVAL_MS: u64 = 30_000;
/// Wrong activation codes accepted for one terminal before it is locked.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// Credit cards one merchant may bind.
pub const MAX_CREDIT_CARDS: usize = 5;

#[derive(Serialize, Deserialize)]
pub(super) struct Merchant {
    pub legal_name: String,
    pub review: Review,
    /// Settlement card first, then credit cards in binding order.
    pub cards: Vec<CardBinding>,
}

/// What the manufacturer's feed and the acquirer's own records say about one SN.
#[derive(Serialize, Deserialize)]
pub(super) struct Terminal {
    pub device_key: [u8; 32],
    pub terminal_no: String,
    pub activation_code: String,
    pub wrong_codes: u32,
    /// The application holding the terminal (under review, approved or confirmed).
    pub current: Option<String>,
    /// Every deregistration, oldest first, with the merchant it was for.
    pub deregistrations: Vec<(String, Deregistration)>,
}

#[derive(Serialize, Deserialize)]
enum AppState {
    Pending,
    Approved {
        bundle: Vec<u8>,
        #[serde(with = "kcvs")]
        kcvs: Vec<KeyCheck>,
    },
    Rejected {
        reason_code: String,
        reason: String,
    },
    Confirmed {
        at_ms: u64,
    },
    /// Deregistered: its bundle is never handed out again.
    Revoked,
}

#[derive(Serialize, Deserialize)]
struct Application {
    sn: String,
    merchant_no: String,
    terminal_no: String,
    submitted_at_ms: u64,
    review: Review,
    polls: u32,
    state: AppState,
    last_trade_at_ms: Option<u64>,
    reopened_at_ms: Option<u64>,
    reopen_requested_at_ms: Option<u64>,
}

impl Application {
    /// When this confirmed activation goes (or went) dormant.
    fn dormant_after_ms(&self) -> Option<u64> {
        let AppState::Confirmed { at_ms } = self.state else {
            return None;
        };
        let active = at_ms
            .max(self.last_trade_at_ms.unwrap_or(0))
            .max(self.reopened_at_ms.unwrap_or(0));
        Some(active + DORMANT_AFTER_MS)
    }

    fn dormant(&self, now_ms: u64) -> bool {
        self.dormant_after_ms().is_some_and(|t| now_ms >= t)
    }
}

/// A request that succeeded, kept under its request id so a repeat gets the same answer.
#[derive(Serialize, Deserialize)]
enum Done {
    Application(String),
    Binding(CardBinding),
    Deregistration(Deregistration),
}

#[derive(Serialize, Deserialize)]
pub(super) struct State {
    #[serde(with = "rng_state")]
    pub rng: ChaCha20Rng,
    pub now_ms: u64,
    pub online: bool,
    pub lose_answers: u32,
    pub merchants: BTreeMap<String, Merchant>,
    pub terminals: BTreeMap<String, Terminal>,
    applications: BTreeMap<String, Application>,
    /// request id → (SHA-256 of the request, what it did).
    requests: BTreeMap<String, ([u8; 32], Done)>,
    next_application: u64,
    next_binding: u64,
    next_deregistration: u64,
}

/// Key check values with the protocol's `KeyKind` (no serde there) as its wire number.
mod kcvs {
    use proto::keybundle::KeyKind;
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    use super::KeyCheck;

    const KINDS: [KeyKind; 4] = [
        KeyKind::Tmk,
        KeyKind::PinKey,
        KeyKind::MacKey,
        KeyKind::DataKey,
    ];

    pub fn serialize<S: Serializer>(v: &[KeyCheck], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|(slot, kind, kcv)| {
                let n = KINDS.iter().position(|k| k == kind).unwrap_or(0) as u8;
                (*slot, n, *kcv)
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyCheck>, D::Error> {
        Vec::<(u8, u8, [u8; 3])>::deserialize(d)?
            .into_iter()
            .map(|(slot, n, kcv)| {
                let kind = KINDS
                    .get(usize::from(n))
                    .ok_or_else(|| D::Error::custom(format!("unknown key kind {n}")))?;
                Ok((slot, *kind, kcv))
            })
            .collect()
    }
}

/// The random generator as its seed, stream and position, so the books resume their draws.
mod rng_state {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(rng: &ChaCha20Rng, s: S) -> Result<S::Ok, S::Error> {
        (rng.get_seed(), rng.get_stream(), rng.get_word_pos()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChaCha20Rng, D::Error> {
        let (seed, stream, pos) = <([u8; 32], u64, u128)>::deserialize(d)?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(stream);
        rng.set_word_pos(pos);
        Ok(rng)
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> AcquirerError {
    AcquirerError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn check(ok: bool, field: &str, reason: &str) -> Result<(), AcquirerError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(field, reason))
    }
}

fn check_request_id(id: &str) -> Result<(), AcquirerError> {
    check(
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()),
        "request_id",
        "must be 1 to 64 printable characters",
    )
}

fn check_merchant_no(m: &str) -> Result<(), AcquirerError> {
    check(
        m.len() == 15 && m.bytes().all(|b| b.is_ascii_digit()),
        "merchant_no",
        "a merchant number has 15 digits",
    )
}

fn check_sn(sn: &str) -> Result<(), AcquirerError> {
    check(
        (6..=32).contains(&sn.len())
            && sn
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'),
        "sn",
        "an SN has 6 to 32 capital letters, digits or '-'",
    )
}

fn check_activation(req: &ActivationRequest) -> Result<(), AcquirerError> {
    check_sn(&req.sn)?;
    check_merchant_no(&req.merchant_no)?;
    check(
        req.terminal_no.len() == 8 && req.terminal_no.bytes().all(|b| b.is_ascii_alphanumeric()),
        "terminal_no",
        "a terminal number has 8 letters or digits",
    )?;
    check(
        (6..=16).contains(&req.activation_code.len())
            && req
                .activation_code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric()),
        "activation_code",
        "an activation code has 6 to 16 letters or digits",
    )?;
    let m = &req.merchant;
    check(
        !m.legal_name.trim().is_empty() && m.legal_name.len() <= 200,
        "legal_name",
        "the merchant's legal name is required (at most 200 characters)",
    )?;
    let digits = m.contact_phone.bytes().filter(u8::is_ascii_digit).count();
    check(
        (5..=15).contains(&digits)
            && m.contact_phone
                .bytes()
                .all(|b| b.is_ascii_digit() || b" +-()".contains(&b)),
        "contact_phone",
        "a phone number has 5 to 15 digits (spaces, '+', '-' and brackets allowed)",
    )?;
    check(
        !m.address.trim().is_empty() && m.address.len() <= 300,
        "address",
        "the shop's address is required (at most 300 characters)",
    )
}

fn fingerprint(req: &ApiRequest) -> [u8; 32] {
    Sha256::digest(posmate_acquirer_api::encode_request(req)).into()
}

fn year_of(ms: u64) -> i64 {
    cards::civil_from_ms(ms).0
}

impl State {
    pub fn new(rng: ChaCha20Rng, now_ms: u64) -> Self {
        State {
            rng,
            now_ms,
            online: true,
            lose_answers: 0,
            merchants: BTreeMap::new(),
            terminals: BTreeMap::new(),
            applications: BTreeMap::new(),
            requests: BTreeMap::new(),
            next_application: 1,
            next_binding: 1,
            next_deregistration: 1,
        }
    }

    pub fn handle(&mut self, req: ApiRequest) -> Result<ApiResponse, AcquirerError> {
        self.settle();
        match req {
            ApiRequest::Activate(r) => self.activate(&r).map(ApiResponse::Activation),
            ApiRequest::ActivationStatus { application_id } => self
                .activation_status(&application_id)
                .map(ApiResponse::Activation),
            ApiRequest::ConfirmActivation {
                application_id,
                test_txn_ref,
            } => self
                .confirm(&application_id, &test_txn_ref)
                .map(|()| ApiResponse::Done),
            ApiRequest::BindCard(r) => self.bind_card(&r).map(ApiResponse::CardBinding),
            ApiRequest::UnbindCard {
                merchant_no,
                binding_id,
            } => self
                .unbind_card(&merchant_no, &binding_id)
                .map(|()| ApiResponse::Done),
            ApiRequest::Cards { merchant_no } => {
                let cards = self.merchant(&merchant_no)?.cards.clone();
                Ok(ApiResponse::Cards { cards })
            }
            ApiRequest::Deregister(r) => self.deregister(&r).map(ApiResponse::Deregistration),
            ApiRequest::Reopen { merchant_no, sn } => {
                self.reopen(&merchant_no, &sn).map(ApiResponse::Reopen)
            }
            ApiRequest::TerminalStatus { merchant_no, sn } => self
                .terminal_status(&merchant_no, &sn)
                .map(ApiResponse::TerminalStatus),
        }
    }

    /// Decides what time alone decides: timed reviews and reopenings that are due.
    pub fn settle(&mut self) {
        let now = self.now_ms;
        let due: Vec<String> = self
            .applications
            .iter()
            .filter(|(_, a)| {
                matches!(a.state, AppState::Pending)
                    && matches!(a.review, Review::After(ms) if now >= a.submitted_at_ms + ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.approve(&id);
        }
        for app in self.applications.values_mut() {
            if let Some(asked) = app.reopen_requested_at_ms {
                if now >= asked + REOPEN_REVIEW_MS {
                    app.reopen_requested_at_ms = None;
                    app.reopened_at_ms = Some(asked + REOPEN_REVIEW_MS);
                }
            }
        }
    }

    fn merchant(&self, merchant_no: &str) -> Result<&Merchant, AcquirerError> {
        check_merchant_no(merchant_no)?;
        self.merchants
            .get(merchant_no)
            .ok_or(AcquirerError::UnknownMerchant)
    }

    fn terminal(&self, sn: &str) -> Result<&Terminal, AcquirerError> {
        check_sn(sn)?;
        self.terminals
            .get(sn)
            .ok_or_else(|| AcquirerError::UnknownTerminal { sn: sn.to_owned() })
    }

    /// The answer already given to this request id, if it succeeded before. A success
    /// under the id for different content is refused; failures are not kept, so a request
    /// that failed can be sent again, corrected or not, under the same id.
    fn replay(&self, request_id: &str, print: &[u8; 32]) -> Result<Option<&Done>, AcquirerError> {
        check_request_id(request_id)?;
        match self.requests.get(request_id) {
            Some((p, done)) if p == print => Ok(Some(done)),
            Some(_) => Err(invalid(
                "request_id",
                "already used for a different request; use a new one",
            )),
            None => Ok(None),
        }
    }

    // ---- activation ----------------------------------------------------------------

    fn activate(&mut self, req: &ActivationRequest) -> Result<ActivationStatus, AcquirerError> {
        let print = fingerprint(&ApiRequest::Activate(req.clone()));
        if let Some(Done::Application(id)) = self.replay(&req.request_id, &print)? {
            let id = id.clone();
            return self.status_of(&id);
        }
        check_activation(req)?;
        let merchant = self.merchant(&req.merchant_no)?;
        let review = merchant.review.clone();
        let name_ok = cards::same_name(&merchant.legal_name, &req.merchant.legal_name);
        let terminal = self.terminal(&req.sn)?;
        let current = terminal.current.clone();
        if terminal.device_key != req.device_key {
            return Err(invalid(
                "device_key",
                "does not match the manufacturer's record for this SN; the terminal may not be genuine",
            ));
        }
        if terminal.terminal_no != req.terminal_no {
            return Err(invalid(
                "terminal_no",
                "is not the terminal number assigned to this SN",
            ));
        }
        if let Some(id) = current {
            let app = &self.applications[&id];
            if app.merchant_no != req.merchant_no {
                return Err(AcquirerError::OwnedByAnotherMerchant { sn: req.sn.clone() });
            }
            if matches!(app.state, AppState::Confirmed { .. }) {
                return Err(AcquirerError::AlreadyActivated { sn: req.sn.clone() });
            }
            // Under review or approved: the merchant applying again gets that application.
            self.requests.insert(
                req.request_id.clone(),
                (print, Done::Application(id.clone())),
            );
            return self.status_of(&id);
        }
        if !name_ok {
            return Err(invalid(
                "legal_name",
                "does not match the name the acquirer registered for this merchant",
            ));
        }
        let terminal = self.terminals.get_mut(&req.sn).expect("checked");
        if terminal.wrong_codes >= MAX_CODE_ATTEMPTS {
            return Err(AcquirerError::WrongActivationCode {
                attempts_left: Some(0),
            });
        }
        if terminal.activation_code != req.activation_code {
            terminal.wrong_codes += 1;
            return Err(AcquirerError::WrongActivationCode {
                attempts_left: Some(MAX_CODE_ATTEMPTS - terminal.wrong_codes),
            });
        }
        terminal.wrong_codes = 0;
        let id = format!("APP-{:06}", self.next_application);
        self.next_application += 1;
        terminal.current = Some(id.clone());
        let instant = match review {
            Review::Instant => true,
            Review::AfterPolls(n) => n == 0,
            Review::After(ms) => ms == 0,
            Review::Reject { .. } => false,
        };
        self.applications.insert(
            id.clone(),
            Application {
                sn: req.sn.clone(),
                merchant_no: req.merchant_no.clone(),
                terminal_no: req.terminal_no.clone(),
                submitted_at_ms: self.now_ms,
                review,
                polls: 0,
                state: AppState::Pending,
                last_trade_at_ms: None,
                reopened_at_ms: None,
                reopen_requested_at_ms: None,
            },
        );
        if instant {
            self.approve(&id);
        }
        self.requests.insert(
            req.request_id.clone(),
            (print, Done::Application(id.clone())),
        );
        self.status_of(&id)
    }

    /// Issues the terminal's keys: fresh TMK, PIN and MAC keys sealed to its device key.
    fn approve(&mut self, id: &str) {
        let app = &self.applications[id];
        let device_key = self.terminals[&app.sn].device_key;
        let kinds = [KeyKind::Tmk, KeyKind::PinKey, KeyKind::MacKey];
        let keys: Vec<BundleKey> = (1u8..)
            .zip(kinds)
            .map(|(slot, kind)| {
                let mut key = [0u8; KEY_LEN];
                self.rng.fill_bytes(&mut key);
                BundleKey { slot, kind, key }
            })
            .collect();
        let kcvs = keys
            .iter()
            .map(|k| (k.slot, k.kind, keybundle::kcv(&k.key)))
            .collect();
        let bundle = KeyBundle {
            terminal_no: app.terminal_no.clone(),
            merchant_no: app.merchant_no.clone(),
            keys,
        };
        let sealed = keybundle::seal(&device_key, &app.sn, &bundle, &mut self.rng);
        let app = self.applications.get_mut(id).expect("exists");
        app.state = match sealed {
            Ok(bundle) => AppState::Approved { bundle, kcvs },
            // The manufacturer's feed holds a key that is not a valid Ed25519 point.
            Err(_) => AppState::Rejected {
                reason_code: "K01".into(),
                reason: "the terminal's factory key on record is not valid; contact the acquirer"
                    .into(),
            },
        };
        if matches!(app.state, AppState::Rejected { .. }) {
            let sn = app.sn.clone();
            self.release(&sn);
        }
    }

    fn release(&mut self, sn: &str) {
        if let Some(t) = self.terminals.get_mut(sn) {
            t.current = None;
        }
    }

    fn status_of(&self, id: &str) -> Result<ActivationStatus, AcquirerError> {
        let app = self
            .applications
            .get(id)
            .ok_or_else(|| AcquirerError::NotFound {
                what: format!("application {id}"),
            })?;
        let state = match &app.state {
            AppState::Pending => ActivationState::Pending {
                retry_after_ms: match app.review {
                    Review::After(ms) => (app.submitted_at_ms + ms)
                        .saturating_sub(self.now_ms)
                        .max(1),
                    _ => POLL_INTERVAL_MS,
                },
            },
            AppState::Approved { bundle, kcvs } => ActivationState::Approved {
                bundle: bundle.clone(),
                kcvs: kcvs.clone(),
            },
            AppState::Rejected {
                reason_code,
                reason,
            } => ActivationState::Rejected {
                reason_code: reason_code.clone(),
                reason: reason.clone(),
            },
            AppState::Confirmed { .. } => ActivationState::Confirmed,
            AppState::Revoked => return Err(AcquirerError::Deregistered { sn: app.sn.clone() }),
        };
        Ok(ActivationStatus {
            application_id: id.to_owned(),
            state,
        })
    }

    /// A poll moves reviews that end on polling.
    fn activation_status(&mut self, id: &str) -> Result<ActivationStatus, AcquirerError> {
        let app = self
            .applications
            .get_mut(id)
            .ok_or_else(|| AcquirerError::NotFound {
                what: format!("application {id}"),
            })?;
        if matches!(app.state, AppState::Pending) {
            app.polls = app.polls.saturating_add(1);
            match app.review.clone() {
                Review::AfterPolls(n) if app.polls >= n => self.approve(id),
                Review::Reject {
                    reason_code,
                    reason,
                } => {
                    app.state = AppState::Rejected {
                        reason_code,
                        reason,
                    };
                    let sn = app.sn.clone();
                    self.release(&sn);
                }
                _ => {}
            }
        }
        self.status_of(id)
    }

    fn confirm(&mut self, id: &str, test_txn_ref: &str) -> Result<(), AcquirerError> {
        check(
            (1..=32).contains(&test_txn_ref.len())
                && test_txn_ref.bytes().all(|b| b.is_ascii_alphanumeric()),
            "test_txn_ref",
            "the test transaction reference from the terminal's sign-on is required",
        )?;
        let now = self.now_ms;
        let app = self
            .applications
            .get_mut(id)
            .ok_or_else(|| AcquirerError::NotFound {
                what: format!("application {id}"),
            })?;
        match app.state {
            AppState::Approved { .. } => {
                app.state = AppState::Confirmed { at_ms: now };
                Ok(())
            }
            AppState::Confirmed { .. } => Ok(()),
            AppState::Pending => Err(invalid(
                "application_id",
                "the application is still under review",
            )),
            AppState::Rejected { .. } => Err(invalid(
                "application_id",
                "the application was rejected; apply again",
            )),
            AppState::Revoked => Err(AcquirerError::Deregistered { sn: app.sn.clone() }),
        }
    }

    // ---- cards ---------------------------------------------------------------------

    fn bind_card(&mut self, req: &BindCardRequest) -> Result<CardBinding, AcquirerError> {
        let print = fingerprint(&ApiRequest::BindCard(req.clone()));
        if let Some(Done::Binding(b)) = self.replay(&req.request_id, &print)? {
            return Ok(b.clone());
        }
        let merchant = self.merchant(&req.merchant_no)?;
        check(
            !req.holder_name.trim().is_empty(),
            "holder_name",
            "the name on the card is required",
        )?;
        if !cards::same_name(&req.holder_name, &merchant.legal_name) {
            return Err(AcquirerError::NameMismatch);
        }
        let (masked_pan, issuer) = match &req.source {
            CardSource::Token { token, masked_pan } => {
                check(
                    (16..=64).contains(&token.len())
                        && token.bytes().all(|b| b.is_ascii_hexdigit()),
                    "token",
                    "not a card token from a terminal",
                )?;
                let masked = MaskedPan::parse(masked_pan)
                    .map_err(|e| invalid("masked_pan", e.to_string()))?;
                let issuer = cards::bin(masked.as_str()).map(|(name, _)| name.to_owned());
                (masked, issuer)
            }
            CardSource::Manual { pan, expiry } => {
                cards::check_pan(pan)?;
                cards::check_expiry(expiry, self.now_ms)?;
                let masked = MaskedPan::mask(pan).map_err(|e| invalid("pan", e.to_string()))?;
                // The issuer of a typed card is for the phone to look up.
                (masked, None)
            }
        };
        // The BIN (first six digits) shows in the masked number too.
        let funding = cards::bin(masked_pan.as_str()).map(|(_, f)| f);
        if req.purpose == CardPurposeKind::Settlement && funding == Some(Funding::Credit) {
            return Err(AcquirerError::CardRefused {
                reason: "a settlement card must be a debit card".into(),
            });
        }
        if let Some(same) = merchant
            .cards
            .iter()
            .find(|c| c.purpose == req.purpose && c.masked_pan == masked_pan.as_str())
        {
            // Already bound for this purpose: nothing new to do.
            let same = same.clone();
            self.requests
                .insert(req.request_id.clone(), (print, Done::Binding(same.clone())));
            return Ok(same);
        }
        let credit_cards = merchant
            .cards
            .iter()
            .filter(|c| c.purpose == CardPurposeKind::Credit)
            .count();
        if req.purpose == CardPurposeKind::Credit && credit_cards >= MAX_CREDIT_CARDS {
            return Err(AcquirerError::CardRefused {
                reason: format!("a merchant may bind at most {MAX_CREDIT_CARDS} credit cards"),
            });
        }
        let binding_id = format!("BND-{:08}", self.next_binding);
        self.next_binding += 1;
        let merchant = self
            .merchants
            .get_mut(&req.merchant_no)
            .expect("checked above");
        let replaced = if req.purpose == CardPurposeKind::Settlement {
            let old = merchant
                .cards
                .iter()
                .position(|c| c.purpose == CardPurposeKind::Settlement);
            old.map(|i| merchant.cards.remove(i).binding_id)
        } else {
            None
        };
        let binding = CardBinding {
            binding_id,
            merchant_no: req.merchant_no.clone(),
            purpose: req.purpose,
            masked_pan: masked_pan.to_string(),
            issuer,
            holder_name: req.holder_name.clone(),
            bound_at_ms: self.now_ms,
            replaced,
        };
        if req.purpose == CardPurposeKind::Settlement {
            merchant.cards.insert(0, binding.clone());
        } else {
            merchant.cards.push(binding.clone());
        }
        self.requests.insert(
            req.request_id.clone(),
            (print, Done::Binding(binding.clone())),
        );
        Ok(binding)
    }

    /// Whether the merchant has a terminal activated (active or dormant) with the acquirer.
    fn has_active_terminal(&self, merchant_no: &str) -> bool {
        self.terminals.values().any(|t| {
            t.current.as_ref().is_some_and(|id| {
                let app = &self.applications[id];
                app.merchant_no == merchant_no && matches!(app.state, AppState::Confirmed { .. })
            })
        })
    }

    fn unbind_card(&mut self, merchant_no: &str, binding_id: &str) -> Result<(), AcquirerError> {
        let merchant = self.merchant(merchant_no)?;
        let i = merchant
            .cards
            .iter()
            .position(|c| c.binding_id == binding_id)
            .ok_or_else(|| AcquirerError::NotFound {
                what: format!("card binding {binding_id}"),
            })?;
        if merchant.cards[i].purpose == CardPurposeKind::Settlement
            && self.has_active_terminal(merchant_no)
        {
            return Err(AcquirerError::SettlementCardRequired);
        }
        self.merchants
            .get_mut(merchant_no)
            .expect("checked above")
            .cards
            .remove(i);
        Ok(())
    }

    // ---- terminals -----------------------------------------------------------------

    /// The application holding `sn` for `merchant_no`; otherwise why not.
    fn held_by(&self, merchant_no: &str, sn: &str) -> Result<&Application, AcquirerError> {
        self.merchant(merchant_no)?;
        let terminal = self.terminal(sn)?;
        match terminal.current.as_ref().map(|id| &self.applications[id]) {
            Some(app) if app.merchant_no == merchant_no => Ok(app),
            Some(_) => Err(AcquirerError::OwnedByAnotherMerchant { sn: sn.to_owned() }),
            None if self.last_deregistration(terminal, merchant_no).is_some() => {
                Err(AcquirerError::Deregistered { sn: sn.to_owned() })
            }
            None => Err(AcquirerError::NotFound {
                what: format!("an activation of terminal {sn} for this merchant"),
            }),
        }
    }

    /// The terminal's latest deregistration, if it was this merchant's.
    fn last_deregistration<'a>(
        &self,
        terminal: &'a Terminal,
        merchant_no: &str,
    ) -> Option<&'a Deregistration> {
        terminal
            .deregistrations
            .last()
            .filter(|(m, _)| m == merchant_no)
            .map(|(_, d)| d)
    }

    fn deregister(&mut self, req: &DeregisterRequest) -> Result<Deregistration, AcquirerError> {
        let print = fingerprint(&ApiRequest::Deregister(req.clone()));
        if let Some(Done::Deregistration(d)) = self.replay(&req.request_id, &print)? {
            return Ok(d.clone());
        }
        check(
            !req.reason.trim().is_empty() && req.reason.len() <= 500,
            "reason",
            "the reason for deregistering is required (at most 500 characters)",
        )?;
        let d = match self.held_by(&req.merchant_no, &req.sn) {
            Ok(_) => {
                let id = self.terminals[&req.sn].current.clone().expect("held");
                self.applications.get_mut(&id).expect("exists").state = AppState::Revoked;
                let d = Deregistration {
                    reference: format!(
                        "DRG-{}-{:06}",
                        year_of(self.now_ms),
                        self.next_deregistration
                    ),
                    at_ms: self.now_ms,
                    records_retained_until_ms: cards::add_years(
                        self.now_ms,
                        RECORDS_RETAINED_YEARS,
                    ),
                };
                self.next_deregistration += 1;
                let terminal = self.terminals.get_mut(&req.sn).expect("checked");
                terminal.current = None;
                terminal
                    .deregistrations
                    .push((req.merchant_no.clone(), d.clone()));
                d
            }
            // Asked again under a new id (the phone lost the old one): the same answer.
            Err(AcquirerError::Deregistered { .. }) => {
                let terminal = &self.terminals[&req.sn];
                self.last_deregistration(terminal, &req.merchant_no)
                    .expect("held_by saw it")
                    .clone()
            }
            Err(e) => return Err(e),
        };
        self.requests.insert(
            req.request_id.clone(),
            (print, Done::Deregistration(d.clone())),
        );
        Ok(d)
    }

    fn reopen(&mut self, merchant_no: &str, sn: &str) -> Result<ReopenStatus, AcquirerError> {
        let now = self.now_ms;
        let app = self.held_by(merchant_no, sn)?;
        if !matches!(app.state, AppState::Confirmed { .. }) {
            return Err(invalid(
                "sn",
                "the terminal's activation is not complete; finish activating it",
            ));
        }
        if !app.dormant(now) {
            return Ok(ReopenStatus {
                state: ReopenState::Approved,
            });
        }
        let id = self.terminals[sn].current.clone().expect("held");
        let app = self.applications.get_mut(&id).expect("exists");
        let asked = *app.reopen_requested_at_ms.get_or_insert(now);
        Ok(ReopenStatus {
            state: ReopenState::Pending {
                retry_after_ms: (asked + REOPEN_REVIEW_MS).saturating_sub(now).max(1),
            },
        })
    }

    fn terminal_status(
        &self,
        merchant_no: &str,
        sn: &str,
    ) -> Result<TerminalStatus, AcquirerError> {
        let mut status = TerminalStatus {
            sn: sn.to_owned(),
            state: AcquirerTerminalState::Unknown,
            merchant_no: None,
            last_trade_at_ms: None,
            dormant_after_ms: None,
            now_ms: self.now_ms,
        };
        match self.held_by(merchant_no, sn) {
            Ok(app) => {
                status.merchant_no = Some(merchant_no.to_owned());
                status.state = match app.state {
                    AppState::Confirmed { .. } if app.dormant(self.now_ms) => {
                        AcquirerTerminalState::Dormant
                    }
                    AppState::Confirmed { .. } => AcquirerTerminalState::Active,
                    _ => AcquirerTerminalState::Pending,
                };
                status.last_trade_at_ms = app.last_trade_at_ms;
                status.dormant_after_ms = app.dormant_after_ms();
            }
            Err(AcquirerError::Deregistered { .. }) => {
                status.state = AcquirerTerminalState::Deregistered;
            }
            // Another merchant's terminal is none of this merchant's business.
            Err(AcquirerError::OwnedByAnotherMerchant { .. } | AcquirerError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(status)
    }

    /// The acquirer's own view of `sn`, whoever it is activated for.
    pub fn terminal_state(&mut self, sn: &str) -> AcquirerTerminalState {
        self.settle();
        let Some(t) = self.terminals.get(sn) else {
            return AcquirerTerminalState::Unknown;
        };
        match t.current.as_ref().map(|id| &self.applications[id]) {
            Some(app) if app.dormant(self.now_ms) => AcquirerTerminalState::Dormant,
            Some(app) if matches!(app.state, AppState::Confirmed { .. }) => {
                AcquirerTerminalState::Active
            }
            Some(_) => AcquirerTerminalState::Pending,
            None if t.deregistrations.is_empty() => AcquirerTerminalState::Unknown,
            None => AcquirerTerminalState::Deregistered,
        }
    }

    /// How many activation applications were ever made for `sn`.
    pub fn activations(&self, sn: &str) -> usize {
        self.applications.values().filter(|a| a.sn == sn).count()
    }

    /// A trade the payment network reports. It counts only while the terminal is active:
    /// a dormant terminal's trades are declined by the network and do not revive it.
    pub fn record_trade(&mut self, sn: &str, at_ms: u64) {
        self.settle();
        let Some(id) = self.terminals.get(sn).and_then(|t| t.current.clone()) else {
            return;
        };
        let app = self.applications.get_mut(&id).expect("exists");
        if app.dormant_after_ms().is_some_and(|t| at_ms < t) {
            app.last_trade_at_ms = Some(app.last_trade_at_ms.unwrap_or(0).max(at_ms));
        }
    }
}
