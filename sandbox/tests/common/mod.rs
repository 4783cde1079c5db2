//! A sandbox on loopback for the tests, and the calls they make to it: the merchant API
//! through the published HTTP mapping (exactly what the phone's client sends), the admin
//! surface with the admin token, both over real TLS trusting only the sandbox's CA.

#![allow(dead_code)] // each test file uses its own part of these helpers

use std::path::Path;

use posmate_acquirer_api::http::{self, HttpRequest, HttpResponse, Method};
use posmate_acquirer_api::{
    AcquirerError, ActivationRequest, ApiRequest, ApiResponse, MerchantDetails,
};
use posmate_sandbox::admin::{MerchantJson, ReviewJson, TerminalRegistration, TerminalView};
use posmate_sandbox::client::Client;
use posmate_sandbox::{Config, Identity, Running, Started};
use posmate_sim::{SimTerminal, TerminalConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const MERCHANT_NO: &str = "898310148160099";
pub const MERCHANT_NAME: &str = "Wang Wu Dumplings";
pub const SN: &str = "SNTEST000001";
pub const TERMINAL_NO: &str = "10029901";
pub const CODE: &str = "ACT09901";
/// A debit card of a BIN the simulated acquirer knows (settlement cards are debit).
pub const DEBIT_PAN: &str = "6222021234567890128";
/// A credit card of a known credit BIN.
pub const CREDIT_PAN: &str = "6225880000001231";

/// The terminal the tests activate: its factory key is what the acquirer must hold.
pub fn terminal() -> SimTerminal {
    SimTerminal::new(TerminalConfig::new(SN, 7))
}

/// A client of `started` with the admin token.
pub fn client_of(started: &Started) -> Client {
    Client::new(
        &started.base_url,
        started.ca_file.as_deref().expect("generated CA"),
    )
    .unwrap()
    .with_token_file(&started.token_file)
    .unwrap()
}

/// A sandbox serving in this process from a fresh (or given) data directory.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub running: Running,
    pub client: Client,
}

impl Sandbox {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let running = start_in(dir.path(), false).await;
        let client = client_of(&running.started);
        Sandbox {
            dir,
            running,
            client,
        }
    }
}

pub async fn start_in(dir: &Path, demo: bool) -> Running {
    posmate_sandbox::start(Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        identity: Identity::Generated { hosts: vec![] },
        demo,
    })
    .await
    .unwrap()
}

/// Sends `request` as the phone would and reads the answer as the phone would.
pub async fn call(
    client: &Client,
    request: &ApiRequest,
) -> (HttpResponse, Result<ApiResponse, AcquirerError>) {
    let response = client.send(&http::to_http(request)).await.unwrap();
    let reply = http::reply_from_http(request, &response);
    (response, reply)
}

pub async fn admin<T: DeserializeOwned>(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> T {
    client.admin(method, path, body).await.unwrap()
}

/// Signs the test merchant up (reviewed by hand) and registers the test terminal.
pub async fn sign_up(client: &Client) {
    sign_up_with(client, ReviewJson::Manual).await;
}

/// Signs the test merchant up, its activations reviewed by `review`, and registers the
/// test terminal.
pub async fn sign_up_with(client: &Client, review: ReviewJson) {
    let _: MerchantJson = admin(
        client,
        Method::Post,
        "merchants",
        Some(&MerchantJson {
            merchant_no: MERCHANT_NO.into(),
            legal_name: MERCHANT_NAME.into(),
            review,
        }),
    )
    .await;
    let key: String = terminal()
        .device_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let view: TerminalView = admin(
        client,
        Method::Post,
        "terminals",
        Some(&TerminalRegistration {
            sn: SN.into(),
            device_key: key,
            terminal_no: TERMINAL_NO.into(),
            activation_code: CODE.into(),
        }),
    )
    .await;
    assert_eq!(view.state, "unknown");
}

/// The `posmate-sandbox` binary as a child process on `dir` (killed when dropped), and
/// the line it printed at start: where it listens, its CA and admin token files.
pub async fn spawn_binary(dir: &Path) -> (tokio::process::Child, serde_json::Value) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_posmate-sandbox"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("posmate-sandbox starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("its stdout reads")
        .expect("the sandbox says where it listens");
    (child, serde_json::from_str(&line).expect("a JSON line"))
}

pub fn activation(request_id: &str) -> ApiRequest {
    ApiRequest::Activate(ActivationRequest {
        request_id: request_id.into(),
        sn: SN.into(),
        terminal_no: TERMINAL_NO.into(),
        merchant_no: MERCHANT_NO.into(),
        activation_code: CODE.into(),
        merchant: MerchantDetails {
            legal_name: MERCHANT_NAME.into(),
            contact_phone: "+86 137 0000 0000".into(),
            address: "8 Jiefang Road, Hangzhou".into(),
        },
        device_key: terminal().device_key(),
    })
}

/// A raw request with the given method, path, headers and body.
pub fn raw(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpRequest {
    HttpRequest {
        method,
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.map(<[u8]>::to_vec),
    }
}

/// The JSON of a problem answer, after checking it is one with `status`.
pub fn problem(response: &HttpResponse, status: u16) -> serde_json::Value {
    assert_eq!(
        response.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("content-type"), Some(http::PROBLEM_JSON));
    let v: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(v["status"], status);
    assert!(v["type"].as_str().unwrap().starts_with(http::PROBLEM_BASE));
    v
}

/// `response` without its `Date` header, which hyper sets to the second each answer is
/// sent: what "the very same answer" compares (status, the other headers, the body).
pub fn undated(mut response: HttpResponse) -> HttpResponse {
    response
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("date"));
    response
}
