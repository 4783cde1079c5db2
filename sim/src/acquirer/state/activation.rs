//! Activation: an application for a terminal under a merchant, its review (instant, on
//! polling, timed or rejected), the terminal keys issued on approval, sealed to the
//! terminal's factory key, and the confirmation after the terminal's sign-on.

use posmate_acquirer_api::{
    AcquirerError, ActivationRequest, ActivationState, ActivationStatus, ApiRequest,
};
use proto::keybundle::{self, BundleKey, KeyBundle, KeyKind, KEY_LEN};
use rand_core::RngCore;

use super::books::{Done, State};
use super::checks::{check_activation, check_text, invalid};
use super::records::{AppState, Application};
use crate::acquirer::cards;
use crate::acquirer::review::Review;

/// When to ask again about an application whose review ends on polling.
pub const POLL_INTERVAL_MS: u64 = 30_000;
/// Wrong activation codes accepted for one terminal before it is locked.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

impl State {
    /// Approves the applications whose timed review has ended.
    pub fn settle_reviews(&mut self) {
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
    }

    pub fn activate(&mut self, req: &ActivationRequest) -> Result<ActivationStatus, AcquirerError> {
        let print = self.fingerprint(&ApiRequest::Activate(req.clone()));
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
            self.remember(&req.request_id, print, Done::Application(id.clone()));
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
            Review::Reject { .. } | Review::Manual => false,
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
        self.remember(&req.request_id, print, Done::Application(id.clone()));
        self.status_of(&id)
    }

    /// Issues the terminal's keys: fresh TMK, PIN and MAC keys sealed to its device key.
    pub(super) fn approve(&mut self, id: &str) {
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

    /// Rejects application `id` for `reason` and frees its terminal for a new application.
    pub(super) fn reject(&mut self, id: &str, reason_code: String, reason: String) {
        if let Some(app) = self.applications.get_mut(id) {
            app.state = AppState::Rejected {
                reason_code,
                reason,
            };
            let sn = app.sn.clone();
            self.release(&sn);
        }
    }

    pub(super) fn release(&mut self, sn: &str) {
        if let Some(t) = self.terminals.get_mut(sn) {
            t.current = None;
        }
    }

    fn status_of(&self, id: &str) -> Result<ActivationStatus, AcquirerError> {
        let app = self.application(id)?;
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
    pub fn activation_status(&mut self, id: &str) -> Result<ActivationStatus, AcquirerError> {
        let app = self.application_mut(id)?;
        if matches!(app.state, AppState::Pending) {
            app.polls = app.polls.saturating_add(1);
            match app.review.clone() {
                Review::AfterPolls(n) if app.polls >= n => self.approve(id),
                Review::Reject {
                    reason_code,
                    reason,
                } => self.reject(id, reason_code, reason),
                _ => {}
            }
        }
        self.status_of(id)
    }

    pub fn confirm(&mut self, id: &str, test_txn_ref: &str) -> Result<(), AcquirerError> {
        check_text(
            test_txn_ref,
            1..=32,
            u8::is_ascii_alphanumeric,
            "test_txn_ref",
            "the test transaction reference from the terminal's sign-on is required",
        )?;
        let now = self.now_ms;
        let app = self.application_mut(id)?;
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
}
