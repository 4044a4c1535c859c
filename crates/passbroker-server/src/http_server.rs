//! The HTTP accept loop: hyper's HTTP/1 server (and, over TLS, HTTP/2 when the client offers
//! it by ALPN), with a cap on open connections and the timeouts that keep slow or silent
//! clients from holding sockets (and file descriptors).
//!
//! - With TLS ([`crate::tls`]), the handshake must end within `http_header_timeout_secs` of
//!   the connection opening; a connection being displaced or shut down meanwhile is closed.
//!   Every response over TLS carries `Strict-Transport-Security`.
//! - At `http_max_connections` open connections, a new one makes room by closing the
//!   connection that has waited longest without a request in flight (a slow or silent
//!   sender, or an idle keep-alive); when every connection is busy, the new one is answered
//!   a canned 503 and closed at once. Either way the process keeps the descriptors the store
//!   and connectors need, and slow clients cannot lock real ones out.
//! - A connection must deliver a request's headers within `http_header_timeout_secs` of
//!   opening; on a kept-alive connection the idle timeout runs until the next request's
//!   first byte, then the header timeout from that byte.
//! - A request gets `http_request_timeout_secs` from its headers to its response (body
//!   upload included); then it is answered 503 and the connection closed. The handler itself
//!   still runs to completion on its own task (`routes::run_to_completion`).

use crate::config::Config;
use crate::http::error::{error_body, Cause};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

mod activity;
mod connections;

use activity::{Activity, Watched};
use connections::{Connections, EVICTION_SLACK};

/// The connection cap and timeouts, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        let max_connections = match config.http_max_connections {
            0 => derived_connection_cap(config, open_file_limit()),
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        Limits {
            max_connections,
            header_timeout: Duration::from_secs(config.http_header_timeout_secs),
            idle_timeout: Duration::from_secs(config.http_idle_timeout_secs),
            request_timeout: Duration::from_secs(config.http_request_timeout_secs),
        }
    }
}

/// The soft `RLIMIT_NOFILE`, or `None` when unlimited.
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The connection cap when none is configured: the open-file limit less what the rest of
/// the process needs (store connections with their WAL and shared-memory files, a few
/// outbound connections per worker, logs, the runtime's own descriptors, and the connections
/// that may linger while they make room for new ones).
pub fn derived_connection_cap(config: &Config, nofile: Option<u64>) -> usize {
    const UNLIMITED_CAP: u64 = 100_000;
    let Some(limit) = nofile else {
        return UNLIMITED_CAP as usize;
    };
    let reserve = 64
        + EVICTION_SLACK as u64
        + u64::from(config.database_max_connections) * 3
        + u64::from(config.workers) * 2;
    let cap = if limit > reserve + 16 {
        limit - reserve
    } else {
        limit / 4
    };
    usize::try_from(cap.clamp(1, UNLIMITED_CAP)).unwrap_or(1)
}

/// Sent, without reading the request, to a connection beyond the cap.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 149\r\n\r\n\
{\"detailCode\":\"503 Service Unavailable\",\"trackingId\":\"\",\"messages\":[{\"locale\":\"en-US\",\"localeOrigin\":\"DEFAULT\",\"text\":\"Too many open connections.\"}]}";

/// Serves `service` on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish its request in hand, and returns once every connection has closed.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    tls: Option<Arc<crate::tls::Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let cap = limits.max_connections.max(1);
    let connections = Arc::new(Connections::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let Some(registered) = connections.admit_waiting(cap).await else {
            // Best effort and never waiting: the socket's send buffer is empty. Over TLS a
            // plain-text answer would be noise before a handshake; the close says enough.
            if tls.is_none() {
                let _ = stream.try_write(OVERLOADED);
            }
            tracing::debug!(%peer, "connection refused: every connection is busy");
            continue;
        };
        let service = service.clone();
        let stop = stop_rx.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let activity = registered.activity.clone();
            let watched = Watched {
                stream,
                activity: activity.clone(),
            };
            match acceptor {
                None => {
                    connection(
                        watched,
                        Protocol::Http1,
                        peer,
                        service,
                        limits,
                        activity,
                        stop,
                    )
                    .await
                }
                Some(acceptor) => {
                    let Some(tls) =
                        handshake(acceptor, watched, peer, &limits, &activity, stop.clone()).await
                    else {
                        drop(registered);
                        return;
                    };
                    let protocol = match tls.get_ref().1.alpn_protocol() {
                        Some(b"h2") => Protocol::Http2,
                        _ => Protocol::Http1Tls,
                    };
                    connection(tls, protocol, peer, service, limits, activity, stop).await
                }
            }
            drop(registered);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    connections.all_closed().await;
}

/// How a connection speaks HTTP, and whether over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// HTTP/1.1 over plain TCP.
    Http1,
    /// HTTP/1.1 over TLS (no ALPN, or `http/1.1`).
    Http1Tls,
    /// HTTP/2 over TLS (ALPN `h2`).
    Http2,
}

