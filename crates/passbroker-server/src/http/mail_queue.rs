//! The outbound mail queue as the HTTP side uses it: queue a message (wrapped under the
//! master key), and the sender task that leases due messages and hands them to the
//! [`Mailer`].

use crate::http::state::AppState;
use crate::pipeline::mail::{backoff, Mail, BATCH, MAX_ATTEMPTS, POLL_EVERY};
use passbroker_store::{OutboundMail, WrappedKind};
use tokio::sync::watch;
use zeroize::Zeroizing;

/// Queues a message (wrapped under the master key) and wakes this node's sender.
pub async fn enqueue(state: &AppState, mail: &Mail) -> Result<(), crate::http::error::ApiError> {
    let plain = Zeroizing::new(serde_json::to_vec(mail).unwrap_or_default());
    let wrapped = state
        .secrets
        .wrap(WrappedKind::OutboundMail, &plain)
        .map_err(|e| crate::http::error::ApiError::internal(e.to_string()))?;
    let now = state.clock.now();
    state
        .store
        .recovery()
        .enqueue_mail(&OutboundMail {
            id: passbroker_core::ids::new_isc_id(),
            wrapped,
            created: now,
            next_attempt_at: now,
            attempts: 0,
        })
        .await?;
    state.recovery.mailer.wake.notify_one();
    Ok(())
}

/// One round: sends what is due. Returns how many messages it handled.
pub async fn send_due(state: &AppState) -> usize {
    let mailer = &state.recovery.mailer;
    let now = state.clock.now();
    let lease = i64::try_from(state.config.smtp_timeout_secs)
        .unwrap_or(60)
        .saturating_mul(3)
        .saturating_add(30);
    let recovery = state.store.recovery();
    let due = match recovery.claim_mail(now, now.plus_secs(lease), BATCH).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading the mail queue failed; will retry");
            return 0;
        }
    };
    let handled = due.len();
    for queued in due {
        let mail = state
            .secrets
            .unwrap(WrappedKind::OutboundMail, &queued.wrapped)
            .ok()
            .and_then(|plain| serde_json::from_slice::<Mail>(&plain).ok());
        let outcome = match &mail {
            None => {
                tracing::warn!(mail_id = %queued.id, "a queued message cannot be unwrapped (master key changed?); dropped");
                recovery.delete_mail(&queued.id).await
            }
            Some(m) if m.to.is_none() => recovery.delete_mail(&queued.id).await,
            Some(_) if !mailer.enabled() => {
                tracing::warn!(mail_id = %queued.id, "mail is off (no smtp_host); a queued message was dropped");
                recovery.delete_mail(&queued.id).await
            }
            Some(m) => match mailer.send(m).await {
                Ok(()) => {
                    tracing::info!(mail_id = %queued.id, attempts = queued.attempts + 1, "mail sent");
                    recovery.delete_mail(&queued.id).await
                }
                Err(error) => {
                    let attempts = queued.attempts + 1;
                    if attempts >= MAX_ATTEMPTS {
                        tracing::error!(mail_id = %queued.id, attempts, error = %error, "mail could not be sent; given up");
                        recovery.delete_mail(&queued.id).await
                    } else {
                        tracing::warn!(mail_id = %queued.id, attempts, error = %error, "mail could not be sent; will retry");
                        let error: String = error.chars().take(500).collect();
                        recovery
                            .retry_mail(
                                &queued.id,
                                attempts,
                                backoff(state.clock.now(), attempts),
                                &error,
                            )
                            .await
                    }
                }
            },
        };
        if let Err(e) = outcome {
            tracing::warn!(mail_id = %queued.id, error = %e, "recording a message's outcome failed; it will be tried again");
        }
    }
    handled
}

/// The sender task: wakes on a queued message or every few seconds, until `stop`.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        // A full batch may have more behind it: go again at once.
        while send_due(&state).await == BATCH as usize {
            if *stop.borrow() {
                return;
            }
        }
        tokio::select! {
            _ = state.recovery.mailer.wake.notified() => {}
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
