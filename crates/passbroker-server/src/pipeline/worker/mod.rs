//! The workers that drain the durable queue.
//!
//! [`Worker::try_run_once`] claims one due request (with a lease), decrypts its password,
//! checks the policy once, calls the connector of every pending target, records each outcome,
//! and either ends the request (erasing its ciphertext) or gives it back with a retry time.
//! [`run`] loops over it. If a worker dies mid-request its lease runs out and another worker
//! picks the request up; tasks already done are not repeated.
//!
//! Exactly one write per change wherever the target can tell: before each target call the
//! task is marked "attempt started" (only while this worker holds the lease); the mark is
//! cleared when the outcome is recorded. A task that still has the mark when it is attempted
//! again had an attempt whose outcome is unknown, so the target is asked first
//! ([`passbroker_connectors::Connector::verify_password`]) and a change that landed is
//! recorded without a second write. An outcome in hand is never dropped because the store
//! is away: its writes are retried (and the lease renewed) until the store answers or the
//! request's deadline passes.

mod captured;
mod check;
mod deliver;

use crate::metrics::Metrics;
use crate::pipeline::audit::audit_event;
use crate::pipeline::breach::Breach;
use crate::pipeline::clock::Clock;
use crate::pipeline::connectors::ConnectorRegistry;
use crate::pipeline::intake::Backlog;
use crate::pipeline::keyring::{KeyLookupError, KeyRing};
use crate::pipeline::pipeline_error::{PipelineError, PipelineResult};
use crate::pipeline::policy::effective_policy;
use check::PolicyCheck;
use deliver::Ended;
use passbroker_core::account::Account;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::{
    overall_state, Encryption, PasswordChangeRequest, RequestState, TargetTask, TaskState,
};
use passbroker_core::source::Source;
use passbroker_core::time::Millis;
use passbroker_core::{Password, RequestId, SourceId};
use passbroker_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

/// ISC's own wording for a payload that does not decrypt to a usable password. Bad padding,
/// invalid UTF-8 and control characters all end here, indistinguishably.
pub const PAYLOAD_INVALID: &str = "The password change payload is invalid";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// Work was done; the request is still in progress (retries pending).
    Progressed(RequestId),
    /// The request reached a terminal state.
    Finished(RequestId, RequestState),
}

/// What a worker needs, and nothing of HTTP: the store, the key ring, the targets'
/// connectors, the breach corpus, metrics, the clock, the lease length, and where to
/// announce ends. `AppState::worker_context` builds it for the application; a test can
/// build one of its own.
#[derive(Clone)]
pub struct WorkerContext {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    pub connectors: Arc<ConnectorRegistry>,
    pub breach: Arc<Breach>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// How long a claim holds a request (`lease_secs`, in milliseconds).
    pub lease_ms: i64,
    /// Admission control's count of requests in progress.
    pub backlog: Arc<Backlog>,
    /// Announces requests that reached a terminal state (for `Prefer: wait`).
    pub finished: broadcast::Sender<RequestId>,
    /// Wakes idle workers when a request arrives.
    pub work_available: Arc<Notify>,
}

pub struct Worker {
    cx: WorkerContext,
    owner: String,
}

/// A request's targets as loaded once per step: each task's account, its source and the
/// policy that governs it.
struct Targets {
    accounts: Vec<Option<Account>>,
    sources: HashMap<SourceId, Source>,
    policies: HashMap<SourceId, PasswordPolicy>,
}

impl Worker {
    pub fn new(cx: impl Into<WorkerContext>, owner: impl Into<String>) -> Self {
        Self {
            cx: cx.into(),
            owner: owner.into(),
        }
    }

    /// Claims and processes one due request.
    pub async fn try_run_once(&self) -> PipelineResult<Outcome> {
        let now = self.cx.clock.now();
        let lease_ms = self.cx.lease_ms;
        let Some(request) = self
            .cx
            .store
            .claim_request(&self.owner, now, lease_ms)
            .await?
        else {
            return Ok(Outcome::Idle);
        };
        let renew = self.keep_lease(request.id.clone(), lease_ms);
        let result = self.process(request).await;
        renew.abort();
        result
    }

