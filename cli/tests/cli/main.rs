//! `posmate` end to end: every command against the embedded simulation (`embedded`) and
//! against a separate `posmate sim` process over loopback (`remote`), `--json` output
//! validated against `cli/schemas/`, and the conventions every command shares
//! (`conventions`).

mod acquirer;
mod common;
mod config;
mod conventions;
mod demo;
mod embedded;
mod fleet;
mod home;
mod https_life;
mod kill;
mod lifecycle;
mod profiles;
mod remote;
mod sandbox;
mod support;
mod traces;
