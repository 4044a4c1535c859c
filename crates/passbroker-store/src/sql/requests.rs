//! Password-change requests, their tasks, and the durable queue built on them.
//!
//! Every node's workers claim from the same table: one statement picks and leases a request
//! (on PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass over a row another is
//! taking), and the lease (`lease_until`) hands a dead worker's request to the next claimer
//! once it runs out.

use super::{
    args, corrupt, first, json_list, parse, to_json, tx_exec_notifying, Arg, Dialect, Kind, Row,
    Transaction,
};
use crate::{CreateOutcome, LastChange, StoreResult};
use passbroker_core::request::{
    Actor, Encryption, PasswordChangeRequest, RequestState, TargetTask, TaskState,
};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, PublicKeyId, RequestId, SourceId, TaskId};

/// Notified with a request's id when it is queued (idle workers on every node wake).
pub(crate) const QUEUED: &str = "passbroker_queued";
/// Notified with a request's id when it ends (a `Prefer: wait` on any node returns).
pub(crate) const FINISHED: &str = "passbroker_finished";

pub(crate) fn request_from_row(r: &Row) -> StoreResult<PasswordChangeRequest> {
    Ok(PasswordChangeRequest {
        id: parse(RequestId::parse(r.str("id")?), "request id")?,
        identity_id: parse(IdentityId::parse(r.str("identity_id")?), "identity id")?,
        requested_by: Actor::from_text(r.str("requested_by")?)
            .ok_or_else(|| corrupt("requested_by"))?,
        source_id: parse(SourceId::parse(r.str("source_id")?), "source id")?,
        account_ref: parse(AccountRef::parse(r.str("account_ref")?), "account ref")?,
        public_key_id: parse(PublicKeyId::parse(r.str("public_key_id")?), "public key id")?,
        encryption: Encryption::parse(r.str("encryption")?).ok_or_else(|| corrupt("encryption"))?,
        ciphertext: r.opt_blob("ciphertext")?,
        state: RequestState::parse(r.str("state")?).ok_or_else(|| corrupt("request state"))?,
        errors: json_list(r.str("errors")?)?,
        validated: r.bool("validated")?,
        created: r.millis("created")?,
        deadline: r.millis("deadline")?,
        finished: r.opt_millis("finished")?,
        next_attempt_at: r.millis("next_attempt_at")?,
        idempotency_key: r.opt_text("idempotency_key")?,
    })
}

pub(crate) fn task_from_row(r: &Row) -> StoreResult<TargetTask> {
    Ok(TargetTask {
        id: parse(TaskId::parse(r.str("id")?), "task id")?,
        request_id: parse(RequestId::parse(r.str("request_id")?), "request id")?,
        account_ref: parse(AccountRef::parse(r.str("account_ref")?), "account ref")?,
        source_id: parse(SourceId::parse(r.str("source_id")?), "source id")?,
        state: TaskState::parse(r.str("state")?).ok_or_else(|| corrupt("task state"))?,
        attempts: u32::try_from(r.int("attempts")?).map_err(|_| corrupt("attempts"))?,
        next_attempt_at: r.millis("next_attempt_at")?,
        error: r.opt_text("error")?,
        finished: r.opt_millis("finished")?,
        attempt_started: r.opt_millis("attempt_started")?,
    })
}

pub(crate) async fn get_request<D: Dialect>(
    d: &D,
    id: &RequestId,
) -> StoreResult<Option<PasswordChangeRequest>> {
    let rows = d
        .fetch("SELECT * FROM requests WHERE id = $1", args![id.as_str()])
        .await?;
    first(rows).as_ref().map(request_from_row).transpose()
}

pub(crate) async fn tasks_of_request<D: Dialect>(
    d: &D,
    id: &RequestId,
) -> StoreResult<Vec<TargetTask>> {
    let rows = d
        .fetch(
            "SELECT * FROM tasks WHERE request_id = $1 ORDER BY position",
            args![id.as_str()],
        )
        .await?;
    rows.iter().map(task_from_row).collect()
}

/// A request and its tasks, read as one snapshot.
pub(crate) async fn request_with_tasks<D: Dialect>(
    d: &D,
    id: &RequestId,
) -> StoreResult<Option<(PasswordChangeRequest, Vec<TargetTask>)>> {
    let a = args![id.as_str()];
    let mut rows = d
        .fetch_together(&[
            ("SELECT * FROM requests WHERE id = $1", a),
            (
                "SELECT * FROM tasks WHERE request_id = $1 ORDER BY position",
                a,
            ),
        ])
        .await?
        .into_iter();
    let (Some(request), Some(tasks)) = (rows.next(), rows.next()) else {
        return Err(super::corrupt("a snapshot read returned too few results"));
    };
    let Some(request) = first(request).as_ref().map(request_from_row).transpose()? else {
        return Ok(None);
    };
    let tasks = tasks
        .iter()
        .map(task_from_row)
        .collect::<StoreResult<_>>()?;
    Ok(Some((request, tasks)))
}