    /// Renews the lease in the background while a slow target call runs. A failed renewal
    /// (the store away) is tried again soon, for as long as the worker works on the request:
    /// only a lease another worker took ends it.
    fn keep_lease(&self, id: RequestId, lease_ms: i64) -> tokio::task::JoinHandle<()> {
        let store = self.cx.store.clone();
        let clock = self.cx.clock.clone();
        let owner = self.owner.clone();
        tokio::spawn(async move {
            let period =
                Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(100));
            let retry = period.min(Duration::from_millis(250));
            let mut wait = period;
            loop {
                tokio::time::sleep(wait).await;
                match store
                    .renew_lease(&id, &owner, clock.now().plus_millis(lease_ms))
                    .await
                {
                    Ok(true) => wait = period,
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(request_id = %id, error = %e, "lease renewal failed; retrying");
                        wait = retry;
                    }
                }
            }
        })
    }

    /// Runs a store write that records something already done (a target's outcome), again
    /// and again while the store is unavailable, until it succeeds or `deadline` passes.
    async fn durably<T, F, Fut>(&self, deadline: Millis, what: &str, mut op: F) -> PipelineResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delay = Duration::from_millis(50);
        let mut warned = false;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e @ (StoreError::Unavailable(_) | StoreError::Database(_)))
                    if self.cx.clock.now() < deadline =>
                {
                    if !warned {
                        tracing::warn!(error = %e, "could not record {what}; retrying until the store answers");
                        warned = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    return Err(PipelineError::from(e).context(&format!("could not record {what}")))
                }
            }
        }
    }

    /// Writes audit events, retrying like [`Worker::durably`]; a failure past the deadline
    /// is logged (an audit write never undoes what it describes).
    async fn audit(&self, deadline: Millis, events: Vec<passbroker_core::audit::AuditEvent>) {
        let store = self.cx.store.clone();
        if let Err(e) = self
            .durably(deadline, "audit events", || store.append_audit(&events))
            .await
        {
            tracing::error!(error = %e, count = events.len(), "could not write audit events");
        }
    }

    /// How long a worker keeps trying to record what it did: until the request's deadline,
    /// and at least a lease's length (a request that ends at its deadline is recorded too).
    fn record_until(&self, request: &PasswordChangeRequest) -> Millis {
        Millis(
            request
                .deadline
                .0
                .max(self.cx.clock.now().plus_millis(self.cx.lease_ms).0),
        )
    }

    async fn process(&self, request: PasswordChangeRequest) -> PipelineResult<Outcome> {
        let now = self.cx.clock.now();
        let mut tasks = self.cx.store.tasks_of_request(&request.id).await?;
        if now >= request.deadline {
            let secs = (request.deadline.0 - request.created.0) / 1000;
            return self
                .fail_pending(
                    &request,
                    &mut tasks,
                    &format!("did not complete within the {secs}-second deadline"),
                )
                .await;
        }
        let password = match self.decrypt(&request, now).await? {
            Decrypted::Password(p) => p,
            Decrypted::Refused(msg) => return self.finish(&request, &mut tasks, vec![msg]).await,
            Decrypted::NotNow(why) => return self.retry_later(&request, now, &why).await,
        };
        let targets = self.load_targets(&request, &tasks).await?;
        if !request.validated {
            let violations = match self.check_policy(&request, &targets, &password).await? {
                PolicyCheck::Done(violations) => violations,
                PolicyCheck::Unavailable(why) => {
                    // The breach corpus could not answer and fails closed: wait for it, and
                    // say why if the deadline comes first.
                    if now.plus_millis(1000) >= request.deadline {
                        let msg = format!("The password could not be checked against known data breaches before the deadline ({why}); try again later.");
                        return self.finish(&request, &mut tasks, vec![msg]).await;
                    }
                    return self.retry_later(&request, now, &why).await;
                }
            };
            if !violations.is_empty() && !self.propagate_despite(&request, &violations).await? {
                return self.finish(&request, &mut tasks, violations).await;
            }
            self.cx.store.mark_validated(&request.id).await?;
        }
        self.deliver(&request, &mut tasks, &targets, &password)
            .await?;
        if tasks.iter().any(|t| t.state == TaskState::Pending) {
            let next = tasks
                .iter()
                .filter(|t| t.state == TaskState::Pending)
                .map(|t| t.next_attempt_at)
                .min()
                .unwrap_or(now);
            let next = Millis(next.0.min(request.deadline.0));
            let store = self.cx.store.clone();
            self.durably(self.record_until(&request), "a retry time", || {
                store.release_request(&request.id, &self.owner, next)
            })
            .await?;
            return Ok(Outcome::Progressed(request.id));
        }
        self.finish(&request, &mut tasks, Vec::new()).await
    }

    /// The password, or why there is none: the key was retired, or the payload does not
    /// decrypt to a usable password (one generic message for every such case).
    async fn decrypt(
        &self,
        request: &PasswordChangeRequest,
        now: Millis,
    ) -> PipelineResult<Decrypted> {
        let Some(ciphertext) = request.ciphertext.clone() else {
            return Ok(Decrypted::Refused(PAYLOAD_INVALID.into()));
        };
        let key = match self
            .cx
            .keys
            .decryption_key(&request.public_key_id, now)
            .await
        {
            Ok(k) => k,
            Err(KeyLookupError::Internal(e)) => return Ok(Decrypted::NotNow(e)),
            Err(_) => {
                let msg = format!("The encryption key {} was retired before the change ran; call query-password-info for the current key and try again", request.public_key_id);
                return Ok(Decrypted::Refused(msg));
            }
        };
        let encryption = request.encryption;
        let decrypted = tokio::task::spawn_blocking(move || match encryption {
            Encryption::Pkcs1v15 => key.decrypt_pkcs1v15(&ciphertext),
            Encryption::OaepSha256 => key.decrypt_oaep_sha256(&ciphertext),
        })
        .await?;
        Ok(match decrypted.ok().map(Password::from_utf8) {
            Some(Ok(p)) if usable(&p) => Decrypted::Password(p),
            _ => Decrypted::Refused(PAYLOAD_INVALID.into()),
        })
    }

    /// Each task's account, and the source and effective policy of every source the step
    /// needs (the request's own and each target's), each loaded once.
    async fn load_targets(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
    ) -> PipelineResult<Targets> {
        let store = self.cx.store.as_ref();
        let mut targets = Targets {
            accounts: Vec::with_capacity(tasks.len()),
            sources: HashMap::new(),
            policies: HashMap::new(),
        };
        for t in tasks {
            targets
                .accounts
                .push(store.get_account(&t.account_ref).await?);
        }
        let ids = std::iter::once(&request.source_id).chain(tasks.iter().map(|t| &t.source_id));
        for id in ids {
            if targets.sources.contains_key(id) {
                continue;
            }
            if let Some(source) = store.get_source(id).await? {
                let policy = effective_policy(store, &source).await?;
                targets.policies.insert(id.clone(), policy);
                targets.sources.insert(id.clone(), source);
            }
        }
        Ok(targets)
    }

    async fn fail_pending(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        why: &str,
    ) -> PipelineResult<Outcome> {
        for task in tasks.iter_mut().filter(|t| t.state == TaskState::Pending) {
            let source = self.cx.store.get_source(&task.source_id).await?;
            let name = source
                .map(|s| s.name.as_str().to_owned())
                .unwrap_or_else(|| "?".into());
            let last = task
                .error
                .clone()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default();
            let unknown = if task.attempt_started.is_some() {
                "; an attempt was interrupted, so the target may have the new password"
            } else {
                ""
            };
            self.end_task(
                request,
                task,
                &name,
                Ended::Failed(format!("the password change {why}{last}{unknown}")),
            )
            .await?;
        }
        self.finish(request, tasks, Vec::new()).await
    }

    /// Ends the request. Tasks still pending become failed (a request-level error stopped them).
    async fn finish(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        errors: Vec<String>,
    ) -> PipelineResult<Outcome> {
        let now = self.cx.clock.now();
        let until = self.record_until(request);
        let store = self.cx.store.clone();
        for task in tasks.iter_mut().filter(|t| t.state == TaskState::Pending) {
            task.state = TaskState::Failed;
            task.finished = Some(now);
            task.error = None;
            let saved = task.clone();
            self.durably(until, "a task's end", || store.update_task(&saved))
                .await?;
        }
        let state = overall_state(&errors, tasks);
        let errors = self.with_capture_notes(request, errors).await;
        self.durably(until, "the request's end", || {
            store.finish_request(&request.id, state, &errors, now)
        })
        .await?;
        let (outcome, detail) = if state == RequestState::Finished {
            ("SUCCESS", "password change finished".to_owned())
        } else {
            (
                "FAILURE",
                format!("password change failed: {}", errors.join(" ")),
            )
        };
        let mut event = audit_event(
            &request.requested_by.to_text(),
            &format!("PASSWORD_CHANGE_{}", state.as_str()),
            outcome,
            detail,
            now,
        );
        event.request_id = Some(request.id.to_string());
        event.source_id = Some(request.source_id.to_string());
        event.identity_id = Some(request.identity_id.to_string());
        self.audit(until, vec![event]).await;
        self.cx.backlog.on_finish(now);
        let _ = self.cx.finished.send(request.id.clone());
        Ok(Outcome::Finished(request.id.clone(), state))
    }

    async fn retry_later(
        &self,
        request: &PasswordChangeRequest,
        now: Millis,
        why: &str,
    ) -> PipelineResult<Outcome> {
        tracing::warn!(request_id = %request.id, error = why, "request postponed");
        self.cx
            .store
            .release_request(&request.id, &self.owner, now.plus_millis(1000))
            .await?;
        Ok(Outcome::Progressed(request.id.clone()))
    }
}

/// What decryption gave.
enum Decrypted {
    Password(Password),
    /// The request ends with this message (a retired key, an unusable payload).
    Refused(String),
    /// The key ring could not answer now; try again soon.
    NotNow(String),
}

/// A password must be non-empty and free of control characters to be set anywhere. This
/// also turns nearly every implicit-rejection output into the generic payload error.
pub fn usable(p: &Password) -> bool {
    !p.expose().is_empty() && !p.expose().chars().any(char::is_control)
}

/// Runs `count` workers until `shutdown` fires; each finishes the request in hand first.
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
                match worker.try_run_once().await {
                    Ok(Outcome::Idle) => {
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
