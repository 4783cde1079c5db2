//! Opening the phone's link on any mode: the one place that turns "real Bluetooth", "a
//! running `posmate sim`" or "a world in this process" into the core's `Transport` and
//! `Gateway`, so the CLI, the bindings and the Bluetooth tests wire a companion alike.
//! Everything above sees only `dyn Transport` and `dyn Gateway`.

use std::sync::Arc;
use std::time::Duration;

use posmate_core::acquirer::{Gateway, RemoteGateway};
use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::{Transport, TransportError};
use posmate_sim::acquirer::SimAcquirer;
use serde::Serialize;

use crate::acquirer;
use crate::link::{self, SimLinkError, TcpTransport};

/// Which terminals and which acquirer the phone talks to.
pub enum Mode {
    /// Real terminals over the platform's Bluetooth. There is no simulated acquirer behind
    /// a real terminal, so the front end brings its own: an app's HTTPS client, a test's
    /// in-process acquirer, or the CLI's "none configured".
    Bluetooth {
        options: BtleOptions,
        acquirer: Arc<dyn Gateway>,
    },
    /// The terminals and acquirer of a running `posmate sim` at this address (the sim
    /// link, `docs/sim-link.md`).
    SimLink(String),
    /// Simulated terminals in this process, on a simulated radio seen through `transport`,
    /// and `acquirer` in process.
    Embedded {
        transport: Arc<dyn Transport>,
        acquirer: SimAcquirer,
    },
}

/// The kind of link, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    Bluetooth,
    Sim,
    SimLink,
}

/// How long a scan listens in a simulated world in this process, which reports every
/// terminal at once.
pub const EMBEDDED_SCAN: Duration = Duration::from_millis(200);

/// The phone's link and gateway for one mode.
pub struct Opened {
    pub transport: Arc<dyn Transport>,
    pub gateway: Arc<dyn Gateway>,
    pub kind: LinkKind,
    /// How long a scan listens unless told otherwise. `None` over Bluetooth: radios report
    /// terminals as their advertisements come in, so the front end chooses how patient
    /// its user is; the simulations report all of them at once.
    pub default_scan: Option<Duration>,
    /// The sim link's client, for its control operations (a terminal's screen, say).
    pub sim_link: Option<Arc<TcpTransport>>,
}

/// Why the link could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Bluetooth(#[from] TransportError),
    #[error(transparent)]
    SimLink(#[from] SimLinkError),
}

/// Opens the link and gateway `mode` names. Bluetooth and the sim link need a tokio runtime
/// (btleplug's and the socket's).
pub async fn open(mode: Mode) -> Result<Opened, OpenError> {
    Ok(match mode {
        Mode::Bluetooth { options, acquirer } => Opened {
            transport: Arc::new(BtleTransport::new(options).await?),
            gateway: acquirer,
            kind: LinkKind::Bluetooth,
            default_scan: None,
            sim_link: None,
        },
        Mode::SimLink(addr) => {
            let remote = Arc::new(TcpTransport::open(&addr).await?);
            Opened {
                transport: remote.clone(),
                // The acquirer's JSON API rides on the same link.
                gateway: Arc::new(RemoteGateway::new(remote.clone())),
                kind: LinkKind::SimLink,
                default_scan: Some(link::DEFAULT_SCAN),
                sim_link: Some(remote),
            }
        }
        Mode::Embedded {
            transport,
            acquirer,
        } => embedded(transport, &acquirer),
    })
}

/// The link and gateway of a world in this process; needs no runtime, so a synchronous
/// caller (a test's world) opens it directly.
pub fn embedded(transport: Arc<dyn Transport>, acquirer: &SimAcquirer) -> Opened {
    Opened {
        transport,
        gateway: Arc::new(acquirer::gateway(acquirer)),
        kind: LinkKind::Sim,
        default_scan: Some(EMBEDDED_SCAN),
        sim_link: None,
    }
}
