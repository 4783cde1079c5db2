//! `posmate acquirer serve`: the sandbox acquirer as an HTTPS server until SIGINT/SIGTERM.

use std::path::PathBuf;

use posmate_sandbox::{Config, Identity};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::Report;

/// Run the sandbox acquirer: the merchant API over HTTPS, its books kept in the state
/// directory (every answered change on disk first), and the back office under /admin/v1/.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate acquirer serve                               https://127.0.0.1:8443, DATA_DIR/sandbox
  posmate acquirer serve --demo                        with posmate sim's merchants and terminals
  posmate --json acquirer serve --listen 127.0.0.1:0 --state /tmp/acq
  posmate acquirer serve --host acquirer.lan --listen 0.0.0.0:8443
  posmate acquirer serve --cert server.pem --key server-key.pem

At first start it makes a CA (ca.pem: what clients trust), a server certificate for
localhost, 127.0.0.1, ::1 and every --host, and the admin token (admin-token, owner-only),
and reuses them later. It prints the base URL, the CA file and the token file, then serves
until Ctrl-C or SIGTERM, finishing the calls in flight.")]
pub struct Args {
    /// Address to listen on; port 0 picks a free one (printed at start).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: String,
    /// The sandbox's data directory (books, TLS material, admin token); default
    /// DATA_DIR/sandbox.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Another name the generated server certificate holds (a DNS name or an IP address).
    #[arg(long = "host", value_name = "NAME", conflicts_with = "cert")]
    pub hosts: Vec<String>,
    /// Sign up posmate sim's merchants and register its default terminals (SN2026000001…).
    #[arg(long)]
    pub demo: bool,
    /// Serve this certificate chain (PEM) instead of one made by the sandbox's CA.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// What `serve` prints once it listens.
#[derive(Debug, Serialize)]
struct Listening {
    base_url: String,
    ca_file: Option<PathBuf>,
    token_file: PathBuf,
    data_dir: PathBuf,
    server: String,
}

impl Report for Listening {
    fn human(&self) -> String {
        let ca = match &self.ca_file {
            Some(ca) => format!("trust      {}\n", ca.display()),
            None => "trust      the issuer of --cert\n".to_owned(),
        };
        format!(
            "{} listening on {}\n{ca}admin key  {}\nbooks in   {}\nstop with Ctrl-C\n",
            self.server,
            self.base_url,
            self.token_file.display(),
            self.data_dir.display(),
        )
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let data_dir = super::state_dir(ctx, args.state)?;
    let identity = match (args.cert, args.key) {
        (Some(cert), Some(key)) => Identity::Provided { cert, key },
        _ => Identity::Generated { hosts: args.hosts },
    };
    let running = posmate_sandbox::start(Config {
        listen: args.listen,
        data_dir,
        identity,
        demo: args.demo,
    })
    .await
    .map_err(super::cli_error)?;
    let started = &running.started;
    if !started.addr.ip().is_loopback() {
        ctx.out.note(&format!(
            "warning: {} is not a loopback address; anyone who reaches it can call the \
             sandbox's merchant API (the admin surface needs the token)",
            started.addr
        ));
    }
    ctx.out.report(&Listening {
        base_url: started.base_url.clone(),
        ca_file: started.ca_file.clone(),
        token_file: started.token_file.clone(),
        data_dir: started.data_dir.clone(),
        server: posmate_sandbox::server_name(),
    });
    crate::stop_signal::requested().await;
    ctx.out.note("stopping: finishing the calls in flight");
    running.shutdown().await;
    Ok(Exit::Ok)
}
