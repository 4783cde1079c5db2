//! Terminals as the acquirer sees them: which merchant's activation holds a terminal, its
//! state for that merchant and for the back office, and deregistration, which frees the
//! terminal for good and keeps its records for the years the rules require.

use posmate_acquirer_api::{
    AcquirerError, AcquirerTerminalState, ApiRequest, DeregisterRequest, Deregistration,
    TerminalStatus,
};

use super::books::{Done, State};
use super::checks::check;
use super::records::{AppState, Application, Terminal};
use crate::acquirer::cards;

/// How long after deregistration the acquirer keeps a terminal's records.
pub const RECORDS_RETAINED_YEARS: i64 = 3;

fn year_of(ms: u64) -> i64 {
    cards::civil_from_ms(ms).0
}

impl State {
    /// The application holding `sn` for `merchant_no`; otherwise why not.
    pub fn held_by(&self, merchant_no: &str, sn: &str) -> Result<&Application, AcquirerError> {
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

    pub fn deregister(&mut self, req: &DeregisterRequest) -> Result<Deregistration, AcquirerError> {
        let print = self.fingerprint(&ApiRequest::Deregister(req.clone()));
        if let Some(Done::Deregistration(d)) = self.replay(&req.request_id, &print)? {
            return Ok(d.clone());
        }
        check(
            !req.reason.trim().is_empty() && req.reason.chars().count() <= 500,
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
        self.remember(&req.request_id, print, Done::Deregistration(d.clone()));
        Ok(d)
    }

    pub fn terminal_status(
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

    /// The acquirer's own view of `sn`, whoever it is activated for, as the books stand
    /// (nothing settled).
    pub fn back_office_state(&self, sn: &str) -> AcquirerTerminalState {
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
}
