//! Simulated worlds kept on disk between runs — the state file: the embedded simulation's
//! `DATA_DIR/sim/world.json` and `posmate sim --state-file` (`docs/sim-link.md` §6). The
//! file holds the simulated terminals' own flash (their secrets included) and the simulated
//! acquirer's books, so it is written owner-only, atomically (temporary file, then rename),
//! and never holds anything of the phone's.

use std::io::Write;
use std::path::{Path, PathBuf};

use posmate_core::private_dir::create_private_dir;
use posmate_sim::serve::SavedFleet;
use posmate_sim::{SimTerminal, TerminalConfig};

pub use posmate_sim::demo::{DEFAULT_SEED, SN_PREFIX};

/// Why a state file could not be used. Each says which file; front ends add what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a saved simulation at all.
    #[error("{} is not a saved simulation: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A saved simulation, but its acquirer's books do not read back.
    #[error("{} holds acquirer books this version cannot read: {detail}", path.display())]
    Books { path: PathBuf, detail: String },
    /// Written in a format this version does not read.
    #[error(
        "{} was written by another posmate version (format {theirs}, this one reads {})",
        path.display(),
        SavedFleet::VERSION
    )]
    Version { path: PathBuf, theirs: u32 },
}

impl StateError {
    /// A stable code for front ends.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::Io { .. } => "io",
            StateError::Corrupt { .. } | StateError::Books { .. } => "sim-state-corrupt",
            StateError::Version { .. } => "sim-state-version",
        }
    }
}

/// Terminals `first..first + count` (numbered from 1) of a fleet: SN `{prefix}{n:06}`, seed
/// `seed + n`, received ever weaker (-50 dBm, then 8 dB less each) so scans have an order.
pub fn generate(prefix: &str, first: usize, count: usize, seed: u64) -> Vec<(SimTerminal, i16)> {
    (first..first + count)
        .map(|n| {
            let terminal = SimTerminal::new(TerminalConfig::new(
                format!("{prefix}{n:06}"),
                seed.wrapping_add(n as u64),
            ));
            let rssi = -50 - 8 * i16::try_from(n - 1).unwrap_or(0).min(5);
            (terminal, rssi)
        })
        .collect()
}

/// The world saved at `path`, if the file exists.
pub fn load(path: &Path) -> Result<Option<SavedFleet>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                what: format!("cannot read {}", path.display()),
                source,
            })
        }
    };
    let fleet: SavedFleet = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    if fleet.version != SavedFleet::VERSION {
        return Err(StateError::Version {
            path: path.to_owned(),
            theirs: fleet.version,
        });
    }
    Ok(Some(fleet))
}

/// The saved acquirer's books could not be read back.
pub fn corrupt(path: &Path, e: serde_json::Error) -> StateError {
    StateError::Books {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}

/// Writes `fleet` to `path` atomically, owner-only.
pub fn save(path: &Path, fleet: &SavedFleet) -> Result<(), StateError> {
    write_private(
        path,
        &serde_json::to_vec(fleet).expect("a fleet serialises"),
    )
}

/// Writes `bytes` to `path` atomically (a temporary file, then a rename), owner-only, in an
/// owner-only folder: files of the simulated world hold the simulated terminals' secrets.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let fail = |source| StateError::Io {
        what: format!("cannot save {}", path.display()),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(fail)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_terminals_come_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim/terminals.json");
        assert!(load(&path).unwrap().is_none());
        let fleet = generate(SN_PREFIX, 1, 2, DEFAULT_SEED);
        save(&path, &SavedFleet::of(&fleet)).unwrap();
        let back = load(&path).unwrap().unwrap().into_terminals();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].0.sn(), "SN2026000002");
        assert_eq!(back[1].1, -58);
        assert_eq!(back[0].0.device_key(), fleet[0].0.device_key());
        std::fs::write(&path, "{").unwrap();
        let err = load(&path).err().expect("a corrupt file is refused");
        assert_eq!(err.code(), "sim-state-corrupt");
    }
}
