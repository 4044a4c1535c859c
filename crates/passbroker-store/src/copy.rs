//! Copies a whole tenant from SQLite to PostgreSQL (`passbroker migrate --from --to`).
//!
//! Table by table and column by column: the two schemas have the same tables and columns,
//! only the types differ (INTEGER flags become BOOLEAN, BLOB becomes BYTEA). Everything is
//! read from one SQLite snapshot and written in one PostgreSQL transaction, which commits
//! only when every table's row count on PostgreSQL equals the count on SQLite. Values are
//! copied as stored: wrapped secrets stay wrapped (the PostgreSQL nodes need the same master
//! key), requests in flight keep their ciphertexts, tasks and leases.
//!
//! This is an operator's tool, kept apart from the per-request code paths.

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{StoreError, StoreResult};
use sqlx::{Postgres, QueryBuilder, Row};

/// Tables in an order that satisfies the foreign keys. Tables not named here are copied
/// after these, in name order.
const ORDER: &[&str] = &[
    "meta",
    "identities",
    "password_policies",
    "sources",
    "accounts",
    "sync_groups",
    "sync_group_sources",
    "api_clients",
    "personal_access_tokens",
    "rsa_keys",
    "signing_keys",
    "requests",
    "tasks",
    "audit_events",
    "builtin_credentials",
    "password_history",
    "oauth_codes",
    "refresh_tokens",
    "org_config",
    "password_dictionary",
    "digit_tokens",
    "custom_password_instructions",
    "web_sessions",
    "event_outbox",
    "event_subscriptions",
    "event_dead_letters",
];

/// PostgreSQL tables that hold node-shared scratch state, not tenant data.
const NOT_COPIED: &[&str] = &["_sqlx_migrations", "rate_limit_windows"];

/// Rows per INSERT.
const BATCH: i64 = 500;

/// One table's row counts after a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub source: u64,
    pub target: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Bool,
    Bytes,
}

enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

fn kind_of(pg_type: &str) -> Option<Kind> {
    match pg_type {
        "text" | "character varying" => Some(Kind::Text),
        "bigint" | "integer" | "smallint" => Some(Kind::Int),
        "boolean" => Some(Kind::Bool),
        "bytea" => Some(Kind::Bytes),
        _ => None,
    }
}

fn pg(e: sqlx::Error) -> StoreError {
    crate::postgres::db(e)
}

fn lite(e: sqlx::Error) -> StoreError {
    crate::sqlite::sqlx_error(e)
}

/// Copies everything in `from` into `to`, which must be empty. Returns the row counts per
/// table (equal on both sides, or nothing is committed).
pub async fn sqlite_to_postgres(
    from: &SqliteStore,
    to: &PostgresStore,
) -> StoreResult<Vec<TableCount>> {
    let source_pool = crate::sqlite::sqlx_pool(from.path(), false).await?;
    let mut src = source_pool.begin().await.map_err(lite)?;
    let mut dst = to.d.pool.begin().await.map_err(pg)?;

    let sqlite_tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *src)
    .await
    .map_err(lite)?;
    let pg_tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .fetch_all(&mut *dst)
    .await
    .map_err(pg)?;
    for t in &sqlite_tables {
        if !pg_tables.contains(t) {
            return Err(StoreError::Conflict(format!("table {t} has no PostgreSQL counterpart; is the target migrated by this passbroker version?")));
        }
    }
    let mut tables: Vec<String> = ORDER
        .iter()
        .filter(|t| sqlite_tables.iter().any(|s| s == *t))
        .map(|t| (*t).to_owned())
        .collect();
    tables.extend(
        sqlite_tables
            .iter()
            .filter(|t| !ORDER.contains(&t.as_str()))
            .cloned(),
    );

    // The target must be empty (a fresh, migrated database).
    for t in pg_tables
        .iter()
        .filter(|t| !NOT_COPIED.contains(&t.as_str()))
    {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(t)))
            .fetch_one(&mut *dst)
            .await
            .map_err(pg)?;
        if n > 0 {
            return Err(StoreError::Conflict(format!("the target database is not empty (table {t} has {n} rows); migrate into a new database")));
        }
    }

    let mut counts = Vec::with_capacity(tables.len());
    for table in &tables {
        let columns = columns_of(&mut src, &mut dst, table).await?;
        let copied = copy_table(&mut src, &mut dst, table, &columns).await?;
        let source: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(table)))
            .fetch_one(&mut *src)
            .await
            .map_err(lite)?;
        let target: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(table)))
            .fetch_one(&mut *dst)
            .await
            .map_err(pg)?;
        let count = TableCount {
            table: table.clone(),
            source: source as u64,
            target: target as u64,
        };
        if count.source != count.target || copied != count.source {
            return Err(StoreError::Database(format!(
                "table {table}: {} rows on SQLite, {copied} copied, {} on PostgreSQL; nothing was committed",
                count.source, count.target
            )));
        }
        counts.push(count);
    }
    advance_identities(&mut dst, &tables).await?;
    dst.commit().await.map_err(pg)?;
    src.rollback().await.map_err(lite)?;
    Ok(counts)
}

