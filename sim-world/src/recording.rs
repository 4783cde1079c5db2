//! Recorded connections of simulated terminals, kept as files and replayed on another machine.
//!
//! A [`TraceFile`] is one connection as the terminal saw it (the radio's [`Trace`]) with the
//! terminal's flash as it was when the connection opened. The simulated firmware is
//! deterministic — its randomness is a stream kept in flash, its clock is the link's — so a
//! terminal restored from that flash and fed the recorded writes at the recorded times must
//! answer with exactly the recorded notifications: `posmate sim --replay FILE` reproduces on a
//! developer's machine what happened on the recording one, or says where it first differs.
//!
//! A card a simulated merchant held to the reader before the connection is part of that
//! state too; a card presented *during* a connection is not recorded (the embedded
//! simulation taps before connecting), and a replay reports where it made a difference.
//!
//! The flash holds the simulated terminal's own keys, so trace files are written owner-only
//! into an owner-only folder, like the state file, and are never put into a support bundle
//! whole: bundles carry [`TraceSummary`]s.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use posmate_proto::gatt::{Advertisement, Micros, Notification, Peripheral};
use posmate_proto::message::EntryMode;
use posmate_sim::terminal::nvm::Nvm;
use posmate_sim::terminal::Card;
use posmate_sim::SimTerminal;
use serde::{Deserialize, Serialize};

use crate::radio::trace::{replay, ReplayReport, Trace, TraceKind};
use crate::state::{write_private, StateError};

/// The trace file format this version writes and reads.
pub const FORMAT: u32 = 1;
/// How many trace files a folder keeps; older ones are removed when new ones are written.
pub const KEPT: usize = 20;
/// The extension of trace files.
pub const EXTENSION: &str = "trace";

/// One recorded connection and the terminal as it was when the connection opened.
#[derive(Clone)]
pub struct TraceFile {
    pub sn: String,
    /// Wall-clock time the recording was saved (ms since the Unix epoch).
    pub recorded_at_ms: u64,
    pub opened: Opening,
    pub trace: Trace,
}

/// What the terminal held when a connection opened: its flash, and a card held to its
/// reader before the connection (the embedded simulation's merchant taps the card before
/// the phone asks for it).
#[derive(Clone, Serialize, Deserialize)]
pub struct Opening {
    pub flash: Nvm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_card: Option<HeldCard>,
}

/// A card held to the reader. The simulated card's number is kept whole: the terminal
/// reads it whole (and masks it itself), so a replay needs it; trace files never leave
/// the machine they were recorded on.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCard {
    pub pan: String,
    pub expiry: String,
    /// `tap`, `insert` or `swipe`.
    pub entry: String,
}

impl From<&Card> for HeldCard {
    fn from(card: &Card) -> Self {
        HeldCard {
            pan: card.pan.clone(),
            expiry: card.expiry.clone(),
            entry: match card.entry {
                EntryMode::Tap => "tap",
                EntryMode::Insert => "insert",
                EntryMode::Swipe => "swipe",
            }
            .into(),
        }
    }
}

impl HeldCard {
    fn card(&self) -> Option<Card> {
        let entry = match self.entry.as_str() {
            "tap" => EntryMode::Tap,
            "insert" => EntryMode::Insert,
            "swipe" => EntryMode::Swipe,
            _ => return None,
        };
        Some(Card {
            pan: self.pan.clone(),
            expiry: self.expiry.clone(),
            entry,
        })
    }
}

/// The first line of a trace file.
#[derive(Serialize, Deserialize)]
struct Header {
    posmate_trace: u32,
    sn: String,
    recorded_at_ms: u64,
    #[serde(flatten)]
    opened: Opening,
}

/// Why a trace file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a posmate trace file: {detail}", path.display())]
    NotATrace { path: PathBuf, detail: String },
    #[error("{} is a trace of format {theirs}; this posmate reads format {FORMAT}", path.display())]
    Version { path: PathBuf, theirs: u32 },
}

impl TraceFileError {
    /// A stable code for front ends.
    pub fn code(&self) -> &'static str {
        match self {
            TraceFileError::Io { .. } => "io",
            TraceFileError::NotATrace { .. } => "trace-invalid",
            TraceFileError::Version { .. } => "trace-version",
        }
    }
}

impl std::fmt::Debug for TraceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceFile")
            .field("sn", &self.sn)
            .field("recorded_at_ms", &self.recorded_at_ms)
            .field("events", &self.trace.events.len())
            .finish_non_exhaustive()
    }
}

