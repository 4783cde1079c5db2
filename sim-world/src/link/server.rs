//! The sim link's server, the tokio side of `posmate sim`: accepts sim-link connections and
//! drives the sans-IO [`Host`] on the wall clock. Link operations and the acquirer
//! pass-through are answered here; the control operations (`docs/sim-link.md` §4) go to the
//! front end's [`ControlOps`], and what is worth printing comes out as [`HostEvent`]s.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::address;
use super::control::ScreenView;
use super::wire::{self, AdvReport, Connected, Event, LinkRequest, Reply, ServerHello, WireReason};
use posmate_proto::gatt;
use posmate_sim::acquirer::SimAcquirer;
use posmate_sim::serve::{Advert, Host, LinkEnd, LinkId, Output};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use zeroize::Zeroizing;

/// Something worth printing that the screen does not show.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum HostEvent {
    Connected {
        sn: String,
        id: String,
        mtu: u16,
    },
    Disconnected {
        sn: String,
        id: String,
        reason: WireReason,
    },
    Screen {
        sn: String,
        screen: ScreenView,
    },
}

impl HostEvent {
    pub fn human(&self) -> String {
        match self {
            HostEvent::Connected { sn, mtu, .. } => format!("{sn} connected (mtu {mtu})"),
            HostEvent::Disconnected { sn, reason, .. } => format!(
                "{sn} disconnected ({})",
                match reason {
                    WireReason::LocalRequest => "by the phone",
                    WireReason::RemoteClosed => "by the terminal",
                    WireReason::LinkLost => "link lost",
                }
            ),
            HostEvent::Screen { sn, screen } => format!("{sn} screen: {}", screen.human()),
        }
    }
}

/// Answers one control request (any `op` that is not a link operation) on the host at
/// `now`: the result, or the error's code and message. The requests are the front end's to
/// parse, so that its command line and the link share one definition.
pub type ControlOps =
    dyn Fn(Value, &mut Host, &SimAcquirer, u64) -> Result<Value, (String, String)> + Send + Sync;

/// State shared by every connection.
pub struct Shared {
    host: Mutex<Host>,
    start: Instant,
    /// Bumped after every request that changed the host, waking links and scanners.
    changed: watch::Sender<u64>,
    /// The simulated acquirer, reached with `acquirer` requests (its JSON API).
    acquirer: SimAcquirer,
    events: mpsc::UnboundedSender<HostEvent>,
    control: Box<ControlOps>,
    /// What every connection's first line (`hello`) must carry.
    token: Zeroizing<String>,
}

impl Shared {
    /// The state of a server that lets in the connections whose `hello` carries `token`.
    pub fn new(
        host: Host,
        acquirer: SimAcquirer,
        control: Box<ControlOps>,
        token: Zeroizing<String>,
    ) -> (Arc<Shared>, mpsc::UnboundedReceiver<HostEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            host: Mutex::new(host),
            start: Instant::now(),
            changed: watch::channel(0).0,
            acquirer,
            events,
            control,
            token,
        };
        (Arc::new(shared), rx)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Host> {
        // A panic in one connection's handler must not stop the others.
        self.host.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the host at the current time without waking anyone.
    pub fn read<T>(&self, f: impl FnOnce(&mut Host, u64) -> T) -> T {
        let now = self.now();
        f(&mut self.lock(), now)
    }

    /// Runs `f` on the host at the current time and wakes links and scanners.
    pub fn change<T>(&self, f: impl FnOnce(&mut Host, u64) -> T) -> T {
        let result = self.read(f);
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
        result
    }

    /// The simulated acquirer, whose books the state file keeps.
    pub fn acquirer(&self) -> &SimAcquirer {
        &self.acquirer
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn at(&self, micros: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_micros(micros))
    }

    fn sn_of(&self, id: &str) -> String {
        self.read(|h, now| {
            h.terminals(now)
                .into_iter()
                .find(|t| t.id == id)
                .map(|t| t.sn)
                .unwrap_or_else(|| id.to_owned())
        })
    }
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        tracing::debug!(%peer, "sim-link connection");
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(shared, stream).await {
                tracing::debug!(%peer, error = %e, "sim-link connection ended");
            }
        });
    }
}

type Reader = Lines<BufReader<OwnedReadHalf>>;

async fn send(w: &mut OwnedWriteHalf, message: &impl Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    text.push(b'\n');
    w.write_all(&text).await
}

