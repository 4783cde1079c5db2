//! A real HTTPS acquirer for the client's tests: hyper 1 over tokio-rustls on a loopback
//! port, with certificates made per test by rcgen. It records every request that reached
//! HTTP (so a test can prove that a refused handshake sent nothing) and counts the TCP
//! connections it accepted (so a test can prove a refusal was not retried).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use posmate_acquirer_api::http::{from_http, reply_to_http};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, PublicKeyData, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{HttpRequest, HttpResponse, Method};
use crate::acquirer::{AcquirerError, ApiRequest, ApiResponse};

/// A certificate authority made for one test.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key.
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    key: Vec<u8>,
    /// The DER SubjectPublicKeyInfo of its key, as rcgen (not posmate) encodes it.
    pub spki: Vec<u8>,
}

/// The names and validity of a server certificate.
pub struct LeafSpec {
    pub san: SanType,
    /// `(not_before, not_after)` as `(year, month, day)`.
    pub validity: ((i32, u8, u8), (i32, u8, u8)),
}

impl LeafSpec {
    /// For 127.0.0.1, valid from 2020 to 2100.
    pub fn loopback() -> LeafSpec {
        LeafSpec {
            san: SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            validity: ((2020, 1, 1), (2100, 1, 1)),
        }
    }
}

impl Pki {
    /// A CA of its own name: a verifier finds issuers by name, so two test CAs of one name
    /// would meet as a bad signature rather than an unknown issuer.
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("posmate test CA {}", rand::random::<u64>()),
        );
        let ca = CertifiedIssuer::self_signed(params, ca_key).expect("a CA certificate");
        Pki { ca }
    }

    /// The CA certificate as a PEM file holds it.
    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca.pem().into_bytes()
    }

    pub fn leaf(&self, spec: LeafSpec) -> Leaf {
        let key = KeyPair::generate().expect("a server key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![spec.san];
        let ((y0, m0, d0), (y1, m1, d1)) = spec.validity;
        params.not_before = rcgen::date_time_ymd(y0, m0, d0);
        params.not_after = rcgen::date_time_ymd(y1, m1, d1);
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("a server certificate");
        Leaf {
            cert: cert.der().clone(),
            key: key.serialize_der(),
            spki: key.subject_public_key_info(),
        }
    }
}

/// What the server does with a request.
pub enum Answer {
    Reply(HttpResponse),
    /// Read it, then never answer.
    Never,
}

type Handler = Box<dyn Fn(&HttpRequest, usize) -> Answer + Send + Sync>;

struct Shared {
    seen: Mutex<Vec<(Instant, HttpRequest)>>,
    connections: AtomicUsize,
    answer: Handler,
}

pub struct Server {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `leaf` on a free loopback port; `answer(request, n)` answers the `n`th request
    /// (from 0).
    pub async fn start(
        leaf: &Leaf,
        answer: impl Fn(&HttpRequest, usize) -> Answer + Send + Sync + 'static,
    ) -> Server {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.cert.clone()], key)
            .expect("the server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            connections: AtomicUsize::new(0),
            answer: Box::new(answer),
        });
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, state) = (acceptor.clone(), state.clone());
                tokio::spawn(async move {
                    // A refused handshake ends here, before any HTTP.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Server { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The requests that reached HTTP, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter().map(|(_, r)| r.clone()).collect()
    }

    /// When each request arrived.
    pub fn arrivals(&self) -> Vec<Instant> {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter().map(|(at, _)| *at).collect()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let request = HttpRequest {
        method: Method::parse(parts.method.as_str()).unwrap_or(Method::Get),
        path: parts
            .uri
            .path_and_query()
            .map_or("/".into(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: (!body.is_empty()).then_some(body),
    };
    let n = {
        let mut seen = state.seen.lock().unwrap();
        seen.push((Instant::now(), request.clone()));
        seen.len() - 1
    };
    match (state.answer)(&request, n) {
        Answer::Reply(reply) => {
            let mut response = hyper::Response::builder().status(reply.status);
            for (name, value) in &reply.headers {
                response = response.header(name, value);
            }
            Ok(response
                .body(Full::new(Bytes::from(reply.body)))
                .expect("a response"))
        }
        Answer::Never => std::future::pending().await,
    }
}

/// Answers the API as an acquirer would: `from_http`, then `handler`, then `reply_to_http`.
pub fn api(
    handler: impl Fn(ApiRequest) -> Result<ApiResponse, AcquirerError> + Send + Sync + 'static,
) -> impl Fn(&HttpRequest, usize) -> Answer + Send + Sync + 'static {
    move |request, _| Answer::Reply(reply_to_http(&from_http(request).and_then(&handler)))
}
