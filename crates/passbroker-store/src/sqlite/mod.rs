//! The SQLite dialect: one file in the data dir, WAL mode, foreign keys on, migrations
//! embedded in the binary and run at open.
//!
//! Statements run on the calling task's own thread, through rusqlite: a read takes a reader
//! connection from a small pool, a write takes the one writer connection (an async lock, so a
//! waiting writer holds no thread). SQLite answers an indexed read or a small write from the
//! page cache in microseconds, less than a hand-off to another thread would cost; reads that
//! may scan (paged lists and their counts) go to a blocking thread instead
//! ([`Dialect::fetch_scan`]). Another process holding the write lock (an admin command) is
//! waited for without holding a thread: the writer's busy timeout is zero and the wait is an
//! async back-off, up to [`BUSY_WAIT`].

pub mod backup;
mod conn;

pub use conn::Sqlite;

use crate::sql::SqlStore;
use crate::{StoreError, StoreResult};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a write waits for another process's write lock before the store answers
/// "unavailable" (as SQLite's busy timeout did).
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// How hard SQLite syncs to disk. `Normal` (the default) survives a crash of the process;
/// `Full` also survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Normal,
    Full,
}

/// The store on SQLite.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path, durability: Durability) -> StoreResult<Self> {
        migrate(path).await?;
        let dialect = Sqlite::open(path, durability).await?;
        Ok(SqlStore::new(dialect))
    }

    /// Checkpoints the WAL into the main file and closes the connections.
    pub async fn close(&self) {
        crate::sql::Dialect::close(&self.d).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.d.path()
    }
}

/// Runs pending migrations (with sqlx's migrator, whose `_sqlx_migrations` table existing
/// databases carry); refuses a database that has migrations this binary lacks.
async fn migrate(path: &Path) -> StoreResult<()> {
    let pool = sqlx_pool(path, true).await?;
    let result = MIGRATOR.run(&pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaTooNew(format!(
            "it has migration {v}, this binary knows up to {}",
            latest_version()
        )),
        other => StoreError::Database(other.to_string()),
    });
    pool.close().await;
    result
}

/// A sqlx pool on the file, for the migrator and the SQLite → PostgreSQL copy.
pub(crate) async fn sqlx_pool(path: &Path, create: bool) -> StoreResult<sqlx::SqlitePool> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(BUSY_WAIT);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(sqlx_error)
}

/// The newest schema version this binary carries.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Maps a sqlx error (migrations, the copy) into a store error.
pub(crate) fn sqlx_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d)
            if d.code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(conn::unavailable_code) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Database(other.to_string()),
    }
}
