//! The SQLite dialect's connections: one writer behind an async lock, readers in a pool.

use super::{Durability, BUSY_WAIT};
use crate::sql::{Arg, Dialect, Kind, Row, Transaction, Value};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Prepared statements kept per connection (the store has fewer distinct statements).
const STATEMENT_CACHE: usize = 256;
/// Reader connections kept for reuse; more are opened when many read at once.
const IDLE_READERS: usize = 8;
/// The writer checkpoints the write-ahead log into the database file once it holds this
/// many pages (SQLite's default is 1,000). A hot page written by many commits is copied to
/// the file once per checkpoint, so fewer checkpoints write (and fsync) less; see
/// ARCHITECTURE.md for the measurement.
const WAL_CHECKPOINT_PAGES: u32 = 10_000;
/// The writer's page cache (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: u32 = 16_384;
/// A reader waits this long for a checkpoint or recovery to finish (rare in WAL mode).
const READER_BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// The SQLite dialect: the database file's writer and readers.
#[derive(Clone)]
pub struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Arc<AsyncMutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl Sqlite {
    pub(crate) async fn open(path: &Path, durability: Durability) -> StoreResult<Self> {
        let path = path.to_owned();
        let opened = tokio::task::spawn_blocking(move || -> StoreResult<Sqlite> {
            let writer = open_connection(&path, durability, Duration::ZERO, false)?;
            let reader = open_connection(&path, durability, READER_BUSY_TIMEOUT, true)?;
            Ok(Sqlite {
                inner: Arc::new(Inner {
                    path,
                    writer: Arc::new(AsyncMutex::new(writer)),
                    readers: Mutex::new(vec![reader]),
                    closed: AtomicBool::new(false),
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Database(format!("opening the database failed: {e}")))?;
        opened
    }

    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    fn check_open(&self) -> StoreResult<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        Ok(())
    }

    /// Runs `f` on a reader connection of the pool (opening one if none is idle).
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.check_open()?;
        let idle = self.inner.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match idle {
            Some(c) => c,
            None => open_connection(
                &self.inner.path,
                Durability::Normal,
                READER_BUSY_TIMEOUT,
                true,
            )?,
        };
        let result = f(&conn);
        if let Ok(mut readers) = self.inner.readers.lock() {
            if readers.len() < IDLE_READERS && !self.inner.closed.load(Ordering::Acquire) {
                readers.push(conn);
            }
        }
        result
    }

    /// The writer connection, waited for without holding a thread.
    async fn writer(&self) -> StoreResult<OwnedMutexGuard<Connection>> {
        self.check_open()?;
        Ok(self.inner.writer.clone().lock_owned().await)
    }
}

/// Opens one connection with the store's settings.
fn open_connection(
    path: &Path,
    durability: Durability,
    busy_timeout: Duration,
    read_only: bool,
) -> StoreResult<Connection> {
    // Readers open read-write too (a read-only connection cannot create the WAL's shared
    // memory file when it is missing) and refuse writes with `query_only`.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(error)?;
    // Setting up may wait for another process's lock (this runs on a blocking thread, or
    // briefly for a reader); the connection's own busy timeout is set at the end.
    conn.busy_timeout(BUSY_WAIT).map_err(error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    // secure_delete: deleted and overwritten content (an erased ciphertext) is zeroed, not
    // left in free space.
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA synchronous = {synchronous};"
    ))
    .map_err(error)?;
    if read_only {
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(error)?;
    } else {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(error)?;
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}; PRAGMA cache_size = -{WRITER_CACHE_KIB}"
        ))
        .map_err(error)?;
    }
    conn.busy_timeout(busy_timeout).map_err(error)?;
    Ok(conn)
}

/// Prepares (or takes from the connection's cache) a statement written with `$N`
/// parameters, as SQLite's `?N`.
fn prepare<'c>(conn: &'c Connection, sql: &str) -> StoreResult<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(&numbered_parameters(sql))
        .map_err(error)
}

/// `$N` becomes `?N` outside quoted text. SQLite numbers `$N` parameters by first
/// appearance, and mapping them back needs `sqlite3_bind_parameter_name`, which scans a list:
/// a 3,500-parameter bulk upsert spent 80 % of an identity import there. `?N` is parameter
/// number N, so binding is positional.
pub(crate) fn numbered_parameters(sql: &str) -> std::borrow::Cow<'_, str> {
    let bytes = sql.as_bytes();
    if !bytes.contains(&b'$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    // '$', the quotes and the digits are ASCII, so byte positions are character boundaries.
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<u8> = None;
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push_str(&sql[copied..i]);
                out.push('?');
                copied = i + 1;
            }
            None => {}
        }
    }
    out.push_str(&sql[copied..]);
    std::borrow::Cow::Owned(out)
}

