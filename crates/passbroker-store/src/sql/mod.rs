//! The store, written once for both databases.
//!
//! Every statement and every row mapping lives in this module; a [`Dialect`] (SQLite in
//! [`crate::sqlite`], PostgreSQL in [`crate::postgres`]) only runs statements and supplies the
//! few SQL fragments that really differ (case-insensitive comparison, list parameters, the
//! queue claim's row locking, notifications, table locks, how a write transaction begins).
//! Statements use `$1`-style parameters, which both drivers accept. Values cross the dialect
//! boundary as [`Arg`]s and come back as [`Row`]s of a handful of plain types, so the shared
//! code never names a driver type.

mod admin;
mod auth;
mod capture_store;
mod directory;
pub(crate) use directory::describe_constraint;
mod event_queries;
mod group;
pub(crate) mod keys;
mod lookups;
pub(crate) mod outbox;
mod recovery_store;
pub(crate) mod requests;
mod steps;
mod store_impl;

use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use passbroker_core::time::Millis;
use std::borrow::Cow;
use std::sync::Arc;

/// Which database a dialect speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// What the shared store needs of a database.
#[async_trait]
pub trait Dialect: Clone + Send + Sync + 'static {
    const KIND: Kind;
    /// Group commits in flight at once (see `group.rs`): SQLite has one writer anyway;
    /// PostgreSQL runs transactions side by side, and a group waits on a round trip per
    /// statement, so several committers keep its connections busy.
    const COMMITTERS: usize = 1;
    /// A write transaction (SQLite: `BEGIN IMMEDIATE`, one writer at a time).
    type Tx: Transaction;

    /// Runs a statement and returns its rows.
    async fn fetch(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>>;
    /// Runs a statement and returns how many rows it changed.
    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64>;
    /// Runs a read that may scan many rows (a paged list, a count), where the dialect
    /// would rather not run it on the caller's thread.
    async fn fetch_scan(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        self.fetch(sql, args).await
    }
    /// Runs read-only statements as one snapshot and returns each one's rows. SQLite runs
    /// them in one read transaction on one reader connection: one file lock instead of one
    /// per statement (the lock was the largest part of a status read's cost).
    async fn fetch_together(&self, reads: &[(&str, &[Arg<'_>])]) -> StoreResult<Vec<Vec<Row>>> {
        let mut out = Vec::with_capacity(reads.len());
        for (sql, args) in reads {
            out.push(self.fetch(sql, args).await?);
        }
        Ok(out)
    }
    async fn begin(&self) -> StoreResult<Self::Tx>;
    /// Returns the connections (SQLite first checkpoints its write-ahead log).
    async fn close(&self);
    /// See [`crate::Store::flush_erased`].
    async fn flush_erased(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// A transaction of a [`Dialect`]; dropped without [`Transaction::commit`], it rolls back.
#[async_trait]
pub trait Transaction: Send {
    async fn fetch(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>>;
    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64>;
    async fn commit(self) -> StoreResult<()>;
}

/// The SQL fragments that differ between the dialects.
pub(crate) struct Sql;

impl Sql {
    /// `column = param`, ignoring ASCII case (SQLite's NOCASE; PostgreSQL folds both sides,
    /// matching the `lower(…)` indexes of its schema).
    pub(crate) fn ci_eq(kind: Kind, column: &str, param: &str) -> String {
        match kind {
            Kind::Sqlite => format!("{column} = {param} COLLATE NOCASE"),
            Kind::Postgres => format!("lower({column}) = lower({param})"),
        }
    }

    /// An ORDER BY term that ignores case.
    pub(crate) fn ci_order(kind: Kind, column: &str) -> String {
        match kind {
            Kind::Sqlite => format!("{column} COLLATE NOCASE"),
            Kind::Postgres => format!("lower({column})"),
        }
    }

    /// `column IN (the list bound as param)`; the list is bound with [`Arg::List`].
    pub(crate) fn in_list(kind: Kind, column: &str, param: &str) -> String {
        match kind {
            Kind::Sqlite => format!("{column} IN (SELECT value FROM json_each({param}))"),
            Kind::Postgres => format!("{column} = ANY({param})"),
        }
    }

    /// The same, ignoring case.
    pub(crate) fn ci_in_list(kind: Kind, column: &str, param: &str) -> String {
        match kind {
            Kind::Sqlite => {
                format!("{column} COLLATE NOCASE IN (SELECT value FROM json_each({param}))")
            }
            Kind::Postgres => {
                format!("lower({column}) IN (SELECT lower(v) FROM unnest({param}::text[]) v)")
            }
        }
    }

    /// What follows a queue claim's inner SELECT: PostgreSQL passes over rows another node
    /// is taking; SQLite has one writer at a time anyway.
    pub(crate) fn skip_locked(kind: Kind) -> &'static str {
        match kind {
            Kind::Sqlite => "",
            Kind::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Wraps `statement … RETURNING id` so that PostgreSQL notifies `channel` with each id
    /// when the statement commits (other nodes wake); SQLite runs it as it is.
    pub(crate) fn notifying(kind: Kind, statement: &str, channel: &str) -> String {
        match kind {
            Kind::Sqlite => statement.to_owned(),
            Kind::Postgres => format!(
                "WITH changed AS ({statement}) SELECT pg_notify('{channel}', id) FROM changed"
            ),
        }
    }
}

/// Runs `statement` (ending in `RETURNING id`) with [`Sql::notifying`] inside a
/// transaction; returns how many rows it changed.
pub(crate) async fn tx_exec_notifying<D: Dialect>(
    tx: &mut D::Tx,
    statement: &str,
    channel: &str,
    args: &[Arg<'_>],
) -> StoreResult<u64> {
    let rows = tx
        .fetch(&Sql::notifying(D::KIND, statement, channel), args)
        .await?;
    Ok(rows.len() as u64)
}

/// Takes PostgreSQL table locks (`SHARE ROW EXCLUSIVE`: others still read, writers wait)
/// for the rest of the transaction; SQLite's write transaction already excludes writers.
pub(crate) async fn lock_tables<D: Dialect>(tx: &mut D::Tx, tables: &str) -> StoreResult<()> {
    if D::KIND == Kind::Postgres {
        tx.exec(
            &format!("LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"),
            &[],
        )
        .await?;
    }
    Ok(())
}

/// Runs a write transaction on a task of its own and waits for it: a transaction started
/// here always runs to its commit or rollback, even when the caller (a client hanging up on
/// a handler) is cancelled half-way. (sqlx's SQLite transactions were not drop-safe: a
/// connection went back to the pool mid-transaction and later writes failed.)
pub(crate) async fn detached<T, F>(transaction: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = StoreResult<T>> + Send + 'static,
{
    tokio::spawn(transaction)
        .await
        .map_err(|e| StoreError::Database(format!("the transaction's task failed: {e}")))?
}

/// A statement parameter. Every variant carries an `Option` so that a NULL keeps its type
/// (PostgreSQL wants to know what a NULL is).
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<Cow<'a, str>>),
    Blob(Option<Cow<'a, [u8]>>),
    /// A list of strings (see [`Sql::in_list`]): a JSON array for SQLite, a `text[]` for
    /// PostgreSQL.
    List(Vec<Cow<'a, str>>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<Millis> for Arg<'_> {
    fn from(v: Millis) -> Self {
        Arg::Int(Some(v.0))
    }
}
impl From<Option<Millis>> for Arg<'_> {
    fn from(v: Option<Millis>) -> Self {
        Arg::Int(v.map(|m| m.0))
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(Some(v))
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v.as_str())))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref().map(Cow::Borrowed))
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(Some(Cow::Borrowed(v)))
    }
}
impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Blob(Some(Cow::Borrowed(v.as_slice())))
    }
}
impl From<Vec<u8>> for Arg<'_> {
    fn from(v: Vec<u8>) -> Self {
        Arg::Blob(Some(Cow::Owned(v)))
    }
}
impl<'a> From<&'a Option<Vec<u8>>> for Arg<'a> {
    fn from(v: &'a Option<Vec<u8>>) -> Self {
        Arg::Blob(v.as_deref().map(Cow::Borrowed))
    }
}

impl Arg<'_> {
    /// The same value, owning its data (to move it to another thread).
    pub fn to_owned_arg(&self) -> Arg<'static> {
        match self {
            Arg::Int(v) => Arg::Int(*v),
            Arg::Bool(v) => Arg::Bool(*v),
            Arg::Text(v) => Arg::Text(v.as_ref().map(|t| Cow::Owned(t.to_string()))),
            Arg::Blob(v) => Arg::Blob(v.as_ref().map(|b| Cow::Owned(b.to_vec()))),
            Arg::List(items) => {
                Arg::List(items.iter().map(|t| Cow::Owned(t.to_string())).collect())
            }
        }
    }
}

