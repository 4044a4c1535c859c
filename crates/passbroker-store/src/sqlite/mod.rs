//! The SQLite dialect: one file in the data dir, WAL mode, foreign keys on, migrations
//! embedded in the binary and run at open. Write transactions begin `IMMEDIATE` (one writer
//! at a time, taken up front rather than on the first write).

use crate::sql::{Arg, Dialect, Kind, Row, SqlStore, Transaction, Value};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Column, Row as _, SqlitePool, TypeInfo, ValueRef};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How hard SQLite syncs to disk. `Normal` (the default) survives a crash of the process;
/// `Full` also survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Normal,
    Full,
}

/// The SQLite dialect: a pool of connections to one database file.
#[derive(Clone)]
pub struct Sqlite {
    pub(crate) pool: SqlitePool,
}

/// The store on SQLite.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path, durability: Durability) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            // Deleted and overwritten content (an erased ciphertext) is zeroed, not left in
            // free space.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            // No ping before each hand-out (sqlx's default): it is a round trip to the
            // connection's thread per statement. Transactions run on tasks of their own
            // (`sql::detached`) and are never dropped half-way.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db)?;
        Self::migrated(pool).await
    }

    /// A private in-memory database, for tests.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(true)
            .pragma("secure_delete", "ON");
        // One connection: every connection to :memory: would be a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db)?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> StoreResult<Self> {
        let store = SqlStore::new(Sqlite { pool });
        store.migrate().await?;
        Ok(store)
    }

    /// Runs pending migrations; refuses a database that has migrations this binary lacks.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.d.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaTooNew(format!(
                "it has migration {v}, this binary knows up to {}",
                latest_version()
            )),
            other => StoreError::Database(other.to_string()),
        })
    }

    /// Checkpoints the WAL into the main file and closes the pool.
    pub async fn close(&self) {
        self.d.close().await
    }
}

/// The newest schema version this binary carries.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>>;

fn bind<'q>(sql: &'q str, args: &'q [Arg<'_>]) -> Query<'q> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Bool(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_deref()),
            Arg::Blob(v) => q.bind(v.as_deref()),
            Arg::List(items) => q.bind(serde_json::to_string(items).unwrap_or_default()),
        };
    }
    q
}

/// Rows in the store's plain values, by each value's own storage class.
fn rows(raw: Vec<SqliteRow>) -> StoreResult<Vec<Row>> {
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
                    Ok(match v.type_info().name() {
                        "INTEGER" | "BOOLEAN" | "INT8" => {
                            Value::Int(r.try_get_unchecked::<i64, _>(i).map_err(db)?)
                        }
                        "REAL" => Value::Real(r.try_get_unchecked::<f64, _>(i).map_err(db)?),
                        "BLOB" => Value::Blob(r.try_get_unchecked::<Vec<u8>, _>(i).map_err(db)?),
                        _ => Value::Text(r.try_get_unchecked::<String, _>(i).map_err(db)?),
                    })
                })
                .collect::<StoreResult<Vec<Value>>>()?;
            Ok(Row::new(names.clone(), values))
        })
        .collect()
}

#[async_trait]
impl Dialect for Sqlite {
    const KIND: Kind = Kind::Sqlite;
    type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

    async fn fetch(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        rows(bind(sql, args).fetch_all(&self.pool).await.map_err(db)?)
    }

    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let done = bind(sql, args).execute(&self.pool).await.map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn begin(&self) -> StoreResult<Self::Tx> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }

    async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }

    async fn flush_erased(&self) -> StoreResult<()> {
        // (busy, WAL frames, frames checkpointed): busy means a reader kept the checkpoint
        // from finishing, so the WAL was not emptied and old copies may remain.
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        if busy != 0 {
            return Err(StoreError::Database(
                "the write-ahead log is busy; it was not emptied".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Transaction for sqlx::Transaction<'static, sqlx::Sqlite> {
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

/// Maps a sqlx error into a store error: constraint violations (by SQLite's extended result
/// code) into conflicts, a database that cannot take the call right now into
/// [`StoreError::Unavailable`].
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if unavailable(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    if let sqlx::Error::Database(ref d) = e {
        // SQLITE_CONSTRAINT (19) and its extended codes.
        let constraint = d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 19);
        if constraint {
            return StoreError::Conflict(describe_constraint(d.message()));
        }
    }
    StoreError::Database(e.to_string())
}

/// Whether the error says the database file cannot be used right now, by SQLite's result
/// code (the low byte of the extended code): BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN,
/// PROTOCOL; or the pool could not hand out a connection.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14 | 15)),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Turns SQLite's constraint messages (which name the columns) into the words PostgreSQL's
/// dialect gives for the same constraint.
fn describe_constraint(msg: &str) -> String {
    let constraint = if msg.contains("identities.login_name") {
        "identities_login"
    } else if msg.contains("sources.name") {
        "sources_name"
    } else if msg.contains("accounts.source_id, accounts.native_id") {
        "accounts_native"
    } else if msg.contains("password_policies.name") {
        "password_policies_name"
    } else if msg.contains("sync_groups.name") {
        "sync_groups_name"
    } else if msg.contains("sync_group_sources.source_id") {
        "sync_group_sources_source"
    } else {
        ""
    };
    crate::sql::describe_constraint(constraint, msg.contains("FOREIGN KEY"))
}