/// Binds `?N` parameters: parameter N takes `args[N - 1]` (NULL past the end).
fn bind(stmt: &mut rusqlite::CachedStatement<'_>, args: &[Arg<'_>]) -> StoreResult<()> {
    for i in 1..=stmt.parameter_count() {
        let value = match args.get(i - 1) {
            None => ToSqlOutput::Borrowed(ValueRef::Null),
            Some(Arg::Int(v)) => v.map_or(ToSqlOutput::Borrowed(ValueRef::Null), |v| {
                ToSqlOutput::Owned(rusqlite::types::Value::Integer(v))
            }),
            Some(Arg::Bool(v)) => v.map_or(ToSqlOutput::Borrowed(ValueRef::Null), |v| {
                ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(v)))
            }),
            Some(Arg::Text(v)) => v
                .as_deref()
                .map_or(ToSqlOutput::Borrowed(ValueRef::Null), |v| {
                    ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes()))
                }),
            Some(Arg::Blob(v)) => v
                .as_deref()
                .map_or(ToSqlOutput::Borrowed(ValueRef::Null), |v| {
                    ToSqlOutput::Borrowed(ValueRef::Blob(v))
                }),
            Some(Arg::List(items)) => ToSqlOutput::Owned(rusqlite::types::Value::Text(
                serde_json::to_string(items).unwrap_or_default(),
            )),
        };
        stmt.raw_bind_parameter(i, value).map_err(error)?;
    }
    Ok(())
}

/// Runs a statement and collects its rows.
fn fetch_on(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
    let stmt = prepare(conn, sql)?;
    fetch_stmt(stmt, args)
}

/// Runs a prepared statement and collects its rows.
fn fetch_stmt(mut stmt: rusqlite::CachedStatement<'_>, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
    bind(&mut stmt, args)?;
    let names: Arc<[String]> = stmt
        .column_names()
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let width = names.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i).map_err(error)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
                    Ok(text) => text.to_owned(),
                    Err(_) => String::from_utf8_lossy(t).into_owned(),
                }),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row::new(names.clone(), values));
    }
    Ok(out)
}

/// Runs `f` in one read transaction on `conn` (one snapshot, one file lock).
fn in_read_transaction<T>(conn: &Connection, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(error)
    };
    run("BEGIN")?;
    let result = f();
    // A read transaction has nothing to keep: ROLLBACK ends it either way.
    run("ROLLBACK")?;
    result
}

/// Runs a statement; returns how many rows it changed.
fn exec_on(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
    let mut stmt = prepare(conn, sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    while rows.next().map_err(error)?.is_some() {}
    drop(rows);
    Ok(conn.changes())
}

/// Runs `attempt` on the writer until it is not refused for another process's write lock,
/// waiting asynchronously in between, for at most [`BUSY_WAIT`]. Gives the writer back.
async fn retry_busy<T>(
    writer: OwnedMutexGuard<Connection>,
    mut attempt: impl FnMut(&Connection) -> StoreResult<T> + Send,
) -> (OwnedMutexGuard<Connection>, StoreResult<T>) {
    let deadline = Instant::now() + BUSY_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let result = attempt(&writer);
        match result {
            Err(StoreError::Busy(m)) => {
                if Instant::now() >= deadline {
                    return (writer, Err(StoreError::Busy(m)));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return (writer, other),
        }
    }
}

#[async_trait]
impl Dialect for Sqlite {
    const KIND: Kind = Kind::Sqlite;
    type Tx = SqliteTx;

    async fn fetch(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        // A statement that only reads runs on a reader connection (prepared once there).
        let on_reader = self.with_reader(|c| {
            let stmt = prepare(c, sql)?;
            if stmt.readonly() {
                fetch_stmt(stmt, args).map(Some)
            } else {
                Ok(None)
            }
        })?;
        if let Some(rows) = on_reader {
            return Ok(rows);
        }
        let writer = self.writer().await?;
        retry_busy(writer, |c| fetch_on(c, sql, args)).await.1
    }

    async fn fetch_together(&self, reads: &[(&str, &[Arg<'_>])]) -> StoreResult<Vec<Vec<Row>>> {
        self.with_reader(|c| {
            in_read_transaction(c, || {
                reads
                    .iter()
                    .map(|(sql, args)| {
                        let stmt = prepare(c, sql)?;
                        if !stmt.readonly() {
                            return Err(StoreError::Database(
                                "fetch_together runs reads only".into(),
                            ));
                        }
                        fetch_stmt(stmt, args)
                    })
                    .collect()
            })
        })
    }

    async fn fetch_scan(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        let (me, sql) = (self.clone(), sql.to_owned());
        let args: Vec<Arg<'static>> = args.iter().map(Arg::to_owned_arg).collect();
        tokio::task::spawn_blocking(move || me.with_reader(|c| fetch_on(c, &sql, &args)))
            .await
            .map_err(|e| StoreError::Database(format!("a read failed: {e}")))?
    }

    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let writer = self.writer().await?;
        retry_busy(writer, |c| exec_on(c, sql, args)).await.1
    }

    async fn begin(&self) -> StoreResult<SqliteTx> {
        let writer = self.writer().await?;
        let (writer, begun) = retry_busy(writer, |c| {
            c.execute_batch("BEGIN IMMEDIATE").map_err(error)
        })
        .await;
        begun?;
        Ok(SqliteTx { conn: Some(writer) })
    }

    async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        if let Ok(mut readers) = self.inner.readers.lock() {
            readers.clear();
        }
        let writer = self.inner.writer.lock().await;
        let _ = writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    async fn flush_erased(&self) -> StoreResult<()> {
        let writer = self.writer().await?;
        // (busy, WAL frames, frames checkpointed): busy means a reader kept the checkpoint
        // from finishing, so the WAL was not emptied and old copies may remain.
        let busy: i64 = writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(error)?;
        if busy != 0 {
            return Err(StoreError::Database(
                "the write-ahead log is busy; it was not emptied".into(),
            ));
        }
        Ok(())
    }
}

/// A write transaction: holds the writer until it commits, or rolls back when dropped.
pub struct SqliteTx {
    conn: Option<OwnedMutexGuard<Connection>>,
}

impl SqliteTx {
    fn conn(&self) -> StoreResult<&Connection> {
        self.conn
            .as_deref()
            .ok_or_else(|| StoreError::Database("the transaction has ended".into()))
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
}

#[async_trait]
impl Transaction for SqliteTx {
    async fn fetch(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        fetch_on(self.conn()?, sql, args)
    }

    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        exec_on(self.conn()?, sql, args)
    }

    async fn commit(mut self) -> StoreResult<()> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Database("the transaction has ended".into()))?;
        match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(error(e))
            }
        }
    }
}

