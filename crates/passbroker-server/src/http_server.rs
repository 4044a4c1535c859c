//! The HTTP accept loop: hyper's HTTP/1 server, with a cap on open connections and the
//! timeouts that keep slow or silent clients from holding sockets (and file descriptors).
//!
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

mod connections;
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
            // Best effort and never waiting: the socket's send buffer is empty.
            let _ = stream.try_write(OVERLOADED);
            tracing::debug!(%peer, "connection refused: every connection is busy");
            continue;
        };
        let service = service.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(
                stream,
                peer,
                service,
                limits,
                registered.activity.clone(),
                stop,
            )
            .await;
            drop(registered);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    connections.all_closed().await;
}

/// What a connection's watchdog needs to know about it.
struct Activity {
    opened: Instant,
    /// Requests whose headers arrived and whose response is not ready yet.
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last response was ready.
    idle_since_ms: AtomicU64,
    /// Milliseconds after `opened` of the first byte received while idle ([`NONE`] if none).
    first_byte_ms: AtomicU64,
    /// Whether a response was sent (the idle timeout applies from then on).
    served: AtomicBool,
    /// Chosen to make room for a new connection, or its request timed out (the handler may
    /// still hold the unread body): close as soon as no request is in flight.
    evicted: AtomicBool,
    changed: Notify,
}

const NONE: u64 = u64::MAX;

/// How long a connection being closed keeps its socket for its last response to go out.
const CLOSING_GRACE: Duration = Duration::from_millis(200);

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
            served: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn on_bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .first_byte_ms
                .compare_exchange(NONE, self.now_ms(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.first_byte_ms.store(NONE, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Since when the connection has been waiting for a request (opened, idle after a
    /// response, or receiving headers); `None` while a request is in flight.
    fn waiting_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if self.served.load(Ordering::Acquire) {
            Some(self.at(self.idle_since_ms.load(Ordering::Acquire)))
        } else {
            Some(self.opened)
        }
    }

    /// When the connection is to be closed unless something happens first; `None` while a
    /// request is in flight (the request timeout bounds that).
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let waiting_since = self.waiting_since()?;
        if self.evicted.load(Ordering::Acquire) {
            // Time to write out the last response first.
            return Some(waiting_since + CLOSING_GRACE);
        }
        let first_byte = self.first_byte_ms.load(Ordering::Acquire);
        if first_byte != NONE {
            return Some(self.at(first_byte) + limits.header_timeout);
        }
        if self.served.load(Ordering::Acquire) {
            Some(waiting_since + limits.idle_timeout)
        } else {
            Some(waiting_since + limits.header_timeout)
        }
    }
}

/// Marks a request in flight until dropped (its response is ready, or it was abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms.store(a.now_ms(), Ordering::Release);
        a.served.store(true, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
        a.changed.notify_one();
    }
}

/// The socket, reporting received bytes to the watchdog.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown.
async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    limits: Limits,
    activity: Arc<Activity>,
    mut stop: watch::Receiver<bool>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let handler = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let service = service.clone();
            let in_flight = activity.request_started();
            async move {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let call = tower::ServiceExt::oneshot(service, req);
                let response = match tokio::time::timeout(limits.request_timeout, call).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        in_flight.0.evicted.store(true, Ordering::Release);
                        request_timed_out(peer, limits.request_timeout)
                    }
                };
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    // The timeouts are the watchdog's below, not hyper's (whose header timer also runs
    // while a kept-alive connection idles).
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, handler);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = activity.deadline(&limits);
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
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "closing a slow, idle or displaced connection");
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
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

/// 503 in ISC's error shape, closing the connection (its request body may be unread).
fn request_timed_out(peer: SocketAddr, limit: Duration) -> Response {
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
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
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
