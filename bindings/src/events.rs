//! Connection states for the UI, observed at the transport: every connection the core
//! opens (pairing, reconnecting, resuming a flow) goes through [`ObservedTransport`],
//! which publishes what happened to it.
//!
//! The core's reconnect manager publishes richer states but the companion does not
//! expose them yet, and a link lost under an open session is seen here only when the
//! session releases its connection or a write finds it down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use posmate_core::transport::{
    Connection, LinkEvents, PeripheralId, ScanFilter, ScanStream, Transport, TransportError,
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
                    ended: AtomicBool::new(false),
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
    ended: AtomicBool,
}

impl ObservedConnection {
    fn ended(&self, reason: DisconnectReason) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            let _ = self.states.send(ConnectionState::Disconnected {
                peripheral_id: self.inner.id().as_str().into(),
                reason,
            });
        }
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
        self.inner.take_events()
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