/// The TLS handshake under the header timeout; `None` when it failed, timed out, or the
/// connection was displaced or shut down meanwhile.
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    watched: Watched,
    peer: SocketAddr,
    limits: &Limits,
    activity: &Arc<Activity>,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio_rustls::server::TlsStream<Watched>> {
    if *stop.borrow() {
        return None;
    }
    let give_up = activity.opened + limits.header_timeout;
    let accept = acceptor.accept(watched);
    tokio::pin!(accept);
    loop {
        let changed = activity.changed.notified();
        tokio::select! {
            biased;
            result = accept.as_mut() => {
                return match result {
                    Ok(stream) => Some(stream),
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        None
                    }
                };
            }
            () = changed => {
                if activity.evicted.load(Ordering::Acquire) {
                    tracing::debug!(%peer, "closing a displaced connection during its TLS handshake");
                    return None;
                }
            }
            () = tokio::time::sleep_until(give_up) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return None;
            }
            _ = stop.changed() => return None,
        }
    }
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown.
async fn connection<S, I>(
    io: I,
    protocol: Protocol,
    peer: SocketAddr,
    service: S,
    limits: Limits,
    activity: Arc<Activity>,
    stop: watch::Receiver<bool>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tls = protocol != Protocol::Http1;
    let io = TokioIo::new(io);
    let handler = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let service = service.clone();
            let in_flight = activity.request_started();
            async move {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let call = tower::ServiceExt::oneshot(service, req);
                let mut response = match tokio::time::timeout(limits.request_timeout, call).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        in_flight.0.evicted.store(true, Ordering::Release);
                        request_timed_out(peer, limits.request_timeout, protocol)
                    }
                };
                if tls {
                    response.headers_mut().insert(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static(HSTS),
                    );
                }
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    match protocol {
        Protocol::Http1 | Protocol::Http1Tls => {
            // The timeouts are the watchdog's below, not hyper's (whose header timer also
            // runs while a kept-alive connection idles).
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .header_read_timeout(None)
                .serve_connection(io, handler);
            tokio::pin!(conn);
            watch_connection(
                conn,
                |c| c.graceful_shutdown(),
                peer,
                &limits,
                &activity,
                stop,
            )
            .await;
        }
        Protocol::Http2 => {
            let conn =
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .max_concurrent_streams(MAX_H2_STREAMS)
                    .serve_connection(io, handler);
            tokio::pin!(conn);
            watch_connection(
                conn,
                |c| c.graceful_shutdown(),
                peer,
                &limits,
                &activity,
                stop,
            )
            .await;
        }
    }
}

/// Concurrent requests on one HTTP/2 connection at most.
const MAX_H2_STREAMS: u32 = 100;

/// `Strict-Transport-Security` on every response over TLS (a year).
const HSTS: &str = "max-age=31536000";

/// Drives a connection to its end under the watchdog: closes it at its deadline (slow,
/// idle or displaced), and shuts it down gracefully when the server stops.
async fn watch_connection<C>(
    mut conn: Pin<&mut C>,
    graceful: impl Fn(Pin<&mut C>),
    peer: SocketAddr,
    limits: &Limits,
    activity: &Activity,
    mut stop: watch::Receiver<bool>,
) where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut stopping = *stop.borrow();
    if stopping {
        graceful(conn.as_mut());
    }
    loop {
        let deadline = activity.deadline(limits);
        let changed = activity.changed.notified();
        tokio::select! {
            // The connection first: a response ready now is written before any close.
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = changed => {}
            () = sleep_until(deadline) => {
                if activity.deadline(limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "closing a slow, idle or displaced connection");
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                graceful(conn.as_mut());
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// 503 in ISC's error shape, closing the connection (its request body may be unread; HTTP/2
/// has no `Connection` header, and the watchdog closes the connection instead).
fn request_timed_out(peer: SocketAddr, limit: Duration, protocol: Protocol) -> Response {
    tracing::warn!(%peer, limit_secs = limit.as_secs(), "request timed out");
    let mut response = error_body(
        StatusCode::SERVICE_UNAVAILABLE,
        &[Cause(format!(
            "the request did not complete within {} s",
            limit.as_secs()
        ))],
        None,
    );
    let headers = response.headers_mut();
    if protocol != Protocol::Http2 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardening_connection_cap_leaves_room_for_the_rest() {
        let c = Config::default();
        // 256 descriptors: the cap stays well below, so the store and connectors keep theirs.
        let cap = derived_connection_cap(&c, Some(256));
        assert!((32..=128).contains(&cap), "{cap}");
        let big = derived_connection_cap(&c, Some(65_536));
        assert!(big > 60_000 && big < 65_536, "{big}");
        assert_eq!(derived_connection_cap(&c, None), 100_000);
        assert!(derived_connection_cap(&c, Some(2)) >= 1);
    }

    #[test]
    fn hardening_overloaded_response_is_well_formed() {
        let text = std::str::from_utf8(OVERLOADED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["detailCode"], "503 Service Unavailable");
    }
}
