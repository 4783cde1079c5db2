//! `posmate sim`: simulated terminals as a separate process, reached over the sim link
//! (`docs/sim-link.md`). The terminals are driven by `posmate_sim::serve::Host` (sans-IO);
//! [`server`] is its tokio loop, [`control`] the merchant's and the tester's hands on the
//! terminals, [`state`] their flash on disk.

pub mod control;
pub mod server;
pub mod state;
