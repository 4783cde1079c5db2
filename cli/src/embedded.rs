//! `--sim`: simulated terminals inside this process, on the core's simulated radio (virtual
//! BLE time, so commands finish at once). They live in `DATA_DIR/sim/terminals.json` between
//! runs, so `posmate --sim pair` followed by `posmate --sim info` finds the terminal still
//! paired — just as the phone's keys stay in the keystore.

use std::path::{Path, PathBuf};

use posmate_core::transport::sim_link::timing::LinkModel;
use posmate_core::transport::sim_link::SimRadio;
use posmate_core::transport::PeripheralId;
use posmate_sim::serve::SavedFleet;
use posmate_sim::SimTerminal;

use crate::error::CliError;
use crate::simhost::state;

/// How many terminals a fresh embedded simulation has in range.
pub const TERMINALS: usize = 3;

pub struct Embedded {
    radio: SimRadio,
    terminals: Vec<(SimTerminal, i16)>,
    ids: Vec<PeripheralId>,
    path: PathBuf,
}

impl Embedded {
    /// The simulation kept in `data_dir`, or a fresh one.
    pub fn open(data_dir: &Path) -> Result<Self, CliError> {
        let path = data_dir.join("sim").join("terminals.json");
        let terminals = match state::load(&path)? {
            Some(t) => t,
            None => state::generate(state::SN_PREFIX, 1, TERMINALS, state::DEFAULT_SEED),
        };
        let radio = SimRadio::new(LinkModel::phone_2m());
        let ids = terminals
            .iter()
            .map(|(t, rssi)| radio.add(Box::new(t.clone()), *rssi))
            .collect();
        Ok(Embedded {
            radio,
            terminals,
            ids,
            path,
        })
    }

    pub fn radio(&self) -> &SimRadio {
        &self.radio
    }

    /// The terminal reached as `id`, for reading its screen as the merchant would.
    pub fn terminal(&self, id: &PeripheralId) -> Option<&SimTerminal> {
        self.ids
            .iter()
            .position(|i| i == id)
            .map(|n| &self.terminals[n].0)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.terminals.len()
    }

    /// Writes the terminals' flash back to the data directory.
    pub fn save(&self) -> Result<(), CliError> {
        state::save(&self.path, &SavedFleet::of(&self.terminals))
    }
}
