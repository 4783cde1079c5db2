//! posmate-sim: the outside world, simulated. Terminal firmware (and, later, the acquirer)
//! that talks to the core only through `posmate-proto` bytes over a link.

extern crate posmate_proto as proto;

pub mod acquirer;
pub mod demo;
pub mod fleet;
pub mod serve;
pub mod terminal;

pub use terminal::{SimTerminal, TerminalConfig};
