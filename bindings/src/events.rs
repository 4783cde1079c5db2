//! Connection states for the UI, observed at the transport: every connection the core
//! opens (pairing, reconnecting, resuming a flow) goes through [`ObservedTransport`],
//! which publishes what happened to it.
//!
//! A link lost under an open, idle session is reported at once: the connection's event
//! receiver is handed to the session's reader task with an observer
//! ([`LinkEvents::observe`]), so `Disconnected` is published the moment that reader takes
//! the link's last event, not at the next call. A failing write, `disconnect()` and the
//! connection being released report it too; whichever comes first is published, once.
//!
//! The core's reconnect manager publishes richer states but the companion does not
//! expose them yet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use posmate_core::transport::{
    self, Connection, LinkEvent, LinkEvents, PeripheralId, ScanFilter, ScanStream, Transport,
    TransportError,
};
use tokio::sync::broadcast;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DisconnectReason {
    /// The phone closed it (`disconnect()`, or the terminal was wiped).
    ClosedByPhone,
    /// The radio link went down (out of range, terminal switched off).
    LinkLost,
    /// The session over it ended (it failed, or the companion let it go).
    Released,
}

/// What happened to a connection to a terminal.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    Connecting {
        peripheral_id: String,
    },
    Connected {
        peripheral_id: String,
        mtu: u16,
    },
    /// This attempt failed; the core may try again under its reconnect policy.
    ConnectFailed {
        peripheral_id: String,
        code: String,
        detail: String,
    },
    Disconnected {
        peripheral_id: String,
        reason: DisconnectReason,
    },
}

/// A transport that reports its connections' states.
pub(crate) struct ObservedTransport {
    inner: Arc<dyn Transport>,
    states: broadcast::Sender<ConnectionState>,
}

impl ObservedTransport {
    pub(crate) fn new(inner: Arc<dyn Transport>) -> Self {
        ObservedTransport {
            inner,
            states: broadcast::channel(256).0,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ConnectionState> {
        self.states.subscribe()
    }
}

#[async_trait]
impl Transport for ObservedTransport {
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError> {
        self.inner.scan(filter).await
    }

    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
        let peripheral_id = id.as_str().to_owned();
        // Nobody listening is fine.
        let _ = self.states.send(ConnectionState::Connecting {
            peripheral_id: peripheral_id.clone(),
        });
        match self.inner.connect(id).await {
            Ok(inner) => {
                let _ = self.states.send(ConnectionState::Connected {
                    peripheral_id,
                    mtu: inner.mtu(),
                });
                Ok(Box::new(ObservedConnection {
                    inner,
                    states: self.states.clone(),
                    ended: Arc::new(AtomicBool::new(false)),
                }))
            }
            Err(e) => {
                let _ = self.states.send(ConnectionState::ConnectFailed {
                    peripheral_id,
                    code: e.code().into(),
                    detail: e.to_string(),
                });
                Err(e)
            }
        }
    }
}

struct ObservedConnection {
    inner: Box<dyn Connection>,
    states: broadcast::Sender<ConnectionState>,
    /// Set by whoever publishes `Disconnected` first (this connection, or the observer of its
    /// events), so it is published once.
    ended: Arc<AtomicBool>,
}

/// Publishes `Disconnected` for `peripheral_id` unless it already was.
fn publish_ended(
    states: &broadcast::Sender<ConnectionState>,
    ended: &AtomicBool,
    peripheral_id: &str,
    reason: DisconnectReason,
) {
    if !ended.swap(true, Ordering::SeqCst) {
        let _ = states.send(ConnectionState::Disconnected {
            peripheral_id: peripheral_id.into(),
            reason,
        });
    }
}

impl ObservedConnection {
    fn ended(&self, reason: DisconnectReason) {
        publish_ended(&self.states, &self.ended, self.inner.id().as_str(), reason);
    }
}

#[async_trait]
impl Connection for ObservedConnection {
    fn id(&self) -> &PeripheralId {
        self.inner.id()
    }

    fn mtu(&self) -> u16 {
        self.inner.mtu()
    }

    async fn write(&self, value: &[u8]) -> Result<(), TransportError> {
        let result = self.inner.write(value).await;
        if let Err(TransportError::Disconnected) = result {
            self.ended(DisconnectReason::LinkLost);
        }
        result
    }

    fn take_events(&self) -> Option<LinkEvents> {
        let events = self.inner.take_events()?;
        let peripheral_id = self.inner.id().as_str().to_owned();
        let states = self.states.clone();
        let ended = self.ended.clone();
        Some(events.observe(move |event| {
            if let LinkEvent::Disconnected(why) = event {
                let reason = match why {
                    transport::DisconnectReason::LocalRequest => DisconnectReason::ClosedByPhone,
                    transport::DisconnectReason::RemoteClosed
                    | transport::DisconnectReason::LinkLost => DisconnectReason::LinkLost,
                };
                publish_ended(&states, &ended, &peripheral_id, reason);
            }
        }))
    }

    async fn disconnect(&self) -> Result<(), TransportError> {
        let result = self.inner.disconnect().await;
        self.ended(DisconnectReason::ClosedByPhone);
        result
    }
}

impl Drop for ObservedConnection {
    fn drop(&mut self) {
        self.ended(DisconnectReason::Released);
    }
}
