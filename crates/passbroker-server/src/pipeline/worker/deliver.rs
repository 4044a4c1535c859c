//! The delivery step: the attempts of every pending, due task are marked started in one write,
//! each target is called (asked first when an earlier attempt's outcome is unknown), and each
//! outcome is recorded with its audit event as it comes (the last one with the step's record).

use super::{Step, Targets, Worker};
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
use passbroker_store::StepEnd;
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
    /// Calls every pending, due task's target at once, after marking the attempts started
    /// (and, with `validated`, the policy passed) in one write; each outcome goes into `step`.
    pub(super) async fn deliver(
        &self,
        request: &PasswordChangeRequest,
        tasks: &mut [TargetTask],
        step: &mut Step,
        targets: &Targets,
        password: &Password,
        validated: bool,
    ) -> PipelineResult<()> {
        let now = self.cx.clock.now();
        let mut calls = Vec::new();
        for (i, (task, account)) in tasks.iter_mut().zip(&targets.accounts).enumerate() {
            if task.state != TaskState::Pending || task.next_attempt_at > now {
                continue;
            }
            let (Some(source), Some(account)) = (targets.sources.get(&task.source_id), account)
            else {
                let why = "the account or its source no longer exists";
                self.end_task(request, task, step, "?", Ended::Failed(why.into()));
                continue;
            };
            let name = source.name.as_str().to_owned();
            let (connector, turns) = match self.cx.connectors.get(source).await {
                Ok(c) => c,
                Err(e) => {
                    let why = format!("the source is misconfigured ({e})");
                    self.end_task(request, task, step, &name, Ended::Failed(why));
                    continue;
                }
            };
            self.remember_echo(request, account, password).await?;
            let in_doubt = task.attempt_started.is_some();
            task.attempts += 1;
            task.attempt_started = Some(self.cx.clock.now());
            let target = Target {
                source,
                account,
                policy: targets.policies.get(&task.source_id),
                name,
            };
            calls.push((i, target, connector, turns, in_doubt));
        }
        if !calls.is_empty() || validated {
            let started: Vec<TargetTask> = calls.iter().map(|c| tasks[c.0].clone()).collect();
            let held = self
                .cx
                .store
                .start_attempts(&request.id, &self.owner, validated, &started)
                .await
                .map_err(|e| {
                    PipelineError::from(e).context("could not mark the attempts as started")
                })?;
            if !held {
                return Err(PipelineError::Permanent(
                    "the request's lease was lost to another worker".into(),
                ));
            }
        }
        // Outcomes are recorded as they come: each with one write while other calls of the
        // step are still out (so a fast target's result shows at once), the last one with
        // the step's record.
        let mut pending: futures::stream::FuturesUnordered<_> = calls
            .iter()
            .enumerate()
            .map(|(n, (i, target, connector, turns, in_doubt))| {
                let task = tasks[*i].clone();
                async move {
                    let _turn = turns.acquire().await.map_err(PipelineError::internal)?;
                    let called = self
                        .call_target(connector.as_ref(), &task, target, password, *in_doubt)
                        .await;
                    Ok::<_, PipelineError>((n, called))
                }
            })
            .collect();
        while let Some(done) = futures::StreamExt::next(&mut pending).await {
            let (n, called) = done?;
            let (i, target, ..) = &calls[n];
            let mut outcome = Step::default();
            self.record_call(
                request,
                &mut tasks[*i],
                &mut outcome,
                target,
                password,
                called,
            )
            .await?;
            if pending.is_empty() {
                step.tasks.append(&mut outcome.tasks);
                step.audit.append(&mut outcome.audit);
            } else {
                self.record(request, outcome, StepEnd::Continue).await?;
            }
        }
        Ok(())
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
        step: &mut Step,
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
                self.end_task(request, task, step, name, ended);
                Ok(())
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
                step.tasks.push(task.clone());
                Ok(())
            }
            Called::Error(ConnectorError::Transient(msg)) => {
                let attempts = task.attempts;
                let why = format!("{msg} (gave up after {attempts} attempts)");
                self.end_task(request, task, step, name, Ended::Failed(why));
                Ok(())
            }
            Called::Error(e) => {
                self.end_task(request, task, step, name, Ended::Failed(e.to_string()));
                Ok(())
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

    /// Ends a task (in memory) and adds it, with its audit event, to the step's record.
    pub(super) fn end_task(
        &self,
        request: &PasswordChangeRequest,
        task: &mut TargetTask,
        step: &mut Step,
        source_name: &str,
        ended: Ended,
    ) {
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
        step.tasks.push(task.clone());
        step.audit.push(event);
    }
}
