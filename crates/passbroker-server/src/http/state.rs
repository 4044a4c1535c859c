//! The shared state every handler receives. The workers get the narrower
//! [`WorkerContext`] built from it.

use crate::config::Config;
use crate::http::ratelimit::{GuessGuard, RateLimitBackend, RateLimiter};
use crate::http::tokens::TokenService;
use crate::metrics::Metrics;
pub use crate::pipeline::clock::Clock;
use crate::pipeline::connectors::ConnectorRegistry;
use crate::pipeline::intake::Backlog;
use crate::pipeline::keyring::KeyRing;
use crate::pipeline::secrets::Secrets;
use crate::pipeline::worker::WorkerContext;
use passbroker_core::RequestId;
use passbroker_store::Store;
use std::sync::Arc;
use tokio::sync::{broadcast, Notify};

/// Cloned for every request (axum hands each handler and middleware its own copy), so it is
/// one `Arc`: a clone is one atomic increment. As a struct of twenty `Arc`s it cost twenty
/// on shared cache lines, and a profile of `/health/live` under load spent 40 % of the CPU
/// cloning and dropping it.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
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
    pub backlog: Arc<Backlog>,
    /// Password recovery: the mailer and the limits on "forgot password" starts.
    pub recovery: Arc<crate::http::recovery_limits::Recovery>,
}

impl AppState {
    /// What the workers need of the application: the store, keys, targets, clock.
    pub fn worker_context(&self) -> WorkerContext {
        WorkerContext {
            store: self.store.clone(),
            keys: self.keys.clone(),
            connectors: self.connectors.clone(),
            breach: self.breach.clone(),
            metrics: self.metrics.clone(),
            clock: self.clock.clone(),
            lease_ms: self.config.lease_secs.saturating_mul(1000),
            backlog: self.backlog.clone(),
            finished: self.finished.clone(),
            work_available: self.work_available.clone(),
        }
    }
}

impl From<AppState> for WorkerContext {
    fn from(state: AppState) -> Self {
        state.worker_context()
    }
}