/// The first line must be `hello` with the token, or the connection is answered
/// `unauthorized` and closed; then request/reply until the client turns the connection into
/// a scan or a link. A line that is not a request (not JSON, no `op`: a browser's HTTP
/// request, say) is answered `bad-request` and ends the connection.
async fn handle(shared: Arc<Shared>, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut introduced = false;
    while let Some(line) = lines.next_line().await? {
        let request: Value = match serde_json::from_str::<Value>(&line) {
            Ok(v) if v.get("op").is_some_and(Value::is_string) => v,
            Ok(_) => {
                let reply = Reply::error("bad-request", "a request is a JSON object with an op");
                return send(&mut w, &reply).await;
            }
            Err(e) => return send(&mut w, &Reply::error("bad-request", e.to_string())).await,
        };
        let op = request.get("op").and_then(Value::as_str).unwrap_or("");
        if !introduced {
            let token = request.get("token").and_then(Value::as_str).unwrap_or("");
            if op != "hello" || !address::same_token(token, &shared.token) {
                tracing::debug!("sim-link connection without the token refused");
                let reply = Reply::error(
                    "unauthorized",
                    "introduce the connection with hello and this sim's token",
                );
                return send(&mut w, &reply).await;
            }
            introduced = true;
        }
        let is_link_op = matches!(
            op,
            "hello" | "scan" | "connect" | "write" | "disconnect" | "acquirer"
        );
        if !is_link_op {
            let reply = match shared
                .change(|host, now| (shared.control)(request, host, &shared.acquirer, now))
            {
                Ok(result) => Reply::ok(result),
                Err((code, message)) => Reply::error(code, message),
            };
            send(&mut w, &reply).await?;
            continue;
        }
        match serde_json::from_value::<LinkRequest>(request) {
            Err(e) => send(&mut w, &Reply::error("bad-request", e.to_string())).await?,
            Ok(LinkRequest::Hello { version, .. }) => {
                let reply = if version == wire::PROTOCOL_VERSION {
                    let terminals = shared.read(|h, _| h.len());
                    Reply::ok(
                        serde_json::to_value(ServerHello {
                            protocol: wire::PROTOCOL_VERSION,
                            server: format!("posmate-sim/{}", env!("CARGO_PKG_VERSION")),
                            terminals: u32::try_from(terminals).unwrap_or(u32::MAX),
                        })
                        .expect("serialises"),
                    )
                } else {
                    Reply::error(
                        "unsupported-version",
                        format!(
                            "this sim speaks sim-link protocol {}, not {version}",
                            wire::PROTOCOL_VERSION
                        ),
                    )
                };
                send(&mut w, &reply).await?;
            }
            Ok(LinkRequest::Scan) => {
                send(&mut w, &Reply::ok(json!({}))).await?;
                return scan(&shared, lines, w).await;
            }
            Ok(LinkRequest::Connect { id, mtu }) => {
                match shared.change(|h, now| h.connect(&id, mtu, now)) {
                    Ok((link, mtu)) => {
                        let sn = shared.sn_of(&id);
                        let _ = shared.events.send(HostEvent::Connected {
                            sn: sn.clone(),
                            id: id.clone(),
                            mtu,
                        });
                        let reply = serde_json::to_value(Connected { mtu }).expect("serialises");
                        send(&mut w, &Reply::ok(reply)).await?;
                        return drive(&shared, link, (sn, id), lines, w).await;
                    }
                    Err(e) => send(&mut w, &Reply::error(e.code(), e.to_string())).await?,
                }
            }
            Ok(LinkRequest::Write { .. } | LinkRequest::Disconnect) => {
                let reply = Reply::error("not-connected", "connect to a terminal first");
                send(&mut w, &reply).await?;
            }
            Ok(LinkRequest::Acquirer { body }) => {
                let request = serde_json::to_vec(&body).expect("serialises");
                let answer = shared.change(|_, _| shared.acquirer.handle(&request));
                let reply = match serde_json::from_slice::<Value>(&answer) {
                    Ok(body) => Reply::ok(json!({ "body": body })),
                    Err(e) => Reply::error("acquirer-failed", e.to_string()),
                };
                send(&mut w, &reply).await?;
            }
        }
    }
    Ok(())
}

