//! The sandbox killed with SIGKILL by this test at seeded moments while it handles a
//! terminal's activation (submission, the status poll that issues the sealed keys,
//! confirmation) or its deregistration, then restarted from the same data directory and
//! sent the script again as a phone whose call timed out would resume it: every mutating
//! call again under its `Idempotency-Key` (those answered before the kill too), the reads
//! from the interrupted call on. Every run must end exactly as an uninterrupted reference
//! run: the same answers byte for byte (one application, the same sealed keys, the same
//! deregistration reference), the same state afterwards and the same books.
//!
//! Every run starts from a copy of one data directory (the merchant signed up, the
//! terminal registered), so the acquirer's seeded randomness makes the reference and every
//! killed run draw the same keys: any second application or lost effect shows as a
//! difference. A kill lands at one of two kinds of moment, each seeded:
//! * a delay after the request is written, drawn up to 1.3 times that call's latency in the
//!   reference run (the connection and TLS are set up before, so the delay falls inside
//!   the request's handling: reading, the acquirer's decision, the books' fsync, the
//!   answer);
//! * just after the call's record is appended to the books' journal (the test watches the
//!   journal's length), plus a seeded few microseconds: between the append, the flush and
//!   the answer, the window where an answer can be lost although its effect is kept.
//!
//! Before the restart the test reads the books the kill left, as a restart would read
//! them (`posmate_sandbox::durable_state`: the snapshot and the journal): they must be exactly the
//! reference's before or after the call (never half), and after it whenever the answer
//! arrived. The seed fixes the call, the kind of moment and the delay; where a kill lands
//! also depends on the machine's timing, so the test counts and prints it, and requires
//! kills both before the effect and between the journal's append and the answer. A
//! failing run prints its seed; `KILL_SEED=N` runs that seed alone.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{admin, sign_up_with, spawn_binary, MERCHANT_NO, SN};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use posmate_acquirer_api::http::{self, HttpRequest, Method};
use posmate_acquirer_api::{ActivationState, ApiRequest, ApiResponse, DeregisterRequest};
use posmate_sandbox::admin::{ReviewJson, TerminalView};
use posmate_sandbox::{tls, JOURNAL_FILE};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio_rustls::TlsConnector;

/// Killed runs: [`SCRIPT_LEN`] calls to interrupt, two kinds of moment, five seeds each.
const RUNS: u64 = 40;
/// The calls of a terminal's activation and deregistration.
const SCRIPT_LEN: usize = 4;
const CALL_NAMES: [&str; SCRIPT_LEN] = ["submit", "poll", "confirm", "deregister"];

/// An answer as the client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// The script: every call a phone makes to activate the terminal (the review approves at
/// the first poll, so that poll issues the keys: a read that changes the books) and to
/// deregister it. The application id is the acquirer's first, as in every run.
fn calls() -> [ApiRequest; SCRIPT_LEN] {
    let app = "APP-000001".to_owned();
    [
        common::activation("act-1"),
        ApiRequest::ActivationStatus {
            application_id: app.clone(),
        },
        ApiRequest::ConfirmActivation {
            application_id: app,
            test_txn_ref: "TXN000001".into(),
        },
        ApiRequest::Deregister(DeregisterRequest {
            request_id: "drg-1".into(),
            merchant_no: MERCHANT_NO.into(),
            sn: SN.into(),
            reason: "shop closed".into(),
        }),
    ]
}

/// The script as it goes on the wire.
fn script() -> Vec<HttpRequest> {
    calls().iter().map(http::to_http).collect()
}

/// SplitMix64: a seed's draws, the same on every machine and every version.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
}

/// A sandbox process and how to reach it.
struct Process {
    child: Child,
    base_url: String,
    connector: TlsConnector,
}

async fn spawn(dir: &Path) -> Process {
    let (child, started) = spawn_binary(dir).await;
    let mut roots = RootCertStore::empty();
    for cert in tls::read_chain(Path::new(started["ca_file"].as_str().unwrap())).unwrap() {
        roots.add(cert).unwrap();
    }
    let config = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Process {
        child,
        base_url: started["base_url"].as_str().unwrap().to_owned(),
        connector: TlsConnector::from(Arc::new(config)),
    }
}

impl Process {
    /// A connection ready to carry one call: TCP, TLS and HTTP/1.1 set up.
    async fn connect(&self) -> SendRequest<Full<Bytes>> {
        let authority = self.base_url.trim_start_matches("https://");
        let tcp = TcpStream::connect(authority).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let stream = self.connector.connect(name, tcp).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }

    /// One call on a fresh connection.
    async fn call(&self, request: &HttpRequest) -> Answer {
        send(self.connect().await, self.base_url.clone(), request.clone())
            .await
            .expect("the sandbox answers")
    }

    async fn admin_client(&self, dir: &Path) -> posmate_sandbox::client::Client {
        posmate_sandbox::client::Client::new(&self.base_url, &dir.join(tls::CA_FILE))
            .unwrap()
            .with_token_file(&dir.join(posmate_sandbox::TOKEN_FILE))
            .unwrap()
    }
}

