//! posmate-ffi: the UniFFI layer over `posmate-core` for Kotlin, Swift and Python.
//!
//! Thin adapters only: [`PosmateCompanion`](companion::PosmateCompanion) wraps the core's
//! `Companion` (every lifecycle flow as an async method with a [`FlowControl`](handles::FlowControl)
//! for progress and cancel), [`PosmateError`](error::PosmateError) carries the core's stable
//! code and advice, and [`Simulation`](simulation::Simulation) is the simulated world for
//! development and tests. Work runs on the bindings' own tokio runtime ([`runtime`]). The
//! companion's methods and the records they exchange live by concept, one module each.
//! `cargo xtask bindings` generates the foreign code from the built library.

uniffi::setup_scaffolding!();

pub mod acquirer_http;
pub mod activation;
pub mod audit;
pub mod backup;
pub mod cards;
pub mod companion;
pub mod decommission;
pub mod error;
pub mod events;
pub mod flows;
pub mod handles;
mod mirror;
mod platform;
pub mod records;
mod runtime;
pub mod settlement;
pub mod simulation;
pub mod terminals;