impl TraceFile {
    /// The file's text: the header line, then one line per event.
    pub fn to_text(&self) -> String {
        let header = Header {
            posmate_trace: FORMAT,
            sn: self.sn.clone(),
            recorded_at_ms: self.recorded_at_ms,
            opened: self.opened.clone(),
        };
        let mut text = serde_json::to_string(&header).expect("a trace header serialises");
        text.push('\n');
        text.push_str(&self.trace.to_json_lines());
        text
    }

    /// Reads a file [`TraceFile::to_text`] wrote; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<TraceFile, TraceFileError> {
        let not_a_trace = |detail: String| TraceFileError::NotATrace {
            path: path.to_owned(),
            detail,
        };
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let probe: serde_json::Value = serde_json::from_str(first)
            .map_err(|e| not_a_trace(format!("line 1 is not JSON ({e})")))?;
        let format = probe
            .get("posmate_trace")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| not_a_trace("line 1 has no \"posmate_trace\" format number".into()))?;
        if format != u64::from(FORMAT) {
            return Err(TraceFileError::Version {
                path: path.to_owned(),
                theirs: u32::try_from(format).unwrap_or(u32::MAX),
            });
        }
        let header: Header = serde_json::from_value(probe)
            .map_err(|e| not_a_trace(format!("line 1 is not a trace header ({e})")))?;
        if let Some(card) = &header.opened.held_card {
            if card.card().is_none() {
                return Err(not_a_trace(format!(
                    "line 1: '{}' is not a card entry mode (tap, insert, swipe)",
                    card.entry
                )));
            }
        }
        let trace = Trace::from_json_lines(rest)
            .map_err(|e| not_a_trace(format!("line {} is not a trace event", e.line + 1)))?;
        Ok(TraceFile {
            sn: header.sn,
            recorded_at_ms: header.recorded_at_ms,
            opened: header.opened,
            trace,
        })
    }

    /// Reads the trace file at `path`.
    pub fn read(path: &Path) -> Result<TraceFile, TraceFileError> {
        let bytes = std::fs::read(path).map_err(|source| TraceFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| TraceFileError::NotATrace {
            path: path.to_owned(),
            detail: "it is not text".into(),
        })?;
        TraceFile::parse(path, &text)
    }

    /// Replays the connection against a terminal restored as it was when it opened.
    pub fn replay(&self) -> Replayed {
        let mut terminal = SimTerminal::from_nvm(self.opened.flash.clone());
        if let Some(card) = self.opened.held_card.as_ref().and_then(HeldCard::card) {
            // No connection yet, so the terminal holds it for the first card read.
            terminal.present_card(0, card);
        }
        let before = lifecycle_name(&self.opened.flash);
        let report = replay(&self.trace, &mut terminal);
        let after = terminal.nvm_snapshot();
        Replayed {
            report,
            lifecycle_before: before,
            lifecycle_after: lifecycle_name(&after),
            journal_head_after: after.journal.head(),
        }
    }

    /// What the connection looked like, without any of its contents.
    pub fn summary(&self, file: &str) -> TraceSummary {
        let mut s = TraceSummary {
            file: file.into(),
            sn: self.sn.clone(),
            recorded_at_ms: self.recorded_at_ms,
            mtu: None,
            duration_us: self.trace.events.last().map_or(0, |e| e.t),
            writes: 0,
            notifications: 0,
            bytes_to_terminal: 0,
            bytes_to_phone: 0,
            stalls: 0,
            faults: Vec::new(),
            ended: None,
        };
        for event in &self.trace.events {
            match &event.kind {
                TraceKind::Connect { mtu } => s.mtu = Some(*mtu),
                TraceKind::Write { data } => {
                    s.writes += 1;
                    s.bytes_to_terminal += data.len() as u64;
                }
                TraceKind::Notify { data, .. } => {
                    s.notifications += 1;
                    s.bytes_to_phone += data.len() as u64;
                }
                TraceKind::Stall { .. } => s.stalls += 1,
                TraceKind::Fault { what, .. } => s.faults.push(what.clone()),
                TraceKind::Disconnect { reason } => s.ended = Some(reason.to_string()),
            }
        }
        s
    }
}

fn lifecycle_name(flash: &Nvm) -> String {
    format!("{:?}", flash.lifecycle()).to_lowercase()
}

/// The outcome of replaying a trace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub report: ReplayReport,
    pub lifecycle_before: String,
    pub lifecycle_after: String,
    /// The replayed terminal's journal head (records booked so far).
    pub journal_head_after: u64,
}

/// A recorded connection's shape: sizes, times and how it ended, never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    pub file: String,
    pub sn: String,
    pub recorded_at_ms: u64,
    pub mtu: Option<u16>,
    /// Link time of the last event (µs after the connection opened).
    pub duration_us: Micros,
    pub writes: u64,
    pub notifications: u64,
    pub bytes_to_terminal: u64,
    pub bytes_to_phone: u64,
    pub stalls: u64,
    pub faults: Vec<String>,
    /// Why the link went down, if it did while recorded.
    pub ended: Option<String>,
}

