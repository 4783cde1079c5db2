//! What the HTTPS gateway adds to a request (issue 13): one API call through
//! `HttpsGateway` over `ReqwestClient`, against a bare request of the same bytes.
//!
//! The server is a minimal HTTPS acquirer on a loopback port (hyper over tokio-rustls, a
//! certificate from a CA made for the run) that reads each request whole and answers with
//! the same canned bytes: the API's answer to a card binding. It runs on a thread and
//! runtime of its own, so both sides below meet the same server doing the same work.
//!
//! * **gateway**: `Gateway::bind_card` through `HttpsGateway::https(ReqwestClient)`: the
//!   request encoded through the API's HTTP mapping, the retry policy's first attempt, the
//!   client's conversions, the answer decoded and its masked card number checked;
//! * **bare**: a plain `reqwest::Client` with the same rustls (ring) configuration, sending
//!   the very method, path, headers and body the mapping made once, and reading the status
//!   and body bytes.
//!
//! Both keep one keep-alive connection (the bench counts the connections the server
//! accepted) and call one after the other on a current-thread runtime: after a warm-up,
//! [`CALLS`] pairs of one gateway call then one bare call, each timed alone; the ratio of
//! the medians of the single calls' times is the verdict (target ≤ 1.2).
//!
//! Run with `cargo xtask bench` (or `cargo bench -p posmate-core --bench gateway`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use posmate_acquirer_api::http::{reply_to_http, to_http, HttpResponse};
use posmate_core::acquirer::https::client::{ClientOptions, ReqwestClient};
use posmate_core::acquirer::https::retry::RetryPolicy;
use posmate_core::acquirer::https::HttpsGateway;
use posmate_core::acquirer::{
    ApiRequest, ApiResponse, BindCardRequest, CardBinding, CardPurposeKind, CardSource, Gateway,
};
use posmate_proto::pan::MaskedPan;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

const TARGET: f64 = 1.2;
const CALLS: usize = 3_600;
const WARM_UP: usize = 200;

const PAN: &str = "6222021234567890128";

fn main() {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "posmate gateway bench CA");
    let ca = CertifiedIssuer::self_signed(params, ca_key).expect("a CA certificate");
    let key = KeyPair::generate().expect("a server key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    let cert = params.signed_by(&key, &ca).expect("a server certificate");

    let request = bind();
    let answer = reply_to_http(&Ok(ApiResponse::CardBinding(binding())));
    let server = serve(cert.der().clone(), key.serialize_der(), answer);
    let url = format!("https://{}", server.addr);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let options = ClientOptions {
        extra_ca_pem: Some(ca.pem().into_bytes()),
        ..ClientOptions::default()
    };
    let client = ReqwestClient::new(&url, &options).expect("the gateway's client");
    let gateway = HttpsGateway::https(Arc::new(client), RetryPolicy::default());
    let bare = bare_client(&ca.pem());
    let ApiRequest::BindCard(bind_request) = &request else {
        unreachable!("bind() is a card binding")
    };
    let http = to_http(&request);

    let through_gateway = || async {
        let binding = gateway.bind_card(bind_request).await.expect("a binding");
        assert_eq!(binding.binding_id, "BND-00000042");
    };
    let bare_request = || async {
        let mut builder = bare.post(format!("{url}{}", http.path));
        for (name, value) in &http.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(http.body.clone().unwrap_or_default())
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 200);
        let body = response.bytes().await.expect("a body");
        assert!(!body.is_empty());
    };

    runtime.block_on(async {
        let before = server.connections();
        for _ in 0..WARM_UP {
            through_gateway().await;
        }
        let gateway_connections = server.connections() - before;
        let before = server.connections();
        for _ in 0..WARM_UP {
            bare_request().await;
        }
        let bare_connections = server.connections() - before;

        // One gateway call, then one bare call, and so on: a load that comes and goes on
        // the machine meets both sides alike, and the median of single calls ignores the
        // calls it stalled.
        let mut gateway_times = Vec::with_capacity(CALLS);
        let mut bare_times = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let t = Instant::now();
            through_gateway().await;
            gateway_times.push(t.elapsed());
            let t = Instant::now();
            bare_request().await;
            bare_times.push(t.elapsed());
        }
        let (g, b) = (median(&mut gateway_times), median(&mut bare_times));
        println!(
            "gateway overhead: {CALLS} card bindings each way, alternating, over one keep-alive TLS \
             connection to a loopback HTTPS server answering canned bytes ({} connection(s) \
             for the gateway's {WARM_UP} warm-up calls, {} for the bare client's)",
            gateway_connections, bare_connections
        );
        println!(
            "per call: HttpsGateway + ReqwestClient {:.1} µs, bare reqwest of the same bytes \
             {:.1} µs (medians; gateway p10 {:.1} p90 {:.1}, bare p10 {:.1} p90 {:.1})",
            us(g),
            us(b),
            us(percentile(&gateway_times, 10)),
            us(percentile(&gateway_times, 90)),
            us(percentile(&bare_times, 10)),
            us(percentile(&bare_times, 90)),
        );
        let ratio = g.as_secs_f64() / b.as_secs_f64();
        println!(
            "gateway request ÷ bare request: {ratio:.3} (target <= {TARGET}): {}",
            if ratio <= TARGET && gateway_connections == 1 {
                "PASS"
            } else {
                "MISS"
            }
        );
    });
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Sorts `times` and returns the middle one.
fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    percentile(times, 50)
}

/// The `p`th percentile of sorted `times`.
fn percentile(times: &[Duration], p: usize) -> Duration {
    times[(times.len() - 1) * p / 100]
}

fn bind() -> ApiRequest {
    ApiRequest::BindCard(BindCardRequest {
        request_id: "bench-bind-1".into(),
        merchant_no: "898310148160012".into(),
        purpose: CardPurposeKind::Settlement,
        holder_name: "Zhang San Noodles".into(),
        source: CardSource::Manual {
            pan: Zeroizing::new(PAN.into()),
            expiry: "1230".into(),
        },
    })
}

fn binding() -> CardBinding {
    CardBinding {
        binding_id: "BND-00000042".into(),
        merchant_no: "898310148160012".into(),
        purpose: CardPurposeKind::Settlement,
        masked_pan: MaskedPan::mask(PAN).expect("a card number").to_string(),
        issuer: None,
        holder_name: "Zhang San Noodles".into(),
        bound_at_ms: 1_767_225_600_000,
        replaced: None,
    }
}

/// reqwest as a plain application would set it up over the same TLS stack: rustls on
/// ring, trusting the bench's CA.
fn bare_client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls_pem_certificate(ca_pem);
    roots.add(ca).expect("the CA");
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("a reqwest client")
}

fn rustls_pem_certificate(pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Serves `answer` to every request on a loopback port, from a thread of its own.
fn serve(cert: CertificateDer<'static>, key: Vec<u8>, answer: HttpResponse) -> Server {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("the server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("its address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server's runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, answer) = (acceptor.clone(), answer.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| respond(answer.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    Server { addr, connections }
}

async fn respond(
    answer: Arc<HttpResponse>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    // Read whole, as an acquirer must before it acts.
    let _ = request.into_body().collect().await;
    let mut response = hyper::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(answer.body.clone())))
        .expect("a response"))
}
