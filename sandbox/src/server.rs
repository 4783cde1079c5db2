//! The listener: TCP, then TLS (rustls), then HTTP/1.1 (hyper), each request read with
//! limits and handed to the [`Service`] on a blocking thread (it waits for the disk).
//!
//! Limits: at most [`MAX_CONNECTIONS`] connections at once (further ones wait in the
//! kernel's backlog), a TLS handshake and a request's headers within
//! [`HANDSHAKE_TIMEOUT`] and [`HEADER_TIMEOUT`], a body within [`BODY_TIMEOUT`] and
//! [`MAX_BODY`] bytes. Shutdown stops accepting, lets requests in flight finish and closes
//! idle keep-alive connections, for at most [`DRAIN_TIMEOUT`].

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use posmate_acquirer_api::http::{HttpRequest, HttpResponse, Method, JSON};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::problems::{self, MAX_BODY};
use crate::service::Service;

pub const MAX_CONNECTIONS: usize = 256;
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `listener` until `stop` resolves, then drains.
pub async fn run(
    listener: TcpListener,
    tls: TlsAcceptor,
    service: Service,
    stop: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors, a reset before accept: the next one may work.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let tls = tls.clone();
        let service = service.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await
            else {
                return;
            };
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_BODY + 16 * 1024);
            let stream = Arc::new(Mutex::new(stream));
            let conn = http.serve_connection(
                TokioIo::new(Shared(stream.clone())),
                service_fn(move |req| answer(service.clone(), req)),
            );
            // A client that goes away mid-request is its own business.
            let _ = watcher.watch(conn).await;
            close(stream).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// The TLS stream as hyper uses it, shared so that the server still holds it when hyper
/// lets go of a connection without closing it: an idle keep-alive connection past
/// [`HEADER_TIMEOUT`], a request it could not parse.
struct Shared<T>(Arc<Mutex<T>>);

impl<T> Shared<T> {
    fn inner(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Shared<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner()).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shared<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner()).poll_shutdown(cx)
    }
}

/// Ends the connection hyper is done with as TLS says, with `close_notify`: without it a
/// client cannot tell a connection the server closed (an idle keep-alive one, which it
/// may simply reopen) from one cut in the middle of an answer (`unexpected EOF`).
async fn close<T: AsyncWrite + Unpin>(stream: Arc<Mutex<T>>) {
    let Ok(stream) = Arc::try_unwrap(stream) else {
        return;
    };
    let mut stream = stream.into_inner().unwrap_or_else(|e| e.into_inner());
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

async fn answer(
    service: Service,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match read(request).await {
        Ok(request) => tokio::task::spawn_blocking(move || service.handle(&request))
            .await
            .unwrap_or_else(|_| problems::unavailable()),
        Err(refusal) => refusal,
    };
    Ok(to_hyper(response))
}

/// The request as the API's mapping reads it, or the refusal to send instead.
async fn read(request: Request<Incoming>) -> Result<HttpRequest, HttpResponse> {
    let method = Method::parse(request.method().as_str())
        .ok_or_else(|| problems::wrong_method(request.uri().path()))?;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(problems::too_large());
    }
    let json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON));
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let limited = Limited::new(request.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(problems::too_large())
        }
        // A body cut short or too slow: there is nobody to answer, or nothing to act on.
        _ => return Err(problems::truncated()),
    };
    if !body.is_empty() && !json {
        return Err(problems::not_json());
    }
    Ok(HttpRequest {
        method,
        path,
        headers,
        body: (!body.is_empty()).then(|| body.to_vec()),
    })
}

fn to_hyper(response: HttpResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