/// A simulated terminal as the radio drives it, noting what it holds each time a connection
/// opens, so the connection can later be saved as a [`TraceFile`].
pub struct Recorded {
    terminal: SimTerminal,
    opened: Arc<Mutex<Vec<Opening>>>,
}

impl Recorded {
    /// `terminal`, and the list its state at each connection's opening is added to.
    pub fn new(terminal: SimTerminal) -> (Self, Arc<Mutex<Vec<Opening>>>) {
        let opened = Arc::new(Mutex::new(Vec::new()));
        (
            Recorded {
                terminal,
                opened: opened.clone(),
            },
            opened,
        )
    }
}

impl Peripheral for Recorded {
    fn advertisement(&self) -> Advertisement {
        self.terminal.advertisement()
    }

    fn on_connect(&mut self, now: Micros, mtu: u16) {
        let opening = Opening {
            flash: self.terminal.nvm_snapshot(),
            held_card: self.terminal.held_card().as_ref().map(HeldCard::from),
        };
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(opening);
        self.terminal.on_connect(now, mtu);
    }

    fn on_write(&mut self, now: Micros, value: &[u8]) {
        self.terminal.on_write(now, value);
    }

    fn on_disconnect(&mut self, now: Micros) {
        self.terminal.on_disconnect(now);
    }

    fn poll_notification(&mut self, now: Micros) -> Option<Notification> {
        self.terminal.poll_notification(now)
    }

    fn wants_disconnect(&self) -> bool {
        self.terminal.wants_disconnect()
    }

    fn stall_until(&mut self, until: Micros) {
        self.terminal.stall_until(until);
    }
}

/// A folder of trace files (`DATA_DIR/sim/traces` for the embedded simulation).
pub struct TraceDir(PathBuf);

impl TraceDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TraceDir(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `files` (owner-only), then removes the oldest beyond [`KEPT`].
    pub fn save(&self, files: &[TraceFile]) -> Result<(), StateError> {
        for (i, file) in files.iter().enumerate() {
            let name = format!("{}-{}-{i:02}.{EXTENSION}", file.recorded_at_ms, file.sn);
            write_private(&self.0.join(name), file.to_text().as_bytes())?;
        }
        for old in self.files().into_iter().skip(KEPT) {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }

    /// The trace files in the folder, newest first (none if it does not exist).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
            .collect();
        // Names start with the recording time, so the name order is the time order.
        files.sort();
        files.reverse();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posmate_sim::TerminalConfig;

    fn terminal() -> SimTerminal {
        SimTerminal::new(TerminalConfig::new("SN2026000001", 43))
    }

    #[test]
    fn a_trace_file_round_trips_and_bad_ones_are_refused() {
        let file = TraceFile {
            sn: "SN2026000001".into(),
            recorded_at_ms: 1_700_000_000_000,
            opened: Opening {
                flash: terminal().nvm_snapshot(),
                held_card: None,
            },
            trace: Trace::default(),
        };
        let path = Path::new("t.trace");
        let back = TraceFile::parse(path, &file.to_text()).unwrap();
        assert_eq!(back.sn, file.sn);
        assert!(back.opened.flash == file.opened.flash);
        let err = TraceFile::parse(path, "not json\n").unwrap_err();
        assert_eq!(err.code(), "trace-invalid");
        let newer = file
            .to_text()
            .replacen("\"posmate_trace\":1", "\"posmate_trace\":9", 1);
        assert_eq!(
            TraceFile::parse(path, &newer).unwrap_err().code(),
            "trace-version"
        );
        let mut bad_event = file.to_text();
        bad_event.push_str("{\"t\":1}\n");
        let err = TraceFile::parse(path, &bad_event).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn the_folder_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let traces = TraceDir::new(dir.path().join("traces"));
        let files: Vec<TraceFile> = (0..KEPT as u64 + 3)
            .map(|i| TraceFile {
                sn: "SN2026000001".into(),
                recorded_at_ms: 1_700_000_000_000 + i,
                opened: Opening {
                    flash: terminal().nvm_snapshot(),
                    held_card: None,
                },
                trace: Trace::default(),
            })
            .collect();
        traces.save(&files).unwrap();
        let kept = traces.files();
        assert_eq!(kept.len(), KEPT);
        let newest = kept[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(newest.starts_with(&format!("{}", 1_700_000_000_000 + KEPT as u64 + 2)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "trace files are owner-only");
        }
    }
}
