//! The PostgreSQL store: several stateless passbroker nodes share one database.
//!
//! The schema mirrors SQLite's (migrations embedded, run at connect, a newer schema refused).
//! What SQLite gets from `BEGIN IMMEDIATE` (one writer at a time) PostgreSQL gets from row
//! locks: the queue claim is `FOR UPDATE SKIP LOCKED` with a lease, idempotency keys are a
//! unique index plus a per-key advisory lock, and key rotation and re-wrapping lock their
//! tables. [`PostgresStore::rate_limit_hit`] keeps rate-limit windows in an unlogged table so
//! the per-token limit holds across nodes; [`PostgresStore::queue_events`] tells every node
//! when a request is queued or finished.

mod admin;
mod audit;
mod auth;
mod counters;
mod directory;
mod events;
mod keys;
mod recovery;
mod requests;
mod sessions;
mod store_impl;

pub use counters::RateWindow;
pub use events::{QueueEvent, QueueEvents};

use crate::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a caller waits for a connection. While PostgreSQL is down the pool keeps trying
/// to connect for this long, so it bounds how long an API call hangs before it answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections idle longer than this are pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database[?sslmode=…]`) with
    /// a pool of at most `max_connections`, and brings the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        Self::connect_with(connect_options(url, None)?, max_connections).await
    }

    /// As [`PostgresStore::connect`], with the password given apart from the URL (read from
    /// a secret file, say); it wins over a password in the URL.
    pub async fn connect_with_password(
        url: &str,
        password: Option<&str>,
        max_connections: u32,
    ) -> StoreResult<Self> {
        Self::connect_with(connect_options(url, password)?, max_connections).await
    }

    async fn connect_with(options: PgConnectOptions, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping before every use would double the round trips; test only connections
            // that sat idle long enough to have been cut (a restart, a proxy's timeout).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs pending migrations; refuses a database that has migrations this binary lacks.
    /// Nodes starting together are safe: sqlx takes an advisory lock around migrating.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaTooNew(format!(
                "it has migration {v}, this binary knows up to {}",
                latest_version()
            )),
            other => StoreError::Database(other.to_string()),
        })
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Parses a `postgres://` URL, with an optional password that wins over the URL's.
pub(crate) fn connect_options(url: &str, password: Option<&str>) -> StoreResult<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::Database(format!(
            "bad PostgreSQL URL: {}",
            redact_error(&e.to_string())
        ))
    })?;
    if let Some(p) = password {
        options = options.password(p);
    }
    Ok(options)
}

/// sqlx quotes the URL in some parse errors; keep passwords out of messages.
fn redact_error(text: &str) -> String {
    if text.contains('@') {
        "check its form: postgres://user@host:port/database".to_owned()
    } else {
        text.to_owned()
    }
}

/// The newest schema version this binary carries.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Maps a sqlx error into a store error, turning constraint violations into conflicts with
/// the same texts as the SQLite store, and a server that cannot take the call right now
/// into [`StoreError::Unavailable`].
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if unavailable(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    if let sqlx::Error::Database(ref d) = e {
        let code = d.code();
        let code = code.as_deref().unwrap_or("");
        // 23505 unique, 23503 foreign key, 23514 check.
        if matches!(code, "23505" | "23503" | "23514") {
            return StoreError::Conflict(describe_constraint(code, d.constraint().unwrap_or("")));
        }
    }
    StoreError::Database(e.to_string())
}

/// Whether the error says the server cannot be used right now: no connection (refused, cut,
/// the pool timed out), or a SQLSTATE of class 08 (connection exception), 53 (insufficient
/// resources: disk full, too many connections), 57P01–57P05 (shutting down, starting up,
/// idle-session timeout), 25006 (a read-only standby).
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") || c == "25006"
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Turns a violated constraint (by its name in the schema) into words an API caller can
/// act on.
fn describe_constraint(code: &str, constraint: &str) -> String {
    match constraint {
        "identities_login" => "an identity with this login name already exists".into(),
        "sources_name" => "a source with this name already exists".into(),
        "accounts_native" => "this source already has an account with this accountId".into(),
        "password_policies_name" => "a password policy with this name already exists".into(),
        "sync_groups_name" => "a password sync group with this name already exists".into(),
        "sync_group_sources_source" => "a source belongs to at most one password sync group".into(),
        _ if code == "23503" => {
            "it refers to something that does not exist, or something still refers to it".into()
        }
        _ => "a uniqueness rule was broken".into(),
    }
}
