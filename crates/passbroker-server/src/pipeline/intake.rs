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
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Backlog accounting for back-pressure: in-progress count and recent drain rate.
pub struct Backlog {
    in_progress: AtomicI64,
    /// Completions per second of the last [`Backlog::RATE_WINDOW_SECS`] seconds: bounded
    /// (it was one entry per completion, summed on every admission: 60,000 at 2,000/s).
    finishes: Mutex<Seconds>,
    /// Requests this node ended since it started (drives the erased-data flush).
    finished_total: std::sync::atomic::AtomicU64,
    /// The backlog admitted whatever the drain rate (`admission_min_backlog`).
    min_capacity: i64,
}

/// A ring of per-second counters.
struct Seconds {
    /// The second (Unix) that `counts[at]` counts.
    second: i64,
    at: usize,
    counts: [u32; Backlog::RATE_WINDOW_SECS],
}

impl Seconds {
    /// Moves the ring forward to `second`, zeroing the seconds it skips.
    fn advance(&mut self, second: i64) {
        let steps = (second - self.second).clamp(0, Backlog::RATE_WINDOW_SECS as i64);
        for _ in 0..steps {
            self.at = (self.at + 1) % Backlog::RATE_WINDOW_SECS;
            self.counts[self.at] = 0;
        }
        self.second = self.second.max(second);
    }
}

impl Backlog {
    /// The default of `admission_min_backlog`.
    pub const DEFAULT_MIN_CAPACITY: u32 = 10_000;
    const RATE_WINDOW_SECS: usize = 30;

    pub fn new(in_progress: u64) -> Self {
        Self::with_min_capacity(in_progress, Self::DEFAULT_MIN_CAPACITY)
    }

    pub fn with_min_capacity(in_progress: u64, min_capacity: u32) -> Self {
        Self {
            in_progress: AtomicI64::new(i64::try_from(in_progress).unwrap_or(0)),
            finishes: Mutex::new(Seconds {
                second: 0,
                at: 0,
                counts: [0; Self::RATE_WINDOW_SECS],
            }),
            finished_total: std::sync::atomic::AtomicU64::new(0),
            min_capacity: i64::from(min_capacity),
        }
    }
    pub fn on_accept(&self) {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
    }
    pub fn on_finish(&self, now: Millis) {
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        self.finished_total.fetch_add(1, Ordering::Relaxed);
        let mut f = self.finishes.lock().unwrap_or_else(|e| e.into_inner());
        f.advance(now.0.div_euclid(1000));
        let at = f.at;
        f.counts[at] = f.counts[at].saturating_add(1);
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
        let mut f = self.finishes.lock().unwrap_or_else(|e| e.into_inner());
        f.advance(now.0.div_euclid(1000));
        let n: u64 = f.counts.iter().map(|&c| u64::from(c)).sum();
        n as f64 / Self::RATE_WINDOW_SECS as f64
    }
    /// `Err(retry_after_secs)` when the backlog could not drain before new work's deadline.
    pub fn admit(&self, now: Millis, deadline_secs: i64) -> Result<(), u64> {
        let rate = self.drain_rate(now);
        let capacity = ((rate * deadline_secs as f64 * 0.8) as i64).max(self.min_capacity);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drain_rate_counts_the_last_thirty_seconds() {
        let b = Backlog::with_min_capacity(0, 100);
        for i in 0..3_000 {
            b.on_accept();
            // 3,000 completions over the 10 s from t = 100 s.
            b.on_finish(Millis(100_000 + i * 10 / 3));
        }
        assert_eq!(b.in_progress(), 0);
        assert!((b.drain_rate(Millis(110_000)) - 100.0).abs() < 1e-9);
        // 25 s later the first seconds have left the window; 40 s later all of them.
        let later = b.drain_rate(Millis(135_000));
        assert!(later > 0.0 && later < 100.0, "{later}");
        assert_eq!(b.drain_rate(Millis(150_000)), 0.0);
        // A clock that steps back does not count twice.
        b.on_finish(Millis(149_000));
        assert!((b.drain_rate(Millis(150_000)) - 1.0 / 30.0).abs() < 1e-9);
    }

    #[test]
    fn admission_allows_the_minimum_backlog_then_what_drains_in_time() {
        let b = Backlog::with_min_capacity(0, 100);
        for _ in 0..99 {
            b.on_accept();
        }
        assert_eq!(b.admit(Millis(1_000), 300), Ok(()));
        b.on_accept();
        let retry = b.admit(Millis(1_000), 300).unwrap_err();
        assert!(retry >= 1, "{retry}");
        // 10 completions a second with a 300 s deadline: 2,400 may wait.
        for i in 0..300 {
            b.on_accept();
            b.on_finish(Millis(1_000 + i * 100));
        }
        assert_eq!(b.admit(Millis(31_000), 300), Ok(()));
    }
}
