//! Which transport the commands use — the one place that decides: real Bluetooth by
//! default, the embedded simulation with `--sim`, a running `posmate sim` with
//! `--connect-sim`. Everything above sees only `dyn Transport`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::{scan_for, Candidate, ScanFilter, Transport};
use posmate_sim_world::link::{self, TcpTransport};
use serde::Serialize;

use crate::error::CliError;
use crate::output::Output;
use crate::simhost::embedded::Embedded;

/// Which terminals the commands talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Real terminals over the platform's Bluetooth.
    Bluetooth,
    /// Simulated terminals inside this process (`--sim`).
    Embedded,
    /// Simulated terminals of a running `posmate sim` (`--connect-sim ADDR`).
    Remote(String),
}

/// The kind of link, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    Bluetooth,
    Sim,
    SimLink,
}

pub struct Link {
    pub transport: Arc<dyn Transport>,
    pub kind: LinkKind,
    embedded: Option<Embedded>,
    remote: Option<Arc<TcpTransport>>,
}

impl Link {
    /// The link for `mode`; `data_dir` is asked for only by the embedded simulation, which
    /// keeps its world there.
    pub async fn open<'a>(
        mode: Mode,
        data_dir: impl FnOnce() -> Result<&'a Path, CliError>,
    ) -> Result<Link, CliError> {
        match mode {
            Mode::Bluetooth => {
                let btle = BtleTransport::new(BtleOptions::default()).await?;
                Ok(Link {
                    transport: Arc::new(btle),
                    kind: LinkKind::Bluetooth,
                    embedded: None,
                    remote: None,
                })
            }
            Mode::Embedded => {
                let sim = Embedded::open(data_dir()?)?;
                Ok(Link {
                    transport: Arc::new(sim.radio().clone()),
                    kind: LinkKind::Sim,
                    embedded: Some(sim),
                    remote: None,
                })
            }
            Mode::Remote(addr) => {
                let remote = Arc::new(TcpTransport::open(&addr).await?);
                Ok(Link {
                    transport: remote.clone(),
                    kind: LinkKind::SimLink,
                    embedded: None,
                    remote: Some(remote),
                })
            }
        }
    }

    pub fn embedded(&self) -> Option<&Embedded> {
        self.embedded.as_ref()
    }

    pub fn remote(&self) -> Option<&Arc<TcpTransport>> {
        self.remote.as_ref()
    }

    /// How long a scan listens unless told otherwise: radios report terminals as their
    /// advertisements come in; the simulations report all of them at once.
    pub fn default_scan(&self) -> Duration {
        match self.kind {
            LinkKind::Bluetooth => Duration::from_secs(5),
            LinkKind::Sim => Duration::from_millis(200),
            LinkKind::SimLink => link::DEFAULT_SCAN,
        }
    }

    /// Terminals matching `filter`, strongest first, with a spinner meanwhile.
    pub async fn scan(
        &self,
        out: &Output,
        filter: ScanFilter,
        duration: Option<Duration>,
    ) -> Result<Vec<Candidate>, CliError> {
        let duration = duration.unwrap_or_else(|| self.default_scan());
        let spinner = out.spinner("scanning for posmate terminals");
        let found = scan_for(&*self.transport, filter, duration).await;
        spinner.finish_and_clear();
        Ok(found?)
    }

    /// Keeps the embedded simulation's terminals for the next run.
    pub fn save(&self) -> Result<(), CliError> {
        match &self.embedded {
            Some(sim) => sim.save(),
            None => Ok(()),
        }
    }
}
