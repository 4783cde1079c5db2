//! Connection states for the UI, observed at the transport: every connection the companion
//! opens (pairing, reconnecting, resuming a flow) goes through [`ObservedTransport`], which
//! publishes what happened to it, per peripheral, in order.
//!
//! A link lost under an open, idle session is reported at once: the connection's event
//! receiver is handed to the session's reader task with an observer
//! ([`LinkEvents::observe`]), so `Disconnected` is published the moment that reader takes
//! the link's last event, not at the next call. A failing write, `disconnect()` and the
//! connection being released report it too; whichever comes first is published, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{
    Connection, DisconnectReason, LinkEvent, LinkEvents, PeripheralId, ScanFilter, ScanStream,
    Transport, TransportError,
};

/// How many states a slow listener may fall behind before it misses some.
const BACKLOG: usize = 256;

/// Why a connection ended, as the merchant would put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEnd {
    /// The phone closed it (a disconnect, or the terminal was wiped).
    ClosedByPhone,
    /// The radio link went down or the terminal closed it (out of range, switched off).
    LinkLost,
    /// The session over it ended (it failed, or the companion let it go).
    Released,
}

/// What happened to a connection to a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting {
        peripheral: PeripheralId,
    },
    Connected {
        peripheral: PeripheralId,
        mtu: u16,
    },
    /// This attempt failed; the companion may try again under its reconnect policy.
    ConnectFailed {
        peripheral: PeripheralId,
        code: &'static str,
        detail: String,
    },
    Disconnected {
        peripheral: PeripheralId,
        reason: LinkEnd,
    },
}

/// A transport that reports its connections' states.
pub struct ObservedTransport {
    inner: Arc<dyn Transport>,
    states: broadcast::Sender<LinkState>,
}

impl ObservedTransport {
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        ObservedTransport {
            inner,
            states: broadcast::channel(BACKLOG).0,
        }
    }

    /// Every state from now on, in order.
    pub fn subscribe(&self) -> broadcast::Receiver<LinkState> {
        self.states.subscribe()
    }

    fn publish(&self, state: LinkState) {
        // Nobody listening is fine.
        let _ = self.states.send(state);
    }
}

#[async_trait]
impl Transport for ObservedTransport {
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError> {
        self.inner.scan(filter).await
    }

    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
        self.publish(LinkState::Connecting {
            peripheral: id.clone(),
        });
        match self.inner.connect(id).await {
            Ok(inner) => {
                self.publish(LinkState::Connected {
                    peripheral: id.clone(),
                    mtu: inner.mtu(),
                });
                Ok(Box::new(ObservedConnection {
                    inner,
                    states: self.states.clone(),
                    ended: Arc::new(AtomicBool::new(false)),
                    by_phone: Arc::new(AtomicBool::new(false)),
                }))
            }
            Err(e) => {
                self.publish(LinkState::ConnectFailed {
                    peripheral: id.clone(),
                    code: e.code(),
                    detail: e.to_string(),
                });
                Err(e)
            }
        }
    }
}

struct ObservedConnection {
    inner: Box<dyn Connection>,
    states: broadcast::Sender<LinkState>,
    /// Set by whoever publishes `Disconnected` first (this connection, or the observer of its
    /// events), so it is published once.
    ended: Arc<AtomicBool>,
    /// The phone is ending the link ([`Connection::closing`]): whatever end follows is
    /// the phone's, even the terminal hanging up on its goodbye.
    by_phone: Arc<AtomicBool>,
}

/// How an end of the link reads: the phone's once it began closing, `otherwise` before.
fn end_reason(by_phone: &AtomicBool, otherwise: LinkEnd) -> LinkEnd {
    if by_phone.load(Ordering::SeqCst) {
        LinkEnd::ClosedByPhone
    } else {
        otherwise
    }
}

/// Publishes `Disconnected` for `peripheral` unless it already was.
fn publish_ended(
    states: &broadcast::Sender<LinkState>,
    ended: &AtomicBool,
    peripheral: &PeripheralId,
    reason: LinkEnd,
) {
    if !ended.swap(true, Ordering::SeqCst) {
        let _ = states.send(LinkState::Disconnected {
            peripheral: peripheral.clone(),
            reason,
        });
    }
}

impl ObservedConnection {
    fn ended(&self, reason: LinkEnd) {
        publish_ended(&self.states, &self.ended, self.inner.id(), reason);
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
            self.ended(end_reason(&self.by_phone, LinkEnd::LinkLost));
        }
        result
    }

    fn take_events(&self) -> Option<LinkEvents> {
        let events = self.inner.take_events()?;
        let peripheral = self.inner.id().clone();
        let states = self.states.clone();
        let ended = self.ended.clone();
        let by_phone = self.by_phone.clone();
        Some(events.observe(move |event| {
            if let LinkEvent::Disconnected(why) = event {
                let reason = match why {
                    DisconnectReason::LocalRequest => LinkEnd::ClosedByPhone,
                    DisconnectReason::RemoteClosed | DisconnectReason::LinkLost => {
                        end_reason(&by_phone, LinkEnd::LinkLost)
                    }
                };
                publish_ended(&states, &ended, &peripheral, reason);
            }
        }))
    }

    async fn disconnect(&self) -> Result<(), TransportError> {
        let result = self.inner.disconnect().await;
        self.ended(LinkEnd::ClosedByPhone);
        result
    }

    fn closing(&self) {
        self.by_phone.store(true, Ordering::SeqCst);
        self.inner.closing();
    }
}

