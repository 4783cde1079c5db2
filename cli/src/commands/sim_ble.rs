//! `posmate sim --ble ADAPTER`: the first hosted terminal is also a real Bluetooth LE
//! peripheral on ADAPTER (Linux, BlueZ; `posmate-sim-ble`). The same host drives it as the
//! sim link's terminals, so the control actions (`posmate sim ring-up`, `screen`, …) and
//! the state file work as in the TCP mode; its screen (the pairing code) is printed as
//! usual. Advertising needs CAP_NET_ADMIN (root, or `setcap cap_net_admin+ep`): see
//! `docs/ble-testing.md`.

use std::sync::Arc;

use serde::Serialize;

use crate::error::CliError;
use crate::output::Output;
use posmate_sim_world::link::server::Shared;

/// What `--json` prints for the radio, one line each (`sim-event.schema.json`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event")]
pub enum BleLine {
    /// The terminal advertises on `adapter` (again, after each connection).
    #[serde(rename = "ble-advertising")]
    Advertising {
        sn: String,
        adapter: String,
        address: String,
        local_name: String,
    },
    /// A central enabled notifications: the link is up with the stack's MTU.
    #[serde(rename = "ble-connected")]
    Connected {
        sn: String,
        central: String,
        mtu: u16,
    },
    #[serde(rename = "ble-disconnected")]
    Disconnected {
        sn: String,
        central: String,
        /// `local-request` (the phone left), `remote-closed` (the terminal closed),
        /// `link-lost` (a simulated fault).
        reason: &'static str,
    },
}

impl BleLine {
    fn human(&self) -> String {
        match self {
            BleLine::Advertising {
                sn,
                adapter,
                address,
                local_name,
            } => format!("{sn} advertising on {adapter} ({address}) as {local_name}"),
            BleLine::Connected { sn, central, mtu } => {
                format!("{sn} connected over Bluetooth from {central} (mtu {mtu})")
            }
            BleLine::Disconnected {
                sn,
                central,
                reason,
            } => format!("{sn} disconnected from {central} ({reason})"),
        }
    }

    fn print(&self, out: Output) {
        if out.json {
            out.json_line(self);
        } else {
            out.line(&self.human());
        }
    }
}

/// Serves the first hosted terminal on `adapter` until it fails; never returns without
/// `adapter`.
pub async fn run(
    out: Output,
    adapter: Option<String>,
    readvertise_ms: Option<u64>,
    shared: Arc<Shared>,
) -> Result<(), CliError> {
    match adapter {
        Some(adapter) => platform::run(out, adapter, readvertise_ms, shared).await,
        None => std::future::pending().await,
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;
    use crate::error::Exit;
    use posmate_proto::gatt::Micros;
    use posmate_sim::serve::{Host, LinkEnd};
    use posmate_sim_ble::{BleError, BleEvent, BleOptions, HostAccess};
    use tokio::sync::{mpsc, watch};

    struct Hosted(Arc<Shared>);

    impl HostAccess for Hosted {
        fn change<T>(&self, f: impl FnOnce(&mut Host, Micros) -> T) -> T {
            self.0.change(f)
        }

        fn subscribe(&self) -> watch::Receiver<u64> {
            self.0.subscribe()
        }
    }

    pub async fn run(
        out: Output,
        adapter: String,
        readvertise_ms: Option<u64>,
        shared: Arc<Shared>,
    ) -> Result<(), CliError> {
        let first = shared
            .read(|h, now| h.terminals(now))
            .into_iter()
            .next()
            .map(|t| t.sn)
            .ok_or_else(|| CliError::usage("--ble needs at least one terminal"))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let options = BleOptions {
            adapter,
            terminal: first,
            readvertise: readvertise_ms.map(std::time::Duration::from_millis),
        };
        let serve = posmate_sim_ble::serve(options, Arc::new(Hosted(shared)), tx);
        tokio::pin!(serve);
        loop {
            tokio::select! {
                result = &mut serve => {
                    // Print what happened before the failure, then the failure.
                    while let Ok(event) = rx.try_recv() {
                        line(event).print(out);
                    }
                    return Err(match result {
                        Ok(()) => CliError::new(
                            Exit::Transport,
                            "bluetooth-unavailable",
                            "BlueZ unregistered the terminal's GATT service (bluetoothd stopped?)",
                        ),
                        Err(e) => cli_error(e),
                    });
                }
                Some(event) = rx.recv() => line(event).print(out),
            }
        }
    }

    fn line(event: BleEvent) -> BleLine {
        match event {
            BleEvent::Advertising {
                adapter,
                address,
                sn,
                local_name,
            } => BleLine::Advertising {
                sn,
                adapter,
                address,
                local_name,
            },
            BleEvent::Connected { sn, central, mtu } => BleLine::Connected { sn, central, mtu },
            BleEvent::Disconnected {
                sn,
                central,
                reason,
            } => BleLine::Disconnected {
                sn,
                central,
                reason: match reason {
                    LinkEnd::LocalRequest => "local-request",
                    LinkEnd::RemoteClosed => "remote-closed",
                    LinkEnd::LinkLost => "link-lost",
                },
            },
        }
    }

    fn cli_error(e: BleError) -> CliError {
        let status = match &e {
            BleError::AdapterNotFound { .. } | BleError::NoTerminal(_) => Exit::NotFound,
            _ => Exit::Transport,
        };
        let err = CliError::new(status, e.code(), e.to_string());
        match e {
            BleError::Advertise { .. } => {
                err.hint("see docs/ble-testing.md: advertising needs CAP_NET_ADMIN")
            }
            _ => err,
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use super::*;
    use crate::error::Exit;

    pub async fn run(_: Output, _: String, _: Option<u64>, _: Arc<Shared>) -> Result<(), CliError> {
        Err(CliError::new(
            Exit::Usage,
            "usage",
            "--ble serves the terminal through BlueZ and works only on Linux",
        )
        .hint("drop --ble; phones and posmate reach the terminals over --connect-sim"))
    }
}
