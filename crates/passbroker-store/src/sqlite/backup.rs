//! Online backup and the checks a restore makes, for the SQLite store.
//!
//! A backup is `VACUUM INTO`: one read transaction copies the live content (a consistent
//! snapshot, taken while the server writes) into a new, compact file. Only live rows are
//! copied, so an ended request's erased ciphertext is in no backup, whatever the WAL or the
//! free pages of the source still hold.

use super::sqlx_error as db;
use crate::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::time::Duration;

/// What a backup file holds, as far as a restore needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The newest migration applied to it.
    pub schema_version: i64,
    /// Requests not yet ended (they continue after a restore).
    pub in_progress: i64,
}

/// Writes a consistent copy of the database at `db_path` to `dest` (which must not exist, or
/// be empty) while other connections, a running server's included, keep writing. The
/// database is neither created nor migrated.
pub async fn backup(db_path: &Path, dest: &Path) -> StoreResult<()> {
    let dest = dest
        .to_str()
        .ok_or_else(|| StoreError::Database("the backup path is not UTF-8".into()))?
        .to_owned();
    let mut conn = SqliteConnectOptions::new()
        .filename(db_path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(db)?;
    let result = sqlx::query("VACUUM INTO ?1")
        .bind(dest)
        .execute(&mut conn)
        .await
        .map_err(db);
    let _ = conn.close().await;
    result.map(|_| ())
}

/// Opens `path` read-only and checks it is a whole SQLite database with a passbroker schema.
pub async fn inspect(path: &Path) -> StoreResult<BackupInfo> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .map_err(db)?;
    let result = async {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        if check != "ok" {
            return Err(StoreError::Database(format!(
                "the file is damaged (integrity check: {check})"
            )));
        }
        let schema_version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&mut conn)
                .await
                .map_err(|_| {
                    StoreError::Database("the file is not a passbroker database".into())
                })?;
        let in_progress: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM requests WHERE state = 'IN_PROGRESS'")
                .fetch_one(&mut conn)
                .await
                .map_err(|_| {
                    StoreError::Database("the file is not a passbroker database".into())
                })?;
        Ok(BackupInfo {
            schema_version: schema_version.unwrap_or(0),
            in_progress,
        })
    }
    .await;
    let _ = conn.close().await;
    result
}

/// Whether any other connection (a running server, an admin command) has the database at
/// `path` open: an exclusive lock cannot be taken then. A missing file is not in use.
pub async fn in_use(path: &Path) -> StoreResult<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let connected = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(Duration::ZERO)
        .connect()
        .await;
    let mut conn = match connected.map_err(db) {
        Ok(c) => c,
        Err(StoreError::Unavailable(_)) => return Ok(true),
        Err(e) => return Err(e),
    };
    let taken = sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await;
    let busy = match taken {
        Ok(_) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
            false
        }
        Err(e) => match db(e) {
            StoreError::Unavailable(_) => true,
            other => return Err(other),
        },
    };
    let _ = conn.close().await;
    Ok(busy)
}
