//! The application: everything `serve` runs, buildable on port 0 by tests.

use crate::config::Config;
use crate::connectors::ConnectorRegistry;
use crate::keyring::KeyRing;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::secrets::Secrets;
use crate::state::{AppState, Clock};
use crate::tokens::TokenService;
use passbroker_crypto::KeyBits;
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
    sqlite: SqliteStore,
    pub demo: Option<crate::demo::DemoCredentials>,
}

/// Opens the store the configuration names (the embedded SQLite file by default).
pub async fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display()))?;
    let durability = if config.sqlite_synchronous == "full" { Durability::Full } else { Durability::Normal };
    Ok(SqliteStore::open(&config.database_path(), durability).await?)
}

/// Builds the state the server and the admin commands share: store, master key, key ring,
/// token service. Runs the implicit-rejection self-test first and refuses to go on if the
/// linked OpenSSL would be a padding oracle.
pub async fn build_state(config: Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
    passbroker_crypto::implicit_rejection_self_test().map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    let master_text = config.master_key_text()?;
    let master = crate::secrets::load_master_key(
        master_text.as_ref().map(secrecy::ExposeSecret::expose_secret),
        &config.data_dir,
        config.demo,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let secrets = Arc::new(Secrets::new(master));
    secrets.verify_against(store.as_ref()).await?;
    let clock = Clock::default();
    let bits = KeyBits::from_bits(config.rsa_key_bits).unwrap_or(KeyBits::B2048);
    let keys = Arc::new(KeyRing::new(store.clone(), secrets.clone(), bits, config.key_grace_period_secs, config.key_rotate_after_days));
    keys.init(clock.now()).await.map_err(|e| anyhow::anyhow!("key ring: {e}"))?;
    let tokens = Arc::new(TokenService::new(store.clone(), secrets.clone(), config.token_issuer.clone(), config.token_audience.clone(), config.token_lifetime_secs));
    tokens.init(clock.now()).await.map_err(|e| anyhow::anyhow!("token keys: {e}"))?;
    let in_progress = store.count_in_progress().await?;
    let (finished, _) = broadcast::channel(1024);
    Ok(AppState {
        rate_limit: Arc::new(RateLimiter::new(config.rate_limit_requests, config.rate_limit_window_secs)),
        token_rate_limit: Arc::new(RateLimiter::new(config.token_rate_limit_requests, config.rate_limit_window_secs)),
        login_limit_user: Arc::new(RateLimiter::new(config.login_attempts_per_user, 900)),
        login_limit_ip: Arc::new(RateLimiter::new(config.login_attempts_per_user.saturating_mul(5), 900)),
        connectors: Arc::new(ConnectorRegistry::new(store.clone(), secrets.clone())),
        metrics: Arc::new(Metrics::default()),
        config: Arc::new(config),
        store,
        secrets,
        keys,
        tokens,
        clock,
        work_available: Arc::new(Notify::new()),
        finished,
        backlog: Arc::new(crate::worker::Backlog::new(in_progress)),
    })
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let sqlite = open_store(&config).await?;
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let listener = TcpListener::bind(config.listen_addr()).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let state = build_state(config, store).await?;
        let demo = if state.config.demo {
            let port = listener.local_addr()?.port();
            Some(crate::demo::seed(&state, port).await?)
        } else {
            None
        };
        Ok(Application { state, listener, sqlite, demo })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` resolves (SIGTERM/SIGINT in `serve`), then stops accepting,
    /// lets workers finish the request in hand, and closes the store.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.serve(shutdown, true).await
    }

    /// Serves HTTP without starting workers: tests then step the queue themselves.
    pub async fn serve_without_workers(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.serve(shutdown, false).await
    }

    async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static, with_workers: bool) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker_count = if with_workers { self.state.config.workers } else { 0 };
        let workers = tokio::spawn(crate::worker::run(self.state.clone(), worker_count, stop_rx.clone()));
        let maintenance = tokio::spawn(maintain(self.state.clone(), stop_rx));
        let service = crate::routes::service(self.state.clone());
        let make = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(service);
        tracing::info!(address = %self.local_addr(), "passbroker listening");
        axum::serve(self.listener, make).with_graceful_shutdown(shutdown).await?;
        let _ = stop_tx.send(true);
        let _ = workers.await;
        let _ = maintenance.await;
        self.sqlite.close().await;
        tracing::info!("passbroker stopped");
        Ok(())
    }
}

/// Hourly upkeep: key retirement and rotation.
async fn maintain(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        match state.keys.maintain(state.clock.now()).await {
            Ok(done) => {
                for d in done {
                    tracing::info!(action = %d, "key maintenance");
                }
            }
            Err(e) => tracing::error!(error = %e, "key maintenance failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}
