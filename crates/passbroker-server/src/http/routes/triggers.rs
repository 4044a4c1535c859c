//! Events as ISC's Triggers API: `GET /triggers` (passbroker's triggers),
//! `/trigger-subscriptions` (create, list, get, update, patch, delete) on `/beta`, and on
//! `/v2024` / `/v2025` with `X-SailPoint-Experimental: true`; passbroker's own
//! `/passbroker/v1/trigger-subscriptions/{id}/…`: rotate the signing secret, list dead
//! letters, replay them.

use super::admin_support::{
    paged, query_filters, query_param, unsupported_filter, ExperimentalGate,
};
use super::extract::{ApiJson, ApiPath, Paging};
use super::json_patch;
use super::trigger_doc::{document, parse, Parsed, MAX_SUBSCRIPTIONS};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::events::wire::new_secret;
use crate::pipeline::events::{
    example_data, input_schema, unwrap_secrets, wrap_secrets, SigningSecret, SubscriptionSecrets,
    TRIGGERS,
};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_store::{Match, Subscription};
use serde_json::{json, Value};

operation!(
    ReadTriggers,
    "trigger-subscriptions (read)",
    Access::AppsAndAdmins,
    [
        "sp:trigger-service-subscriptions:read",
        "sp:trigger-service-subscriptions:manage"
    ]
);
operation!(
    ManageTriggers,
    "trigger-subscriptions",
    Access::AppsAndAdmins,
    ["sp:trigger-service-subscriptions:manage"]
);

/// How long the previous signing secret still signs after a rotation.
const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

