//! A small HTTPS client for the sandbox: what the tests and `posmate acquirer admin` call it
//! with. It trusts only the CA it is given (the sandbox's `ca.pem`), speaks HTTP/1.1 over
//! rustls (ring) and opens one connection per call, which is all a back-office tool needs.
//! The phone's own client is `posmate-core`'s.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use posmate_acquirer_api::http::{HttpRequest, HttpResponse, Method, JSON};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

use crate::error::SandboxError;
use crate::service::ADMIN_PREFIX;
use crate::tls;

/// How long a call may take, connection and TLS included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A client of one sandbox.
pub struct Client {
    base_url: String,
    /// `host:port` to connect to.
    authority: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    token: Option<Zeroizing<String>>,
}

impl Client {
    /// A client of `base_url` (`https://host:port`) trusting the CA certificates in
    /// `ca_file` only.
    pub fn new(base_url: &str, ca_file: &Path) -> Result<Self, SandboxError> {
        let mut roots = RootCertStore::empty();
        for cert in tls::read_chain(ca_file)? {
            roots
                .add(cert)
                .map_err(|e| SandboxError::tls(format!("{}: {e}", ca_file.display())))?;
        }
        let mut config = ClientConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(SandboxError::tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let authority = base_url
            .strip_prefix("https://")
            .map(|a| a.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| SandboxError::Unreachable {
                url: base_url.to_owned(),
                detail: "not an https://host:port URL".into(),
            })?
            .to_owned();
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host,
            _ => authority.as_str(),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|_| SandboxError::Unreachable {
                url: base_url.to_owned(),
                detail: "the host is not a DNS name or IP address".into(),
            })?;
        Ok(Client {
            base_url: base_url.trim_end_matches('/').to_owned(),
            authority,
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
            token: None,
        })
    }

    /// The same client, sending the admin token read from `token_file` on admin calls.
    pub fn with_token_file(mut self, token_file: &Path) -> Result<Self, SandboxError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(token_file)
                .map_err(|e| SandboxError::io("cannot read the admin token", token_file, e))?,
        );
        self.token = Some(Zeroizing::new(text.trim().to_owned()));
        Ok(self)
    }

    /// Sends one call and returns the answer, whatever its status.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, SandboxError> {
        tokio::time::timeout(CALL_TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| self.unreachable("no answer in time"))?
    }

    async fn exchange(&self, request: &HttpRequest) -> Result<HttpResponse, SandboxError> {
        let tcp = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.unreachable(e))?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| self.unreachable(format!("TLS: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| self.unreachable(e))?;
        let driver = tokio::spawn(conn);
        let mut builder = Request::builder()
            .method(request.method.as_str())
            .uri(request.path.as_str())
            .header("host", self.authority.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if request.path.starts_with(ADMIN_PREFIX) {
            if let Some(token) = &self.token {
                builder = builder.header("authorization", format!("Bearer {}", token.as_str()));
            }
        }
        let body = Full::new(Bytes::from(request.body.clone().unwrap_or_default()));
        let http = builder.body(body).map_err(|e| self.unreachable(e))?;
        let response = sender
            .send_request(http)
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// An admin call (`path` after `/admin/v1/`): the answer as `T`, or the problem the
    /// sandbox answered with as [`SandboxError::Refused`].
    pub async fn admin<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, SandboxError> {
        let mut headers = vec![("accept".to_owned(), JSON.to_owned())];
        let body = match body {
            Some(b) => {
                headers.push(("content-type".to_owned(), JSON.to_owned()));
                Some(serde_json::to_vec(b).map_err(|e| self.unreachable(e))?)
            }
            None => None,
        };
        let response = self
            .send(&HttpRequest {
                method,
                path: format!("{ADMIN_PREFIX}{path}"),
                headers,
                body,
            })
            .await?;
        if response.status != 200 {
            return Err(refusal(&response));
        }
        serde_json::from_slice(&response.body)
            .map_err(|_| self.unreachable("the answer is not the admin surface's JSON"))
    }

    fn unreachable(&self, detail: impl std::fmt::Display) -> SandboxError {
        SandboxError::Unreachable {
            url: self.base_url.clone(),
            detail: detail.to_string(),
        }
    }
}

/// A problem answer as an error (a body that is no problem gives what can be said).
fn refusal(response: &HttpResponse) -> SandboxError {
    let v: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let field = |name: &str| v.get(name).and_then(|x| x.as_str()).unwrap_or_default();
    SandboxError::Refused {
        status: response.status,
        code: match field("code") {
            "" => "unknown".to_owned(),
            c => c.chars().take(40).collect(),
        },
        title: match field("title") {
            "" => format!("HTTP {}", response.status),
            t => t.chars().take(200).collect(),
        },
        hint: field("hint").chars().take(200).collect(),
    }
}