impl<'a> Arg<'a> {
    /// A list parameter (see [`Sql::in_list`]).
    pub(crate) fn list<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'a, str>>,
    {
        Arg::List(items.into_iter().map(Into::into).collect())
    }
}

/// `args![a, b, …]`: statement parameters, each converted with `Arg::from`.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::sql::Arg::from($a)),*]
    };
}
pub(crate) use args;

/// A column value as the store reads it back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One result row: the columns' names (shared by every row of a result) and values.
#[derive(Debug, Clone)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

impl Row {
    pub fn new(names: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { names, values }
    }

    fn value(&self, column: &str) -> StoreResult<&Value> {
        self.names
            .iter()
            .position(|n| n == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| corrupt(&format!("missing column {column}")))
    }

    fn wrong(column: &str) -> StoreError {
        corrupt(&format!("column {column} has an unexpected type"))
    }

    pub fn opt_str(&self, column: &str) -> StoreResult<Option<&str>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            _ => Err(Self::wrong(column)),
        }
    }

    pub fn str(&self, column: &str) -> StoreResult<&str> {
        self.opt_str(column)?.ok_or_else(|| Self::wrong(column))
    }

    pub fn text(&self, column: &str) -> StoreResult<String> {
        self.str(column).map(str::to_owned)
    }

    pub fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        Ok(self.opt_str(column)?.map(str::to_owned))
    }

    pub fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            _ => Err(Self::wrong(column)),
        }
    }

    pub fn int(&self, column: &str) -> StoreResult<i64> {
        self.opt_int(column)?.ok_or_else(|| Self::wrong(column))
    }

    pub fn millis(&self, column: &str) -> StoreResult<Millis> {
        self.int(column).map(Millis)
    }

    pub fn opt_millis(&self, column: &str) -> StoreResult<Option<Millis>> {
        Ok(self.opt_int(column)?.map(Millis))
    }

    /// A flag: PostgreSQL's BOOLEAN or SQLite's 0/1.
    pub fn bool(&self, column: &str) -> StoreResult<bool> {
        match self.value(column)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            _ => Err(Self::wrong(column)),
        }
    }

    pub fn opt_blob(&self, column: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Blob(b) => Ok(Some(b.clone())),
            _ => Err(Self::wrong(column)),
        }
    }

    pub fn blob(&self, column: &str) -> StoreResult<Vec<u8>> {
        self.opt_blob(column)?.ok_or_else(|| Self::wrong(column))
    }

    /// The first column as a count.
    pub fn count(&self) -> StoreResult<u64> {
        match self.values.first() {
            Some(Value::Int(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            _ => Err(corrupt("count")),
        }
    }
}

/// Parses a stored value, calling a failure corruption.
pub(crate) fn parse<T, E>(r: Result<T, E>, what: &str) -> StoreResult<T> {
    r.map_err(|_| corrupt(what))
}

pub(crate) fn json_list(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|_| corrupt("string list"))
}

pub(crate) fn json_map(text: &str) -> StoreResult<std::collections::BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|_| corrupt("attribute map"))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain maps, lists and derived structs cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The first row, if any.
pub(crate) fn first(rows: Vec<Row>) -> Option<Row> {
    rows.into_iter().next()
}

/// `LIMIT $n OFFSET $n+1` values of a page.
pub(crate) fn page_args(page: crate::Page) -> (i64, i64) {
    (
        page.limit.min(i64::MAX as u64) as i64,
        page.offset.min(i64::MAX as u64) as i64,
    )
}

/// The store: one implementation over a [`Dialect`].
#[derive(Clone)]
pub struct SqlStore<D> {
    pub(crate) d: D,
    group: group::Group,
    /// Notified after this process commits events (wakes the event dispatcher).
    events: Arc<tokio::sync::Notify>,
}

impl<D> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(d: D) -> Self {
        SqlStore {
            d,
            group: group::Group::default(),
            events: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Wakes the event dispatcher after a commit that wrote events.
    pub(crate) fn events_written(&self) {
        self.events.notify_one();
    }
}
