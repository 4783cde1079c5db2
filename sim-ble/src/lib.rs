//! posmate-sim-ble: the simulated terminal as a real Bluetooth LE peripheral, through BlueZ
//! (Linux only; on other platforms this crate is empty).
//!
//! The firmware is `posmate-sim`'s, driven through `posmate_sim::serve::Host` as over the
//! sim link; here the link is a real radio: advertising as `docs/protocol.md` §1.2 says
//! ([`advertiser`]), the posmate GATT service with RX (write without response) and TX
//! (notify), the MTU the stack negotiated, notifications ([`peripheral`]). `posmate sim
//! --ble hci1` runs it; `cargo xtask ble-test` tests the core's btleplug transport against
//! it on a real BlueZ stack (`docs/ble-testing.md`).
#![cfg(target_os = "linux")]

pub mod advertiser;
pub mod peripheral;

pub use peripheral::{serve, BleError, BleEvent, BleOptions, HostAccess};
