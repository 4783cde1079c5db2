//! Secure sessions with a terminal: pairing and resume ([`establish`]), then requests and
//! responses over the encrypted, flow-controlled link.
//!
//! A running session has two tasks. The *reader* owns the link's events: it reassembles
//! frames, opens them, routes responses to their waiting requests by id and events to
//! subscribers, and returns flow-control credits. The *writer* drains the wire's packet
//! queue to the connection. Requesters seal and queue under one lock, so nonces and frame
//! order always agree. Any authentication failure, protocol violation or link loss ends the
//! session and fails every waiting request: a tampered link is never "recovered" in place.

mod error;
mod establish;
mod link;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use posmate_proto::frame::FrameKind;
use posmate_proto::gatt;
use posmate_proto::message::{Body, Close, CloseReason, Envelope, Event, Request, Response};
use posmate_proto::secure::SecureChannel;
use posmate_proto::wire::Wire;
use tokio::sync::{broadcast, oneshot, Notify};
use tokio::task::JoinHandle;

pub use error::SessionError;
pub use establish::{pair, resume, CodeEntry, Paired};

use crate::transport::{Connection, LinkEvent, LinkEvents, TransportError};
use link::FrameLink;

/// Timeouts of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Longest wait for each handshake step.
    pub step_timeout: Duration,
    /// Longest wait for a response (a card read adds its own timeout on top).
    pub request_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            step_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
        }
    }
}

type Pending = HashMap<u32, oneshot::Sender<Result<Response, SessionError>>>;

struct State {
    wire: Wire,
    channel: SecureChannel,
    next_id: u32,
    pending: Pending,
    /// Why the session ended, once it has.
    ended: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes requesters waiting for a credit, and waiters on the end of the session.
    credit: Notify,
    /// Wakes the writer.
    kick: Notify,
    conn: Arc<dyn Connection>,
    events: broadcast::Sender<Event>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that
        // matters more than refusing service: recover the guard.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the session once: fails every waiting request with `err_of()`.
    fn end(&self, why: String, err_of: impl Fn() -> SessionError) {
        let mut st = self.lock();
        if st.ended.is_none() {
            tracing::debug!(reason = %why, "session ended");
            st.ended = Some(why);
        }
        for (_, tx) in st.pending.drain() {
            let _ = tx.send(Err(err_of()));
        }
        drop(st);
        self.credit.notify_waiters();
        self.kick.notify_one();
    }
}

