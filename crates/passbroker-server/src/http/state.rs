//! The shared state every handler and worker receives.

use crate::config::Config;
use crate::http::ratelimit::{GuessGuard, RateLimitBackend, RateLimiter};
use crate::http::tokens::TokenService;
use crate::metrics::Metrics;
use crate::pipeline::connectors::ConnectorRegistry;
use crate::pipeline::keyring::KeyRing;
use crate::pipeline::secrets::Secrets;
use passbroker_core::time::Millis;
use passbroker_core::RequestId;
use passbroker_store::Store;
use std::sync::Arc;
use tokio::sync::{broadcast, Notify};

/// Wall-clock time, swappable in tests.
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> Millis {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Millis(real.saturating_add(self.offset_ms.load(std::sync::atomic::Ordering::Relaxed)))
    }
    /// Moves this clock forward (tests of expiry and grace periods).
    pub fn advance(&self, ms: i64) {
        self.offset_ms
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<Secrets>,
    pub keys: Arc<KeyRing>,
    pub tokens: Arc<TokenService>,
    pub connectors: Arc<ConnectorRegistry>,
    pub metrics: Arc<Metrics>,
    /// The per-token limit: shared by every node on PostgreSQL, in memory on SQLite.
    pub rate_limit: Arc<dyn RateLimitBackend>,
    /// The per-client budget (all tokens of one API client or PAT), shared like `rate_limit`.
    pub client_rate_limit: Arc<dyn RateLimitBackend>,
    /// Failed bearer-token authentications per client address, shared like `rate_limit`.
    pub auth_failure_limit: Arc<dyn RateLimitBackend>,
    pub token_rate_limit: Arc<RateLimiter>,
    /// Wrong sign-in passwords and digit tokens, per (user, address) with a per-user brake.
    pub guesses: Arc<GuessGuard>,
    /// The breached-password corpus (local index, upstream range API).
    pub breach: Arc<crate::pipeline::breach::Breach>,
    /// Range requests per client address (`breach_range_requests_per_ip`).
    pub range_limit: Arc<RateLimiter>,
    pub clock: Clock,
    /// Wakes idle workers when a request arrives.
    pub work_available: Arc<Notify>,
    /// Announces requests that reached a terminal state (for `Prefer: wait`).
    pub finished: broadcast::Sender<RequestId>,
    pub backlog: Arc<crate::pipeline::worker::Backlog>,
}
