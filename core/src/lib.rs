//! posmate-core: the product. The transport to the terminal, pairing and secure sessions,
//! the keystore, and (as they land) the lifecycle flows and the store. Pure Rust: the UniFFI
//! layer in `bindings/` adapts it, nothing here knows about foreign languages.
pub mod acquirer;
pub mod backup;
pub mod cards;
pub mod companion;
pub mod diagnostics;
pub mod error;
pub mod fleet;
pub mod flows;
pub mod keystore;
pub mod leak_scan;
mod mirror;
pub mod plural;
pub mod private_dir;
pub mod session;
pub mod store;
mod terminal_link;
pub mod terminals;
pub mod transport;
