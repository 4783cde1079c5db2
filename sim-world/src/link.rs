//! The sim link's client: simulated terminals hosted by another process (`posmate sim`),
//! reached over loopback TCP as if over BLE (`docs/sim-link.md`).
//!
//! [`TcpTransport`] implements [`Transport`], so sessions, pairing and every flow run over it
//! unchanged. Each scan and each GATT connection is its own TCP connection: closing the
//! socket ends the scan or drops the link, exactly as dropping the stream or the
//! [`Connection`] does. Advertising reports go through [`Candidate::from_report`], the same
//! parser the btleplug transport uses.

pub mod address;
pub mod control;
pub mod server;
pub mod wire;

pub use address::SimAddress;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use self::wire::{AdvReport, Connected, Event, LinkRequest, Reply, ServerHello};
use posmate_core::acquirer::{AcquirerError, Exchange};
use posmate_core::error::{Advice, ErrorKind};
use posmate_core::transport::{
    Candidate, Connection, DisconnectReason, LinkEvent, LinkEvents, PeripheralId, ScanFilter,
    ScanStream, Stamped, Transport, TransportError,
};

/// Why the sim server could not be used. Messages say how to get one running.
#[derive(Debug, thiserror::Error)]
pub enum SimLinkError {
    #[error(
        "no posmate sim answers at {addr} ({source}); start one with `posmate sim --listen {addr}`"
    )]
    Unreachable {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} did not answer like a posmate sim ({detail}); check the address")]
    NotASim { addr: String, detail: String },
    #[error("the posmate sim at {addr} speaks sim-link protocol {theirs}, this build {ours}; run the same posmate version on both sides")]
    Version {
        addr: String,
        theirs: u32,
        ours: u32,
    },
    #[error("the posmate sim refused the request: {message} ({code})")]
    Refused { code: String, message: String },
    #[error("the posmate sim at {addr} refused this client: its token is missing or wrong (a sim of another user, or of an earlier run)")]
    Unauthorized { addr: String },
    #[error("no token for a posmate sim at {addr}: a sim on another machine is reached with the address `posmate sim` printed (TOKEN@HOST:PORT)")]
    NoToken { addr: String },
}

/// The sim link's failures in the core's terms, so front ends tell them like the core's.
impl Advice for SimLinkError {
    /// A stable code for the front ends.
    fn code(&self) -> &str {
        match self {
            SimLinkError::Unreachable { .. } => "sim-unreachable",
            SimLinkError::NotASim { .. } => "sim-not-a-sim",
            SimLinkError::Version { .. } => "sim-version",
            SimLinkError::Refused { .. } => "sim-refused",
            SimLinkError::Unauthorized { .. } => "sim-unauthorized",
            SimLinkError::NoToken { .. } => "sim-no-token",
        }
    }

    /// What kind of failure this is: the server's refusals keep the kind their code names.
    fn kind(&self) -> ErrorKind {
        match self {
            SimLinkError::Refused { code, .. } if code == "not-found" => ErrorKind::NotFound,
            SimLinkError::Refused { code, .. } if code.starts_with("acquirer") => {
                ErrorKind::Acquirer
            }
            SimLinkError::Refused { .. } => ErrorKind::Refused,
            SimLinkError::Unauthorized { .. } | SimLinkError::NoToken { .. } => ErrorKind::Security,
            _ => ErrorKind::Unavailable,
        }
    }

    /// Whether trying again can succeed: only once a sim answers at the address.
    fn is_retryable(&self) -> bool {
        matches!(self, SimLinkError::Unreachable { .. })
    }

    /// What to do next, in plain words: how to get a matching sim running.
    fn user_action(&self) -> String {
        match self {
            SimLinkError::Unreachable { addr, .. } => {
                format!("start the simulator with `posmate sim --listen {addr}`, then try again")
            }
            SimLinkError::Version { .. } => "run the same posmate version on both sides".into(),
            SimLinkError::Unauthorized { .. } | SimLinkError::NoToken { .. } => {
                "use the address `posmate sim` printed when it started (TOKEN@HOST:PORT)".into()
            }
            _ => "check the simulator's address".into(),
        }
    }
}

