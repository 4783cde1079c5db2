//! Which link the commands use — the one place that decides: real Bluetooth by default,
//! the embedded simulation with `--sim`, a running `posmate sim` with `--connect-sim`. The
//! link and gateway themselves come from `posmate_sim_world::open`, as the bindings' do;
//! here are the flags, the CLI's patience over Bluetooth, and which acquirer the flows
//! reach: the one at `acquirer_url` over HTTPS when the caller brings it (`Ctx::link`
//! decides when), else the mode's own — the simulated one with `--sim` and
//! `--connect-sim`, none on Bluetooth.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use posmate_core::acquirer::{AcquirerError, Exchange, Gateway, RemoteGateway};
use posmate_core::transport::btle::BtleOptions;
use posmate_core::transport::{scan_for, Candidate, ScanFilter, Transport};
use posmate_sim_world::embedded::Embedded;
use posmate_sim_world::link::TcpTransport;
use posmate_sim_world::open::{self, Opened};

pub use posmate_sim_world::open::LinkKind;

use crate::error::CliError;
use crate::output::Output;

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

/// How long a scan over Bluetooth listens unless told otherwise: a person waits for the
/// terminals' advertisements to come in.
const BLUETOOTH_SCAN: Duration = Duration::from_secs(5);

/// Real terminals without an acquirer URL: every acquirer call says how to configure one.
/// `Unreachable`, so a flow stopped by it stays resumable once the URL is set.
struct NoAcquirer;

#[async_trait]
impl Exchange for NoAcquirer {
    async fn call(&self, _body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        Err(AcquirerError::Unreachable {
            detail: "no acquirer is configured: set its URL with `posmate config set \
                     acquirer_url https://…` or pass --acquirer-url URL (the simulated acquirer \
                     comes with --sim or --connect-sim)"
                .into(),
        })
    }
}

pub struct Link {
    pub transport: Arc<dyn Transport>,
    /// The acquirer the flows reach: the HTTPS one when given, else the simulated one with
    /// `--sim` (in process) or `--connect-sim` (over the sim link); with real Bluetooth and
    /// no URL, none, and the flows that need one say how to configure it.
    pub gateway: Arc<dyn Gateway>,
    pub kind: LinkKind,
    default_scan: Duration,
    embedded: Option<Embedded>,
    remote: Option<Arc<TcpTransport>>,
}

impl Link {
    /// The link for `mode`, its flows reaching `https` instead of the mode's own acquirer
    /// when given (the terminals still come from the mode); `data_dir` is asked for only by
    /// the embedded simulation, which keeps its world there.
    pub async fn open<'a>(
        mode: Mode,
        https: Option<Arc<dyn Gateway>>,
        data_dir: impl FnOnce() -> Result<&'a Path, CliError>,
    ) -> Result<Link, CliError> {
        let (mode, embedded) = match mode {
            Mode::Bluetooth => (
                open::Mode::Bluetooth {
                    options: BtleOptions::default(),
                    acquirer: Arc::new(RemoteGateway::new(NoAcquirer)),
                },
                None,
            ),
            Mode::Embedded => {
                let sim = Embedded::open(data_dir()?)?;
                let mode = open::Mode::Embedded {
                    transport: Arc::new(sim.radio().clone()),
                    acquirer: sim.acquirer().clone(),
                };
                (mode, Some(sim))
            }
            Mode::Remote(addr) => (open::Mode::SimLink(addr), None),
        };
        let Opened {
            transport,
            gateway,
            kind,
            default_scan,
            sim_link,
        } = open::open(mode).await?;
        Ok(Link {
            transport,
            gateway: https.unwrap_or(gateway),
            kind,
            default_scan: default_scan.unwrap_or(BLUETOOTH_SCAN),
            embedded,
            remote: sim_link,
        })
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
        self.default_scan
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
            Some(sim) => Ok(sim.save()?),
            None => Ok(()),
        }
    }
}
