//! The embedded SQLite store: one file in the data dir, WAL mode, foreign keys on,
//! migrations embedded in the binary and run at open.

mod admin;
mod audit;
mod auth;
pub(crate) mod directory;
mod keys;
mod recovery;
mod requests;
pub(crate) mod rows;
mod sessions;
mod store_impl;

use crate::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How hard SQLite syncs to disk. `Normal` (the default) survives a crash of the process;
/// `Full` also survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Normal,
    Full,
}

#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
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
        Self::open_with(options).await
    }

    /// A private in-memory database, for tests.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(true)
            // Deleted and overwritten content (an erased ciphertext) is zeroed, not left in
            // free space.
            .pragma("secure_delete", "ON");
        // One connection: every connection to :memory: would be a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn open_with(options: SqliteConnectOptions) -> StoreResult<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            // No ping before each hand-out (sqlx's default): it is a round trip to the
            // connection's thread per statement. The ping also used to let a rollback queued
            // by a dropped transaction run before the connection was reused; transactions now
            // run on tasks of their own (`detached`) and are never dropped half-way.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs pending migrations; refuses a database that has migrations this binary lacks.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaTooNew(format!(
                "it has migration {v}, this binary knows up to {}",
                latest_version()
            )),
            other => StoreError::Database(other.to_string()),
        })
    }

    /// Checkpoints the WAL into the main file and closes the pool.
    pub async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }
}

/// Runs a write transaction on a task of its own and waits for it. sqlx's SQLite transactions
/// are not drop-safe: when a caller was cancelled between `BEGIN` and `COMMIT` (a client
/// hanging up on a handler), the connection went back to the pool mid-transaction and later
/// writes failed ("attempted to call begin_with at non-zero transaction depth", then `database
/// is locked`). A transaction started here always runs to its commit or rollback.
pub(crate) async fn detached<T, F>(transaction: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = StoreResult<T>> + Send + 'static,
{
    tokio::spawn(transaction)
        .await
        .map_err(|e| StoreError::Database(format!("the transaction's task failed: {e}")))?
}

/// The newest schema version this binary carries.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Maps a sqlx error into a store error, turning constraint violations into conflicts and a
/// database that cannot take the call right now into [`StoreError::Unavailable`].
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if unavailable(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    if let sqlx::Error::Database(ref d) = e {
        let msg = d.message().to_owned();
        if msg.contains("UNIQUE") || msg.contains("FOREIGN KEY") || msg.contains("CHECK") {
            return StoreError::Conflict(describe_constraint(&msg));
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

/// Turns SQLite's constraint messages into words an API caller can act on.
fn describe_constraint(msg: &str) -> String {
    if msg.contains("identities.login_name") {
        "an identity with this login name already exists".into()
    } else if msg.contains("sources.name") {
        "a source with this name already exists".into()
    } else if msg.contains("accounts.source_id, accounts.native_id") {
        "this source already has an account with this accountId".into()
    } else if msg.contains("password_policies.name") {
        "a password policy with this name already exists".into()
    } else if msg.contains("sync_groups.name") {
        "a password sync group with this name already exists".into()
    } else if msg.contains("sync_group_sources.source_id") {
        "a source belongs to at most one password sync group".into()
    } else if msg.contains("FOREIGN KEY") {
        "it refers to something that does not exist, or something still refers to it".into()
    } else {
        "a uniqueness rule was broken".into()
    }
}