/// Inserts a request and its tasks in `tx`, honouring the idempotency key (see
/// [`crate::Store::create_request`]).
pub(crate) async fn insert_request<D: Dialect>(
    tx: &mut D::Tx,
    req: &PasswordChangeRequest,
    tasks: &[TargetTask],
    idempotency_since: Millis,
) -> StoreResult<CreateOutcome> {
    if let Some(key) = &req.idempotency_key {
        if D::KIND == Kind::Postgres {
            // Two nodes given the same key at once take turns here; the second then sees the
            // first's committed request (READ COMMITTED). The unique index stays the backstop.
            tx.fetch(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7243))",
                args![key],
            )
            .await?;
        }
        let existing = first(
            tx.fetch(
                "SELECT id, created FROM requests WHERE idempotency_key = $1",
                args![key],
            )
            .await?,
        );
        if let Some(row) = existing {
            let id = row.str("id")?;
            if row.int("created")? >= idempotency_since.0 {
                return Ok(CreateOutcome::Existing(parse(
                    RequestId::parse(id),
                    "request id",
                )?));
            }
            // Outside the window the old request keeps its history but gives up the key.
            tx.exec(
                "UPDATE requests SET idempotency_key = NULL WHERE id = $1",
                args![id],
            )
            .await?;
        }
    }
    tx_exec_notifying::<D>(
        tx,
        "INSERT INTO requests (id, identity_id, requested_by, source_id, account_ref, public_key_id, encryption,
           ciphertext, state, errors, validated, created, deadline, finished, next_attempt_at, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
        QUEUED,
        args![
            req.id.as_str(),
            req.identity_id.as_str(),
            req.requested_by.to_text(),
            req.source_id.as_str(),
            req.account_ref.as_str(),
            req.public_key_id.as_str(),
            req.encryption.as_str(),
            &req.ciphertext,
            req.state.as_str(),
            to_json(&req.errors),
            req.validated,
            req.created,
            req.deadline,
            req.finished,
            req.next_attempt_at,
            &req.idempotency_key,
        ],
    )
    .await?;
    insert_tasks(tx, tasks).await?;
    Ok(CreateOutcome::Created)
}

/// The tasks of a request, in one multi-row statement.
async fn insert_tasks<T: Transaction>(tx: &mut T, tasks: &[TargetTask]) -> StoreResult<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    const COLUMNS: usize = 11;
    let mut values = String::new();
    let mut a: Vec<Arg> = Vec::with_capacity(tasks.len() * COLUMNS);
    for (position, t) in tasks.iter().enumerate() {
        let base = position * COLUMNS;
        values.push_str(if position == 0 { "(" } else { ", (" });
        values.push_str(
            &(1..=COLUMNS)
                .map(|c| format!("${}", base + c))
                .collect::<Vec<_>>()
                .join(", "),
        );
        values.push(')');
        a.extend([
            Arg::from(t.id.as_str()),
            t.request_id.as_str().into(),
            t.account_ref.as_str().into(),
            t.source_id.as_str().into(),
            t.state.as_str().into(),
            t.attempts.into(),
            t.next_attempt_at.into(),
            Arg::from(&t.error),
            t.finished.into(),
            (position as i64).into(),
            t.attempt_started.into(),
        ]);
    }
    let sql = format!(
        "INSERT INTO tasks (id, request_id, account_ref, source_id, state, attempts, next_attempt_at,
           error, finished, position, attempt_started) VALUES {values}"
    );
    tx.exec(&sql, &a).await?;
    Ok(())
}

pub(crate) async fn renew_lease<D: Dialect>(
    d: &D,
    id: &RequestId,
    owner: &str,
    until: Millis,
) -> StoreResult<bool> {
    let n = d
        .exec(
            "UPDATE requests SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'IN_PROGRESS'",
            args![id.as_str(), owner, until],
        )
        .await?;
    Ok(n > 0)
}

pub(crate) async fn mark_validated<D: Dialect>(d: &D, id: &RequestId) -> StoreResult<()> {
    d.exec(
        "UPDATE requests SET validated = TRUE WHERE id = $1",
        args![id.as_str()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn count<D: Dialect>(d: &D, state: Option<RequestState>) -> StoreResult<u64> {
    let rows = match state {
        Some(s) => {
            d.fetch_scan(
                "SELECT COUNT(*) FROM requests WHERE state = $1",
                args![s.as_str()],
            )
            .await?
        }
        None => d.fetch_scan("SELECT COUNT(*) FROM requests", &[]).await?,
    };
    first(rows).ok_or_else(|| corrupt("count"))?.count()
}

pub(crate) async fn last_change_of_account<D: Dialect>(
    d: &D,
    account_ref: &AccountRef,
) -> StoreResult<Option<LastChange>> {
    let rows = d
        .fetch(
            "SELECT t.id, t.request_id, t.account_ref, t.source_id, t.state, t.attempts,
                    t.next_attempt_at, t.error, t.finished, t.attempt_started, r.created AS requested
             FROM tasks t JOIN requests r ON r.id = t.request_id
             WHERE t.account_ref = $1 ORDER BY r.created DESC, t.id DESC LIMIT 1",
            args![account_ref.as_str()],
        )
        .await?;
    first(rows)
        .map(|r| {
            Ok(LastChange {
                task: task_from_row(&r)?,
                requested: r.millis("requested")?,
            })
        })
        .transpose()
}
