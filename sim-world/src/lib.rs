//! posmate-sim-world: the simulated world as the phone reaches it.
//!
//! `posmate-sim` is the outside world itself (terminal firmware, acquirer) and knows nothing
//! of the phone; this crate is where the two meet, so every front end (the CLI, the
//! bindings, `tests/`, `ble-tests/`) reaches a simulated terminal or acquirer the same way:
//!
//! * [`radio`] — the in-process simulated radio: `proto::gatt::Peripheral`s "in range"
//!   behind the core's `Transport`, on a virtual clock with a BLE timing model, fault
//!   injection, traces and replay;
//! * [`link`] — the sim link of `docs/sim-link.md`: its wire format, the client that
//!   reaches the terminals and acquirer of a `posmate sim` in another process, and the
//!   server behind `posmate sim`;
//! * [`state`] — the state file: a simulated world kept on disk between runs;
//! * [`recording`] — connections recorded as trace files with the terminal's flash, and
//!   replayed against a restored terminal (`posmate sim --replay`);
//! * [`embedded`] — the embedded simulation (`posmate --sim`): the standard world on the
//!   radio, in process, kept in the state file;
//! * [`acquirer`] — the simulated acquirer as the phone's `Exchange`, in process;
//! * [`world`] — the standard world: its merchants and the numbers each terminal is
//!   registered with;
//! * [`open`] — the phone's link and gateway for any mode (Bluetooth, sim link, a world in
//!   this process), the one way every front end wires a companion.

pub mod acquirer;
pub mod embedded;
pub mod link;
pub mod open;
pub mod radio;
pub mod recording;
pub mod state;
pub mod world;
