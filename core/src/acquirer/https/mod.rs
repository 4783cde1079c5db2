//! The acquirer over HTTPS. The API's HTTP mapping (`posmate_acquirer_api::http`: routes,
//! `Idempotency-Key`, RFC 9457 problems) is shared with the acquirer's side; this module
//! adds what only a client does:
//!
//! * [`HttpClient`], the platform seam (mozilla viaduct style): one HTTP exchange with
//!   method, path, headers, body and status, and a typed [`HttpFailure`] when there is no
//!   answer. An app implements it with its own OkHttp or URLSession client (through the
//!   bindings); posmate's own, over reqwest and rustls, is [`client::ReqwestClient`]
//!   (feature `https`).
//! * [`HttpsCaller`], which carries each API call over a client with bounded retries
//!   ([`retry`]) and turns failures into [`AcquirerError`]s; wrapped in a
//!   [`RemoteGateway`] it is the [`HttpsGateway`] the flows call.
//!
//! A client is bound to one acquirer: its base URL together with the trust (extra CA,
//! pins) that goes with that host, so the requests it gets carry the API's path only.

#[cfg(feature = "https")]
pub mod client;
pub mod retry;
#[cfg(all(test, feature = "https"))]
mod test_server;
#[cfg(all(test, feature = "https"))]
mod tests;
#[cfg(feature = "https")]
mod trust;

use std::sync::Arc;

use async_trait::async_trait;
use posmate_acquirer_api::http::{self, HEALTH_PATH};
pub use posmate_acquirer_api::http::{Health, HttpRequest, HttpResponse, Method, API_VERSION};

use self::retry::RetryPolicy;
use super::remote::{ApiCaller, RemoteGateway};
use super::{AcquirerError, ApiRequest, ApiResponse, TlsReason};

/// Why an HTTP exchange brought no answer back. What a client can tell apart is exactly
/// what the phone acts on: whether the request may have been sent (retrying is then safe
/// only because of its `Idempotency-Key`), and why a certificate was refused (the fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    /// No connection was made (DNS, refused, no route): nothing was sent.
    #[error("could not connect: {detail}")]
    CouldNotConnect { detail: String },
    /// No answer in time. `maybe_sent` is false when the connection itself timed out.
    #[error("timed out")]
    TimedOut { maybe_sent: bool },
    /// The TLS handshake refused the server's certificate: nothing was sent.
    #[error("TLS refused ({reason}): {detail}")]
    Tls { reason: TlsReason, detail: String },
    /// The connection failed otherwise (reset, closed mid-answer): the request may have
    /// been applied.
    #[error("connection failed: {detail}")]
    Io { detail: String },
}

/// One HTTP exchange with the acquirer this client is bound to.
///
/// Bodies may carry a card number typed in by the merchant or an activation code:
/// implementations must never log them (headers such as `Idempotency-Key` are fine).
#[async_trait]
pub trait HttpClient: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure>;
}

/// The [`Gateway`](super::Gateway) over HTTPS: the shared per-call checks of
/// [`RemoteGateway`] over an [`HttpsCaller`].
pub type HttpsGateway = RemoteGateway<HttpsCaller>;

impl HttpsGateway {
    /// The gateway to the acquirer `client` is bound to.
    pub fn https(client: Arc<dyn HttpClient>, retry: RetryPolicy) -> HttpsGateway {
        RemoteGateway::new(HttpsCaller { client, retry })
    }
}

/// Carries API calls over an [`HttpClient`].
pub struct HttpsCaller {
    client: Arc<dyn HttpClient>,
    retry: RetryPolicy,
}

impl HttpsCaller {
    /// `GET /v1/health`, once: what a diagnosis asks to prove reachability, TLS and the
    /// API version. Not retried, so it reports what the first attempt met.
    pub async fn health(&self) -> Result<Health, AcquirerError> {
        health(&*self.client).await
    }
}

#[async_trait]
impl ApiCaller for HttpsCaller {
    async fn call_api(&self, req: &ApiRequest) -> Result<ApiResponse, AcquirerError> {
        // One request for every attempt: the same Idempotency-Key each time, so an attempt
        // whose answer was lost is not applied twice.
        let request = http::to_http(req);
        let key = request.header(http::IDEMPOTENCY_KEY).map(str::to_owned);
        self.retry
            .run(|attempt| {
                let request = request.clone();
                let key = key.as_deref();
                tracing::debug!(
                    method = request.method.as_str(),
                    path = %request.path,
                    idempotency_key = key,
                    attempt,
                    "acquirer call"
                );
                async move {
                    let response = self.client.send(request).await.map_err(acquirer_error)?;
                    http::reply_from_http(req, &response)
                }
            })
            .await
    }
}

/// `GET /v1/health` over `client`, once.
pub async fn health(client: &dyn HttpClient) -> Result<Health, AcquirerError> {
    let request = HttpRequest {
        method: Method::Get,
        path: HEALTH_PATH.to_owned(),
        headers: vec![("accept".to_owned(), http::JSON.to_owned())],
        body: None,
    };
    let response = client.send(request).await.map_err(acquirer_error)?;
    match response.status {
        200 => serde_json::from_slice(&response.body).map_err(|e| AcquirerError::Protocol {
            detail: format!(
                "the health answer is not the API's (line {}, column {})",
                e.line(),
                e.column()
            ),
        }),
        500..=599 => Err(AcquirerError::Unavailable {
            status: response.status,
        }),
        status => Err(AcquirerError::Protocol {
            detail: format!("{HEALTH_PATH} answered HTTP {status}"),
        }),
    }
}

/// The acquirer error of a failed exchange: only a request that may have been sent is a
/// `Timeout` (the acquirer may have applied it); everything that certainly sent nothing
/// is `Unreachable`, except a refused certificate, which retrying does not fix.
pub fn acquirer_error(failure: HttpFailure) -> AcquirerError {
    match failure {
        HttpFailure::CouldNotConnect { detail } => AcquirerError::Unreachable { detail },
        HttpFailure::TimedOut { maybe_sent: true } => AcquirerError::Timeout,
        HttpFailure::TimedOut { maybe_sent: false } => AcquirerError::Unreachable {
            detail: "the connection timed out".into(),
        },
        HttpFailure::Tls { reason, detail } => AcquirerError::Tls { reason, detail },
        HttpFailure::Io { detail } => AcquirerError::Unreachable { detail },
    }
}
