//! Group commit of new requests.
//!
//! Each `create_request` becomes a job on a queue; one committer task per store takes every
//! job waiting, runs them in one transaction (each inside a savepoint, so that one job's
//! conflict undoes only that job), commits once and answers each caller with its own
//! outcome. A caller hears back only after its group committed: a 202 still means durable.
//! While a group commits, the next one gathers, so the commit cost is shared by everyone who
//! arrived meanwhile; a lone request waits for nobody.

use super::{admin, outbox, requests, Dialect, Transaction};
use crate::{CreateOutcome, StoreError, StoreResult};
use passbroker_core::audit::AuditEvent;
use passbroker_core::request::{PasswordChangeRequest, TargetTask};
use passbroker_core::time::Millis;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Requests committed together at most.
const GROUP: usize = 128;
/// Jobs that may wait for the committer; further callers wait to enqueue.
const QUEUE: usize = 4096;

pub(crate) struct Job {
    pub request: PasswordChangeRequest,
    pub tasks: Vec<TargetTask>,
    pub idempotency_since: Millis,
    pub event: Option<AuditEvent>,
    pub reply: oneshot::Sender<StoreResult<CreateOutcome>>,
}

/// The queue to a store's committer (started on first use).
#[derive(Clone, Default)]
pub(crate) struct Intake {
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
}

impl Intake {
    /// Queues a job and waits for its group to commit.
    pub(crate) async fn submit<D: Dialect>(&self, d: &D, job: Job) -> StoreResult<CreateOutcome> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(committer(d.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job { reply, ..job })
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?
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
        outcomes.push(one_job::<D>(&mut tx, job).await);
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
async fn one_job<D: Dialect>(tx: &mut D::Tx, job: &Job) -> StoreResult<CreateOutcome> {
    tx.exec("SAVEPOINT intake", &[]).await?;
    let outcome = insert::<D>(tx, job).await;
    if outcome.is_err() {
        tx.exec("ROLLBACK TO SAVEPOINT intake", &[]).await?;
    }
    tx.exec("RELEASE SAVEPOINT intake", &[]).await?;
    outcome
}

async fn insert<D: Dialect>(tx: &mut D::Tx, job: &Job) -> StoreResult<CreateOutcome> {
    let outcome =
        requests::insert_request::<D>(tx, &job.request, &job.tasks, job.idempotency_since).await?;
    if let (CreateOutcome::Created, Some(event)) = (&outcome, &job.event) {
        admin::insert_audit(tx, std::slice::from_ref(event)).await?;
    }
    if outcome == CreateOutcome::Created {
        outbox::push(tx, &outbox::accepted(&job.request, &job.tasks)).await?;
    }
    Ok(outcome)
}
