//! The PostgreSQL store: several stateless passbroker nodes share one database.
//!
//! The schema mirrors SQLite's (migrations embedded, run at connect, a newer schema refused).
//! What SQLite gets from `BEGIN IMMEDIATE` (one writer at a time) PostgreSQL gets from row
//! locks: the queue claim is `FOR UPDATE SKIP LOCKED` with a lease, idempotency keys are a
//! unique index plus a per-key advisory lock, and key rotation and re-wrapping lock their
//! tables. [`PostgresStore::rate_limit_hit`] keeps rate-limit windows in an unlogged table so
//! the per-token limit holds across nodes; [`PostgresStore::queue_events`] tells every node
//! when a request is queued or finished.

mod counters;
mod events;

pub use counters::RateWindow;
pub use events::{QueueEvent, QueueEvents};

use crate::sql::{Arg, Dialect, Kind, Row, SqlStore, Transaction, Value};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Column, PgPool, Row as _, TypeInfo, ValueRef};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a caller waits for a connection. While PostgreSQL is down the pool keeps trying
/// to connect for this long, so it bounds how long an API call hangs before it answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections idle longer than this are pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// The PostgreSQL dialect: a pool of connections to one database.
#[derive(Clone)]
pub struct Postgres {
    pub(crate) pool: PgPool,
}

/// The store on PostgreSQL.
pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
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
        let store = SqlStore::new(Postgres { pool });
        store.migrate().await?;
        Ok(store)
    }

    /// Runs pending migrations; refuses a database that has migrations this binary lacks.
    /// Nodes starting together are safe: sqlx takes an advisory lock around migrating.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.d.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaTooNew(format!(
                "it has migration {v}, this binary knows up to {}",
                latest_version()
            )),
            other => StoreError::Database(other.to_string()),
        })
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.d.pool.close().await;
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
            return StoreError::Conflict(crate::sql::describe_constraint(
                d.constraint().unwrap_or(""),
                code == "23503",
            ));
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

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

fn bind<'q>(sql: &'q str, args: &'q [Arg<'_>]) -> Query<'q> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Bool(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_deref()),
            Arg::Blob(v) => q.bind(v.as_deref()),
            Arg::List(items) => q.bind(items.iter().map(|s| s.as_ref()).collect::<Vec<&str>>()),
        };
    }
    q
}

/// Rows in the store's plain values, by each column's type.
fn rows(raw: Vec<PgRow>) -> StoreResult<Vec<Row>> {
    let Some(head) = raw.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = head.columns().iter().map(|c| c.name().to_owned()).collect();
    raw.iter()
        .map(|r| {
            let values = (0..r.len())
                .map(|i| {
                    let v = r.try_get_raw(i).map_err(db)?;
                    if v.is_null() {
                        return Ok(Value::Null);
                    }
                    let value = match v.type_info().name() {
                        "BOOL" => Value::Bool(r.try_get(i).map_err(db)?),
                        "INT8" => Value::Int(r.try_get(i).map_err(db)?),
                        "INT4" => Value::Int(i64::from(r.try_get::<i32, _>(i).map_err(db)?)),
                        "INT2" => Value::Int(i64::from(r.try_get::<i16, _>(i).map_err(db)?)),
                        "FLOAT8" => Value::Real(r.try_get(i).map_err(db)?),
                        "BYTEA" => Value::Blob(r.try_get(i).map_err(db)?),
                        "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => {
                            Value::Text(r.try_get(i).map_err(db)?)
                        }
                        "VOID" => Value::Null,
                        other => {
                            return Err(StoreError::Corrupt(format!(
                                "a column of type {other} the store does not read"
                            )))
                        }
                    };
                    Ok(value)
                })
                .collect::<StoreResult<Vec<Value>>>()?;
            Ok(Row::new(names.clone(), values))
        })
        .collect()
}

#[async_trait]
impl Dialect for Postgres {
    const KIND: Kind = Kind::Postgres;
    const COMMITTERS: usize = 4;
    type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

    async fn fetch(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        rows(bind(sql, args).fetch_all(&self.pool).await.map_err(db)?)
    }

    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let done = bind(sql, args).execute(&self.pool).await.map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn begin(&self) -> StoreResult<Self::Tx> {
        self.pool.begin().await.map_err(db)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Transaction for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn fetch(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        rows(bind(sql, args).fetch_all(&mut **self).await.map_err(db)?)
    }

    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let done = bind(sql, args).execute(&mut **self).await.map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn commit(self) -> StoreResult<()> {
        sqlx::Transaction::commit(self).await.map_err(db)
    }
}
