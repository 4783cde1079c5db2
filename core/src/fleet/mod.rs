//! Fleets: activating many terminals from one list (a chain's shops, a CSV a support engineer
//! was sent), and one summary across every terminal of the phone.
//!
//! A fleet run is a journal over ordinary activations, not a flow of its own: every row is
//! its own activation flow (`flows::activation`), so one bad row never stops or undoes the
//! others, and the run adds only what a list needs — checking each row before anything is
//! sent, reporting a terminal listed twice once, pairing terminals the phone does not know
//! yet, and a journal (`fleet_rows`, keyed by the hash of the source and the row's SN) so
//! that running the same list again skips the rows already done, resumes the rows that
//! were running (their activation flow resumes from its persisted step, so the acquirer
//! never sees a second application) and retries failed rows only when asked to.
//!
//! Front ends parse their source (the CLI reads CSV) into [`FleetRow`]s and hand the
//! activation codes over as [`FleetCodes`], which never reach the store, a log or a report.

mod plan;
mod run;
mod status;

pub use plan::{FleetCodes, FleetPlan, FleetRow};
pub use run::{FleetObserver, FleetOptions, FleetReport, FleetRowReport, FleetTotals, RowResult};
pub use status::{FleetStatus, FleetTerminal, FleetTerminalsTotals, UnsettledBatch};

pub use run::activate;
pub use status::status;
