//! The sandbox's sustained mutating requests per second (issue 13), every one durable
//! before its answer.
//!
//! The real `posmate-sandbox` binary runs as a child process on a fresh data directory;
//! a merchant is signed up through the admin surface. Then a bounded load generator on
//! loopback keeps [`CONNECTIONS`] keep-alive HTTPS connections (TLS 1.3 through rustls,
//! trusting only the sandbox's CA, as a phone would) busy for [`DURATION`] and stops by
//! itself: each connection sends one call at a time, and each call is a `POST
//! /v1/merchants/{merchant_no}/cards` (bind a settlement card) with its own `request_id`
//! and so its own `Idempotency-Key` — a new binding each time, alternating between two
//! cards read by a terminal (token and masked number), and a new remembered answer. Every
//! answer must be a 200 (a refusal or a 503 would count work that was not done, so the
//! bench fails instead).
//!
//! Printed: requests completed, requests/s as a ratio to the 1,000/s target (the verdict),
//! and p50 / p99 latency. The handshakes happen before the clock starts.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p posmate-sandbox --bench throughput`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use posmate_acquirer_api::http::{self, Method};
use posmate_acquirer_api::{ApiRequest, BindCardRequest, CardPurposeKind, CardSource};
use posmate_sandbox::admin::{MerchantJson, ReviewJson};
use posmate_sandbox::client::Client;
use posmate_sandbox::tls;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_rustls::TlsConnector;

/// Requests per second the sandbox must sustain.
const TARGET: f64 = 1_000.0;
/// Calls in flight at once: one per connection.
const CONNECTIONS: usize = 32;
/// How long the load runs.
const DURATION: Duration = Duration::from_secs(5);

const MERCHANT_NO: &str = "898310148160099";
const MERCHANT_NAME: &str = "Wang Wu Dumplings";
/// Two debit cards of a BIN the simulated acquirer knows, as a terminal reads them (a card
/// token and the masked number): each bind replaces the other.
const DEBIT_CARDS: [&str; 2] = ["622202*********0128", "622202*********1230"];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("a data directory");
    let (mut child, base_url, ca, token) = spawn(dir.path()).await;
    let admin = Client::new(&base_url, &ca)
        .expect("an admin client")
        .with_token_file(&token)
        .expect("the admin token");
    let _: MerchantJson = admin
        .admin(
            Method::Post,
            "merchants",
            Some(&MerchantJson {
                merchant_no: MERCHANT_NO.into(),
                legal_name: MERCHANT_NAME.into(),
                review: ReviewJson::Instant,
            }),
        )
        .await
        .expect("the merchant signs up");

    let authority = base_url.trim_start_matches("https://").to_owned();
    let connector = connector(&ca);
    let mut senders = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        senders.push(connect(&connector, &authority).await);
    }

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + DURATION;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            let next = next.clone();
            let authority = authority.clone();
            tokio::spawn(load(sender, authority, next, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load task"));
    }
    let elapsed = started.elapsed();
    child.kill().await.expect("the sandbox stops");
    let books = std::fs::metadata(dir.path().join(posmate_sandbox::BOOKS_FILE))
        .map(|m| m.len())
        .unwrap_or_default();

    latencies.sort();
    let n = latencies.len();
    let rate = n as f64 / elapsed.as_secs_f64();
    let percentile = |p: f64| latencies[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "sandbox throughput: posmate-sandbox on loopback, {CONNECTIONS} keep-alive TLS \
         connections for {:.1} s, each call a card binding with its own Idempotency-Key, \
         durable before its answer: {n} requests (books file at the end {books} bytes)",
        elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(0.50)),
        ms(percentile(0.99)),
        ms(latencies[n - 1])
    );
    println!(
        "sustained mutating requests: {rate:.0}/s, {:.2}× the target (target >= {TARGET:.0}/s): {}",
        rate / TARGET,
        if rate >= TARGET { "PASS" } else { "MISS" }
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One connection's share of the load: calls one after the other until the deadline.
async fn load(
    mut sender: SendRequest<Full<Bytes>>,
    authority: String,
    next: Arc<AtomicU64>,
    deadline: Instant,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let call = http::to_http(&bind(i));
        let mut builder = Request::builder()
            .method(call.method.as_str())
            .uri(call.path.as_str())
            .header("host", authority.as_str());
        for (name, value) in &call.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(call.body.unwrap_or_default())))
            .expect("a request");
        let sent = Instant::now();
        sender.ready().await.expect("the connection stays up");
        let response = sender.send_request(request).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the answer's body")
            .to_bytes();
        latencies.push(sent.elapsed());
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    latencies
}

fn bind(i: u64) -> ApiRequest {
    ApiRequest::BindCard(BindCardRequest {
        request_id: format!("load-{i:08}"),
        merchant_no: MERCHANT_NO.into(),
        purpose: CardPurposeKind::Settlement,
        holder_name: MERCHANT_NAME.into(),
        source: CardSource::Token {
            token: format!("{:032x}", i % 2),
            masked_pan: DEBIT_CARDS[(i % 2) as usize].into(),
        },
    })
}

fn connector(ca: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in tls::read_chain(ca).expect("the sandbox CA") {
        roots.add(cert).expect("a CA certificate");
    }
    let mut config = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn connect(connector: &TlsConnector, authority: &str) -> SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(authority).await.expect("connects");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let name = ServerName::try_from("127.0.0.1").expect("a name");
    let stream = connector.connect(name, tcp).await.expect("TLS");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1");
    tokio::spawn(conn);
    sender
}

/// The sandbox binary on a fresh data directory: the child, its base URL, CA and admin
/// token file, from the line it prints at start.
async fn spawn(dir: &Path) -> (Child, String, PathBuf, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_posmate-sandbox"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("posmate-sandbox starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("its first line")
        .expect("a first line");
    let started: posmate_sandbox::Started = serde_json::from_str(&line).expect("Started");
    (
        child,
        started.base_url,
        started.ca_file.expect("a generated CA"),
        started.token_file,
    )
}
