//! The workers' part of password capture: a captured password that fails the sync group's
//! policy is held or propagated (the group's `capturePolicyFailure`), and every password a
//! worker sets on an account of a capture origin is remembered (as a MAC) so that the agent's
//! report of it is recognised as an echo.

use super::Worker;
use crate::pipeline::audit::audit_event;
use crate::pipeline::capture::{echo_mac, is_capture, propagated_note, ECHO_WINDOW_MS};
use crate::pipeline::pipeline_error::PipelineResult;
use passbroker_core::account::Account;
use passbroker_core::request::PasswordChangeRequest;
use passbroker_core::Password;
use passbroker_store::CapturePolicyFailure;

impl Worker {
    /// For a captured change whose password failed the policy: `true` when the group
    /// propagates it anyway (the failed rules are kept for the status), `false` when it is
    /// held (or the change is not a captured one). Either way a captured change's failure is
    /// audited with the rules.
    pub(super) async fn propagate_despite(
        &self,
        request: &PasswordChangeRequest,
        violations: &[String],
    ) -> PipelineResult<bool> {
        if !is_capture(request) {
            return Ok(false);
        }
        let store = self.cx.store.as_ref();
        let mode = match store.sync_group_of_source(&request.source_id).await? {
            Some(group) => store.capture().capture_policy_failure(&group.id).await?,
            None => CapturePolicyFailure::Hold,
        };
        let (action, verb) = match mode {
            CapturePolicyFailure::Hold => ("PASSWORD_CAPTURE_HELD", "held"),
            CapturePolicyFailure::Propagate => (
                "PASSWORD_CAPTURE_PROPAGATED_DESPITE_POLICY",
                "propagated anyway",
            ),
        };
        if mode == CapturePolicyFailure::Propagate {
            let notes: Vec<String> = violations.iter().map(|v| propagated_note(v)).collect();
            store
                .capture()
                .set_capture_notes(&request.id, &notes)
                .await?;
        }
        let mut event = audit_event(
            &request.requested_by.to_text(),
            action,
            "INFO",
            format!(
                "a captured password failed the sync group's policy and was {verb} (capturePolicyFailure = {}); failed rules: {}",
                mode.as_str(),
                violations.join(" ")
            ),
            self.cx.clock.now(),
        );
        event.request_id = Some(request.id.to_string());
        event.source_id = Some(request.source_id.to_string());
        event.identity_id = Some(request.identity_id.to_string());
        self.audit(self.record_until(request), vec![event]).await;
        Ok(mode == CapturePolicyFailure::Propagate)
    }

    /// The errors a request ends with, plus a propagated captured change's failed rules.
    pub(super) async fn with_capture_notes(
        &self,
        request: &PasswordChangeRequest,
        mut errors: Vec<String>,
    ) -> Vec<String> {
        if is_capture(request) {
            match self.cx.store.capture().capture_notes(&request.id).await {
                Ok(notes) => errors.extend(notes),
                Err(e) => {
                    tracing::warn!(request_id = %request.id, error = %e, "could not read the captured change's policy notes")
                }
            }
        }
        errors
    }

    /// Remembers that this request sets `password` on `account`, when an agent reports
    /// changes on the account's source: its report of this very change is then an echo.
    pub(super) async fn remember_echo(
        &self,
        request: &PasswordChangeRequest,
        account: &Account,
        password: &Password,
    ) -> PipelineResult<()> {
        let capture = self.cx.store.capture();
        if !capture.is_capture_origin(&account.source_id).await? {
            return Ok(());
        }
        let mac = echo_mac(self.cx.keys.secrets(), &account.id, password);
        let now = self.cx.clock.now();
        capture
            .record_echo(
                &account.id,
                &mac,
                &request.id,
                now,
                now.plus_millis(-ECHO_WINDOW_MS),
            )
            .await?;
        Ok(())
    }
}