fn report(a: &Advert) -> AdvReport {
    let mut manufacturer_data = std::collections::BTreeMap::new();
    manufacturer_data.insert(
        gatt::COMPANY_ID.to_string(),
        wire::hex(&a.adv.manufacturer_data()),
    );
    AdvReport {
        id: a.id.clone(),
        local_name: Some(a.adv.local_name.clone()),
        rssi: Some(a.rssi),
        services: vec![wire::uuid_string(gatt::SERVICE_UUID)],
        manufacturer_data,
    }
}

/// Streams advertising reports: every terminal in range at once, then each change, until
/// the client closes the connection.
async fn scan(shared: &Shared, mut lines: Reader, mut w: OwnedWriteHalf) -> std::io::Result<()> {
    let mut changed = shared.subscribe();
    // Advertisements also change with time alone (a pairing lockout ending).
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut sent: std::collections::HashMap<String, AdvReport> = Default::default();
    loop {
        changed.borrow_and_update();
        let adverts = shared.read(|h, now| h.advertisements(now));
        // A terminal that stopped advertising (it is connected) is reported again when it
        // comes back.
        sent.retain(|id, _| adverts.iter().any(|a| &a.id == id));
        for a in &adverts {
            let r = report(a);
            if sent.get(&a.id) != Some(&r) {
                send(&mut w, &Event::Adv(r.clone())).await?;
                sent.insert(a.id.clone(), r);
            }
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = tick.tick() => {}
            line = lines.next_line() => {
                if !matches!(line, Ok(Some(_))) {
                    return Ok(());
                }
            }
        }
    }
}

/// Drives one GATT link: writes in, notifications out at their time, then `disconnected`.
async fn drive(
    shared: &Shared,
    link: LinkId,
    (sn, id): (String, String),
    mut lines: Reader,
    mut w: OwnedWriteHalf,
) -> std::io::Result<()> {
    let mut changed = shared.subscribe();
    loop {
        changed.borrow_and_update();
        let polled = shared.read(|h, now| h.poll(link, now));
        for out in polled.outputs {
            let event = match out {
                Output::Notify { at, data } => Event::Notify {
                    data: wire::hex(&data),
                    at_us: at,
                },
                Output::Down { at, reason } => {
                    let reason = match reason {
                        LinkEnd::LocalRequest => WireReason::LocalRequest,
                        LinkEnd::RemoteClosed => WireReason::RemoteClosed,
                        LinkEnd::LinkLost => WireReason::LinkLost,
                    };
                    let _ = shared.events.send(HostEvent::Disconnected {
                        sn: sn.clone(),
                        id: id.clone(),
                        reason,
                    });
                    // The phone may be gone already; the link is over either way.
                    let _ = send(&mut w, &Event::Disconnected { reason, at_us: at }).await;
                    return Ok(());
                }
            };
            if let Err(e) = send(&mut w, &event).await {
                shared.change(|h, now| h.disconnect(link, now));
                return Err(e);
            }
        }
        let wake = async {
            match polled.next {
                Some(t) => tokio::time::sleep_until(shared.at(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake => {}
            _ = changed.changed() => {}
            line = lines.next_line() => match line {
                Ok(Some(line)) => on_link_line(shared, link, &line),
                // The phone closed the socket: it disconnected.
                Ok(None) | Err(_) => shared.change(|h, now| h.disconnect(link, now)),
            },
        }
    }
}

/// A line from the phone on a connected link. Anything but a well-formed write or
/// disconnect is a broken client: its link is cut as lost.
fn on_link_line(shared: &Shared, link: LinkId, line: &str) {
    match serde_json::from_str::<LinkRequest>(line) {
        Ok(LinkRequest::Write { data }) => match wire::unhex(&data) {
            Some(bytes) => {
                if let Err(e) = shared.change(|h, now| h.write(link, now, &bytes)) {
                    tracing::warn!(error = %e, "refused a write; dropping the link");
                    shared.change(|h, now| h.abort(link, now));
                }
            }
            None => {
                tracing::warn!("a write that is not hex; dropping the link");
                shared.change(|h, now| h.abort(link, now));
            }
        },
        Ok(LinkRequest::Disconnect) => shared.change(|h, now| h.disconnect(link, now)),
        _ => {
            tracing::warn!(%line, "not a link request; dropping the link");
            shared.change(|h, now| h.abort(link, now));
        }
    }
}
