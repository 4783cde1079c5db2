//! The sandbox ends every connection it closes as TLS says, with `close_notify`, also one
//! hyper gives up on (a request it cannot parse, an idle keep-alive connection past the
//! header timeout): a client must be able to tell a connection the server closed from one
//! cut mid-answer, or it cannot safely send the next call on a fresh one (schemathesis,
//! `cargo xtask api-fuzz`, lost a call to `EOF occurred in violation of protocol`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The sandbox's `HEADER_TIMEOUT` (`src/server.rs`), in seconds.
const HEADER_TIMEOUT_S: u64 = 10;

/// A TLS connection to the sandbox, trusting its CA.
async fn connect(s: &Sandbox) -> tokio_rustls::client::TlsStream<TcpStream> {
    let started = &s.running.started;
    let mut roots = RootCertStore::empty();
    for cert in posmate_sandbox::tls::read_chain(started.ca_file.as_deref().unwrap()).unwrap() {
        roots.add(cert).unwrap();
    }
    let config = ClientConfig::builder_with_provider(posmate_sandbox::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(started.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Reads until the sandbox closes; rustls reports a close without close_notify as
/// `UnexpectedEof`.
async fn read_until_closed(tls: &mut tokio_rustls::client::TlsStream<TcpStream>, within: u64) {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(within), tls.read_to_end(&mut answer))
        .await
        .expect("the sandbox closes the connection");
    assert!(
        read.is_ok(),
        "closed without close_notify: {read:?}, after {:?}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_with_close_notify() {
    let s = Sandbox::start().await;
    let mut tls = connect(&s).await;
    tls.write_all(b"GET /v1/health HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // Kept alive, then idle past the header timeout (10 s): the sandbox closes it.
    read_until_closed(&mut tls, HEADER_TIMEOUT_S + 5).await;
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_request_hyper_cannot_parse_is_answered_and_closed_with_close_notify() {
    let s = Sandbox::start().await;
    let mut tls = connect(&s).await;
    tls.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    read_until_closed(&mut tls, 5).await;
    s.running.shutdown().await;
}
