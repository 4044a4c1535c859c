//! Group commit of the hot writes: new requests, and the workers' claims and steps.
//!
//! Each write becomes a job on a queue; one committer task per store takes every job
//! waiting, runs them in one transaction (each inside a savepoint, so that one job's failure
//! undoes only that job), commits once and answers each caller with its own outcome. A caller
//! hears back only after its group committed: a 202 still means durable, and a worker's
//! recorded outcome is on disk before it moves on. While a group commits, the next one
//! gathers, so the commit cost is shared by everyone who arrived meanwhile; a lone write
//! waits for nobody. PostgreSQL gets a few committers side by side (its groups wait on a
//! round trip per statement, not on one writer).

use super::{admin, outbox, requests, steps, Dialect, SqlStore, Transaction};
use crate::{Claimed, CreateOutcome, StepRecord, StoreError, StoreResult};
use passbroker_core::audit::AuditEvent;
use passbroker_core::request::{PasswordChangeRequest, TargetTask};
use passbroker_core::time::Millis;
use passbroker_core::RequestId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Jobs committed together at most.
const GROUP: usize = 128;
/// Jobs that may wait for the committer; further callers wait to enqueue.
const QUEUE: usize = 4096;

/// One write of the group.
pub(crate) enum Work {
    /// A new request with its tasks (and its audit event).
    Create(Box<NewRequest>),
    /// A worker leases up to `limit` due requests.
    Claim {
        owner: String,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    },
    /// A worker marks attempts started (and the policy passed), while it holds the lease.
    Start {
        request_id: RequestId,
        owner: String,
        validated: bool,
        tasks: Vec<TargetTask>,
    },
    /// A worker records what a step did.
    Step(StepRecord),
}

pub(crate) struct NewRequest {
    request: PasswordChangeRequest,
    tasks: Vec<TargetTask>,
    idempotency_since: Millis,
    event: Option<AuditEvent>,
}

/// What a job gave.
pub(crate) enum Done {
    Created(CreateOutcome),
    Claimed(Vec<Claimed>),
    Started(bool),
    Recorded,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<StoreResult<Done>>,
}

/// The queues to a store's committers (started on first use; one on SQLite, a few on
/// PostgreSQL, taking jobs in turn).
#[derive(Clone, Default)]
pub(crate) struct Group {
    queues: Arc<OnceLock<Vec<mpsc::Sender<Job>>>>,
    turn: Arc<AtomicUsize>,
}

impl Group {
    /// Queues a write and waits for its group to commit.
    pub(crate) async fn submit<D: Dialect>(&self, d: &D, work: Work) -> StoreResult<Done> {
        let queues = self.queues.get_or_init(|| {
            (0..D::COMMITTERS.max(1))
                .map(|_| {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    tokio::spawn(committer(d.clone(), rx));
                    tx
                })
                .collect()
        });
        let queue = &queues[self.turn.fetch_add(1, Ordering::Relaxed) % queues.len()];
        let (reply, answer) = oneshot::channel();
        let closing = || StoreError::Unavailable("the store is closing".into());
        queue
            .send(Job { work, reply })
            .await
            .map_err(|_| closing())?;
        answer.await.map_err(|_| closing())?
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Queues a new request for the next group commit.
    pub(crate) async fn create(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
        event: Option<AuditEvent>,
    ) -> StoreResult<CreateOutcome> {
        let work = Work::Create(Box::new(NewRequest {
            request: request.clone(),
            tasks: tasks.to_vec(),
            idempotency_since,
            event,
        }));
        let outcome = match self.group.submit(&self.d, work).await? {
            Done::Created(outcome) => outcome,
            _ => return Err(StoreError::Database("a create gave no outcome".into())),
        };
        if outcome == CreateOutcome::Created {
            self.events_written();
        }
        Ok(outcome)
    }
}

/// Commits groups of jobs until every sender is gone.
async fn committer<D: Dialect>(d: D, mut rx: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(GROUP);
    while rx.recv_many(&mut group, GROUP).await > 0 {
        commit_group(&d, std::mem::take(&mut group)).await;
    }
}

async fn commit_group<D: Dialect>(d: &D, jobs: Vec<Job>) {
    let mut tx = match d.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in &jobs {
        outcomes.push(one_job::<D>(&mut tx, &job.work).await);
    }
    match tx.commit().await {
        Ok(()) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// One job inside a savepoint: its failure is undone alone and reported to its caller.
async fn one_job<D: Dialect>(tx: &mut D::Tx, work: &Work) -> StoreResult<Done> {
    tx.exec("SAVEPOINT job", &[]).await?;
    let outcome = run::<D>(tx, work).await;
    if matches!(outcome, Err(_) | Ok(Done::Started(false))) {
        tx.exec("ROLLBACK TO SAVEPOINT job", &[]).await?;
    }
    tx.exec("RELEASE SAVEPOINT job", &[]).await?;
    outcome
}

async fn run<D: Dialect>(tx: &mut D::Tx, work: &Work) -> StoreResult<Done> {
    match work {
        Work::Create(new) => {
            let NewRequest {
                request,
                tasks,
                idempotency_since,
                event,
            } = new.as_ref();
            let outcome =
                requests::insert_request::<D>(tx, request, tasks, *idempotency_since).await?;
            if outcome == CreateOutcome::Created {
                if let Some(event) = event {
                    admin::insert_audit(tx, std::slice::from_ref(event)).await?;
                }
                outbox::push(tx, &outbox::accepted(request, tasks)).await?;
            }
            Ok(Done::Created(outcome))
        }
        Work::Claim {
            owner,
            now,
            lease_ms,
            limit,
        } => steps::claim::<D>(tx, owner, *now, *lease_ms, *limit)
            .await
            .map(Done::Claimed),
        Work::Start {
            request_id,
            owner,
            validated,
            tasks,
        } => steps::start::<D>(tx, request_id, owner, *validated, tasks)
            .await
            .map(Done::Started),
        Work::Step(step) => steps::record::<D>(tx, step).await.map(|()| Done::Recorded),
    }
}
