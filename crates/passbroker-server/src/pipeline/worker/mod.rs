//! The workers that drain the durable queue.
//!
//! A step: a worker holds a claimed request (with a lease), decrypts its password, checks the
//! policy once, marks the attempts started, calls the connector of every due target at once,
//! and records what happened (the tasks, their audit events, and the request given back with
//! a retry time or ended, its ciphertext erased) in one write. [`Worker::try_run_once`] claims
//! one request and steps it; [`run`] (in `batch`) claims several at a time and steps them
//! together. Every write goes through the store's group commit, so the steps of many requests
//! share their transactions. If a worker dies mid-request its lease runs out and another
//! worker picks the request up; tasks already recorded as done are not repeated.
//!
//! Exactly one write per change wherever the target can tell: before each target call the
//! task is marked "attempt started" (only while this worker holds the lease); the mark is
//! cleared when the outcome is recorded. A task that still has the mark when it is attempted
//! again had an attempt whose outcome is unknown, so the target is asked first
//! ([`passbroker_connectors::Connector::verify_password`]) and a change that landed is
//! recorded without a second write. An outcome in hand is never dropped because the store
//! is away: its writes are retried (and the lease renewed) until the store answers or the
//! request's deadline passes.

mod batch;
mod captured;
mod check;
mod deliver;

pub use batch::run;

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
use passbroker_core::audit::AuditEvent;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::{
    overall_state, Encryption, PasswordChangeRequest, RequestState, TargetTask, TaskState,
};
use passbroker_core::source::Source;
use passbroker_core::time::Millis;
use passbroker_core::{Password, RequestId, SourceId};
use passbroker_store::{Claimed, StepEnd, StepRecord, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Notify, Semaphore};

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
        let claimed = self
            .cx
            .store
            .claim_requests(&self.owner, now, self.cx.lease_ms, 1)
            .await?;
        let Some(claimed) = claimed.into_iter().next() else {
            return Ok(Outcome::Idle);
        };
        let renew = batch::keep_leases(self, vec![claimed.request.id.clone()]);
        let result = self.process(claimed).await;
        renew.abort();
        result
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
                Err(
                    e
                    @ (StoreError::Unavailable(_) | StoreError::Busy(_) | StoreError::Database(_)),
                ) if self.cx.clock.now() < deadline => {
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

    async fn process(&self, claimed: Claimed) -> PipelineResult<Outcome> {
        let Claimed { request, mut tasks } = claimed;
        let now = self.cx.clock.now();
        let mut step = Step::default();
        if now >= request.deadline {
            let secs = (request.deadline.0 - request.created.0) / 1000;
            let why = format!("did not complete within the {secs}-second deadline");
            return self.fail_pending(&request, &mut tasks, step, &why).await;
        }
        let password = match self.decrypt(&request, now).await? {
            Decrypted::Password(p) => p,
            Decrypted::Refused(msg) => {
                return self.finish(&request, &mut tasks, step, vec![msg]).await
            }
            Decrypted::NotNow(why) => return self.retry_later(&request, now, &why).await,
        };
        let targets = self.load_targets(&request, &tasks).await?;
        let mut validated = false;
        if !request.validated {
            let violations = match self.check_policy(&request, &targets, &password).await? {
                PolicyCheck::Done(violations) => violations,
                PolicyCheck::Unavailable(why) => {
                    // The breach corpus could not answer and fails closed: wait for it, and
                    // say why if the deadline comes first.
                    if now.plus_millis(1000) >= request.deadline {
                        let msg = format!("The password could not be checked against known data breaches before the deadline ({why}); try again later.");
                        return self.finish(&request, &mut tasks, step, vec![msg]).await;
                    }
                    return self.retry_later(&request, now, &why).await;
                }
            };
            if !violations.is_empty() && !self.propagate_despite(&request, &violations).await? {
                return self.finish(&request, &mut tasks, step, violations).await;
            }
            validated = true;
        }
        self.deliver(
            &request, &mut tasks, &mut step, &targets, &password, validated,
        )
        .await?;
        if tasks.iter().any(|t| t.state == TaskState::Pending) {
            let next = tasks
                .iter()
                .filter(|t| t.state == TaskState::Pending)
                .map(|t| t.next_attempt_at)
                .min()
                .unwrap_or(now);
            let next = Millis(next.0.min(request.deadline.0));
            let end = StepEnd::Release {
                next_attempt_at: next,
            };
            self.record(&request, step, end).await?;
            return Ok(Outcome::Progressed(request.id));
        }
        self.finish(&request, &mut tasks, step, Vec::new()).await
    }

    /// Writes what a step did, in one group-committed transaction, retried while the store
    /// is away (until the request's deadline).
    async fn record(
        &self,
        request: &PasswordChangeRequest,
        step: Step,
        end: StepEnd,
    ) -> PipelineResult<()> {
        let record = StepRecord {
            request_id: request.id.clone(),
            owner: self.owner.clone(),
            tasks: step.tasks,
            audit: step.audit,
            end,
        };
        let store = self.cx.store.clone();
        self.durably(self.record_until(request), "the step's outcome", || {
            store.record_step(record.clone())
        })
        .await
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
        // One decryption per core at a time: a batch of claims must not become a crowd of
        // blocking threads taking turns on the cores.
        let _turn = decryptions()
            .acquire()
            .await
            .map_err(PipelineError::internal)?;
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
        mut step: Step,
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
            let ended = Ended::Failed(format!("the password change {why}{last}{unknown}"));
            self.end_task(request, task, &mut step, &name, ended);
        }
        self.finish(request, tasks, step, Vec::new()).await
    }

    /// Ends the request with the step's record. Tasks still pending become failed (a
    /// request-level error stopped them).
    async fn finish(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        mut step: Step,
        errors: Vec<String>,
    ) -> PipelineResult<Outcome> {
        let now = self.cx.clock.now();
        for task in tasks.iter_mut().filter(|t| t.state == TaskState::Pending) {
            task.state = TaskState::Failed;
            task.finished = Some(now);
            task.error = None;
            step.tasks.push(task.clone());
        }
        let state = overall_state(&errors, tasks);
        let errors = self.with_capture_notes(request, errors).await;
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
        step.audit.push(event);
        self.record(request, step, StepEnd::Finish { state, errors, now })
            .await?;
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
        let end = StepEnd::Release {
            next_attempt_at: now.plus_millis(1000),
        };
        self.record(request, Step::default(), end).await?;
        Ok(Outcome::Progressed(request.id.clone()))
    }
}

/// What a step changed, written together at its end: the tasks it attempted or ended, and
/// their audit events.
#[derive(Default)]
pub(super) struct Step {
    tasks: Vec<TargetTask>,
    audit: Vec<AuditEvent>,
}

/// The process's turns at RSA decryption, one per core.
fn decryptions() -> &'static Semaphore {
    static TURNS: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new(cores)
    })
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
