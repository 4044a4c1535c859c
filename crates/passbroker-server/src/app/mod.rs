//! The application: everything `serve` runs, buildable on port 0 by tests.

mod background;

use crate::config::{Config, Database};
use crate::http::ratelimit::{GuessGuard, RateLimitBackend, RateLimiter, SharedRateLimiter};
use crate::http::state::AppState;
use crate::http::tokens::TokenService;
use crate::metrics::Metrics;
use crate::pipeline::clock::Clock;
use crate::pipeline::connectors::ConnectorRegistry;
use crate::pipeline::intake::Backlog;
use crate::pipeline::keyring::KeyRing;
use crate::pipeline::secrets::Secrets;
use background::{flush_erased, maintain, refresh_breach, relay_queue_events, sync_keys};
use passbroker_crypto::KeyBits;
use passbroker_store::postgres::{PostgresStore, QueueEvent};
use passbroker_store::sqlite::{Durability, SqliteStore};
use passbroker_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch, Notify};

pub struct Application {
    pub state: AppState,
    listener: TcpListener,
    /// The certificate and key, when the server speaks HTTPS.
    tls: Option<Arc<crate::tls::Tls>>,
    /// The shared database, when several nodes may share it.
    shared: Option<PostgresStore>,
    pub demo: Option<crate::ops::demo::DemoCredentials>,
}

/// An open database of either kind.
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Backend {
    /// The store as the rest of the program uses it; `Store::close` is its close hook.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(p) => Arc::new(p.clone()),
        }
    }

    /// The limits counted in the shared database on PostgreSQL (every node counts against
    /// the same budget), in memory on SQLite (one node).
    pub fn shared_limits(&self, config: &Config) -> SharedLimits {
        let window = config.rate_limit_window_secs;
        let make = |prefix: &'static str, limit: u32| -> Arc<dyn RateLimitBackend> {
            match self {
                Backend::Sqlite(_) => Arc::new(RateLimiter::new(limit, window)),
                Backend::Postgres(p) => {
                    Arc::new(SharedRateLimiter::new(p.clone(), prefix, limit, window))
                }
            }
        };
        SharedLimits {
            per_token: make("token", config.rate_limit_requests),
            per_client: make("client", config.client_rate_limit_requests),
            auth_failures: make("authfail", config.auth_failures_per_ip),
        }
    }
}

/// The rate limits whose counters several nodes share (see [`Backend::shared_limits`]).
pub struct SharedLimits {
    pub per_token: Arc<dyn RateLimitBackend>,
    pub per_client: Arc<dyn RateLimitBackend>,
    pub auth_failures: Arc<dyn RateLimitBackend>,
}

impl SharedLimits {
    /// Every limit in this node's memory.
    pub fn in_memory(config: &Config) -> Self {
        let window = config.rate_limit_window_secs;
        Self {
            per_token: Arc::new(RateLimiter::new(config.rate_limit_requests, window)),
            per_client: Arc::new(RateLimiter::new(config.client_rate_limit_requests, window)),
            auth_failures: Arc::new(RateLimiter::new(config.auth_failures_per_ip, window)),
        }
    }
}

/// Opens the database the configuration names (the embedded SQLite file by default, or
/// PostgreSQL for `postgres://` URLs) and brings its schema up to date.
pub async fn open_backend(config: &Config) -> anyhow::Result<Backend> {
    let make_data_dir = || {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
        })
    };
    match config.database() {
        Database::Sqlite { path } => {
            make_data_dir()?;
            let durability = if config.sqlite_synchronous == "full" {
                Durability::Full
            } else {
                Durability::Normal
            };
            Ok(Backend::Sqlite(SqliteStore::open(&path, durability).await?))
        }
        Database::Postgres { url } => {
            // The data dir only holds the demo's generated files here.
            if config.demo {
                make_data_dir()?;
            }
            Ok(Backend::Postgres(
                connect_postgres(config, &url, config.database_max_connections).await?,
            ))
        }
    }
}

