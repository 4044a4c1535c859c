//! Intake of new requests: which accounts a change goes to, its tasks, the queueing
//! (idempotent, audited, waking a worker), and admission control (the backlog in progress
//! and the recent drain rate decide whether a new request could finish before its
//! deadline; else the API answers 429).

use crate::pipeline::audit::audit_event;
use crate::pipeline::pipeline_error::PipelineResult;
use passbroker_core::account::Account;
use passbroker_core::request::{PasswordChangeRequest, TargetTask, TaskState};
use passbroker_core::time::Millis;
use passbroker_core::{IdentityId, RequestId, SourceId, TaskId};
use passbroker_store::{CreateOutcome, Store};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Backlog accounting for back-pressure: in-progress count and recent drain rate.
pub struct Backlog {
    in_progress: AtomicI64,
    finishes: Mutex<VecDeque<i64>>,
    /// Requests this node ended since it started (drives the erased-data flush).
    finished_total: std::sync::atomic::AtomicU64,
}

impl Backlog {
    const MIN_CAPACITY: i64 = 10_000;
    const RATE_WINDOW_MS: i64 = 30_000;

    pub fn new(in_progress: u64) -> Self {
        Self {
            in_progress: AtomicI64::new(i64::try_from(in_progress).unwrap_or(0)),
            finishes: Mutex::new(VecDeque::new()),
            finished_total: std::sync::atomic::AtomicU64::new(0),
        }
    }
    pub fn on_accept(&self) {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
    }
    pub fn on_finish(&self, now: Millis) {
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        self.finished_total.fetch_add(1, Ordering::Relaxed);
        let mut f = self.finishes.lock().unwrap_or_else(|e| e.into_inner());
        f.push_back(now.0);
        while f.front().is_some_and(|t| now.0 - t > Self::RATE_WINDOW_MS) {
            f.pop_front();
        }
    }
    /// Sets the in-progress count from the store: with several nodes, requests this node
    /// accepted may be finished by another node's workers (and the other way round).
    pub fn resync(&self, in_progress: u64) {
        self.in_progress.store(
            i64::try_from(in_progress).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }
    pub fn finished_total(&self) -> u64 {
        self.finished_total.load(Ordering::Relaxed)
    }
    pub fn in_progress(&self) -> i64 {
        self.in_progress.load(Ordering::Relaxed).max(0)
    }
    /// Completions per second over the last 30 s.
    pub fn drain_rate(&self, now: Millis) -> f64 {
        let f = self.finishes.lock().unwrap_or_else(|e| e.into_inner());
        let n = f
            .iter()
            .filter(|t| now.0 - **t <= Self::RATE_WINDOW_MS)
            .count();
        n as f64 / (Self::RATE_WINDOW_MS as f64 / 1000.0)
    }
    /// `Err(retry_after_secs)` when the backlog could not drain before new work's deadline.
    pub fn admit(&self, now: Millis, deadline_secs: i64) -> Result<(), u64> {
        let rate = self.drain_rate(now);
        let capacity = ((rate * deadline_secs as f64 * 0.8) as i64).max(Self::MIN_CAPACITY);
        let backlog = self.in_progress();
        if backlog < capacity {
            return Ok(());
        }
        let excess = (backlog - capacity + 1) as f64;
        Err((excess / rate.max(1.0)).ceil().clamp(1.0, 3600.0) as u64)
    }
}

/// The accounts a change goes to: the named one, and with a sync group the identity's
/// enabled accounts on every other member source.
pub async fn target_accounts(
    store: &dyn Store,
    identity: &IdentityId,
    source: &SourceId,
    named: &Account,
) -> PipelineResult<Vec<Account>> {
    let mut out = vec![named.clone()];
    if let Some(group) = store.sync_group_of_source(source).await? {
        for source_id in group.source_ids.iter().filter(|s| *s != source) {
            for a in store
                .accounts_of_identity(identity, Some(source_id))
                .await?
            {
                if !a.disabled {
                    out.push(a);
                }
            }
        }
    }
    Ok(out)
}

/// One pending task per target account, due at once.
pub fn pending_tasks(
    request_id: &RequestId,
    accounts: Vec<Account>,
    now: Millis,
) -> Vec<TargetTask> {
    accounts
        .into_iter()
        .map(|a| TargetTask {
            id: TaskId::generate(),
            request_id: request_id.clone(),
            account_ref: a.id,
            source_id: a.source_id,
            state: TaskState::Pending,
            attempts: 0,
            next_attempt_at: now,
            error: None,
            finished: None,
            attempt_started: None,
        })
        .collect()
}

/// Where new requests go: the store, the backlog count, the idle workers' wake-up.
pub struct Queue<'a> {
    pub store: &'a dyn Store,
    pub backlog: &'a Backlog,
    pub work_available: &'a tokio::sync::Notify,
}

impl Queue<'_> {
    /// Inserts the request, its tasks and its audit event in one transaction (committed
    /// together with the requests submitted at the same time: the store commits them as a
    /// group), unless its idempotency key was used since `since`. A new request is counted
    /// and wakes a worker. Returns the request's id (the earlier one for a repeat) and
    /// whether it is new.
    pub async fn enqueue(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        since: Millis,
        now: Millis,
    ) -> PipelineResult<(RequestId, bool)> {
        let mut event = audit_event(
            &request.requested_by.to_text(),
            "PASSWORD_CHANGE_REQUESTED",
            "INFO",
            format!(
                "password change requested for {} target account(s)",
                tasks.len()
            ),
            now,
        );
        event.request_id = Some(request.id.to_string());
        event.source_id = Some(request.source_id.to_string());
        event.identity_id = Some(request.identity_id.to_string());
        match self
            .store
            .create_request_audited(request, tasks, since, &event)
            .await?
        {
            CreateOutcome::Existing(existing) => Ok((existing, false)),
            CreateOutcome::Created => {
                self.backlog.on_accept();
                self.work_available.notify_one();
                Ok((request.id.clone(), true))
            }
        }
    }
}
