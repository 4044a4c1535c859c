//! The delivery step: each pending, due task's target is called (asked first when an
//! earlier attempt's outcome is unknown), and each outcome recorded with its audit event.

use super::{Targets, Worker};
use crate::pipeline::audit::audit_event;
use crate::pipeline::pipeline_error::{PipelineError, PipelineResult};
use crate::pipeline::policy::history_depth;
use passbroker_connectors::{Connector, ConnectorError, SetPasswordCall, Verification};
use passbroker_core::account::Account;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::{
    retry_backoff_millis, PasswordChangeRequest, TargetTask, TaskState,
};
use passbroker_core::source::Source;
use passbroker_core::Password;
use std::time::Duration;

/// How a task ended.
pub(super) enum Ended {
    /// The target took the change.
    Succeeded,
    /// The target already had the password (an interrupted attempt had changed it); nothing
    /// was written again.
    Verified,
    Failed(String),
}

/// What calling a target gave: the change is there (written or verified), or an error.
enum Called {
    Written,
    AlreadyThere,
    Error(ConnectorError),
}

/// One task's target, resolved for a call.
struct Target<'a> {
    source: &'a Source,
    account: &'a Account,
    policy: Option<&'a PasswordPolicy>,
    name: String,
}

impl Worker {
    /// Calls the connectors of every pending, due task, concurrently.
    pub(super) async fn deliver(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        targets: &Targets,
        password: &Password,
    ) -> PipelineResult<()> {
        let now = self.cx.clock.now();
        let mut calls = Vec::new();
        for (task, account) in tasks.iter_mut().zip(&targets.accounts) {
            if task.state != TaskState::Pending || task.next_attempt_at > now {
                continue;
            }
            let target = match (targets.sources.get(&task.source_id), account) {
                (Some(source), Some(account)) => Some(Target {
                    source,
                    account,
                    policy: targets.policies.get(&task.source_id),
                    name: source.name.as_str().to_owned(),
                }),
                _ => None,
            };
            calls.push(self.deliver_one(request, task, target, password));
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
        target: Option<Target<'_>>,
        password: &Password,
    ) -> PipelineResult<()> {
        let Some(target) = target else {
            let why = "the account or its source no longer exists";
            return self
                .end_task(request, task, "?", Ended::Failed(why.into()))
                .await;
        };
        let name = target.name.as_str();
        let (connector, semaphore) = match self.cx.connectors.get(target.source).await {
            Ok(c) => c,
            Err(e) => {
                let why = format!("the source is misconfigured ({e})");
                return self.end_task(request, task, name, Ended::Failed(why)).await;
            }
        };
        let _permit = semaphore
            .acquire_owned()
            .await
            .map_err(PipelineError::internal)?;
        // An earlier attempt reached (or may have reached) the target without its outcome
        // being recorded: ask the target before writing again.
        let in_doubt = task.attempt_started.is_some();
        self.remember_echo(request, target.account, password)
            .await?;
        task.attempts += 1;
        task.attempt_started = Some(self.cx.clock.now());
        // The mark is durable before the target is called, and only while this worker still
        // holds the lease: a worker that lost it must not call the target.
        let marked = self
            .cx
            .store
            .start_attempt(task, &self.owner)
            .await
            .map_err(|e| PipelineError::from(e).context("could not mark the attempt as started"))?;
        if !marked {
            return Err(PipelineError::Permanent(
                "the request's lease was lost to another worker".into(),
            ));
        }
        let called = self
            .call_target(connector.as_ref(), task, &target, password, in_doubt)
            .await;
        self.record_call(request, task, &target, password, called)
            .await
    }

    /// Asks the target whether it has the password already (`in_doubt`), then writes it
    /// unless it has, each under the source's timeout.
    async fn call_target(
        &self,
        connector: &dyn Connector,
        task: &TargetTask,
        target: &Target<'_>,
        password: &Password,
        in_doubt: bool,
    ) -> Called {
        let timeout = Duration::from_millis(target.source.delivery.timeout_ms.max(1));
        let call = || SetPasswordCall {
            account: target.account,
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
        if in_doubt {
            let verified = tokio::time::timeout(timeout, connector.verify_password(call()))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            match verified {
                Ok(Verification::Current) => return Called::AlreadyThere,
                Ok(Verification::NotCurrent | Verification::Unsupported) => {}
                // The target cannot answer now: try again later, still without writing.
                Err(ConnectorError::Transient(msg)) => {
                    return Called::Error(ConnectorError::Transient(format!(
                        "could not check whether an interrupted attempt already changed the password: {msg}"
                    )));
                }
                // An answer that settles nothing: write (at least once, as without a check).
                Err(e) => {
                    tracing::warn!(task_id = %task.id, source = %target.name, error = %e, "the target could not verify an interrupted attempt; writing again");
                }
            }
        }
        match tokio::time::timeout(timeout, connector.set_password(call()))
            .await
            .unwrap_or_else(|_| Err(timed_out()))
        {
            Ok(()) => Called::Written,
            Err(e) => Called::Error(e),
        }
    }

    /// Records what a target call gave: success (with the history), a retry time, or failure.
    async fn record_call(
        &self,
        request: &PasswordChangeRequest,
        task: &mut TargetTask,
        target: &Target<'_>,
        password: &Password,
        called: Called,
    ) -> PipelineResult<()> {
        let name = target.name.as_str();
        let max_attempts = target.source.delivery.max_attempts;
        match called {
            Called::AlreadyThere | Called::Written => {
                let (label, ended) = match called {
                    Called::AlreadyThere => ("VERIFIED", Ended::Verified),
                    _ => ("SUCCEEDED", Ended::Succeeded),
                };
                self.cx.metrics.target_outcome(name, label);
                self.record_history(request, target, password).await?;
                self.end_task(request, task, name, ended).await
            }
            // The outcome is unknown (a timeout) or the change did not happen: the mark stays,
            // so the next attempt asks the target first.
            Called::Error(ConnectorError::Transient(msg)) if task.attempts < max_attempts => {
                self.cx.metrics.target_outcome(name, "RETRY");
                let now = self.cx.clock.now();
                task.next_attempt_at = now.plus_millis(retry_backoff_millis(task.attempts));
                task.error = Some(format!(
                    "{name}: {msg} (attempt {}, will retry)",
                    task.attempts
                ));
                let store = self.cx.store.clone();
                let saved = task.clone();
                self.durably(self.record_until(request), "a task's retry", || {
                    store.update_task(&saved)
                })
                .await
            }
            Called::Error(ConnectorError::Transient(msg)) => {
                let attempts = task.attempts;
                let why = format!("{msg} (gave up after {attempts} attempts)");
                self.end_task(request, task, name, Ended::Failed(why)).await
            }
            Called::Error(e) => {
                self.end_task(request, task, name, Ended::Failed(e.to_string()))
                    .await
            }
        }
    }

    /// Keeps the new password's hash in the account's history when its policy has a depth.
    async fn record_history(
        &self,
        request: &PasswordChangeRequest,
        target: &Target<'_>,
        password: &Password,
    ) -> PipelineResult<()> {
        let depth = target.policy.map(history_depth).unwrap_or(0);
        if depth == 0 {
            return Ok(());
        }
        let secret = zeroize::Zeroizing::new(password.expose().as_bytes().to_vec());
        let hash =
            tokio::task::spawn_blocking(move || passbroker_crypto::password_hash::hash(&secret))
                .await?
                .map_err(PipelineError::Internal)?;
        let now = self.cx.clock.now();
        let store = self.cx.store.clone();
        let account = &target.account.id;
        self.durably(self.record_until(request), "the password history", || {
            store.push_history(account, &hash, depth, now)
        })
        .await
    }

    pub(super) async fn end_task(
        &self,
        request: &PasswordChangeRequest,
        task: &mut TargetTask,
        source_name: &str,
        ended: Ended,
    ) -> PipelineResult<()> {
        let now = self.cx.clock.now();
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
                self.cx.metrics.target_outcome(source_name, "FAILED");
                (
                    "PASSWORD_CHANGE_TARGET_FAILED",
                    "FAILURE",
                    format!("{source_name}: {msg}"),
                )
            }
        };
        let until = self.record_until(request);
        let store = self.cx.store.clone();
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
}