/// Connects to the PostgreSQL database at `url`, with the password from
/// `database_password_file` when one is configured (it wins over one in the URL).
pub async fn connect_postgres(
    config: &Config,
    url: &str,
    max_connections: u32,
) -> anyhow::Result<PostgresStore> {
    let password = config.database_password()?;
    let password = password.as_ref().map(secrecy::ExposeSecret::expose_secret);
    PostgresStore::connect_with_password(url, password, max_connections)
        .await
        .map_err(|e| anyhow::anyhow!("database {}: {e}", crate::config::redact_url(url)))
}

/// Opens the store the configuration names; close it with `Store::close` when done.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_backend(config).await?.store())
}

/// Builds the state the server and the admin commands share: store, master key, key ring,
/// token service. Runs the implicit-rejection self-test first and refuses to go on if the
/// linked OpenSSL would be a padding oracle. The per-token rate limit counts in memory; the
/// server uses [`build_state_with`] to share it between nodes.
pub async fn build_state(config: Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
    let limits = SharedLimits::in_memory(&config);
    build_state_with(config, store, limits).await
}

/// [`build_state`] with the shared rate limits' backends.
pub async fn build_state_with(
    config: Config,
    store: Arc<dyn Store>,
    limits: SharedLimits,
) -> anyhow::Result<AppState> {
    passbroker_crypto::implicit_rejection_self_test()
        .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    let master_text = config.master_key_text()?;
    let master = crate::pipeline::secrets::load_master_key(
        master_text
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret),
        &config.data_dir,
        config.demo,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let secrets = Arc::new(Secrets::new(master));
    secrets.verify_against(store.as_ref()).await?;
    let clock = Clock::default();
    let bits = KeyBits::from_bits(config.rsa_key_bits).unwrap_or(KeyBits::B2048);
    let keys = Arc::new(KeyRing::new(
        store.clone(),
        secrets.clone(),
        bits,
        config.key_grace_period_secs,
        config.key_rotate_after_days,
    ));
    keys.init(clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("key ring: {e}"))?;
    let tokens = Arc::new(TokenService::new(
        store.clone(),
        secrets.clone(),
        config.token_issuer.clone(),
        config.token_audience.clone(),
        config.token_lifetime_secs,
    ));
    tokens
        .init(clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("token keys: {e}"))?;
    let in_progress = store.count_in_progress().await?;
    let breach = Arc::new(crate::pipeline::breach::Breach::new(&config));
    breach.refresh_logged().await;
    let (finished, _) = broadcast::channel(1024);
    let min_backlog = config.admission_min_backlog;
    let mailer = crate::pipeline::mail::Mailer::from_config(&config)?;
    Ok(AppState::new(crate::http::state::Shared {
        recovery: Arc::new(crate::http::recovery_limits::Recovery::new(mailer)),
        rate_limit: limits.per_token,
        client_rate_limit: limits.per_client,
        auth_failure_limit: limits.auth_failures,
        token_rate_limit: Arc::new(RateLimiter::new(
            config.token_rate_limit_requests,
            config.rate_limit_window_secs,
        )),
        guesses: Arc::new(GuessGuard::new(
            config.login_attempts_per_user,
            config.login_brake_failures_per_user,
            900,
        )),
        breach,
        range_limit: Arc::new(RateLimiter::new(
            config.breach_range_requests_per_ip,
            config.rate_limit_window_secs,
        )),
        connectors: Arc::new(ConnectorRegistry::new(
            store.clone(),
            secrets.clone(),
            config.data_dir.clone(),
        )),
        metrics: Arc::new(Metrics::default()),
        config: Arc::new(config),
        store,
        secrets,
        keys,
        tokens,
        clock,
        work_available: Arc::new(Notify::new()),
        finished,
        backlog: Arc::new(Backlog::with_min_capacity(in_progress, min_backlog)),
    }))
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let backend = open_backend(&config).await?;
        let store = backend.store();
        let limits = backend.shared_limits(&config);
        let shared = match &backend {
            Backend::Postgres(p) => Some(p.clone()),
            Backend::Sqlite(_) => None,
        };
        let tls = match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => match crate::tls::Tls::load(cert, key) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    store.close().await;
                    return Err(anyhow::anyhow!("configuration: {e}"));
                }
            },
            _ => None,
        };
        let listener = match TcpListener::bind(config.listen_addr()).await {
            Ok(l) => l,
            Err(e) => {
                store.close().await;
                return Err(anyhow::anyhow!("cannot listen on {}: {e}", config.listen));
            }
        };
        let state = build_state_with(config, store, limits).await?;
        let demo = if state.config.demo {
            let port = listener.local_addr()?.port();
            Some(
                crate::ops::demo::seed(
                    state.store.as_ref(),
                    &state.config,
                    state.clock.now(),
                    port,
                )
                .await?,
            )
        } else {
            None
        };
        Ok(Application {
            state,
            listener,
            tls,
            shared,
            demo,
        })
    }

    /// The TLS certificate in use (tests reload it).
    pub fn tls(&self) -> Option<Arc<crate::tls::Tls>> {
        self.tls.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` resolves (SIGTERM/SIGINT in `serve`), then stops accepting,
    /// lets workers finish the request in hand, and closes the store.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve(shutdown, true).await
    }

    /// Serves HTTP without starting workers: tests then step the queue themselves.
    pub async fn serve_without_workers(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve(shutdown, false).await
    }

    async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        with_workers: bool,
    ) -> anyhow::Result<()> {
        // Built first: nothing else has started if it cannot be.
        let dispatcher = crate::pipeline::events::dispatch::Dispatcher::new(
            self.state.store.clone(),
            self.state.secrets.clone(),
            self.state.metrics.clone(),
            self.state.clock.clone(),
            crate::pipeline::events::dispatch::Settings::from_config(&self.state.config),
        )?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker_count = if with_workers {
            self.state.config.workers
        } else {
            0
        };
        if with_workers && worker_count == 0 {
            let shared = matches!(self.state.config.database(), Database::Postgres { .. });
            tracing::warn!(
                "workers = 0: this node accepts and queues password changes but works none{}",
                if shared {
                    "; the other nodes on this PostgreSQL database work them"
                } else {
                    "; on SQLite nothing else will, so they end only when workers are started"
                }
            );
        }
        let workers = tokio::spawn(crate::pipeline::worker::run(
            self.state.worker_context(),
            worker_count,
            stop_rx.clone(),
        ));
        let maintenance = tokio::spawn(maintain(self.state.clone(), stop_rx.clone()));
        let flusher = tokio::spawn(flush_erased(self.state.clone(), stop_rx.clone()));
        let key_sync = tokio::spawn(sync_keys(self.state.clone(), stop_rx.clone()));
        let breach_refresh = tokio::spawn(refresh_breach(self.state.clone(), stop_rx.clone()));
        let tls_watch = self
            .tls
            .clone()
            .map(|tls| tokio::spawn(crate::tls::watch_files(tls, stop_rx.clone())));
        let mail = tokio::spawn(crate::http::mail_queue::run(
            self.state.clone(),
            stop_rx.clone(),
        ));
        let events = tokio::spawn(dispatcher.run(stop_rx.clone()));
        let relay = self
            .shared
            .clone()
            .map(|pg| tokio::spawn(relay_queue_events(self.state.clone(), pg, stop_rx)));
        let service = crate::http::routes::service(self.state.clone());
        let limits = crate::http_server::Limits::from_config(&self.state.config);
        tracing::info!(
            address = %self.local_addr(),
            max_connections = limits.max_connections,
            tls = self.tls.is_some(),
            "passbroker listening"
        );
        crate::http_server::serve(self.listener, service, limits, self.tls.clone(), shutdown).await;
        let _ = stop_tx.send(true);
        let _ = workers.await;
        let _ = maintenance.await;
        let _ = flusher.await;
        let _ = key_sync.await;
        let _ = breach_refresh.await;
        if let Some(tls_watch) = tls_watch {
            let _ = tls_watch.await;
        }
        let _ = mail.await;
        let _ = events.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        self.state.store.close().await;
        tracing::info!("passbroker stopped");
        Ok(())
    }
}