/// A line-oriented JSON connection to the server.
struct Line {
    reader: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Line {
    /// A connection to the sim at `addr`, introduced with its token (the server closes any
    /// connection whose first line is not that `hello`), and what the server said.
    async fn open(addr: &SimAddress) -> Result<(Line, ServerHello), SimLinkError> {
        let socket = addr.socket();
        let unreachable = |source| SimLinkError::Unreachable {
            addr: socket.to_owned(),
            source,
        };
        let stream = TcpStream::connect(socket).await.map_err(unreachable)?;
        // Every write is one small ATT value: do not let Nagle hold it back.
        stream.set_nodelay(true).map_err(unreachable)?;
        let (r, w) = stream.into_split();
        let mut line = Line {
            reader: BufReader::new(r).lines(),
            writer: w,
        };
        let not_a_sim = |detail: String| SimLinkError::NotASim {
            addr: socket.to_owned(),
            detail,
        };
        let reply = line
            .call(&LinkRequest::Hello {
                version: wire::PROTOCOL_VERSION,
                token: addr.token().to_owned(),
            })
            .await
            .map_err(|e| not_a_sim(e.to_string()))?;
        let server: ServerHello = match result_of(reply) {
            Ok(v) => serde_json::from_value(v).map_err(|e| not_a_sim(e.to_string()))?,
            Err(SimLinkError::Refused { code, .. }) if code == "unauthorized" => {
                return Err(SimLinkError::Unauthorized {
                    addr: socket.to_owned(),
                })
            }
            Err(SimLinkError::Refused { code, message }) if code == "unsupported-version" => {
                return Err(not_a_sim(message))
            }
            Err(e) => return Err(e),
        };
        if server.protocol != wire::PROTOCOL_VERSION {
            return Err(SimLinkError::Version {
                addr: socket.to_owned(),
                theirs: server.protocol,
                ours: wire::PROTOCOL_VERSION,
            });
        }
        Ok((line, server))
    }

    async fn send(&mut self, message: &impl serde::Serialize) -> std::io::Result<()> {
        send_line(&mut self.writer, message).await
    }

    /// The next line as JSON; `Ok(None)` at the end of the stream.
    async fn recv<T: serde::de::DeserializeOwned>(&mut self) -> std::io::Result<Option<T>> {
        match self.reader.next_line().await? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }

    /// Sends `request` and reads its reply.
    async fn call(&mut self, request: &impl serde::Serialize) -> std::io::Result<Reply> {
        self.send(request).await?;
        self.recv::<Reply>().await?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
        })
    }
}

async fn send_line(w: &mut OwnedWriteHalf, message: &impl serde::Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    text.push(b'\n');
    w.write_all(&text).await
}

/// Simulated terminals in another process, over the sim link.
pub struct TcpTransport {
    addr: SimAddress,
    server: ServerHello,
}

impl TcpTransport {
    /// Connects to the sim server at `addr` (`TOKEN@127.0.0.1:7878`, or a loopback
    /// `127.0.0.1:7878` whose token file this user can read) and checks that it lets this
    /// client in and speaks this build's protocol.
    pub async fn open(addr: &str) -> Result<Self, SimLinkError> {
        let addr = SimAddress::parse(addr)?;
        let (_, server) = Line::open(&addr).await?;
        Ok(TcpTransport { addr, server })
    }

    /// `HOST:PORT` (without the token).
    pub fn addr(&self) -> &str {
        self.addr.socket()
    }

    /// What the server said about itself.
    pub fn server(&self) -> &ServerHello {
        &self.server
    }

    /// Sends one request object (`{"op": …}`) on a fresh connection and returns its
    /// result. The simulator's control operations go through here.
    pub async fn request(&self, request: &Value) -> Result<Value, SimLinkError> {
        let (mut line, _) = Line::open(&self.addr).await?;
        let reply = line
            .call(request)
            .await
            .map_err(|source| SimLinkError::Unreachable {
                addr: self.addr.socket().to_owned(),
                source,
            })?;
        result_of(reply)
    }

