//! The standard simulated world, the one every front end uses (`posmate --sim`, `posmate
//! sim`, the apps' simulated mode, `tests/` and `ble-tests/`): two merchants signed up with
//! the acquirer, and every simulated terminal registered with a terminal number and an
//! activation code by its position in the fleet, so `posmate activate` works against it out
//! of the box.
//!
//! Everything here is fixed or derived from a terminal's position in the fleet, so the
//! numbers a developer reads in the docs are the ones the simulation uses.

use posmate_sim::acquirer::{Review, SimAcquirer};
use posmate_sim::SimTerminal;
use serde::{Deserialize, Serialize};

/// The merchants and numbers themselves are the sim's, so every acquirer built on it seeds
/// the same world.
pub use posmate_sim::demo::{
    activation_code, register, sign_up, sign_up_merchant, terminal_no, MERCHANT_ADDRESS,
    MERCHANT_NAME, MERCHANT_NO, MERCHANT_PHONE, REVIEW_MERCHANT_NAME, REVIEW_MERCHANT_NO,
    REVIEW_POLLS,
};

/// A debit card of the demo merchant's bank (the acquirer's BIN table says ICBC debit):
/// what the merchant taps on the terminal to bind a settlement card.
pub const SETTLEMENT_PAN: &str = "6222021234567890128";
pub const SETTLEMENT_EXPIRY: &str = "1230";

/// A merchant as `posmate sim acquirer` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantJson {
    pub merchant_no: String,
    pub legal_name: String,
    pub contact_phone: String,
    pub address: String,
    /// "instant" or "after-2-polls".
    pub review: String,
}

/// A terminal's registration with the acquirer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationJson {
    pub sn: String,
    pub terminal_no: String,
    pub activation_code: String,
    /// The acquirer's back-office state of the terminal: "unknown" (never activated),
    /// "pending", "active", "dormant" or "deregistered".
    pub state: String,
    /// How many activation applications were ever made for it, by any merchant: a resumed
    /// or retried activation must not make a second.
    pub applications: usize,
}

/// What the simulated acquirer knows, for developers to activate against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquirerJson {
    pub merchants: Vec<MerchantJson>,
    pub terminals: Vec<RegistrationJson>,
    /// The acquirer's clock (ms since the Unix epoch); only `posmate sim advance` moves it.
    pub now_ms: u64,
}

pub fn merchants() -> Vec<MerchantJson> {
    vec![
        MerchantJson {
            merchant_no: MERCHANT_NO.into(),
            legal_name: MERCHANT_NAME.into(),
            contact_phone: MERCHANT_PHONE.into(),
            address: MERCHANT_ADDRESS.into(),
            review: "instant".into(),
        },
        MerchantJson {
            merchant_no: REVIEW_MERCHANT_NO.into(),
            legal_name: REVIEW_MERCHANT_NAME.into(),
            contact_phone: "+86 139 0000 0000".into(),
            address: "3 Hefang Street, Hangzhou".into(),
            review: format!("after-{REVIEW_POLLS}-polls"),
        },
    ]
}

/// A new acquirer with the merchants signed up and `terminals` registered.
pub fn new_acquirer(seed: u64, terminals: &[(SimTerminal, i16)]) -> SimAcquirer {
    let acquirer = SimAcquirer::new(seed);
    sign_up(&acquirer, Review::Instant);
    register(&acquirer, terminals.iter().map(|(t, _)| t), 0);
    acquirer
}

/// The registrations of `sns` (in fleet order) with what `acquirer`'s books say of each,
/// and the merchants, as listed to developers.
pub fn describe(acquirer: &SimAcquirer, sns: &[String]) -> AcquirerJson {
    AcquirerJson {
        merchants: merchants(),
        terminals: sns
            .iter()
            .enumerate()
            .map(|(i, sn)| RegistrationJson {
                sn: sn.clone(),
                terminal_no: terminal_no(i + 1),
                activation_code: activation_code(i + 1),
                state: acquirer.terminal_state(sn).into(),
                applications: acquirer.activations(sn),
            })
            .collect(),
        now_ms: acquirer.now_ms(),
    }
}

/// The acquirer kept in a saved world, or a new one for `terminals`. A saved world with
/// fewer terminals than now has the new ones registered.
pub fn restore_or_new(
    books: Option<serde_json::Value>,
    saved_terminals: usize,
    terminals: &[(SimTerminal, i16)],
    seed: u64,
) -> Result<SimAcquirer, serde_json::Error> {
    match books {
        Some(books) => {
            let acquirer = SimAcquirer::restore(books)?;
            register(&acquirer, terminals.iter().map(|(t, _)| t), saved_terminals);
            Ok(acquirer)
        }
        None => Ok(new_acquirer(seed, terminals)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_fleet_order() {
        assert_eq!(terminal_no(1), "10020301");
        assert_eq!(activation_code(1), "ACT07001");
        assert_eq!(terminal_no(12), "10020312");
        let acquirer = SimAcquirer::new(1);
        let d = describe(&acquirer, &["SN1".into(), "SN2".into()]);
        assert_eq!(d.terminals[1].activation_code, "ACT07002");
        assert_eq!(d.terminals[1].state, "unknown");
        assert_eq!(d.terminals[1].applications, 0);
        assert_eq!(d.merchants[1].review, "after-2-polls");
    }
}
