//! The posmate wire protocol, shared by the phone (posmate-core) and terminal firmware
//! (posmate-sim, or a real terminal). It is deliberately sans-IO: no async runtime, no BLE
//! stack, no clock. Every type here turns bytes into events and events into bytes, so that a
//! firmware team can drive it from an interrupt loop and the phone from tokio.
//!
//! The layering follows `docs/protocol.md`:
//! [`gatt`] (service layout, advertising) → [`segment`] (ATT-sized segments) →
//! [`frame`] (kinds and CRC) → [`flow`] (credits) → [`handshake`] / [`secure`]
//! (Noise sessions and SPAKE2 pairing) → [`message`] (CBOR catalogue). Beside them, the key
//! formats acquirers use: [`tr31`] key blocks, [`dukpt`] per-transaction keys, and the key
//! check values of [`keybundle`]; and [`iso8583`], the CUP host messages a terminal relays
//! through the phone.

/// AES DUKPT (ANSI X9.24-3-2017), issue 14: keys as acquirers deliver them. An acquirer
/// loads a terminal with a DUKPT initial key and expects every transaction's PIN block, MAC
/// and encrypted data under keys derived for that transaction alone, with the KSN beside
/// them; the terminal side and the host side (for the simulator and tests) are both here.
pub mod dukpt;
pub mod flow;
pub mod frame;
pub mod gatt;
pub mod handshake;
pub mod iso8583;
pub mod keybundle;
pub mod message;
pub mod pan;
pub mod receipt;
pub mod secure;
pub mod segment;
pub mod tr31;
pub mod wire;