    /// One call to the simulated acquirer's JSON API: `body` is the request, the result the
    /// response body.
    pub async fn acquirer(&self, body: &[u8]) -> Result<Vec<u8>, SimLinkError> {
        let body: Value = serde_json::from_slice(body).map_err(|e| SimLinkError::Refused {
            code: "bad-request".into(),
            message: format!("the acquirer request is not JSON: {e}"),
        })?;
        let request =
            serde_json::to_value(LinkRequest::Acquirer { body }).expect("a JSON value serialises");
        let mut result = self.request(&request).await?;
        let body = result.get_mut("body").map(Value::take).unwrap_or_default();
        Ok(serde_json::to_vec(&body).expect("a JSON value serialises"))
    }
}

/// The simulated acquirer of a `posmate sim`, as the transport of
/// [`RemoteGateway`](posmate_core::acquirer::RemoteGateway): the same JSON API the app sends over
/// HTTPS, carried by the sim link's `acquirer` operation.
#[async_trait]
impl Exchange for TcpTransport {
    async fn call(&self, body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        // The body may carry a typed card number.
        let body = zeroize::Zeroizing::new(body);
        self.acquirer(&body).await.map_err(|e| match e {
            SimLinkError::Refused { code, message } if code == "bad-request" => {
                AcquirerError::Protocol {
                    detail: format!("the sim refused the request: {message}"),
                }
            }
            e => AcquirerError::Unreachable {
                detail: e.to_string(),
            },
        })
    }
}

fn result_of(reply: Reply) -> Result<Value, SimLinkError> {
    if reply.ok {
        return Ok(reply.result.unwrap_or_default());
    }
    let e = reply.error.unwrap_or(wire::ReplyError {
        code: "unknown".into(),
        message: "the server gave no reason".into(),
    });
    Err(SimLinkError::Refused {
        code: e.code,
        message: e.message,
    })
}

fn scan_io(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> TransportError {
    TransportError::Io {
        operation: "scan (sim link)",
        source: e.into(),
    }
}

/// A report as a BLE stack would hand it to the scanner: parsed by the same code.
fn candidate(report: &AdvReport) -> Option<Candidate> {
    let services: Vec<u128> = report
        .services
        .iter()
        .filter_map(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.as_u128())
        .collect();
    let manufacturer_data: HashMap<u16, Vec<u8>> = report
        .manufacturer_data
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, wire::unhex(v)?)))
        .collect();
    Candidate::from_report(
        PeripheralId::new(report.id.clone()),
        report.local_name.as_deref(),
        report.rssi,
        &services,
        &manufacturer_data,
    )
}

#[async_trait]
impl Transport for TcpTransport {
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError> {
        let (mut line, _) = Line::open(&self.addr).await.map_err(scan_io)?;
        let reply = line.call(&LinkRequest::Scan).await.map_err(scan_io)?;
        result_of(reply).map_err(scan_io)?;
        let last: HashMap<PeripheralId, Candidate> = HashMap::new();
        Ok(Box::pin(stream::unfold(
            (line, filter, last),
            |(mut line, filter, mut last)| async move {
                loop {
                    // The stream ends when the server goes away (or sends garbage).
                    let Ok(Some(Event::Adv(report))) = line.recv::<Event>().await else {
                        return None;
                    };
                    let Some(c) = candidate(&report).filter(|c| filter.matches(c)) else {
                        continue;
                    };
                    if last.get(&c.peripheral_id) != Some(&c) {
                        last.insert(c.peripheral_id.clone(), c.clone());
                        return Some((c, (line, filter, last)));
                    }
                }
            },
        )))
    }

    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
        let failed = |e: std::io::Error| TransportError::ConnectFailed {
            id: id.clone(),
            source: Some(Box::new(e)),
        };
        let (mut line, _) =
            Line::open(&self.addr)
                .await
                .map_err(|e| TransportError::ConnectFailed {
                    id: id.clone(),
                    source: Some(Box::new(e)),
                })?;
        let reply = line
            .call(&LinkRequest::Connect {
                id: id.as_str().to_owned(),
                mtu: posmate_proto::gatt::MAX_MTU,
            })
            .await
            .map_err(failed)?;
        let connected: Connected = match result_of(reply) {
            Ok(v) => serde_json::from_value(v).map_err(|e| TransportError::ConnectFailed {
                id: id.clone(),
                source: Some(Box::new(e)),
            })?,
            Err(SimLinkError::Refused { code, .. }) if code == "not-found" => {
                return Err(TransportError::NotFound { id: id.clone() })
            }
            Err(e) => {
                return Err(TransportError::ConnectFailed {
                    id: id.clone(),
                    source: Some(Box::new(e)),
                })
            }
        };
        let Line { reader, writer } = line;
        let (tx, rx) = mpsc::unbounded_channel();
        let down = Arc::new(AtomicBool::new(false));
        tokio::spawn(forward(reader, tx, down.clone()));
        Ok(Box::new(TcpConnection {
            id: id.clone(),
            mtu: connected.mtu,
            writer: tokio::sync::Mutex::new(writer),
            down,
            events: Mutex::new(Some(LinkEvents::new(rx, None))),
        }))
    }
}

