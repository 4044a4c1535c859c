//! Browser sessions of the Password Manager page, and an account's last password change.

use super::db;
use super::requests::task_from_row;
use crate::sqlite::rows::parse;
use crate::{LastChange, StoreResult, WebSession};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId};
use sqlx::{PgPool, Row};

pub(crate) async fn insert(pool: &PgPool, s: &WebSession) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO web_sessions (id_hash, identity_id, created, last_seen, expires)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&s.id_hash)
    .bind(s.identity_id.as_str())
    .bind(s.created.0)
    .bind(s.last_seen.0)
    .bind(s.expires.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn get(pool: &PgPool, id_hash: &str) -> StoreResult<Option<WebSession>> {
    let row = sqlx::query(
        "SELECT id_hash, identity_id, created, last_seen, expires FROM web_sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok(WebSession {
            id_hash: r.get("id_hash"),
            identity_id: parse(IdentityId::parse(r.get("identity_id")), "session identity")?,
            created: Millis(r.get("created")),
            last_seen: Millis(r.get("last_seen")),
            expires: Millis(r.get("expires")),
        })
    })
    .transpose()
}

pub(crate) async fn touch(pool: &PgPool, id_hash: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE web_sessions SET last_seen = $2 WHERE id_hash = $1 AND last_seen < $2")
        .bind(id_hash)
        .bind(now.0)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn delete(pool: &PgPool, id_hash: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn purge(
    pool: &PgPool,
    expired_before: Millis,
    idle_before: Millis,
) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM web_sessions WHERE expires < $1 OR last_seen < $2")
        .bind(expired_before.0)
        .bind(idle_before.0)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}

pub(crate) async fn last_change_of_account(
    pool: &PgPool,
    account_ref: &AccountRef,
) -> StoreResult<Option<LastChange>> {
    let row = sqlx::query(
        "SELECT t.id, t.request_id, t.account_ref, t.source_id, t.state, t.attempts,
                t.next_attempt_at, t.error, t.finished, t.attempt_started, r.created AS requested
         FROM tasks t JOIN requests r ON r.id = t.request_id
         WHERE t.account_ref = $1 ORDER BY r.created DESC, t.id DESC LIMIT 1",
    )
    .bind(account_ref.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok(LastChange {
            task: task_from_row(&r)?,
            requested: Millis(r.get("requested")),
        })
    })
    .transpose()
}
