//! posmate-sandbox: the sandbox acquirer as a real network peer. The simulated acquirer
//! (`posmate_sim::acquirer::SimAcquirer`) behind the merchant API over HTTPS, through the
//! same HTTP mapping the phone's client uses (`posmate_acquirer_api::http`), with its books
//! kept durably in a data directory and a back-office admin surface for what an acquirer's
//! staff do. It is the outside world: it depends on the sim and the API, never on the
//! phone (`posmate-core`) or the phone's simulated world (`posmate-sim-world`).
//!
//! A data directory holds `books.json` and `books.journal` (owner-only), the sandbox CA (`ca.pem`, its key
//! owner-only), the current server certificate and key, and `admin-token` (owner-only).
//! See `docs/acquirer-api.md`.

pub mod admin;
mod books;
pub mod client;
mod error;
mod idempotency;
mod journal;
mod ledger;
mod private_file;
mod problems;
mod server;
mod service;
pub mod tls;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use books::{BOOKS_FILE, JOURNAL_FILE};
pub use error::SandboxError;
pub use idempotency::REMEMBERED_KEYS;
pub use problems::MAX_BODY;
pub use service::{server_name, ADMIN_PREFIX};
pub use tls::{Identity, CA_FILE};
pub use token::TOKEN_FILE;

/// Where the running sandbox said it listens (its [`Started`] as JSON), so that tools
/// given only the data directory (`posmate acquirer admin --state DIR`) find it.
pub const ENDPOINT_FILE: &str = "endpoint.json";

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port`; port 0 picks a free one.
    pub listen: String,
    pub data_dir: PathBuf,
    pub identity: Identity,
    /// Register the demo world of `posmate sim` (its merchants and default terminals).
    pub demo: bool,
}

/// Where a started sandbox can be reached, and the files a client needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Started {
    /// `https://127.0.0.1:PORT`.
    pub base_url: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The CA to trust; none when the operator brought their own certificate.
    pub ca_file: Option<PathBuf>,
    pub token_file: PathBuf,
}

/// A sandbox serving on its own task.
pub struct Running {
    pub started: Started,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets calls in flight finish (their books are on disk before their
    /// answers anyway), and returns once the server is gone.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The books a sandbox restarted from `dir` would hold, as JSON (the acquirer's books and
/// the answers kept per `Idempotency-Key`), read without changing the directory's snapshot:
/// for tests that kill a sandbox and compare what it kept.
pub fn durable_state(dir: &std::path::Path) -> Result<serde_json::Value, SandboxError> {
    books::Books::durable_state(dir, service::replay)
}

/// Opens (or makes) the data directory, its books, TLS material and admin token, binds the
/// listener and starts serving on a task of the current runtime.
pub async fn start(config: Config) -> Result<Running, SandboxError> {
    private_file::create_dir(&config.data_dir)?;
    let dir = config.data_dir.clone();
    let mut books = books::Books::open(&dir, service::replay)?;
    if config.demo {
        posmate_sim::demo::seed(&books.acquirer);
        books.snapshot()?;
    }
    let token = token::AdminToken::load_or_create(&dir)?;
    let (tls_config, ca_file) = tls::server_config(&dir, &config.identity)?;
    let listener =
        TcpListener::bind(&config.listen)
            .await
            .map_err(|source| SandboxError::Listen {
                addr: config.listen.clone(),
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SandboxError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let started = Started {
        base_url: format!("https://{addr}"),
        addr,
        token_file: dir.join(TOKEN_FILE),
        data_dir: dir.clone(),
        ca_file,
    };
    let endpoint = serde_json::to_vec_pretty(&started).expect("a Started serializes");
    private_file::write_atomic(
        &dir.join(ENDPOINT_FILE),
        &endpoint,
        private_file::Access::Public,
    )?;
    let (stop, stopped) = oneshot::channel();
    let service = service::Service::new(books, token);
    let task = tokio::spawn(server::run(
        listener,
        TlsAcceptor::from(tls_config),
        service,
        async {
            let _ = stopped.await;
        },
    ));
    Ok(Running {
        started,
        stop,
        task,
    })
}