/// The columns to copy with their PostgreSQL kind; every SQLite column must exist on the
/// target.
async fn columns_of(
    src: &mut sqlx::SqliteConnection,
    dst: &mut sqlx::PgConnection,
    table: &str,
) -> StoreResult<Vec<(String, Kind)>> {
    let sqlite_cols: Vec<String> = sqlx::query(&format!("PRAGMA table_info({})", quote(table)))
        .fetch_all(&mut *src)
        .await
        .map_err(lite)?
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
    let pg_cols: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *dst)
    .await
    .map_err(pg)?;
    let mut out = Vec::with_capacity(sqlite_cols.len());
    for c in sqlite_cols {
        let Some((_, ty)) = pg_cols.iter().find(|(name, _)| *name == c) else {
            return Err(StoreError::Conflict(format!(
                "column {table}.{c} has no PostgreSQL counterpart"
            )));
        };
        let kind = kind_of(ty).ok_or_else(|| {
            StoreError::Conflict(format!(
                "column {table}.{c} has PostgreSQL type {ty}, which the copy does not handle"
            ))
        })?;
        out.push((c, kind));
    }
    Ok(out)
}

/// Copies one table in rowid order, in batches; returns how many rows.
async fn copy_table(
    src: &mut sqlx::SqliteConnection,
    dst: &mut sqlx::PgConnection,
    table: &str,
    columns: &[(String, Kind)],
) -> StoreResult<u64> {
    let list = columns
        .iter()
        .map(|(c, _)| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!(
        "SELECT rowid AS pb_rowid, {list} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        quote(table)
    );
    let mut after = i64::MIN;
    let mut copied = 0u64;
    loop {
        let rows = sqlx::query(&select)
            .bind(after)
            .bind(BATCH)
            .fetch_all(&mut *src)
            .await
            .map_err(lite)?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("pb_rowid").map_err(lite)?;
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut values = Vec::with_capacity(columns.len());
            for (name, kind) in columns {
                let name = name.as_str();
                values.push(match kind {
                    Kind::Text => Value::Text(r.try_get(name).map_err(lite)?),
                    Kind::Int => Value::Int(r.try_get(name).map_err(lite)?),
                    Kind::Bool => Value::Bool(
                        r.try_get::<Option<i64>, _>(name)
                            .map_err(lite)?
                            .map(|v| v != 0),
                    ),
                    Kind::Bytes => Value::Bytes(r.try_get(name).map_err(lite)?),
                });
            }
            batch.push(values);
        }
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("INSERT INTO {} ({list}) ", quote(table)));
        qb.push_values(batch, |mut b, values| {
            for v in values {
                match v {
                    Value::Text(x) => b.push_bind(x),
                    Value::Int(x) => b.push_bind(x),
                    Value::Bool(x) => b.push_bind(x),
                    Value::Bytes(x) => b.push_bind(x),
                };
            }
        });
        let done = qb.build().execute(&mut *dst).await.map_err(pg)?;
        copied += done.rows_affected();
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    Ok(copied)
}

/// Moves identity sequences (audit and history `seq`) past the copied values.
async fn advance_identities(dst: &mut sqlx::PgConnection, tables: &[String]) -> StoreResult<()> {
    let identity_cols: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut *dst)
    .await
    .map_err(pg)?;
    for (table, column) in identity_cols.iter().filter(|(t, _)| tables.contains(t)) {
        let (t, c) = (quote(table), quote(column));
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max({c}) FROM {t}), 0) + 1, false)"
        ))
        .bind(table)
        .bind(column)
        .execute(&mut *dst)
        .await
        .map_err(pg)?;
    }
    Ok(())
}

/// Quotes an identifier (names come from the schemas, but quoting costs nothing).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
