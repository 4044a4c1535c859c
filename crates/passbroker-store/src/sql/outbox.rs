//! Writing events into the outbox, inside the transaction of the change they report.
//!
//! Each store change that reports an event calls [`push`] in its own transaction, so an
//! event exists exactly when its change committed. Events carry ids and outcomes only.

use super::{args, first, Transaction};
use crate::event_store::{types, BREACH_MESSAGE_PREFIX};
use crate::StoreResult;
use passbroker_core::request::{PasswordChangeRequest, RequestState, TargetTask, TaskState};
use passbroker_core::time::Millis;
use serde_json::{json, Value};

/// An event about to be written.
pub(crate) struct Event<'a> {
    pub kind: &'a str,
    pub subject: Option<&'a str>,
    pub data: Value,
    pub time: Millis,
}

/// An event that owns its parts (to move into a detached transaction).
pub(crate) struct OwnedEvent {
    pub kind: &'static str,
    pub subject: Option<String>,
    pub data: Value,
    pub time: Millis,
}

impl OwnedEvent {
    pub fn borrowed(&self) -> Event<'_> {
        Event {
            kind: self.kind,
            subject: self.subject.as_deref(),
            data: self.data.clone(),
            time: self.time,
        }
    }
}

/// A capture agent's report (`capture.received`, `capture.echo_dropped`).
pub(crate) fn capture(
    r: &crate::capture::CaptureReport<'_>,
    kind: &'static str,
    time: Millis,
) -> OwnedEvent {
    OwnedEvent {
        kind,
        subject: Some(r.request.as_str().to_owned()),
        data: json!({
            "requestId": r.request.as_str(),
            "identityId": r.identity.as_str(),
            "sourceId": r.source.as_str(),
            "accountId": r.account.as_str(),
            "clientId": r.client_id,
            "disposition": r.disposition,
        }),
        time,
    }
}

/// Appends `event` to the outbox in `tx`.
pub(crate) async fn push<T: Transaction>(tx: &mut T, event: &Event<'_>) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO event_outbox (id, type, subject, time, data) VALUES ($1, $2, $3, $4, $5)",
        args![
            passbroker_core::ids::new_isc_id(),
            event.kind,
            event.subject,
            event.time,
            event.data.to_string()
        ],
    )
    .await?;
    Ok(())
}

/// A request was accepted (queued with its tasks).
pub(crate) fn accepted<'a>(r: &'a PasswordChangeRequest, tasks: &[TargetTask]) -> Event<'a> {
    Event {
        kind: types::CHANGE_ACCEPTED,
        subject: Some(r.id.as_str()),
        data: json!({
            "requestId": r.id.as_str(),
            "identityId": r.identity_id.as_str(),
            "sourceId": r.source_id.as_str(),
            "accountId": r.account_ref.as_str(),
            "requestedBy": r.requested_by.to_text(),
            "targets": tasks.iter().map(|t| json!({
                "taskId": t.id.as_str(),
                "sourceId": t.source_id.as_str(),
                "accountId": t.account_ref.as_str(),
            })).collect::<Vec<_>>(),
        }),
        time: r.created,
    }
}

/// A task reached its end (`None` while it is pending).
pub(crate) fn task_ended(t: &TargetTask) -> Option<Event<'_>> {
    let kind = match t.state {
        TaskState::Pending => return None,
        TaskState::Succeeded => types::TARGET_SUCCEEDED,
        TaskState::Failed => types::TARGET_FAILED,
    };
    Some(Event {
        kind,
        subject: Some(t.request_id.as_str()),
        data: json!({
            "requestId": t.request_id.as_str(),
            "taskId": t.id.as_str(),
            "sourceId": t.source_id.as_str(),
            "accountId": t.account_ref.as_str(),
            "outcome": t.state.as_str(),
            "attempts": t.attempts,
            "error": t.error,
        }),
        time: t
            .finished
            .or(t.attempt_started)
            .unwrap_or(t.next_attempt_at),
    })
}

/// The events of a request's end: finished or failed, and, for a failure with rules, the
/// policy rejection (and the breached-password refusal when that rule is among them).
pub(crate) fn request_ended<'a>(
    id: &'a str,
    identity_id: &str,
    source_id: &str,
    state: RequestState,
    errors: &[String],
    now: Millis,
) -> Vec<Event<'a>> {
    let outcome = match state {
        RequestState::Finished => "FINISHED",
        RequestState::Failed => "FAILED",
        RequestState::InProgress => return Vec::new(),
    };
    let data = json!({
        "requestId": id,
        "identityId": identity_id,
        "sourceId": source_id,
        "outcome": outcome,
        "errors": errors,
    });
    let event = |kind, data| Event {
        kind,
        subject: Some(id),
        data,
        time: now,
    };
    let mut out = vec![event(
        if state == RequestState::Finished {
            types::CHANGE_FINISHED
        } else {
            types::CHANGE_FAILED
        },
        data.clone(),
    )];
    if state == RequestState::Failed && !errors.is_empty() {
        out.push(event(types::POLICY_REJECTED, data.clone()));
        if errors.iter().any(|e| e.starts_with(BREACH_MESSAGE_PREFIX)) {
            out.push(event(types::BREACHED_REFUSED, data));
        }
    }
    out
}

/// Ends a request's events in `tx`: reads what the events need and pushes them, unless the
/// request had already ended (a repeated finish reports nothing twice).
pub(crate) async fn push_request_ended<T: Transaction>(
    tx: &mut T,
    id: &str,
    state: RequestState,
    errors: &[String],
    now: Millis,
) -> StoreResult<()> {
    let Some(row) = first(
        tx.fetch(
            "SELECT state, identity_id, source_id FROM requests WHERE id = $1",
            args![id],
        )
        .await?,
    ) else {
        return Ok(());
    };
    if row.str("state")? != RequestState::InProgress.as_str() {
        return Ok(());
    }
    let (identity, source) = (row.text("identity_id")?, row.text("source_id")?);
    for e in request_ended(id, &identity, &source, state, errors, now) {
        push(tx, &e).await?;
    }
    Ok(())
}

/// A digit token was issued (the token itself is never in an event).
pub(crate) fn digit_token_issued(t: &crate::DigitToken) -> Event<'_> {
    Event {
        kind: types::DIGIT_TOKEN_ISSUED,
        subject: Some(t.identity_id.as_str()),
        data: json!({
            "tokenId": t.id,
            "identityId": t.identity_id.as_str(),
            "expires": t.expires.0,
            "issuedBy": t.created_by,
        }),
        time: t.created,
    }
}

/// A digit token was redeemed.
pub(crate) fn digit_token_redeemed<'a>(id: &str, identity_id: &'a str, now: Millis) -> Event<'a> {
    Event {
        kind: types::DIGIT_TOKEN_REDEEMED,
        subject: Some(identity_id),
        data: json!({ "tokenId": id, "identityId": identity_id }),
        time: now,
    }
}

/// The RSA key ring rotated to a new active key.
pub(crate) fn key_rotated(
    key: &passbroker_core::keys::StoredRsaKey,
    now: Millis,
) -> Event<'static> {
    Event {
        kind: types::KEY_ROTATED,
        subject: None,
        data: json!({ "publicKeyId": key.id.as_str(), "state": key.state.as_str() }),
        time: now,
    }
}
