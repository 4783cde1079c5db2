//! The simulated world the CLI hosts: `posmate sim`, simulated terminals as a separate
//! process reached over the sim link (`docs/sim-link.md`), and `--sim`, the same world inside
//! this process ([`embedded`]). The terminals are driven by `posmate_sim::serve::Host`
//! (sans-IO); [`server`] is its tokio loop, [`control`] the merchant's and the tester's hands on the
//! terminals, [`state`] their flash (and the acquirer's books) on disk, [`world`] the
//! merchants and registrations of the simulated acquirer, shared with `--sim`.

pub mod control;
pub mod embedded;
pub mod server;
pub mod state;
pub mod world;
