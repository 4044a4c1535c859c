//! The workers' writes, each run inside a group commit ([`super::group`]): a claim of
//! several due requests with their tasks, the start of a step's attempts, and the record of
//! what the step did (tasks, audit, and the request given back or ended) in one go.

use super::requests::{request_from_row, task_from_row, FINISHED};
use super::{admin, args, outbox, to_json, tx_exec_notifying, Arg, Dialect, Sql, Transaction};
use crate::{Claimed, StepEnd, StepRecord, StoreResult};
use passbroker_core::request::{RequestState, TargetTask, TaskState};
use passbroker_core::time::Millis;
use passbroker_core::RequestId;
use std::collections::HashMap;

/// Leases up to `limit` due requests (oldest due first) whose lease has expired, and reads
/// their tasks. One statement picks and leases, so two workers never hold the same request.
pub(crate) async fn claim<D: Dialect>(
    tx: &mut D::Tx,
    owner: &str,
    now: Millis,
    lease_ms: i64,
    limit: u32,
) -> StoreResult<Vec<Claimed>> {
    let sql = format!(
        "UPDATE requests SET lease_owner = $1, lease_until = $2
         WHERE id IN (SELECT id FROM requests
                      WHERE state = 'IN_PROGRESS' AND next_attempt_at <= $3 AND lease_until <= $3
                      ORDER BY next_attempt_at, created LIMIT $4{})
           AND lease_until <= $3
         RETURNING *",
        Sql::skip_locked(D::KIND)
    );
    let limit = i64::from(limit.max(1));
    let rows = tx
        .fetch(
            &sql,
            args![owner, now.0.saturating_add(lease_ms), now, limit],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                request: request_from_row(r)?,
                tasks: Vec::new(),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    claimed.sort_by_key(|c| (c.request.next_attempt_at, c.request.created));
    let ids = Arg::list(claimed.iter().map(|c| c.request.id.as_str()));
    let sql = format!(
        "SELECT * FROM tasks WHERE {} ORDER BY request_id, position",
        Sql::in_list(D::KIND, "request_id", "$1")
    );
    let at: HashMap<String, usize> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| (c.request.id.to_string(), i))
        .collect();
    for row in tx.fetch(&sql, &[ids]).await? {
        let task = task_from_row(&row)?;
        if let Some(&i) = at.get(task.request_id.as_str()) {
            claimed[i].tasks.push(task);
        }
    }
    Ok(claimed)
}

/// Marks `tasks`' attempts started (and, with `validated`, that the request passed its
/// policy), only while `owner` holds the lease: false, with nothing written, when it does not.
pub(crate) async fn start<D: Dialect>(
    tx: &mut D::Tx,
    request_id: &RequestId,
    owner: &str,
    validated: bool,
    tasks: &[TargetTask],
) -> StoreResult<bool> {
    let held = tx
        .exec(
            "UPDATE requests SET validated = (validated OR $3)
             WHERE id = $1 AND lease_owner = $2 AND state = 'IN_PROGRESS'",
            args![request_id.as_str(), owner, validated],
        )
        .await?;
    if held == 0 {
        return Ok(false);
    }
    for t in tasks {
        tx.exec(
            "UPDATE tasks SET attempts = $2, attempt_started = $3 WHERE id = $1 AND request_id = $4",
            args![t.id.as_str(), t.attempts, t.attempt_started, request_id.as_str()],
        )
        .await?;
    }
    Ok(true)
}

/// Records a step: each changed task (a task that ends reports it once: only if it was still
/// pending), the audit events, and the request given back (by its lease holder) or ended,
/// its ciphertext erased in the same statement.
pub(crate) async fn record<D: Dialect>(tx: &mut D::Tx, step: &StepRecord) -> StoreResult<()> {
    let only_pending = format!("{UPDATE_TASK} AND state = 'PENDING'");
    for t in &step.tasks {
        let changed = tx.exec(&only_pending, &update_task_args(t)).await?;
        if changed > 0 && t.state != TaskState::Pending {
            if let Some(event) = outbox::task_ended(t) {
                outbox::push(tx, &event).await?;
            }
        }
    }
    admin::insert_audit(tx, &step.audit).await?;
    match &step.end {
        StepEnd::Continue => Ok(()),
        StepEnd::Release { next_attempt_at } => {
            tx.exec(
                "UPDATE requests SET lease_owner = NULL, lease_until = 0, next_attempt_at = $3
                 WHERE id = $1 AND lease_owner = $2",
                args![
                    step.request_id.as_str(),
                    step.owner.as_str(),
                    *next_attempt_at
                ],
            )
            .await?;
            Ok(())
        }
        StepEnd::Finish { state, errors, now } => {
            finish_in::<D>(tx, step.request_id.as_str(), *state, errors, *now).await
        }
    }
}

/// Ends a request in `tx`: its events (unless it had already ended), then the end itself,
/// the ciphertext erased in the same statement (other nodes notified on PostgreSQL).
pub(crate) async fn finish_in<D: Dialect>(
    tx: &mut D::Tx,
    id: &str,
    state: RequestState,
    errors: &[String],
    now: Millis,
) -> StoreResult<()> {
    outbox::push_request_ended(tx, id, state, errors, now).await?;
    tx_exec_notifying::<D>(
        tx,
        "UPDATE requests SET state = $2, errors = $3, finished = $4, ciphertext = NULL,
           lease_owner = NULL, lease_until = 0
         WHERE id = $1 RETURNING id",
        FINISHED,
        args![id, state.as_str(), to_json(&errors), now],
    )
    .await?;
    Ok(())
}

const UPDATE_TASK: &str =
    "UPDATE tasks SET state = $2, attempts = $3, next_attempt_at = $4, error = $5, finished = $6,
       attempt_started = $7 WHERE id = $1";

fn update_task_args(t: &TargetTask) -> Vec<Arg<'_>> {
    args![
        t.id.as_str(),
        t.state.as_str(),
        t.attempts,
        t.next_attempt_at,
        &t.error,
        t.finished,
        t.attempt_started
    ]
    .to_vec()
}
