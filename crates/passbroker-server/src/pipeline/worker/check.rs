//! The policy step: every rule of the effective policy, the password history (argon2id, off
//! the async threads) and the breach corpus, checked once per request.

use super::{Targets, Worker};
use crate::pipeline::audit::{audit_event, Audit};
use crate::pipeline::breach::{seen_message, Seen};
use crate::pipeline::pipeline_error::{PipelineError, PipelineResult};
use crate::pipeline::policy::{dictionary, history_depth};
use passbroker_core::account::Account;
use passbroker_core::policy::eval::{evaluate, is_common_password, PolicyContext};
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::PasswordChangeRequest;
use passbroker_core::Password;

/// The outcome of the policy step.
pub(super) enum PolicyCheck {
    /// Every failed rule (none: the password passes).
    Done(Vec<String>),
    /// A rule could not be checked yet (the breach corpus did not answer); try again later.
    Unavailable(String),
}

impl Worker {
    /// Every failed rule, as sentences. Includes history and the breach corpus.
    pub(super) async fn check_policy(
        &self,
        request: &PasswordChangeRequest,
        targets: &Targets,
        password: &Password,
    ) -> PipelineResult<PolicyCheck> {
        let store = self.cx.store.as_ref();
        let policy = targets
            .policies
            .get(&request.source_id)
            .ok_or_else(|| PipelineError::Permanent("the source no longer exists".into()))?;
        let dictionary = dictionary(store).await?;
        let identity = store
            .get_identity(&request.identity_id)
            .await?
            .ok_or_else(|| PipelineError::Permanent("the identity no longer exists".into()))?;
        // The named account is one of the request's targets, already loaded.
        let named = match targets
            .accounts
            .iter()
            .flatten()
            .find(|a| a.id == request.account_ref)
        {
            Some(a) => Some(a.clone()),
            None => store.get_account(&request.account_ref).await?,
        };
        let mut account_values: Vec<&str> = Vec::new();
        for a in targets.accounts.iter().flatten() {
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
        let mut messages: Vec<String> = evaluate(policy, password, &ctx)
            .into_iter()
            .map(|v| v.message)
            .collect();
        if let Some(message) = self
            .check_history(policy, &targets.accounts, password)
            .await?
        {
            messages.push(message);
        }
        if policy.checks_breaches() {
            match self.check_breach(request, policy, password).await {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => {}
                Err(why) => return Ok(PolicyCheck::Unavailable(why)),
            }
        }
        Ok(PolicyCheck::Done(messages))
    }

    /// The history rule: a message when the password is one of the last `historyDepth` of
    /// any target account.
    async fn check_history(
        &self,
        policy: &PasswordPolicy,
        accounts: &[Option<Account>],
        password: &Password,
    ) -> PipelineResult<Option<String>> {
        let depth = history_depth(policy);
        if depth == 0 {
            return Ok(None);
        }
        for a in accounts.iter().flatten() {
            let hashes = self.cx.store.history(&a.id, depth).await?;
            let secret = zeroize::Zeroizing::new(password.expose().as_bytes().to_vec());
            let reused = tokio::task::spawn_blocking(move || {
                hashes
                    .iter()
                    .any(|h| passbroker_crypto::password_hash::verify(&secret, h))
            })
            .await?;
            if reused {
                return Ok(Some(format!("The password must not be one of the last {depth} passwords used for this account.")));
            }
        }
        Ok(None)
    }

    /// The breach rule: `Ok(Some(message))` when the corpus has seen the password at least
    /// `breachedMinCount` times; without a corpus, the built-in common-password list stands in.
    /// `Err` when the corpus cannot answer and the server fails closed; failing open is
    /// audited.
    async fn check_breach(
        &self,
        request: &PasswordChangeRequest,
        policy: &PasswordPolicy,
        password: &Password,
    ) -> Result<Option<String>, String> {
        let breach = &self.cx.breach;
        match breach.seen(password).await {
            Ok(Seen::Times(n)) if i64::from(n) >= policy.breached_min_count.max(1) => {
                Ok(Some(seen_message(n)))
            }
            Ok(Seen::Times(_) | Seen::NotSeen) => Ok(None),
            // The built-in list stands in; the NIST profile and blockCommonPasswords already
            // report a password on it.
            Ok(Seen::NoCorpus) => Ok((!policy.nist_profile
                && !policy.block_common_passwords
                && is_common_password(password))
            .then(|| seen_message(0))),
            Err(e) if breach.fails_open() => {
                let mut event = audit_event(
                    "system",
                    "BREACH_CHECK_SKIPPED",
                    "INFO",
                    format!("the breached-password rule was skipped (breach_upstream_failure = open): {e}"),
                    self.cx.clock.now(),
                );
                event.request_id = Some(request.id.to_string());
                Audit::record(self.cx.store.as_ref(), vec![event]).await;
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