/// SQLite's primary result codes that mean "not now": BUSY, LOCKED, READONLY, IOERR, FULL,
/// CANTOPEN, PROTOCOL.
pub(crate) fn unavailable_code(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14 | 15)
}

/// Maps a rusqlite error into a store error: constraint violations (result code 19) into
/// conflicts, another process's write lock into [`StoreError::Busy`], a database that cannot
/// take the call right now into [`StoreError::Unavailable`].
pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
        let text = msg.clone().unwrap_or_default();
        if f.extended_code & 0xff == 5 {
            return StoreError::Busy(text);
        }
        if unavailable_code(f.extended_code) {
            return StoreError::Unavailable(e.to_string());
        }
        if f.extended_code & 0xff == 19 {
            return StoreError::Conflict(describe_constraint(&text));
        }
    }
    StoreError::Database(e.to_string())
}

/// Turns SQLite's constraint messages (which name the columns) into the words PostgreSQL's
/// dialect gives for the same constraint.
fn describe_constraint(msg: &str) -> String {
    const BY_COLUMNS: [(&str, &str); 6] = [
        ("identities.login_name", "identities_login"),
        ("sources.name", "sources_name"),
        ("accounts.source_id, accounts.native_id", "accounts_native"),
        ("password_policies.name", "password_policies_name"),
        ("sync_groups.name", "sync_groups_name"),
        ("sync_group_sources.source_id", "sync_group_sources_source"),
    ];
    let constraint = BY_COLUMNS
        .iter()
        .find(|(columns, _)| msg.contains(columns))
        .map_or("", |(_, name)| name);
    crate::sql::describe_constraint(constraint, msg.contains("FOREIGN KEY"))
}

#[cfg(test)]
mod tests {
    use super::numbered_parameters;

    #[test]
    fn dollar_parameters_become_numbered_outside_quotes() {
        assert_eq!(
            numbered_parameters("SELECT * FROM t WHERE a = $1 AND b IN ($12, $2)"),
            "SELECT * FROM t WHERE a = ?1 AND b IN (?12, ?2)"
        );
        assert_eq!(
            numbered_parameters("SELECT json_extract(x, '$.a$1') FROM \"$2\" WHERE y = $3"),
            "SELECT json_extract(x, '$.a$1') FROM \"$2\" WHERE y = ?3"
        );
        assert_eq!(
            numbered_parameters("SELECT 'it''s $1', $1"),
            "SELECT 'it''s $1', ?1"
        );
        assert_eq!(numbered_parameters("SELECT 1"), "SELECT 1");
    }
}
