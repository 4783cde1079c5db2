//! The demo world's acquirer side: the two merchants every front end signs up and the
//! numbers each simulated terminal is registered with, by its position in the fleet. It is
//! the sim's, not the phone's, so that every acquirer built on the sim (`posmate sim`, the
//! embedded simulation through `posmate-sim-world`, the HTTPS sandbox) seeds the same world
//! and the numbers in the docs work everywhere.

use crate::acquirer::{MerchantSetup, Review, SimAcquirer};
use crate::fleet::fleet;
use crate::SimTerminal;

/// Serial numbers of generated terminals: `SN2026000001`, …
pub const SN_PREFIX: &str = "SN2026";
/// Base seed of generated terminals, so that a fresh simulation is the same everywhere.
pub const DEFAULT_SEED: u64 = 42;
/// How many terminals `posmate sim` hosts unless told otherwise.
pub const DEFAULT_TERMINALS: usize = 3;

/// The demo merchant: activations are approved at once.
pub const MERCHANT_NO: &str = "898310148160012";
pub const MERCHANT_NAME: &str = "Zhang San Noodles";
pub const MERCHANT_PHONE: &str = "+86 138 0000 0000";
pub const MERCHANT_ADDRESS: &str = "12 Wenhua Road, Hangzhou";

/// A second merchant whose activations stay under review until their status has been
/// asked [`REVIEW_POLLS`] times (what `posmate activate --status` is for).
pub const REVIEW_MERCHANT_NO: &str = "898310148160020";
pub const REVIEW_MERCHANT_NAME: &str = "Li Si Tea House";
pub const REVIEW_POLLS: u32 = 2;

/// The terminal number the acquirer assigned to the `n`th terminal (from 1): `10020301`, …
pub fn terminal_no(n: usize) -> String {
    format!("1002{:04}", 300 + n)
}

/// The activation code the acquirer gave the merchant for the `n`th terminal: `ACT07001`, …
pub fn activation_code(n: usize) -> String {
    format!("ACT{:05}", 7000 + n)
}

/// Signs up both merchants: the demo merchant reviewed as `review` (the apps and tests
/// choose it; `posmate` approves at once), the second one after [`REVIEW_POLLS`] polls.
/// Signing up again changes only how the next activations are reviewed.
pub fn sign_up(acquirer: &SimAcquirer, review: Review) {
    sign_up_merchant(acquirer, review);
    acquirer.register_merchant(MerchantSetup {
        merchant_no: REVIEW_MERCHANT_NO.into(),
        legal_name: REVIEW_MERCHANT_NAME.into(),
        review: Review::AfterPolls(REVIEW_POLLS),
    });
}

/// Signs up (again) only the demo merchant, reviewed as `review`.
pub fn sign_up_merchant(acquirer: &SimAcquirer, review: Review) {
    acquirer.register_merchant(MerchantSetup {
        merchant_no: MERCHANT_NO.into(),
        legal_name: MERCHANT_NAME.into(),
        review,
    });
}

/// Registers the terminals after the first `from` of the fleet (the manufacturer's feed
/// reaching the acquirer), each with the numbers of its position.
pub fn register<'a>(
    acquirer: &SimAcquirer,
    fleet: impl IntoIterator<Item = &'a SimTerminal>,
    from: usize,
) {
    for (i, t) in fleet.into_iter().enumerate().skip(from) {
        acquirer.register_terminal(
            &t.sn(),
            t.device_key(),
            &terminal_no(i + 1),
            &activation_code(i + 1),
        );
    }
}

/// Seeds `acquirer` with the world a fresh `posmate sim` starts with: both merchants
/// (the demo merchant approved at once) and the default fleet's terminals, whose device
/// keys are those of the terminals `posmate sim` would host.
pub fn seed(acquirer: &SimAcquirer) {
    sign_up(acquirer, Review::Instant);
    register(
        acquirer,
        &fleet(SN_PREFIX, DEFAULT_TERMINALS, DEFAULT_SEED),
        0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_world_activates_the_default_fleet() {
        let acquirer = SimAcquirer::new(1);
        seed(&acquirer);
        let fleet = fleet(SN_PREFIX, DEFAULT_TERMINALS, DEFAULT_SEED);
        assert_eq!(fleet[0].sn(), "SN2026000001");
        for t in &fleet {
            assert_eq!(acquirer.terminal_state(&t.sn()), "unknown");
        }
        assert_eq!(acquirer.terminal_state("SN2026000004"), "unknown");
        let saved = acquirer.save();
        assert!(saved["terminals"]["SN2026000003"].is_object());
        assert!(saved["terminals"]["SN2026000004"].is_null());
        assert_eq!(saved["merchants"][MERCHANT_NO]["review"], "Instant");
    }
}
