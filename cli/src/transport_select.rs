//! Which transport the commands use — the one place that decides: real Bluetooth by
//! default, the embedded simulation with `--sim`, a running `posmate sim` with
//! `--connect-sim`. Everything above sees only `dyn Transport`.

use std::sync::Arc;
use std::time::Duration;

use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::{scan_for, Candidate, ScanFilter, Transport};
use posmate_sim_world::link::{self, TcpTransport};
use serde::Serialize;

use crate::context::{Ctx, Mode};
use crate::embedded::Embedded;
use crate::error::CliError;

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
    pub async fn open(ctx: &Ctx) -> Result<Link, CliError> {
        match ctx.mode() {
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
                let sim = Embedded::open(ctx.ensure_data_dir()?)?;
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
        ctx: &Ctx,
        filter: ScanFilter,
        duration: Option<Duration>,
    ) -> Result<Vec<Candidate>, CliError> {
        let duration = duration.unwrap_or_else(|| self.default_scan());
        let spinner = ctx.out.spinner("scanning for posmate terminals");
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