/// Sends `request` on `sender`; `None` if the connection died first.
async fn send(
    mut sender: SendRequest<Full<Bytes>>,
    base_url: String,
    request: HttpRequest,
) -> Option<Answer> {
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(request.path.as_str())
        .header("host", base_url.trim_start_matches("https://"));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(request.body.unwrap_or_default()));
    let response = sender
        .send_request(builder.body(body).unwrap())
        .await
        .ok()?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some(Answer {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    })
}

/// The books on disk as a restart reads them, as JSON (object order aside, which
/// serialization does not fix).
fn books(dir: &Path) -> serde_json::Value {
    posmate_sandbox::durable_state(dir).expect("the books read back")
}

/// What a run ends with: the answers to the calls it sent (by their place in the script),
/// the state seen afterwards, the books.
#[derive(Debug, PartialEq)]
struct Outcome {
    answers: Vec<(usize, Answer)>,
    /// The activation's status and the terminal's, asked after the script.
    after: Vec<Answer>,
    /// The back office's view: how many applications, which state.
    view: TerminalView,
    books: serde_json::Value,
}

/// Runs the script on `p` as a phone resuming at call `from` would (every mutating call
/// again under its key, the reads from `from` on) and reads the outcome; with `latencies`,
/// each call's time from the request's first byte to the answer's last.
async fn run_script(
    p: &Process,
    dir: &Path,
    from: usize,
    latencies: Option<&mut Vec<Duration>>,
) -> Outcome {
    let mut answers = Vec::new();
    let mut times = Vec::new();
    for (i, request) in script().into_iter().enumerate() {
        if i < from && request.method == Method::Get {
            continue;
        }
        let sender = p.connect().await;
        let began = Instant::now();
        let answer = send(sender, p.base_url.clone(), request).await;
        answers.push((i, answer.expect("answered")));
        times.push(began.elapsed());
    }
    if let Some(l) = latencies {
        *l = times;
    }
    let after = vec![
        p.call(&http::to_http(&ApiRequest::ActivationStatus {
            application_id: "APP-000001".into(),
        }))
        .await,
        p.call(&http::to_http(&ApiRequest::TerminalStatus {
            merchant_no: MERCHANT_NO.into(),
            sn: SN.into(),
        }))
        .await,
    ];
    let c = p.admin_client(dir).await;
    let view: TerminalView = admin(&c, Method::Get, &format!("terminals/{SN}"), None::<&()>).await;
    Outcome {
        answers,
        after,
        view,
        books: books(dir),
    }
}

/// A data directory with the merchant signed up (approved at the first poll) and the
/// terminal registered: where every run starts.
async fn base_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path()).await;
    let c = p.admin_client(dir.path()).await;
    sign_up_with(&c, ReviewJson::AfterPolls { polls: 1 }).await;
    p.child.kill().await.unwrap();
    dir
}

/// A copy of `base` (books, CA, token): the same acquirer, seed included.
fn copy_of(base: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(base).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// The reference: the script uninterrupted, with the books before and after each call.
struct Reference {
    outcome: Outcome,
    latencies: Vec<Duration>,
    /// `books[i]` before call `i`; `books[SCRIPT_LEN]` after the last.
    books: Vec<serde_json::Value>,
}

async fn reference(base: &Path) -> Reference {
    let dir = copy_of(base);
    let p = spawn(dir.path()).await;
    let mut books_seen = vec![books(dir.path())];
    for request in script() {
        p.call(&request).await;
        books_seen.push(books(dir.path()));
    }
    drop(p);
    // The same script from the start again: the latencies of a warm process, and the
    // outcome of a fresh one.
    let dir = copy_of(base);
    let p = spawn(dir.path()).await;
    let mut latencies = Vec::new();
    let outcome = run_script(&p, dir.path(), 0, Some(&mut latencies)).await;
    assert_eq!(outcome.books, books_seen[SCRIPT_LEN], "a deterministic run");
    Reference {
        outcome,
        latencies,
        books: books_seen,
    }
}

/// Where a kill landed, as the books and the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landed {
    /// The books are as before the call and no answer came.
    BeforeEffect,
    /// The call's effect is on disk but its answer never reached the client.
    AnswerLost,
    /// The answer arrived (the kill came after).
    Answered,
}