impl Drop for ObservedConnection {
    fn drop(&mut self) {
        self.ended(LinkEnd::Released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Stamped;
    use tokio::sync::mpsc;

    /// Connects to "good" (events through `tx`, writes fail once the test says the link is
    /// gone) and refuses everything else.
    struct Fake {
        events: std::sync::Mutex<Option<LinkEvents>>,
    }

    struct FakeConnection {
        id: PeripheralId,
        events: std::sync::Mutex<Option<LinkEvents>>,
        gone: bool,
    }

    #[async_trait]
    impl Transport for Fake {
        async fn scan(&self, _: ScanFilter) -> Result<ScanStream, TransportError> {
            unreachable!("not scanned in these tests")
        }

        async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
            if id.as_str() != "good" && id.as_str() != "gone" {
                return Err(TransportError::NotFound { id: id.clone() });
            }
            Ok(Box::new(FakeConnection {
                id: id.clone(),
                events: std::sync::Mutex::new(self.events.lock().unwrap().take()),
                gone: id.as_str() == "gone",
            }))
        }
    }

    #[async_trait]
    impl Connection for FakeConnection {
        fn id(&self) -> &PeripheralId {
            &self.id
        }
        fn mtu(&self) -> u16 {
            247
        }
        async fn write(&self, _: &[u8]) -> Result<(), TransportError> {
            if self.gone {
                Err(TransportError::Disconnected)
            } else {
                Ok(())
            }
        }
        fn take_events(&self) -> Option<LinkEvents> {
            self.events.lock().unwrap().take()
        }
        async fn disconnect(&self) -> Result<(), TransportError> {
            Ok(())
        }
    }

    fn observed() -> (ObservedTransport, mpsc::UnboundedSender<Stamped>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fake = Fake {
            events: std::sync::Mutex::new(Some(LinkEvents::new(rx, None))),
        };
        (ObservedTransport::new(Arc::new(fake)), tx)
    }

    fn drain(rx: &mut broadcast::Receiver<LinkState>) -> Vec<LinkState> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn id(s: &str) -> PeripheralId {
        PeripheralId::new(s)
    }

    #[tokio::test]
    async fn observed_link_lost_is_published_when_the_reader_takes_it_and_only_once() {
        let (transport, tx) = observed();
        let mut states = transport.subscribe();
        let conn = transport.connect(&id("good")).await.unwrap();
        let mut events = conn.take_events().unwrap();
        assert_eq!(
            drain(&mut states),
            [
                LinkState::Connecting {
                    peripheral: id("good")
                },
                LinkState::Connected {
                    peripheral: id("good"),
                    mtu: 247
                }
            ]
        );
        tx.send(Stamped {
            at: 0,
            event: LinkEvent::Disconnected(DisconnectReason::LinkLost),
        })
        .unwrap();
        assert!(
            drain(&mut states).is_empty(),
            "published before it was read"
        );
        events.recv().await.unwrap();
        let lost = LinkState::Disconnected {
            peripheral: id("good"),
            reason: LinkEnd::LinkLost,
        };
        assert_eq!(drain(&mut states), [lost]);
        conn.disconnect().await.unwrap();
        drop(conn);
        assert!(drain(&mut states).is_empty(), "a second end was published");
    }

    #[tokio::test]
    async fn a_terminal_hanging_up_on_the_phones_goodbye_is_the_phone_closing() {
        let (transport, tx) = observed();
        let mut states = transport.subscribe();
        let conn = transport.connect(&id("good")).await.unwrap();
        let mut events = conn.take_events().unwrap();
        drain(&mut states);
        conn.closing();
        // The terminal closes on the goodbye before the phone's disconnect.
        tx.send(Stamped {
            at: 0,
            event: LinkEvent::Disconnected(DisconnectReason::RemoteClosed),
        })
        .unwrap();
        events.recv().await.unwrap();
        conn.disconnect().await.unwrap();
        assert_eq!(
            drain(&mut states),
            [LinkState::Disconnected {
                peripheral: id("good"),
                reason: LinkEnd::ClosedByPhone,
            }]
        );
    }

    #[tokio::test]
    async fn observed_failures_disconnects_and_releases_say_which() {
        let (transport, _tx) = observed();
        let mut states = transport.subscribe();

        let err = transport.connect(&id("nowhere")).await.err().unwrap();
        assert_eq!(
            drain(&mut states),
            [
                LinkState::Connecting {
                    peripheral: id("nowhere")
                },
                LinkState::ConnectFailed {
                    peripheral: id("nowhere"),
                    code: err.code(),
                    detail: err.to_string(),
                }
            ]
        );

        let ended = |peripheral: &str, reason| LinkState::Disconnected {
            peripheral: id(peripheral),
            reason,
        };
        let conn = transport.connect(&id("good")).await.unwrap();
        conn.disconnect().await.unwrap();
        assert_eq!(
            drain(&mut states).last(),
            Some(&ended("good", LinkEnd::ClosedByPhone))
        );
        drop(conn);
        assert!(drain(&mut states).is_empty());

        let conn = transport.connect(&id("good")).await.unwrap();
        drop(conn);
        assert_eq!(
            drain(&mut states).last(),
            Some(&ended("good", LinkEnd::Released))
        );

        let conn = transport.connect(&id("gone")).await.unwrap();
        assert!(conn.write(b"x").await.is_err());
        assert_eq!(
            drain(&mut states).last(),
            Some(&ended("gone", LinkEnd::LinkLost))
        );
    }
}
