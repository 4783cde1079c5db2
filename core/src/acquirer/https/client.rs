//! posmate's own [`HttpClient`]: reqwest over rustls (ring), for the CLI and any front end
//! without a platform client of its own. It follows no redirect (an API call answered by
//! another URL is an error to see, not a place to send the merchant's data), keeps no
//! cookies, and trusts what [`super::trust`] says.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::trust;
use super::{HttpClient, HttpFailure, HttpRequest, HttpResponse, Method};

pub use super::trust::{certificates_from_pem, SpkiPin};

/// How the default client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// PEM certificates trusted besides Mozilla's roots: a sandbox's or a private
    /// acquirer's CA.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Keys the acquirer's chain must carry one of (empty: no pinning).
    pub pins: Vec<SpkiPin>,
    pub connect_timeout: Duration,
    /// For the whole exchange, connection included.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            extra_ca_pem: None,
            pins: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the client could not be set up (a configuration to fix, not a network failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// The default client, bound to one acquirer's base URL.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    http: reqwest::Client,
    /// `scheme://host[:port][/prefix]`, without a trailing `/`.
    base: String,
}

impl ReqwestClient {
    /// A client for the acquirer at `base_url` (`https://host[:port][/prefix]`; `http://`
    /// only where the caller allows it, e.g. the CLI for localhost).
    pub fn new(base_url: &str, options: &ClientOptions) -> Result<ReqwestClient, SetupError> {
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| SetupError(format!("the acquirer URL is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http")
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(SetupError(
                "the acquirer URL must be https://host[:port][/prefix]".into(),
            ));
        }
        let extra = match &options.extra_ca_pem {
            Some(pem) => trust::certificates_from_pem(pem)
                .map_err(|e| SetupError(format!("the acquirer CA: {e}")))?,
            None => Vec::new(),
        };
        // ring rather than aws-lc-rs: pure Rust and assembly, no cmake or C toolchain for the
        // cross targets, smaller. rustls deprecates it for lacking post-quantum key
        // exchange (X25519MLKEM768); revisit when ring or the acquirer needs it.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            trust::verifier(&extra, &options.pins, provider.clone()).map_err(SetupError)?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("posmate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError(format!("cannot build the HTTP client: {e}")))?;
        Ok(ReqwestClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The base URL requests' paths are appended to.
    pub fn base_url(&self) -> &str {
        &self.base
    }
}

#[async_trait]
impl HttpClient for ReqwestClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .http
            .request(method, format!("{}{}", self.base, request.path));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(failure)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response.bytes().await.map_err(failure)?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The typed failure of a reqwest error: a certificate refused anywhere in its causes is
/// `Tls` (reqwest reports a failed handshake as a connect error); then timeouts, then
/// connection failures. The URL is left out of the text (its path names the merchant).
fn failure(error: reqwest::Error) -> HttpFailure {
    let error = error.without_url();
    if let Some(tls) = rustls_cause(&error) {
        return HttpFailure::Tls {
            reason: trust::classify(tls),
            detail: tls.to_string(),
        };
    }
    let detail = causes(&error);
    if error.is_timeout() {
        HttpFailure::TimedOut {
            maybe_sent: !error.is_connect(),
        }
    } else if error.is_connect() {
        HttpFailure::CouldNotConnect { detail }
    } else {
        HttpFailure::Io { detail }
    }
}

/// The rustls error among `error`'s causes. An `io::Error`'s `source()` skips the error it
/// wraps, so the walk goes into each one's inner error instead.
fn rustls_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The messages of `error` and its causes, each once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
