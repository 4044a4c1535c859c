//! Change notices: after a password change is accepted, an email to the identity says that
//! its password is being changed, on which sources, when, and from which address, with a
//! line to contact the help desk if it was not them. In the language of the request
//! (`Accept-Language`, the page's language cookie), from the page's catalogues.
//!
//! Sent through the durable mail queue ([`crate::pipeline::mail`]); nothing when mail is off, the
//! identity has no address, or `notify_password_changes` is false. A failure to queue is
//! logged and never fails the change.

use crate::http::routes::recovery::mail_text;
use crate::http::state::AppState;
use crate::pipeline::mail::Mail;
use axum::http::HeaderMap;
use passbroker_core::{IdentityId, SourceId};
use std::net::IpAddr;

/// Queues the notice for an accepted change of `source_id` (and its sync group).
pub async fn password_change(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    identity_id: Option<&str>,
    source_id: Option<&str>,
) {
    if !state.config.notify_password_changes || !state.recovery.mailer.enabled() {
        return;
    }
    if let Err(e) = queue(state, headers, ip, identity_id, source_id).await {
        tracing::warn!(error = ?e, "queueing a change notice failed; the change goes ahead");
    }
}

async fn queue(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    identity_id: Option<&str>,
    source_id: Option<&str>,
) -> Result<(), crate::http::error::ApiError> {
    let (Some(identity_id), Some(source_id)) = (
        identity_id.and_then(|i| IdentityId::parse(i).ok()),
        source_id.and_then(|s| SourceId::parse(s).ok()),
    ) else {
        return Ok(());
    };
    let Some(identity) = state.store.get_identity(&identity_id).await? else {
        return Ok(());
    };
    let Some(to) = identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.parse::<lettre::message::Mailbox>().is_ok())
    else {
        return Ok(());
    };
    let source_ids = match state.store.sync_group_of_source(&source_id).await? {
        Some(group) => group.source_ids,
        None => vec![source_id],
    };
    let mut names = Vec::new();
    for id in &source_ids {
        if let Some(s) = state.store.get_source(id).await? {
            names.push(s.name.as_str().to_owned());
        }
    }
    let lang = crate::http::routes::page::choose_language(headers);
    let when = crate::http::routes::rfc3339(state.clock.now());
    let address = ip.map_or_else(|| "?".to_owned(), |ip| ip.to_string());
    let name = if identity.display_name.is_empty() {
        identity.login_name.as_str()
    } else {
        identity.display_name.as_str()
    };
    let mail = Mail {
        to: Some(to.to_owned()),
        subject: mail_text(lang, "mail.changed.subject", &[]),
        text: mail_text(
            lang,
            "mail.changed.body",
            &[
                ("name", name),
                ("sources", &names.join(", ")),
                ("time", &when),
                ("address", &address),
            ],
        ),
    };
    crate::http::mail_queue::enqueue(state, &mail).await
}
