//! Logging and per-request context: every request gets a `trackingId` (sent back in error
//! bodies and as `X-Tracking-Id`), logged with the matched route, status and latency.

use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;
use tracing_subscriber::EnvFilter;

tokio::task_local! {
    static REQUEST_CONTEXT: RequestContext;
}

#[derive(Clone)]
struct RequestContext {
    tracking_id: String,
    language: Option<String>,
}

/// The tracking id of the request being served (a fresh one outside a request).
pub fn current_tracking_id() -> String {
    REQUEST_CONTEXT
        .try_with(|c| c.tracking_id.clone())
        .unwrap_or_else(|_| new_tracking_id())
}

/// A tracking id: 32 hex digits like ISC's, from the thread's generator (a name for log
/// lines, not a secret; the OS generator cost a system call per request).
fn new_tracking_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The caller's preferred language (primary subtag of `Accept-Language`), if any.
pub fn current_language() -> Option<String> {
    REQUEST_CONTEXT
        .try_with(|c| c.language.clone())
        .ok()
        .flatten()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_env("PASSBROKER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn preferred_language(req: &Request) -> Option<String> {
    let header = req
        .headers()
        .get(axum::http::header::ACCEPT_LANGUAGE)?
        .to_str()
        .ok()?;
    let first = header.split(',').next()?.split(';').next()?.trim();
    let primary = first.split('-').next()?.to_ascii_lowercase();
    (!primary.is_empty() && primary.len() <= 8 && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then_some(primary)
}

/// Middleware: tracking id, log line, metrics.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let tracking_id = new_tracking_id();
    let language = preferred_language(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let ctx = RequestContext {
        tracking_id: tracking_id.clone(),
        language,
    };
    let mut response = REQUEST_CONTEXT.scope(ctx, next.run(req)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics.observe_http(&route, method.as_str(), status, elapsed);
    if let Ok(v) = HeaderValue::from_str(&tracking_id) {
        response.headers_mut().insert("x-tracking-id", v);
    }
    if status >= 500 {
        tracing::warn!(tracking_id, %method, route, status, latency_ms = elapsed.as_millis() as u64, "request");
    } else {
        tracing::info!(tracking_id, %method, route, status, latency_ms = elapsed.as_millis() as u64, "request");
    }
    response
}