/// Forwards notifications in order, then exactly one `Disconnected`: the server's, or —
/// if the socket ends without one — `LocalRequest` after our own disconnect and
/// `LinkLost` otherwise.
async fn forward(
    mut reader: Lines<BufReader<OwnedReadHalf>>,
    out: mpsc::UnboundedSender<Stamped>,
    down: Arc<AtomicBool>,
) {
    let mut last_at = 0;
    let (at, reason) = loop {
        let line = match reader.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => break (last_at, None),
        };
        match serde_json::from_str::<Event>(&line) {
            Ok(Event::Notify { data, at_us }) => {
                let Some(bytes) = wire::unhex(&data) else {
                    break (last_at, Some(DisconnectReason::LinkLost));
                };
                last_at = last_at.max(at_us);
                let _ = out.send(Stamped {
                    at: last_at,
                    event: LinkEvent::Notification(bytes),
                });
            }
            Ok(Event::Disconnected { reason, at_us }) => {
                break (last_at.max(at_us), Some(reason.into()))
            }
            // Anything else is a broken server: treat it as a lost link.
            Ok(Event::Adv(_)) | Err(_) => break (last_at, Some(DisconnectReason::LinkLost)),
        }
    };
    let reason = reason.unwrap_or_else(|| {
        if down.load(Ordering::SeqCst) {
            DisconnectReason::LocalRequest
        } else {
            DisconnectReason::LinkLost
        }
    });
    down.store(true, Ordering::SeqCst);
    let _ = out.send(Stamped {
        at,
        event: LinkEvent::Disconnected(reason),
    });
}

/// One GATT connection over the sim link.
pub struct TcpConnection {
    id: PeripheralId,
    mtu: u16,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    /// Set once the link is down or this side asked to close it.
    down: Arc<AtomicBool>,
    events: Mutex<Option<LinkEvents>>,
}

#[async_trait]
impl Connection for TcpConnection {
    fn id(&self) -> &PeripheralId {
        &self.id
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    async fn write(&self, value: &[u8]) -> Result<(), TransportError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(TransportError::Disconnected);
        }
        TransportError::check_len(value, self.mtu)?;
        let request = LinkRequest::Write {
            data: wire::hex(value),
        };
        send_line(&mut *self.writer.lock().await, &request)
            .await
            .map_err(|_| TransportError::Disconnected)
    }

    fn take_events(&self) -> Option<LinkEvents> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    async fn disconnect(&self) -> Result<(), TransportError> {
        if self.down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut w = self.writer.lock().await;
        // The server answers with `disconnected` and closes; if it is gone already, the
        // reader reports the end all the same.
        let _ = send_line(&mut w, &LinkRequest::Disconnect).await;
        let _ = w.shutdown().await;
        Ok(())
    }
}

impl Drop for TcpConnection {
    fn drop(&mut self) {
        // Dropping the write half closes our side of the socket; the server takes that as
        // the phone disconnecting, and the reader task ends when the server closes.
        self.down.store(true, Ordering::SeqCst);
    }
}

/// How long [`scan_for`](posmate_core::transport::scan_for) should listen on the sim link by default: the
/// server sends every terminal in range at once, so a short wait suffices.
pub const DEFAULT_SCAN: Duration = Duration::from_millis(500);