/// An established, encrypted session with one terminal.
pub struct Session {
    shared: Arc<Shared>,
    sn: String,
    terminal_key: [u8; 32],
    config: SessionConfig,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Session {
    fn start(
        link: FrameLink,
        channel: SecureChannel,
        sn: String,
        terminal_key: [u8; 32],
        config: &SessionConfig,
    ) -> Self {
        let FrameLink {
            conn,
            events,
            wire,
            received,
            ..
        } = link;
        let (events_tx, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                wire,
                channel,
                next_id: 1,
                pending: HashMap::new(),
                ended: None,
            }),
            credit: Notify::new(),
            kick: Notify::new(),
            conn,
            events: events_tx,
        });
        // Frames that arrived with the last handshake message are handled first.
        for frame in received {
            handle_frame(&shared, frame.kind, &frame.body);
        }
        let reader = tokio::spawn(read_loop(shared.clone(), events));
        let writer = tokio::spawn(write_loop(shared.clone()));
        shared.kick.notify_one();
        Session {
            shared,
            sn,
            terminal_key,
            config: config.clone(),
            reader,
            writer,
        }
    }

    /// The terminal's serial number, as it reported it in the handshake.
    pub fn sn(&self) -> &str {
        &self.sn
    }

    /// The terminal's pinned identity key.
    pub fn terminal_key(&self) -> &[u8; 32] {
        &self.terminal_key
    }

    /// The negotiated ATT MTU.
    pub fn mtu(&self) -> u16 {
        self.shared.conn.mtu()
    }

    /// Whether the session still runs.
    pub fn is_open(&self) -> bool {
        self.shared.lock().ended.is_none()
    }

    /// Events the terminal pushes (journal appended, lifecycle changed).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Sends one request and waits for its response with the session's request timeout.
    pub async fn request(&self, request: Request) -> Result<Response, SessionError> {
        self.request_with_timeout(request, self.config.request_timeout)
            .await
    }

    /// Sends one request and waits up to `timeout` for its response (waiting for
    /// flow-control credit counts too). A terminal `Error` response becomes
    /// [`SessionError::Refused`].
    pub async fn request_with_timeout(
        &self,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, SessionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let rx = loop {
            let credit = self.shared.credit.notified();
            tokio::pin!(credit);
            credit.as_mut().enable();
            {
                let mut st = self.shared.lock();
                if let Some(why) = &st.ended {
                    return Err(SessionError::Closed(why.clone()));
                }
                if st.wire.can_send() {
                    let id = st.next_id;
                    st.next_id = st.next_id.checked_add(1).unwrap_or(1);
                    let body = st
                        .channel
                        .seal_envelope(&Envelope {
                            id,
                            body: Body::Request(request),
                        })
                        .map_err(|_| {
                            SessionError::Closed(
                                "the session's keys are exhausted; reconnect".into(),
                            )
                        })?;
                    st.wire
                        .send(FrameKind::Secure, &body)
                        .map_err(|e| SessionError::from_wire(&e))?;
                    let (tx, rx) = oneshot::channel();
                    st.pending.insert(id, tx);
                    break rx;
                }
            }
            if tokio::time::timeout_at(deadline, credit).await.is_err() {
                return Err(SessionError::Timeout(timeout));
            }
        };
        self.shared.kick.notify_one();
        match tokio::time::timeout_at(deadline, rx).await {
            Err(_) => Err(SessionError::Timeout(timeout)),
            Ok(Err(_)) => Err(SessionError::Closed("the session ended".into())),
            Ok(Ok(Ok(Response::Error { code, message }))) => {
                Err(SessionError::Refused { code, message })
            }
            Ok(Ok(result)) => result,
        }
    }

    /// Closes the session in an orderly way (an authenticated `bye`) and drops the link.
    pub async fn close(self) {
        self.shared.conn.closing();
        {
            let mut st = self.shared.lock();
            if st.ended.is_none() {
                let close = Envelope {
                    id: 0,
                    body: Body::Close(Close::new(CloseReason::Bye, "")),
                };
                if let Ok(body) = st.channel.seal_envelope(&close) {
                    let _ = st.wire.send(FrameKind::Secure, &body);
                }
            }
        }
        let _ = flush(&self.shared).await;
        self.shared.end("closed by the phone".into(), || {
            SessionError::Closed("closed by the phone".into())
        });
        let _ = self.shared.conn.disconnect().await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sn", &self.sn)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

async fn flush(shared: &Shared) -> Result<(), TransportError> {
    let max = gatt::max_value_len(shared.conn.mtu());
    loop {
        let packet = shared.lock().wire.poll_packet(max);
        match packet {
            Some(p) => shared.conn.write(&p).await?,
            None => return Ok(()),
        }
    }
}

async fn write_loop(shared: Arc<Shared>) {
    loop {
        shared.kick.notified().await;
        if let Err(e) = flush(&shared).await {
            shared.end(e.to_string(), || {
                SessionError::Transport(TransportError::Disconnected)
            });
            return;
        }
        if shared.lock().ended.is_some() {
            return;
        }
    }
}

async fn read_loop(shared: Arc<Shared>, mut events: LinkEvents) {
    while let Some(event) = events.recv().await {
        match event {
            LinkEvent::Notification(bytes) => {
                let frames = shared.lock().wire.receive(&bytes);
                match frames {
                    Ok(frames) => {
                        for frame in frames {
                            if !handle_frame(&shared, frame.kind, &frame.body) {
                                let _ = shared.conn.disconnect().await;
                                return;
                            }
                        }
                        // Credits may have arrived, and processed frames owe credits back.
                        shared.credit.notify_waiters();
                        shared.kick.notify_one();
                    }
                    Err(e) => {
                        let err = SessionError::from_wire(&e);
                        let why = err.to_string();
                        shared.end(why, || SessionError::from_wire(&e));
                        let _ = shared.conn.disconnect().await;
                        return;
                    }
                }
            }
            LinkEvent::Disconnected(reason) => {
                shared.end(reason.to_string(), || {
                    SessionError::Transport(TransportError::Disconnected)
                });
                return;
            }
        }
    }
    shared.end("link closed".into(), || {
        SessionError::Transport(TransportError::Disconnected)
    });
}

/// Handles one session frame; `false` when the session must end.
fn handle_frame(shared: &Shared, kind: FrameKind, body: &[u8]) -> bool {
    if kind != FrameKind::Secure {
        // The one plaintext frame allowed after the handshake is CLOSE `decrypt-failed`
        // (protocol.md §3.2): unauthenticated, it can only end the session, as any other
        // plaintext frame does.
        let why = match (kind, posmate_proto::message::decode::<Close>(body)) {
            (FrameKind::Close, Ok(close)) if close.reason == CloseReason::DecryptFailed => {
                "the terminal could not authenticate our frames"
            }
            _ => "plaintext frame after the handshake",
        };
        shared.end(why.into(), || SessionError::Security(why));
        return false;
    }
    let mut st = shared.lock();
    let opened = st.channel.open_envelope(body);
    // Every frame handed to us was received and counted by the wire.
    let _ = st.wire.frame_processed();
    match opened {
        Err(_) => {
            drop(st);
            shared.end("a frame failed authentication".into(), || {
                SessionError::Security(
                    "a frame failed authentication: forged, replayed, reordered or truncated",
                )
            });
            false
        }
        Ok(Envelope {
            id,
            body: Body::Response(response),
        }) => match st.pending.remove(&id) {
            Some(tx) => {
                let _ = tx.send(Ok(response));
                true
            }
            None => {
                drop(st);
                shared.end("response to no request".into(), || {
                    SessionError::UnexpectedResponse
                });
                false
            }
        },
        Ok(Envelope {
            body: Body::Event(event),
            ..
        }) => {
            drop(st);
            let _ = shared.events.send(event);
            true
        }
        Ok(Envelope {
            body: Body::Close(close),
            ..
        }) => {
            drop(st);
            shared.end(
                format!("the terminal closed the session ({:?})", close.reason),
                || SessionError::from_close(&close),
            );
            false
        }
        Ok(Envelope {
            body: Body::Request(_),
            ..
        }) => {
            drop(st);
            shared.end("the terminal sent a request".into(), || {
                SessionError::Security("protocol violation")
            });
            false
        }
    }
}
