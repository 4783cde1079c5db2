//! The acquirer through the app's own HTTP client (OkHttp, URLSession), as mozilla's
//! viaduct does: the app carries one HTTP exchange — method, path, headers, body, status —
//! and the core does everything the API means (routes, `Idempotency-Key`, RFC 9457
//! problems, bounded retries) through `core::acquirer::https`. The mobile library therefore
//! links no HTTP or TLS stack of its own, and the phone's certificate store, proxy settings
//! and network policy apply.

use std::sync::Arc;

use async_trait::async_trait;
use posmate_core::acquirer::https::retry::RetryPolicy;
use posmate_core::acquirer::https::{
    HttpClient, HttpFailure, HttpRequest, HttpResponse, HttpsGateway, Method,
};
use posmate_core::acquirer::{Gateway, TlsReason};

/// An HTTP method of the acquirer API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

/// One header; names are lowercase in what posmate sends, and matched without regard to
/// case in what comes back.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// What to send: `path` (with `/v1/…`, already percent-encoded) is relative to the
/// acquirer's base URL, which the app's client holds with the trust (CA, pins) that goes
/// with that host. The body may carry a card number the merchant typed or an activation
/// code: never log it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AcquirerHttpRequest {
    pub method: HttpMethod,
    pub path: String,
    pub headers: Vec<HttpHeader>,
    pub body: Option<Vec<u8>>,
}

/// What came back, whatever the status (a 4xx or 5xx carries a problem object).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AcquirerHttpResponse {
    pub status: u16,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

/// Why a certificate was refused, so the merchant is told the right fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CertificateProblem {
    UnknownCa,
    Expired,
    NotYetValid,
    WrongHost,
    PinMismatch,
    Other,
}

/// The outcome of one exchange.
///
/// A plain value rather than a thrown error: Swift 6.0's compiler crashes on UniFFI's
/// async callbacks that throw (TransferNonSendable, in Swift 6 language mode).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AcquirerHttpReply {
    /// An answer, whatever its status.
    Answered { response: AcquirerHttpResponse },
    /// No connection was made (no network, DNS, refused): nothing was sent.
    CouldNotConnect { detail: String },
    /// No answer in time. `maybe_sent`: false only when the connection itself timed out;
    /// a retry is safe either way (the `Idempotency-Key`).
    TimedOut { maybe_sent: bool },
    /// The TLS handshake refused the acquirer's certificate: nothing was sent.
    CertificateRefused {
        problem: CertificateProblem,
        detail: String,
    },
    /// The connection broke otherwise (reset, closed mid-answer): it may have been applied.
    ConnectionFailed { detail: String },
}

/// The app's HTTP client, bound to its acquirer's base URL: send one request, report what
/// happened. posmate retries what may succeed unchanged, with back-off and the same key.
#[uniffi::export(foreign)]
#[async_trait]
pub trait AcquirerHttpClient: Send + Sync {
    async fn send(&self, request: AcquirerHttpRequest) -> AcquirerHttpReply;
}

/// The core's gateway over the app's client, retrying with the default policy.
pub(crate) fn gateway(client: Arc<dyn AcquirerHttpClient>) -> Arc<dyn Gateway> {
    Arc::new(HttpsGateway::https(
        Arc::new(ForeignHttp(client)),
        RetryPolicy::default(),
    ))
}

/// The app's client as the core's [`HttpClient`].
struct ForeignHttp(Arc<dyn AcquirerHttpClient>);

#[async_trait]
impl HttpClient for ForeignHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        match self.0.send(request.into()).await {
            AcquirerHttpReply::Answered { response } => Ok(response.into()),
            AcquirerHttpReply::CouldNotConnect { detail } => {
                Err(HttpFailure::CouldNotConnect { detail })
            }
            AcquirerHttpReply::TimedOut { maybe_sent } => Err(HttpFailure::TimedOut { maybe_sent }),
            AcquirerHttpReply::CertificateRefused { problem, detail } => Err(HttpFailure::Tls {
                reason: problem.into(),
                detail,
            }),
            AcquirerHttpReply::ConnectionFailed { detail } => Err(HttpFailure::Io { detail }),
        }
    }
}

