//! `posmate sim --replay TRACE`: replays a recorded connection of a simulated terminal (a
//! file from `DATA_DIR/sim/traces`) against a terminal restored from the flash the recording
//! started with, and says whether it answered exactly as recorded or where it first differed.

use std::path::Path;

use posmate_core::plural::count;
use posmate_sim_world::recording::{Replayed, TraceFile, TraceFileError};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::Report;

/// What `sim --replay` prints.
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    pub trace: String,
    pub sn: String,
    pub recorded_at_ms: u64,
    /// Whether every notification the restored terminal sent equals the recorded one.
    pub exact: bool,
    pub writes_replayed: usize,
    pub notifications_matched: usize,
    /// Where the replayed terminal first behaved differently.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divergence: Option<DivergenceView>,
    pub lifecycle_before: String,
    pub lifecycle_after: String,
    pub journal_head_after: u64,
}

/// The first notification that differs; `expected`/`got` are lowercase hex of the
/// (encrypted) packets, `null` when one side sent nothing.
#[derive(Debug, Serialize)]
pub struct DivergenceView {
    pub notification: usize,
    pub expected: Option<String>,
    pub got: Option<String>,
}

impl Report for ReplayReport {
    fn human(&self) -> String {
        let mut out = format!(
            "Replayed {}'s connection recorded {} ({}): {} to the terminal, {} matched.\n",
            self.sn,
            fmt::time(self.recorded_at_ms),
            self.trace,
            count(self.writes_replayed, "write", "writes"),
            count(self.notifications_matched, "notification", "notifications"),
        );
        match &self.divergence {
            None => out.push_str("The terminal answered exactly as recorded.\n"),
            Some(d) => out.push_str(&format!(
                "The terminal answered differently at notification {}: recorded {}, replayed {}.\n",
                d.notification,
                d.expected.as_deref().map_or("nothing".into(), short_hex),
                d.got.as_deref().map_or("nothing".into(), short_hex),
            )),
        }
        out.push_str(&format!(
            "Terminal: {} before, {} after; journal head {}.\n",
            self.lifecycle_before, self.lifecycle_after, self.journal_head_after
        ));
        out
    }
}

fn short_hex(hex: &str) -> String {
    if hex.len() > 32 {
        format!("{}… ({} bytes)", &hex[..32], hex.len() / 2)
    } else {
        hex.to_owned()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replays the trace at `path`: exit 0 when the terminal answered exactly as recorded, 1
/// (`replay-diverged`, after the report) when it did not.
pub fn run(ctx: &Ctx, path: &Path) -> Result<Exit, CliError> {
    let file = TraceFile::read(path)?;
    let Replayed {
        report,
        lifecycle_before,
        lifecycle_after,
        journal_head_after,
    } = file.replay();
    let exact = report.is_exact();
    ctx.out.report(&ReplayReport {
        trace: path.display().to_string(),
        sn: file.sn.clone(),
        recorded_at_ms: file.recorded_at_ms,
        exact,
        writes_replayed: report.writes_replayed,
        notifications_matched: report.notifications_matched,
        divergence: report.divergence.map(|d| DivergenceView {
            notification: d.index,
            expected: d.expected.as_deref().map(hex),
            got: d.got.as_deref().map(hex),
        }),
        lifecycle_before,
        lifecycle_after,
        journal_head_after,
    });
    if exact {
        Ok(Exit::Ok)
    } else {
        Err(CliError::new(
            Exit::Other,
            "replay-diverged",
            format!("{}'s terminal did not answer as recorded", file.sn),
        )
        .hint(
            "a different firmware version, or a trace edited by hand; the report above says where",
        ))
    }
}

impl From<TraceFileError> for CliError {
    fn from(e: TraceFileError) -> Self {
        let exit = match &e {
            TraceFileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Exit::NotFound
            }
            TraceFileError::Io { .. } => Exit::Storage,
            TraceFileError::NotATrace { .. } | TraceFileError::Version { .. } => Exit::Usage,
        };
        CliError::new(exit, e.code(), e.to_string()).hint(
            "give a file from DATA_DIR/sim/traces (the embedded simulation records each \
             connection there)",
        )
    }
}
