//! Password-change requests, their tasks, and the durable queue built on them.
//!
//! Every node's workers claim from the same table: `FOR UPDATE SKIP LOCKED` lets concurrent
//! claimers pass over a row another is taking, and the lease (`lease_until`) hands a dead
//! node's request to the next claimer once it runs out.

use super::db;
use crate::sqlite::rows::{corrupt, json_list, parse, to_json};
use crate::{CreateOutcome, StoreResult};
use passbroker_core::request::{
    Actor, Encryption, PasswordChangeRequest, RequestState, TargetTask, TaskState,
};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, PublicKeyId, RequestId, SourceId, TaskId};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

pub(crate) fn request_from_row(r: &PgRow) -> StoreResult<PasswordChangeRequest> {
    let state: String = r.get("state");
    let encryption: String = r.get("encryption");
    let requested_by: String = r.get("requested_by");
    Ok(PasswordChangeRequest {
        id: parse(RequestId::parse(r.get("id")), "request id")?,
        identity_id: parse(IdentityId::parse(r.get("identity_id")), "identity id")?,
        requested_by: Actor::from_text(&requested_by).ok_or_else(|| corrupt("requested_by"))?,
        source_id: parse(SourceId::parse(r.get("source_id")), "source id")?,
        account_ref: parse(AccountRef::parse(r.get("account_ref")), "account ref")?,
        public_key_id: parse(PublicKeyId::parse(r.get("public_key_id")), "public key id")?,
        encryption: Encryption::parse(&encryption).ok_or_else(|| corrupt("encryption"))?,
        ciphertext: r.get("ciphertext"),
        state: RequestState::parse(&state).ok_or_else(|| corrupt("request state"))?,
        errors: json_list(r.get("errors"))?,
        validated: r.get("validated"),
        created: Millis(r.get("created")),
        deadline: Millis(r.get("deadline")),
        finished: r.get::<Option<i64>, _>("finished").map(Millis),
        next_attempt_at: Millis(r.get("next_attempt_at")),
        idempotency_key: r.get("idempotency_key"),
    })
}

pub(crate) fn task_from_row(r: &PgRow) -> StoreResult<TargetTask> {
    let state: String = r.get("state");
    let attempts: i64 = r.get("attempts");
    Ok(TargetTask {
        id: parse(TaskId::parse(r.get("id")), "task id")?,
        request_id: parse(RequestId::parse(r.get("request_id")), "request id")?,
        account_ref: parse(AccountRef::parse(r.get("account_ref")), "account ref")?,
        source_id: parse(SourceId::parse(r.get("source_id")), "source id")?,
        state: TaskState::parse(&state).ok_or_else(|| corrupt("task state"))?,
        attempts: u32::try_from(attempts).map_err(|_| corrupt("attempts"))?,
        next_attempt_at: Millis(r.get("next_attempt_at")),
        error: r.get("error"),
        finished: r.get::<Option<i64>, _>("finished").map(Millis),
        attempt_started: r.get::<Option<i64>, _>("attempt_started").map(Millis),
    })
}

