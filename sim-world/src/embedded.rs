//! The embedded simulation (`posmate --sim`): a simulated world inside this process —
//! terminals on the simulated [`radio`](crate::radio) (virtual BLE time, so commands finish
//! at once) and the simulated acquirer, reached through its JSON API. The world lives in
//! `DATA_DIR/sim/world.json` between runs (the [`state`](crate::state) file), so `posmate
//! --sim pair` followed by `posmate --sim activate …` finds the terminal still paired and the
//! acquirer still knowing the merchant — just as the phone's keys stay in the keystore. It is written when the command ends (also after a failure or Ctrl-C); a
//! process killed outright loses what its run did to the world, which is why the kill tests
//! use a separate `posmate sim`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use posmate_core::transport::PeripheralId;
use posmate_sim::acquirer::SimAcquirer;
use posmate_sim::serve::SavedFleet;
use posmate_sim::SimTerminal;

use crate::radio::timing::LinkModel;
use crate::radio::SimRadio;
use crate::recording::{Opening, Recorded, TraceDir, TraceFile};
use crate::state::{self, StateError};
use crate::world;

/// How many terminals a fresh embedded simulation has in range.
pub const TERMINALS: usize = 3;

pub struct Embedded {
    radio: SimRadio,
    terminals: Vec<(SimTerminal, i16)>,
    ids: Vec<PeripheralId>,
    acquirer: SimAcquirer,
    path: PathBuf,
    /// Per terminal, in fleet order.
    recordings: Vec<Recording>,
}

/// One terminal's connections of this run: what it held as each opened, and how many of
/// them are already saved.
struct Recording {
    opened: Arc<Mutex<Vec<Opening>>>,
    saved: Mutex<usize>,
}

impl Embedded {
    /// The simulation kept in `data_dir`, or a fresh one.
    pub fn open(data_dir: &Path) -> Result<Self, StateError> {
        let path = data_dir.join("sim").join("world.json");
        let (terminals, acquirer) = match state::load(&path)? {
            Some(mut fleet) => {
                let books = fleet.acquirer.take();
                let terminals = fleet.into_terminals();
                let n = terminals.len();
                let acquirer = world::restore_or_new(books, n, &terminals, state::DEFAULT_SEED)
                    .map_err(|e| state::corrupt(&path, e))?;
                (terminals, acquirer)
            }
            None => {
                let terminals =
                    state::generate(state::SN_PREFIX, 1, TERMINALS, state::DEFAULT_SEED);
                let acquirer = world::new_acquirer(state::DEFAULT_SEED, &terminals);
                (terminals, acquirer)
            }
        };
        Ok(Self::new(terminals, acquirer, path))
    }

    /// The world of `terminals` and `acquirer` on a new simulated radio, saved to `path`.
    pub fn new(terminals: Vec<(SimTerminal, i16)>, acquirer: SimAcquirer, path: PathBuf) -> Self {
        let radio = SimRadio::new(LinkModel::phone_2m());
        let mut recordings = Vec::new();
        let ids = terminals
            .iter()
            .map(|(t, rssi)| {
                let (recorded, opened) = Recorded::new(t.clone());
                recordings.push(Recording {
                    opened,
                    saved: Mutex::new(0),
                });
                radio.add(Box::new(recorded), *rssi)
            })
            .collect();
        Embedded {
            radio,
            terminals,
            ids,
            acquirer,
            path,
            recordings,
        }
    }

    pub fn radio(&self) -> &SimRadio {
        &self.radio
    }

    pub fn acquirer(&self) -> &SimAcquirer {
        &self.acquirer
    }

    /// The terminal with serial number (or radio address) `who`.
    pub fn find(&self, who: &str) -> Option<(&PeripheralId, &SimTerminal, i16)> {
        self.ids
            .iter()
            .zip(&self.terminals)
            .find(|(id, (t, _))| id.as_str() == who || t.sn() == who)
            .map(|(id, (t, rssi))| (id, t, *rssi))
    }

    /// Every terminal with its radio address and signal strength, in fleet order.
    pub fn all(&self) -> impl Iterator<Item = (&PeripheralId, &SimTerminal, i16)> {
        self.ids
            .iter()
            .zip(&self.terminals)
            .map(|(id, (t, rssi))| (id, t, *rssi))
    }

    /// Simulated BLE time spent on every link so far, in µs.
    pub fn ble_time_us(&self) -> u64 {
        self.ids
            .iter()
            .flat_map(|id| self.radio.stats(id))
            .map(|s| s.elapsed_us)
            .sum()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many terminals the world has.
    pub fn terminal_count(&self) -> usize {
        self.terminals.len()
    }

    /// Where this world's connections are recorded: `traces` beside the state file.
    pub fn trace_dir(&self) -> TraceDir {
        TraceDir::new(self.path.with_file_name("traces"))
    }

    /// Writes the terminals' flash and the acquirer's books back to the data directory, and
    /// this run's connections not saved yet to [`Embedded::trace_dir`].
    pub fn save(&self) -> Result<(), StateError> {
        let fleet = SavedFleet::of(&self.terminals).with_acquirer(self.acquirer.save());
        state::save(&self.path, &fleet)?;
        self.trace_dir().save(&self.new_recordings())
    }

    /// The connections of this run not yet saved, marked as saved.
    fn new_recordings(&self) -> Vec<TraceFile> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut files = Vec::new();
        for ((id, (terminal, _)), recording) in
            self.ids.iter().zip(&self.terminals).zip(&self.recordings)
        {
            let opened = recording.opened.lock().unwrap_or_else(|e| e.into_inner());
            let mut saved = recording.saved.lock().unwrap_or_else(|e| e.into_inner());
            let traces = self.radio.traces(id);
            for (opening, trace) in opened.iter().zip(traces).skip(*saved) {
                files.push(TraceFile {
                    sn: terminal.sn(),
                    recorded_at_ms: now_ms,
                    opened: opening.clone(),
                    trace,
                });
            }
            *saved = opened.len();
        }
        files
    }
}
