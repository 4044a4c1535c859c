//! The workers' loop: each worker claims a batch of due requests in one write and steps them
//! together; one task keeps the batch's leases alive while slow targets answer.

use super::{Outcome, Worker, WorkerContext};
use passbroker_core::RequestId;
use std::sync::Arc;
use std::time::Duration;

/// Requests a worker claims at once. Their steps run together, so their writes share group
/// commits; a batch is small enough that a slow target holds few others back.
const BATCH: u32 = 8;

/// Runs `count` workers until `shutdown` fires; each finishes the batch in hand first.
pub async fn run(cx: WorkerContext, count: u32, shutdown: tokio::sync::watch::Receiver<bool>) {
    let node = passbroker_core::ids::new_isc_id();
    let mut handles = Vec::new();
    for n in 0..count {
        let worker = Arc::new(Worker::new(cx.clone(), format!("{node}-{n}")));
        let notify = cx.work_available.clone();
        let mut shutdown = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    return;
                }
                match worker.run_batch().await {
                    Ok(0) => {
                        // Wake on new work, or poll for retries coming due.
                        tokio::select! {
                            _ = notify.notified() => {}
                            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "worker step failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

impl Worker {
    /// Claims up to [`BATCH`] due requests and steps them together; how many it claimed.
    /// A step that fails is logged; the others go on (its lease hands it on later).
    async fn run_batch(&self) -> crate::pipeline::pipeline_error::PipelineResult<usize> {
        let now = self.cx.clock.now();
        let claimed = self
            .cx
            .store
            .claim_requests(&self.owner, now, self.cx.lease_ms, BATCH)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let renew = keep_leases(self, claimed.iter().map(|c| c.request.id.clone()).collect());
        let steps = claimed.into_iter().map(|c| self.process(c));
        for result in futures::future::join_all(steps).await {
            match result {
                Ok(Outcome::Idle | Outcome::Progressed(_) | Outcome::Finished(..)) => {}
                Err(e) => tracing::error!(error = %e, "worker step failed"),
            }
        }
        renew.abort();
        Ok(count)
    }
}

/// Renews the leases of `ids` in the background while slow target calls run. A failed
/// renewal (the store away) is tried again soon, for as long as the worker works on the
/// batch; a request that ended or whose lease another worker took is dropped from the list.
pub(super) fn keep_leases(worker: &Worker, mut ids: Vec<RequestId>) -> tokio::task::JoinHandle<()> {
    let store = worker.cx.store.clone();
    let clock = worker.cx.clock.clone();
    let owner = worker.owner.clone();
    let lease_ms = worker.cx.lease_ms;
    tokio::spawn(async move {
        let period = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(100));
        let retry = period.min(Duration::from_millis(250));
        let mut wait = period;
        while !ids.is_empty() {
            tokio::time::sleep(wait).await;
            wait = period;
            let until = clock.now().plus_millis(lease_ms);
            let mut kept = Vec::with_capacity(ids.len());
            for id in ids {
                match store.renew_lease(&id, &owner, until).await {
                    Ok(true) => kept.push(id),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(request_id = %id, error = %e, "lease renewal failed; retrying");
                        kept.push(id);
                        wait = retry;
                    }
                }
            }
            ids = kept;
        }
    })
}