pub async fn list_triggers(
    _auth: Authorized<ReadTriggers>,
    _gate: ExperimentalGate,
    paging: Paging,
    uri: Uri,
) -> ApiResult<Response> {
    let mut id = None;
    for term in query_filters(uri.query())? {
        match (term.field.as_str(), term.matcher) {
            ("id", Match::Eq(v)) => id = Some(v),
            (f, _) => return Err(unsupported_filter(f, "id (eq)")),
        }
    }
    let all: Vec<Value> = TRIGGERS
        .iter()
        .filter(|t| id.as_deref().is_none_or(|i| i == t.id))
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "type": "FIRE_AND_FORGET",
                "description": t.description,
                "inputSchema": input_schema(t.event_type).to_string(),
                "exampleInput": example_data(t.event_type),
            })
        })
        .collect();
    let total = all.len() as u64;
    let page = all
        .into_iter()
        .skip(usize::try_from(paging.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(paging.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(paged(&paging, page, total))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Subscription> {
    state
        .store
        .events()
        .get_subscription(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no trigger subscription {id}")))
}

fn secrets_of(state: &AppState, s: &Subscription) -> ApiResult<SubscriptionSecrets> {
    unwrap_secrets(&state.secrets, &s.wrapped_secrets).map_err(ApiError::internal)
}

/// Stores the parsed body into `sub` (new credentials replace the stored ones).
fn apply(
    state: &AppState,
    sub: &mut Subscription,
    parsed: Parsed,
    mut secrets: SubscriptionSecrets,
) -> ApiResult<()> {
    secrets.basic_password = parsed.basic_password.clone();
    secrets.bearer_token = parsed.bearer_token.clone();
    sub.name = parsed.name.clone();
    sub.trigger_id = parsed.trigger_id.clone();
    sub.config = parsed.config.to_string();
    sub.filter = parsed.filter.clone();
    sub.enabled = parsed.enabled;
    sub.wrapped_secrets = wrap_secrets(&state.secrets, &secrets).map_err(ApiError::internal)?;
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<ManageTriggers>,
    _gate: ExperimentalGate,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let parsed = parse(&body, None)?;
    let events = state.store.events();
    if events.list_subscriptions().await?.len() >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_SUBSCRIPTIONS} trigger subscriptions; delete one first"
        )));
    }
    let now = state.clock.now();
    let secret = new_secret();
    let mut secrets = SubscriptionSecrets::default();
    secrets.signing.push(SigningSecret {
        secret: secret.clone(),
        expires: None,
    });
    let mut sub = Subscription {
        id: passbroker_core::ids::new_isc_id(),
        name: String::new(),
        trigger_id: String::new(),
        config: String::new(),
        filter: None,
        enabled: true,
        wrapped_secrets: Vec::new(),
        created: now,
        modified: now,
        last_seq: 0,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
    };
    apply(&state, &mut sub, parsed, secrets)?;
    events.create_subscription(&sub).await?;
    tracing::info!(subscription = %sub.id, trigger = %sub.trigger_id, "trigger subscription created");
    let mut doc = document(&sub);
    doc["signingSecret"] = Value::String(secret);
    // ISC's published API answers 201 with the Subscription.
    Ok((StatusCode::CREATED, Json(doc)))
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<ReadTriggers>,
    _gate: ExperimentalGate,
    paging: Paging,
    uri: Uri,
) -> ApiResult<Response> {
    let mut terms = Vec::new();
    for term in query_filters(uri.query())? {
        match (term.field.as_str(), term.matcher) {
            (f @ ("id" | "triggerId" | "type"), Match::Eq(v)) => terms.push((f.to_owned(), v)),
            (f, _) => return Err(unsupported_filter(f, "id (eq), triggerId (eq), type (eq)")),
        }
    }
    let mut docs: Vec<Value> = state
        .store
        .events()
        .list_subscriptions()
        .await?
        .iter()
        .map(document)
        .filter(|d| {
            terms
                .iter()
                .all(|(f, v)| d[f.as_str()].as_str() == Some(v.as_str()))
        })
        .collect();
    if let Some(sorters) = query_param(&uri, "sorters")? {
        for key in sorters.split(',').rev() {
            let (desc, field) = match key.trim().strip_prefix('-') {
                Some(f) => (true, f),
                None => (false, key.trim()),
            };
            if !matches!(field, "triggerId" | "triggerName") {
                return Err(ApiError::bad_request(format!(
                    "sorters: {field:?} cannot be sorted on; supported: triggerId, triggerName"
                )));
            }
            docs.sort_by(|a, b| {
                let o = a[field].as_str().cmp(&b[field].as_str());
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
    let total = docs.len() as u64;
    let page = docs
        .into_iter()
        .skip(usize::try_from(paging.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(paging.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(paged(&paging, page, total))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<ReadTriggers>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(document(&load(&state, &id).await?)))
}

/// Saves an updated document: `triggerId` is fixed once created (as ISC).
async fn save(state: &AppState, mut sub: Subscription, doc: Value) -> ApiResult<Json<Value>> {
    if doc.get("triggerId").and_then(Value::as_str) != Some(sub.trigger_id.as_str()) {
        return Err(ApiError::bad_request(
            "triggerId: cannot be changed; create a new subscription for another trigger",
        ));
    }
    let secrets = secrets_of(state, &sub)?;
    let parsed = parse(&doc, Some(&secrets))?;
    apply(state, &mut sub, parsed, secrets)?;
    sub.modified = state.clock.now();
    if !state.store.events().update_subscription(&sub).await? {
        return Err(ApiError::not_found(format!(
            "no trigger subscription {}",
            sub.id
        )));
    }
    Ok(Json(document(&sub)))
}

/// PUT: the fields given replace the stored ones (`triggerId` may be left out).
pub async fn update(
    State(state): State<AppState>,
    _auth: Authorized<ManageTriggers>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let sub = load(&state, &id).await?;
    let Some(given) = body.as_object() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let mut doc = document(&sub);
    for (k, v) in given {
        if k == "id" && v.as_str() != Some(sub.id.as_str()) {
            return Err(ApiError::bad_request("id: is read-only"));
        }
        doc[k.as_str()] = v.clone();
    }
    save(&state, sub, doc).await
}

/// PATCH: RFC 6902 operations on the document (`application/json-patch+json`).
pub async fn patch(
    State(state): State<AppState>,
    _auth: Authorized<ManageTriggers>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
    ApiJson(ops): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let sub = load(&state, &id).await?;
    let doc = document(&sub);
    let patched =
        json_patch::apply(&doc, &ops).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if patched.get("id") != doc.get("id") {
        return Err(ApiError::bad_request(
            "id: is read-only and cannot be patched",
        ));
    }
    save(&state, sub, patched).await
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized<ManageTriggers>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if state.store.events().delete_subscription(&id).await? {
        tracing::info!(subscription = %id, "trigger subscription deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no trigger subscription {id}")))
    }
}

/// A new signing secret, returned once; the previous one keeps signing (a second
/// signature in `webhook-signature`) for 24 hours so receivers can switch over.
pub async fn rotate_secret(
    State(state): State<AppState>,
    _auth: Authorized<ManageTriggers>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let mut sub = load(&state, &id).await?;
    let mut secrets = secrets_of(&state, &sub)?;
    let now = state.clock.now();
    let secret = new_secret();
    let previous = secrets
        .signing
        .iter()
        .find(|s| s.expires.is_none())
        .map(|s| SigningSecret {
            secret: s.secret.clone(),
            expires: Some(now.0.saturating_add(ROTATION_OVERLAP_MS)),
        });
    secrets.signing = std::iter::once(SigningSecret {
        secret: secret.clone(),
        expires: None,
    })
    .chain(previous)
    .collect();
    sub.wrapped_secrets = wrap_secrets(&state.secrets, &secrets).map_err(ApiError::internal)?;
    sub.modified = now;
    state.store.events().update_subscription(&sub).await?;
    tracing::info!(subscription = %sub.id, "trigger subscription signing secret rotated");
    Ok(Json(json!({ "id": sub.id, "signingSecret": secret })))
}

/// The delivery state and the dead letters (oldest first, at most 250).
pub async fn dead_letters(
    State(state): State<AppState>,
    _auth: Authorized<ReadTriggers>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let sub = load(&state, &id).await?;
    let letters = state.store.events().dead_letters(&id, 250).await?;
    Ok(Json(json!({
        "id": sub.id,
        "lastDelivered": sub.last_seq,
        "attempts": sub.attempts,
        "lastError": sub.last_error,
        "deadLetters": letters.iter().map(|l| json!({
            "seq": l.event.seq,
            "eventId": l.event.id,
            "type": l.event.kind,
            "subject": l.event.subject,
            "attempts": l.attempts,
            "error": l.error,
            "deadAt": super::rfc3339(l.dead_at),
            "replay": l.replay,
        })).collect::<Vec<_>>(),
    })))
}

/// Sends dead letters again (all, or `?seq=N` for one), each once, soon.
pub async fn replay(
    State(state): State<AppState>,
    _auth: Authorized<ManageTriggers>,
    ApiPath(id): ApiPath<String>,
    uri: Uri,
) -> ApiResult<Response> {
    load(&state, &id).await?;
    let seq = match query_param(&uri, "seq")? {
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::bad_request("seq: must be a dead letter's seq"))?,
        ),
        None => None,
    };
    let n = state.store.events().replay_dead_letters(&id, seq).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": n }))).into_response())
}