fn headers_out(headers: Vec<(String, String)>) -> Vec<HttpHeader> {
    headers
        .into_iter()
        .map(|(name, value)| HttpHeader { name, value })
        .collect()
}

impl From<HttpRequest> for AcquirerHttpRequest {
    fn from(r: HttpRequest) -> Self {
        AcquirerHttpRequest {
            method: match r.method {
                Method::Get => HttpMethod::Get,
                Method::Post => HttpMethod::Post,
                Method::Delete => HttpMethod::Delete,
            },
            path: r.path,
            headers: headers_out(r.headers),
            body: r.body,
        }
    }
}

impl From<AcquirerHttpRequest> for HttpRequest {
    fn from(r: AcquirerHttpRequest) -> Self {
        HttpRequest {
            method: match r.method {
                HttpMethod::Get => Method::Get,
                HttpMethod::Post => Method::Post,
                HttpMethod::Delete => Method::Delete,
            },
            path: r.path,
            headers: headers_in(r.headers),
            body: r.body,
        }
    }
}

impl From<HttpResponse> for AcquirerHttpResponse {
    fn from(r: HttpResponse) -> Self {
        AcquirerHttpResponse {
            status: r.status,
            headers: headers_out(r.headers),
            body: r.body,
        }
    }
}

impl From<AcquirerHttpResponse> for HttpResponse {
    /// Header names are lowercased, as the core matches them (HTTP/1.1 clients keep the
    /// server's case).
    fn from(r: AcquirerHttpResponse) -> Self {
        HttpResponse {
            status: r.status,
            headers: headers_in(r.headers),
            body: r.body,
        }
    }
}

fn headers_in(headers: Vec<HttpHeader>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value))
        .collect()
}

impl From<CertificateProblem> for TlsReason {
    fn from(p: CertificateProblem) -> Self {
        match p {
            CertificateProblem::UnknownCa => TlsReason::UnknownCa,
            CertificateProblem::Expired => TlsReason::Expired,
            CertificateProblem::NotYetValid => TlsReason::NotYetValid,
            CertificateProblem::WrongHost => TlsReason::WrongHost,
            CertificateProblem::PinMismatch => TlsReason::PinMismatch,
            CertificateProblem::Other => TlsReason::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every send with `reply`, as an app's client would.
    struct Replying(AcquirerHttpReply);

    #[async_trait]
    impl AcquirerHttpClient for Replying {
        async fn send(&self, _request: AcquirerHttpRequest) -> AcquirerHttpReply {
            self.0.clone()
        }
    }

    fn request() -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            path: "/v1/health".into(),
            headers: Vec::new(),
            body: None,
        }
    }

    #[tokio::test]
    async fn platform_cased_headers_reach_the_core_lowercased_as_its_type_says() {
        // HttpURLConnection and URLSession hand back the server's case.
        let answered = AcquirerHttpReply::Answered {
            response: AcquirerHttpResponse {
                status: 503,
                headers: vec![HttpHeader {
                    name: "Retry-After".into(),
                    value: "2".into(),
                }],
                body: Vec::new(),
            },
        };
        let response = ForeignHttp(Arc::new(Replying(answered)))
            .send(request())
            .await
            .expect("an answer");
        assert_eq!(response.status, 503);
        assert_eq!(response.headers, vec![("retry-after".into(), "2".into())]);
    }

    #[tokio::test]
    async fn a_refused_certificate_reaches_the_core_with_its_problem() {
        let refused = AcquirerHttpReply::CertificateRefused {
            problem: CertificateProblem::PinMismatch,
            detail: "not a pinned key".into(),
        };
        let failure = ForeignHttp(Arc::new(Replying(refused)))
            .send(request())
            .await
            .expect_err("refused");
        assert_eq!(
            failure,
            HttpFailure::Tls {
                reason: TlsReason::PinMismatch,
                detail: "not a pinned key".into()
            }
        );
    }
}
