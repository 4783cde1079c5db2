//! The simulated world the CLI hosts: `posmate sim`, simulated terminals as a separate
//! process reached over the sim link (`docs/sim-link.md`), and `--sim`, the same world inside
//! this process (`posmate_sim_world::embedded`). The terminals are driven by
//! `posmate_sim::serve::Host` (sans-IO) and served by `posmate_sim_world::link::server`;
//! [`watch`] prints what happens and keeps the state file (`posmate_sim_world::state`)
//! current, [`control`] is the merchant's and the tester's hands on the terminals; the
//! merchants and registrations are the standard world's (`posmate_sim_world::world`).

pub mod control;
pub mod watch;
