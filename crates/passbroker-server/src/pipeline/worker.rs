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

use crate::http::state::AppState;
use crate::pipeline::audit::audit_event;
use passbroker_connectors::{ConnectorError, SetPasswordCall, Verification};
use passbroker_core::account::Account;
use passbroker_core::policy::eval::{evaluate, PolicyContext};
use passbroker_core::request::{
    overall_state, retry_backoff_millis, Encryption, PasswordChangeRequest, RequestState,
    TargetTask, TaskState,
};
use passbroker_core::time::Millis;
use passbroker_core::{Password, RequestId};
use passbroker_store::StoreError;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

pub struct Worker {
    state: AppState,
    owner: String,
}

impl Worker {
    pub fn new(state: AppState, owner: impl Into<String>) -> Self {
        Self {
            state,
            owner: owner.into(),
        }
    }

    /// Claims and processes one due request.
    pub async fn try_run_once(&self) -> Result<Outcome, String> {
        let s = &self.state;
        let now = s.clock.now();
        let lease_ms = s.config.lease_secs * 1000;
        let Some(request) = s
            .store
            .claim_request(&self.owner, now, lease_ms)
            .await
            .map_err(|e| e.to_string())?
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
        let store = self.state.store.clone();
        let clock = self.state.clock.clone();
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
    async fn durably<T, F, Fut>(&self, deadline: Millis, what: &str, mut op: F) -> Result<T, String>
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
                    if self.state.clock.now() < deadline =>
                {
                    if !warned {
                        tracing::warn!(error = %e, "could not record {what}; retrying until the store answers");
                        warned = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(format!("could not record {what}: {e}")),
            }
        }
    }

    /// Writes audit events, retrying like [`Worker::durably`]; a failure past the deadline
    /// is logged (an audit write never undoes what it describes).
    async fn audit(&self, deadline: Millis, events: Vec<passbroker_core::audit::AuditEvent>) {
        let store = self.state.store.clone();
        if let Err(e) = self
            .durably(deadline, "audit events", || store.append_audit(&events))
            .await
        {
            tracing::error!(error = %e, count = events.len(), "could not write audit events");
        }
    }