pub(crate) async fn create_request(
    pool: &PgPool,
    req: &PasswordChangeRequest,
    tasks: &[TargetTask],
    idempotency_since: Millis,
) -> StoreResult<CreateOutcome> {
    let mut tx = pool.begin().await.map_err(db)?;
    if let Some(key) = &req.idempotency_key {
        // Two nodes given the same key at once take turns here; the second then sees the
        // first's committed request (READ COMMITTED: each statement sees what committed
        // before it started). The unique index stays the backstop.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7243))")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let existing: Option<(String, i64)> =
            sqlx::query_as("SELECT id, created FROM requests WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if let Some((id, created)) = existing {
            if created >= idempotency_since.0 {
                return Ok(CreateOutcome::Existing(parse(
                    RequestId::parse(&id),
                    "request id",
                )?));
            }
            // Outside the window the old request keeps its history but gives up the key.
            sqlx::query("UPDATE requests SET idempotency_key = NULL WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
    }
    // The notification goes out when the transaction commits: idle workers on every node wake.
    sqlx::query(
        "WITH created AS (
           INSERT INTO requests (id, identity_id, requested_by, source_id, account_ref, public_key_id, encryption,
             ciphertext, state, errors, validated, created, deadline, finished, next_attempt_at, idempotency_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           RETURNING id)
         SELECT pg_notify('passbroker_queued', id) FROM created",
    )
    .bind(req.id.as_str())
    .bind(req.identity_id.as_str())
    .bind(req.requested_by.to_text())
    .bind(req.source_id.as_str())
    .bind(req.account_ref.as_str())
    .bind(req.public_key_id.as_str())
    .bind(req.encryption.as_str())
    .bind(&req.ciphertext)
    .bind(req.state.as_str())
    .bind(to_json(&req.errors))
    .bind(req.validated)
    .bind(req.created.0)
    .bind(req.deadline.0)
    .bind(req.finished.map(|m| m.0))
    .bind(req.next_attempt_at.0)
    .bind(&req.idempotency_key)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if !tasks.is_empty() {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new("INSERT INTO tasks (id, request_id, account_ref, source_id, state, attempts, next_attempt_at, error, finished, position, attempt_started) ");
        qb.push_values(tasks.iter().enumerate(), |mut b, (position, t)| {
            b.push_bind(t.id.as_str())
                .push_bind(t.request_id.as_str())
                .push_bind(t.account_ref.as_str())
                .push_bind(t.source_id.as_str())
                .push_bind(t.state.as_str())
                .push_bind(i64::from(t.attempts))
                .push_bind(t.next_attempt_at.0)
                .push_bind(&t.error)
                .push_bind(t.finished.map(|m| m.0))
                .push_bind(position as i64)
                .push_bind(t.attempt_started.map(|m| m.0));
        });
        qb.build().execute(&mut *tx).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(CreateOutcome::Created)
}

pub(crate) async fn claim(
    pool: &PgPool,
    owner: &str,
    now: Millis,
    lease_ms: i64,
) -> StoreResult<Option<PasswordChangeRequest>> {
    // One statement picks and leases. SKIP LOCKED passes over a row another node is taking
    // right now; a row it already took fails the lease test on re-check and is skipped too.
    let row = sqlx::query(
        "UPDATE requests SET lease_owner = $1, lease_until = $2
         WHERE id = (SELECT id FROM requests
                     WHERE state = 'IN_PROGRESS' AND next_attempt_at <= $3 AND lease_until <= $3
                     ORDER BY next_attempt_at, created LIMIT 1
                     FOR UPDATE SKIP LOCKED)
           AND lease_until <= $3
         RETURNING *",
    )
    .bind(owner)
    .bind(now.0.saturating_add(lease_ms))
    .bind(now.0)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.as_ref().map(request_from_row).transpose()
}

pub(crate) async fn update_task(pool: &PgPool, t: &TargetTask) -> StoreResult<()> {
    sqlx::query("UPDATE tasks SET state = $2, attempts = $3, next_attempt_at = $4, error = $5, finished = $6, attempt_started = $7 WHERE id = $1")
        .bind(t.id.as_str())
        .bind(t.state.as_str())
        .bind(i64::from(t.attempts))
        .bind(t.next_attempt_at.0)
        .bind(&t.error)
        .bind(t.finished.map(|m| m.0))
        .bind(t.attempt_started.map(|m| m.0))
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn start_attempt(pool: &PgPool, t: &TargetTask, owner: &str) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET attempts = $2, attempt_started = $3
         WHERE id = $1 AND EXISTS (SELECT 1 FROM requests r WHERE r.id = tasks.request_id
                                     AND r.lease_owner = $4 AND r.state = 'IN_PROGRESS')",
    )
    .bind(t.id.as_str())
    .bind(i64::from(t.attempts))
    .bind(t.attempt_started.map(|m| m.0))
    .bind(owner)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn finish(
    pool: &PgPool,
    id: &RequestId,
    state: RequestState,
    errors: &[String],
    now: Millis,
) -> StoreResult<()> {
    // The ciphertext is erased in the same statement that ends the request, which also tells
    // every node (a `Prefer: wait` may be waiting on another one).
    sqlx::query(
        "WITH ended AS (
           UPDATE requests SET state = $2, errors = $3, finished = $4, ciphertext = NULL, lease_owner = NULL, lease_until = 0
           WHERE id = $1
           RETURNING id)
         SELECT pg_notify('passbroker_finished', id) FROM ended",
    )
    .bind(id.as_str())
    .bind(state.as_str())
    .bind(to_json(&errors))
    .bind(now.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}