/// One killed run: the script up to the seeded call, that call killed at the seeded
/// moment, then a restart and the script resumed.
async fn killed_run(seed: u64, base: &Path, reference: &Reference) -> Landed {
    let mut draws = Draws(seed);
    let target = (seed % SCRIPT_LEN as u64) as usize;
    let watch = (seed / SCRIPT_LEN as u64) % 2 == 1;
    let dir = copy_of(base);
    let journal_path = dir.path().join(JOURNAL_FILE);
    let mut p = spawn(dir.path()).await;
    let calls = script();
    for (i, request) in calls.iter().enumerate().take(target) {
        assert_eq!(p.call(request).await, reference.outcome.answers[i].1);
    }
    let sender = p.connect().await;
    let journaled = std::fs::metadata(&journal_path).map_or(0, |m| m.len());
    let began = Instant::now();
    let in_flight = tokio::spawn(send(sender, p.base_url.clone(), calls[target].clone()));
    // The wait spins on a thread of its own: a sleep's granularity (a millisecond or
    // more) is coarser than a request, and spinning on a worker would starve the call.
    let latency = reference.latencies[target].as_micros() as u64;
    let extra = Duration::from_micros(draws.upto(if watch { 300 } else { latency * 13 / 10 }));
    tokio::task::spawn_blocking(move || {
        if watch {
            // Until the call's record is appended to the journal, then the seeded extra.
            while std::fs::metadata(&journal_path).map_or(0, |m| m.len()) == journaled
                && began.elapsed() < Duration::from_secs(5)
            {
                std::hint::spin_loop();
            }
            let appended = Instant::now();
            while appended.elapsed() < extra {
                std::hint::spin_loop();
            }
        } else {
            while began.elapsed() < extra {
                std::hint::spin_loop();
            }
        }
    })
    .await
    .unwrap();
    p.child.start_kill().unwrap();
    p.child.wait().await.unwrap();
    let answer = in_flight.await.unwrap();

    let left = books(dir.path());
    let landed = match (&answer, left == reference.books[target + 1]) {
        (Some(a), true) => {
            assert_eq!(a, &reference.outcome.answers[target].1);
            Landed::Answered
        }
        (Some(a), false) => panic!("answered {a:?} but its effect is not on disk"),
        (None, true) => Landed::AnswerLost,
        (None, false) => {
            assert_eq!(left, reference.books[target], "the books are half written");
            Landed::BeforeEffect
        }
    };

    let p = spawn(dir.path()).await;
    let outcome = run_script(&p, dir.path(), target, None).await;
    for (i, answer) in &outcome.answers {
        assert_eq!(
            answer, &reference.outcome.answers[*i].1,
            "{} again: the same answer",
            CALL_NAMES[*i]
        );
    }
    assert_eq!(outcome.view.applications, 1, "one application");
    assert_eq!(outcome.view.state, "deregistered", "no lost deregistration");
    assert_eq!(outcome.after, reference.outcome.after);
    assert_eq!(outcome.books, reference.outcome.books, "the same books");
    landed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_killed_anywhere_in_an_activation_or_deregistration_ends_as_if_never_killed() {
    let began = Instant::now();
    let base = base_dir().await;
    let reference = Arc::new(reference(base.path()).await);
    let answers: Vec<&Answer> = reference.outcome.answers.iter().map(|(_, a)| a).collect();
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let calls = calls();
    let submitted = http::reply_from_http(&calls[0], &to_response(answers[0]));
    assert!(
        matches!(&submitted, Ok(ApiResponse::Activation(s)) if matches!(s.state, ActivationState::Pending { .. })),
        "{submitted:?}"
    );
    let polled = http::reply_from_http(&calls[1], &to_response(answers[1]));
    assert!(
        matches!(&polled, Ok(ApiResponse::Activation(s)) if matches!(s.state, ActivationState::Approved { .. })),
        "the poll issues the sealed keys: {polled:?}"
    );

    let seeds: Vec<u64> = match std::env::var("KILL_SEED") {
        Ok(s) => vec![s.parse().expect("KILL_SEED is a number")],
        Err(_) => (0..RUNS).collect(),
    };
    let mut counts = [[0usize; 3]; SCRIPT_LEN];
    for &seed in &seeds {
        // On a task of its own, so that a failed run's panic can name its seed.
        let run = tokio::spawn({
            let base: PathBuf = base.path().to_path_buf();
            let reference = reference.clone();
            async move { killed_run(seed, &base, &reference).await }
        });
        match run.await {
            Ok(landed) => {
                counts[(seed % SCRIPT_LEN as u64) as usize][landed as usize] += 1;
            }
            Err(e) => panic!(
                "kill run seed {seed} failed (rerun with KILL_SEED={seed}): {}",
                panic_text(e)
            ),
        }
    }
    for (name, c) in CALL_NAMES.iter().zip(&counts) {
        println!(
            "kill points: {name}: {} before the effect, {} effect kept but answer lost, {} after the answer",
            c[0], c[1], c[2]
        );
    }
    if seeds.len() > 1 {
        // The moments must really fall inside the handling: some before the effect, some
        // between the books' replacement and the answer.
        let landed = |l: Landed| counts.iter().map(|c| c[l as usize]).sum::<usize>();
        assert!(landed(Landed::BeforeEffect) > 0, "{counts:?}");
        assert!(landed(Landed::AnswerLost) > 0, "{counts:?}");
    }
    println!(
        "kill points: {} runs, every one ended as the reference, in {:.1} s",
        seeds.len(),
        began.elapsed().as_secs_f64()
    );
}

/// An answer as the API's mapping reads it.
fn to_response(a: &Answer) -> http::HttpResponse {
    http::HttpResponse {
        status: a.status,
        headers: vec![("content-type".into(), a.content_type.clone())],
        body: a.body.clone().into_bytes(),
    }
}

/// What a failed run's panic said.
fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
        Err(e) => e.to_string(),
    }
}