    async fn process(&self, request: PasswordChangeRequest) -> Result<Outcome, String> {
        let s = &self.state;
        let now = s.clock.now();
        let mut tasks = s
            .store
            .tasks_of_request(&request.id)
            .await
            .map_err(|e| e.to_string())?;
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
        let Some(ciphertext) = request.ciphertext.clone() else {
            return self
                .finish(&request, &mut tasks, vec![PAYLOAD_INVALID.into()])
                .await;
        };
        let key = match s.keys.decryption_key(&request.public_key_id, now).await {
            Ok(k) => k,
            Err(crate::pipeline::keyring::KeyLookupError::Internal(e)) => {
                return self.retry_later(&request, now, &e).await
            }
            Err(_) => {
                let msg = format!("The encryption key {} was retired before the change ran; call query-password-info for the current key and try again", request.public_key_id);
                return self.finish(&request, &mut tasks, vec![msg]).await;
            }
        };
        let encryption = request.encryption;
        let decrypted = tokio::task::spawn_blocking(move || match encryption {
            Encryption::Pkcs1v15 => key.decrypt_pkcs1v15(&ciphertext),
            Encryption::OaepSha256 => key.decrypt_oaep_sha256(&ciphertext),
        })
        .await
        .map_err(|e| e.to_string())?;
        let password = match decrypted.ok().map(Password::from_utf8) {
            Some(Ok(p)) if usable(&p) => p,
            _ => {
                return self
                    .finish(&request, &mut tasks, vec![PAYLOAD_INVALID.into()])
                    .await
            }
        };
        let accounts = self.load_accounts(&tasks).await?;
        if !request.validated {
            let violations = match self.check_policy(&request, &accounts, &password).await? {
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
            if !violations.is_empty() {
                return self.finish(&request, &mut tasks, violations).await;
            }
            s.store
                .mark_validated(&request.id)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.deliver(&request, &mut tasks, &accounts, &password)
            .await?;
        if tasks.iter().any(|t| t.state == TaskState::Pending) {
            let next = tasks
                .iter()
                .filter(|t| t.state == TaskState::Pending)
                .map(|t| t.next_attempt_at)
                .min()
                .unwrap_or(now);
            let next = Millis(next.0.min(request.deadline.0));
            let store = s.store.clone();
            self.durably(self.record_until(&request), "a retry time", || {
                store.release_request(&request.id, &self.owner, next)
            })
            .await?;
            return Ok(Outcome::Progressed(request.id));
        }
        self.finish(&request, &mut tasks, Vec::new()).await
    }

    async fn load_accounts(&self, tasks: &[TargetTask]) -> Result<Vec<Option<Account>>, String> {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(
                self.state
                    .store
                    .get_account(&t.account_ref)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(out)
    }

    /// Every failed rule, as sentences. Includes history (argon2id, off the async threads)
    /// and the breach corpus.
    async fn check_policy(
        &self,
        request: &PasswordChangeRequest,
        accounts: &[Option<Account>],
        password: &Password,
    ) -> Result<PolicyCheck, String> {
        let s = &self.state;
        let source = s
            .store
            .get_source(&request.source_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the source no longer exists")?;
        let policy = crate::pipeline::policy::effective_policy(s.store.as_ref(), &source)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let dictionary = crate::pipeline::policy::dictionary(s.store.as_ref())
            .await
            .map_err(|e| format!("{e:?}"))?;
        let identity = s
            .store
            .get_identity(&request.identity_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the identity no longer exists")?;
        // The named account is one of the request's targets, already loaded.
        let named = match accounts
            .iter()
            .flatten()
            .find(|a| a.id == request.account_ref)
        {
            Some(a) => Some(a.clone()),
            None => s
                .store
                .get_account(&request.account_ref)
                .await
                .map_err(|e| e.to_string())?,
        };
        let mut account_values: Vec<&str> = Vec::new();
        for a in accounts.iter().flatten() {
            account_values.extend(a.attribute_values());
        }
        let ctx = PolicyContext {
            dictionary: Some(&dictionary),
            identity_values: identity.attribute_values(),
            account_values,
            account_id: named.as_ref().map(|a| a.native_id.as_str()).unwrap_or(""),
            account_name: named
                .as_ref()
                .map(|a| a.account_name.as_str())
                .unwrap_or(""),
            strong_auth: false,
        };
        let mut messages: Vec<String> = evaluate(&policy, password, &ctx)
            .into_iter()
            .map(|v| v.message)
            .collect();
        let depth = u32::try_from(policy.history_depth.max(0)).unwrap_or(0);
        if depth > 0 {
            for a in accounts.iter().flatten() {
                let hashes = s
                    .store
                    .history(&a.id, depth)
                    .await
                    .map_err(|e| e.to_string())?;
                let secret = zeroize::Zeroizing::new(password.expose().as_bytes().to_vec());
                let reused = tokio::task::spawn_blocking(move || {
                    hashes
                        .iter()
                        .any(|h| passbroker_crypto::password_hash::verify(&secret, h))
                })
                .await
                .map_err(|e| e.to_string())?;
                if reused {
                    messages.push(format!("The password must not be one of the last {depth} passwords used for this account."));
                    break;
                }
            }
        }
        if policy.checks_breaches() {
            match self.check_breach(request, &policy, password).await {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => {}
                Err(why) => return Ok(PolicyCheck::Unavailable(why)),
            }
        }
        Ok(PolicyCheck::Done(messages))
    }

    /// The breach rule: `Ok(Some(message))` when the corpus has seen the password at least
    /// `breachedMinCount` times; without a corpus, the built-in common-password list stands in.
    /// `Err` when the corpus cannot answer and the server fails closed; failing open is
    /// audited.
    async fn check_breach(
        &self,
        request: &PasswordChangeRequest,
        policy: &passbroker_core::policy::PasswordPolicy,
        password: &Password,
    ) -> Result<Option<String>, String> {
        use crate::pipeline::breach::Seen;
        let s = &self.state;
        match s.breach.seen(password).await {
            Ok(Seen::Times(n)) if i64::from(n) >= policy.breached_min_count.max(1) => {
                Ok(Some(crate::pipeline::breach::seen_message(n)))
            }
            Ok(Seen::Times(_) | Seen::NotSeen) => Ok(None),
            // The built-in list stands in; the NIST profile and blockCommonPasswords already
            // report a password on it.
            Ok(Seen::NoCorpus) => Ok((!policy.nist_profile
                && !policy.block_common_passwords
                && passbroker_core::policy::eval::is_common_password(password))
            .then(|| crate::pipeline::breach::seen_message(0))),
            Err(e) if s.breach.fails_open() => {
                let mut event = crate::pipeline::audit::audit_event(
                    "system",
                    "BREACH_CHECK_SKIPPED",
                    "INFO",
                    format!("the breached-password rule was skipped (breach_upstream_failure = open): {e}"),
                    s.clock.now(),
                );
                event.request_id = Some(request.id.to_string());
                crate::pipeline::audit::Audit::record(s.store.as_ref(), vec![event]).await;
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Calls the connectors of every pending, due task, concurrently.
    async fn deliver(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        accounts: &[Option<Account>],
        password: &Password,
    ) -> Result<(), String> {
        let s = &self.state;
        let now = s.clock.now();
        let mut calls = Vec::new();
        for (task, account) in tasks.iter_mut().zip(accounts) {
            if task.state != TaskState::Pending || task.next_attempt_at > now {
                continue;
            }
            calls.push(self.deliver_one(request, task, account.as_ref(), password));
        }
        for result in futures::future::join_all(calls).await {
            result?;
        }
        Ok(())
    }

    async fn deliver_one(
        &self,
        request: &PasswordChangeRequest,
        task: &mut TargetTask,
        account: Option<&Account>,
        password: &Password,
    ) -> Result<(), String> {
        let s = &self.state;
        let source = s
            .store
            .get_source(&task.source_id)
            .await
            .map_err(|e| e.to_string())?;
        let (Some(source), Some(account)) = (source, account) else {
            return self
                .end_task(
                    request,
                    task,
                    "?",
                    Ended::Failed("the account or its source no longer exists".into()),
                )
                .await;
        };
        let name = source.name.as_str().to_owned();
        let (connector, semaphore) = match s.connectors.get(&source).await {
            Ok(c) => c,
            Err(e) => {
                return self
                    .end_task(
                        request,
                        task,
                        &name,
                        Ended::Failed(format!("the source is misconfigured ({e})")),
                    )
                    .await
            }
        };
        let _permit = semaphore.acquire_owned().await.map_err(|e| e.to_string())?;
        // An earlier attempt reached (or may have reached) the target without its outcome
        // being recorded: ask the target before writing again.
        let in_doubt = task.attempt_started.is_some();
        task.attempts += 1;
        task.attempt_started = Some(s.clock.now());
        // The mark is durable before the target is called, and only while this worker still
        // holds the lease: a worker that lost it must not call the target.
        if !s
            .store
            .start_attempt(task, &self.owner)
            .await
            .map_err(|e| format!("could not mark the attempt as started: {e}"))?
        {
            return Err("the request's lease was lost to another worker".into());
        }
        let timeout = Duration::from_millis(source.delivery.timeout_ms.max(1));
        let call = || SetPasswordCall {
            account,
            password,
            task_id: task.id.as_str(),
            attempt: task.attempts,
        };
        let timed_out = || {
            ConnectorError::Transient(format!(
                "the target did not answer within {} ms",
                timeout.as_millis()
            ))
        };
        let mut write = true;
        let mut result: Result<(), ConnectorError> = Ok(());
        if in_doubt {
            let verified = tokio::time::timeout(timeout, connector.verify_password(call()))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            match verified {
                Ok(Verification::Current) => {
                    s.metrics.target_outcome(&name, "VERIFIED");
                    self.record_history(request, &source, account, password)
                        .await?;
                    return self.end_task(request, task, &name, Ended::Verified).await;
                }
                Ok(Verification::NotCurrent | Verification::Unsupported) => {}
                // The target cannot answer now: try again later, still without writing.
                Err(ConnectorError::Transient(msg)) => {
                    write = false;
                    result = Err(ConnectorError::Transient(format!(
                        "could not check whether an interrupted attempt already changed the password: {msg}"
                    )));
                }
                // An answer that settles nothing: write (at least once, as without a check).
                Err(e) => {
                    tracing::warn!(task_id = %task.id, source = %name, error = %e, "the target could not verify an interrupted attempt; writing again");
                }
            }
        }
        if write {
            result = tokio::time::timeout(timeout, connector.set_password(call()))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
        }
        match result {
            Ok(()) => {
                s.metrics.target_outcome(&name, "SUCCEEDED");
                self.record_history(request, &source, account, password)
                    .await?;
                self.end_task(request, task, &name, Ended::Succeeded).await
            }
            // The outcome is unknown (a timeout) or the change did not happen: the mark stays,
            // so the next attempt asks the target first.
            Err(ConnectorError::Transient(msg)) if task.attempts < source.delivery.max_attempts => {
                s.metrics.target_outcome(&name, "RETRY");
                let now = s.clock.now();
                task.next_attempt_at = now.plus_millis(retry_backoff_millis(task.attempts));
                task.error = Some(format!(
                    "{name}: {msg} (attempt {}, will retry)",
                    task.attempts
                ));
                let store = s.store.clone();
                let saved = task.clone();
                self.durably(self.record_until(request), "a task's retry", || {
                    store.update_task(&saved)
                })
                .await
            }
            Err(ConnectorError::Transient(msg)) => {
                let attempts = task.attempts;
                self.end_task(
                    request,
                    task,
                    &name,
                    Ended::Failed(format!("{msg} (gave up after {attempts} attempts)")),
                )
                .await
            }
            Err(e) => {
                self.end_task(request, task, &name, Ended::Failed(e.to_string()))
                    .await
            }
        }
    }

    /// How long a worker keeps trying to record what it did: until the request's deadline,
    /// and at least a lease's length (a request that ends at its deadline is recorded too).
    fn record_until(&self, request: &PasswordChangeRequest) -> Millis {
        let lease_ms = self.state.config.lease_secs * 1000;
        Millis(
            request
                .deadline
                .0
                .max(self.state.clock.now().plus_millis(lease_ms).0),
        )
    }

    async fn record_history(
        &self,
        request: &PasswordChangeRequest,
        source: &passbroker_core::source::Source,
        account: &Account,
        password: &Password,
    ) -> Result<(), String> {
        let until = self.record_until(request);
        let store = self.state.store.clone();
        let policy = self
            .durably(until, "the password history", || {
                store.effective_policy(source)
            })
            .await?
            .unwrap_or_default();
        let depth = u32::try_from(policy.history_depth.max(0)).unwrap_or(0);
        if depth == 0 {
            return Ok(());
        }
        let secret = zeroize::Zeroizing::new(password.expose().as_bytes().to_vec());
        let hash =
            tokio::task::spawn_blocking(move || passbroker_crypto::password_hash::hash(&secret))
                .await
                .map_err(|e| e.to_string())??;
        let now = self.state.clock.now();
        self.durably(until, "the password history", || {
            store.push_history(&account.id, &hash, depth, now)
        })
        .await
    }

    async fn end_task(
        &self,
        request: &PasswordChangeRequest,
        task: &mut TargetTask,
        source_name: &str,
        ended: Ended,
    ) -> Result<(), String> {
        let s = &self.state;
        let now = s.clock.now();
        task.finished = Some(now);
        task.attempt_started = None;
        let (action, outcome, detail) = match &ended {
            Ended::Succeeded => {
                task.state = TaskState::Succeeded;
                task.error = None;
                (
                    "PASSWORD_CHANGE_TARGET_SUCCEEDED",
                    "SUCCESS",
                    format!("password set on {source_name}"),
                )
            }
            Ended::Verified => {
                task.state = TaskState::Succeeded;
                task.error = None;
                (
                    "PASSWORD_CHANGE_TARGET_VERIFIED",
                    "SUCCESS",
                    format!("{source_name} already had the new password after an interrupted attempt; not written again"),
                )
            }
            Ended::Failed(msg) => {
                task.state = TaskState::Failed;
                task.error = Some(format!("{source_name}: {msg}"));
                s.metrics.target_outcome(source_name, "FAILED");
                (
                    "PASSWORD_CHANGE_TARGET_FAILED",
                    "FAILURE",
                    format!("{source_name}: {msg}"),
                )
            }
        };
        let until = self.record_until(request);
        let store = s.store.clone();
        let saved = task.clone();
        self.durably(until, "a target's outcome", || store.update_task(&saved))
            .await?;
        let mut event = audit_event(
            &request.requested_by.to_text(),
            action,
            outcome,
            detail,
            now,
        );
        event.request_id = Some(request.id.to_string());
        event.source_id = Some(task.source_id.to_string());
        event.identity_id = Some(request.identity_id.to_string());
        self.audit(until, vec![event]).await;
        Ok(())
    }

    async fn fail_pending(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        why: &str,
    ) -> Result<Outcome, String> {
        for task in tasks.iter_mut().filter(|t| t.state == TaskState::Pending) {
            let source = self
                .state
                .store
                .get_source(&task.source_id)
                .await
                .map_err(|e| e.to_string())?;
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
    ) -> Result<Outcome, String> {
        let s = &self.state;
        let now = s.clock.now();
        let until = self.record_until(request);
        let store = s.store.clone();
        for task in tasks.iter_mut().filter(|t| t.state == TaskState::Pending) {
            task.state = TaskState::Failed;
            task.finished = Some(now);
            task.error = None;
            let saved = task.clone();
            self.durably(until, "a task's end", || store.update_task(&saved))
                .await?;
        }
        let state = overall_state(&errors, tasks);
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
        s.backlog.on_finish(now);
        let _ = s.finished.send(request.id.clone());
        Ok(Outcome::Finished(request.id.clone(), state))
    }

    async fn retry_later(
        &self,
        request: &PasswordChangeRequest,
        now: Millis,
        why: &str,
    ) -> Result<Outcome, String> {
        tracing::warn!(request_id = %request.id, error = why, "request postponed");
        self.state
            .store
            .release_request(&request.id, &self.owner, now.plus_millis(1000))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Progressed(request.id.clone()))
    }
}

/// The outcome of the policy step.
enum PolicyCheck {
    /// Every failed rule (none: the password passes).
    Done(Vec<String>),
    /// A rule could not be checked yet (the breach corpus did not answer); try again later.
    Unavailable(String),
}

/// How a task ended.
enum Ended {
    /// The target took the change.
    Succeeded,
    /// The target already had the password (an interrupted attempt had changed it); nothing
    /// was written again.
    Verified,
    Failed(String),
}

/// A password must be non-empty and free of control characters to be set anywhere. This
/// also turns nearly every implicit-rejection output into the generic payload error.
fn usable(p: &Password) -> bool {
    !p.expose().is_empty() && !p.expose().chars().any(char::is_control)
}

/// Runs `count` workers until `shutdown` fires; each finishes the request in hand first.
pub async fn run(state: AppState, count: u32, shutdown: tokio::sync::watch::Receiver<bool>) {
    let node = passbroker_core::ids::new_isc_id();
    let mut handles = Vec::new();
    for n in 0..count {
        let worker = Arc::new(Worker::new(state.clone(), format!("{node}-{n}")));
        let notify = state.work_available.clone();
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
