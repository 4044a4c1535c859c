//! Operator endpoints beyond ISC's password family: audit events and personal access tokens.

use super::extract::{ApiJson, ApiPath, Paging};
use crate::http::auth::{Access, Authorized, Principal};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::client::{parse_scopes, PersonalAccessToken, SCOPE_ALL};
use passbroker_store::AuditFilter;
use serde::Deserialize;
use serde_json::json;

operation!(
    ListAuditEvents,
    "list-audit-events",
    Access::AppsAndAdmins,
    ["idn:audit:read"]
);
// Users manage their own PATs; an API client (an operator's tool) may list and revoke any
// PAT only with `sp:scopes:all`.
operation!(
    ManagePats,
    "personal-access-tokens",
    Access::AppsAndUsers,
    ["sp:scopes:all"]
);

fn total_header(paging: &Paging, total: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    if paging.count {
        h.insert("x-total-count", HeaderValue::from(total));
    }
    h
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    request_id: Option<String>,
    identity_id: Option<String>,
    action: Option<String>,
}

pub async fn list_audit(
    State(state): State<AppState>,
    _auth: Authorized<ListAuditEvents>,
    paging: Paging,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let filter = AuditFilter {
        request_id: q.request_id,
        identity_id: q.identity_id,
        action: q.action,
    };
    let (events, total) = state.store.list_audit(&filter, paging.page()).await?;
    let body: Vec<serde_json::Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id.to_string(), "created": crate::http::routes::rfc3339(e.at), "actor": e.actor, "action": e.action,
                "requestId": e.request_id, "sourceId": e.source_id, "identityId": e.identity_id,
                "outcome": e.outcome, "detail": e.detail,
            })
        })
        .collect();
    Ok((total_header(&paging, total), Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePat {
    name: Option<String>,
    scope: Option<Vec<String>>,
}

fn pat_json(p: &PersonalAccessToken) -> serde_json::Value {
    json!({
        "id": p.id, "name": p.name, "scope": p.scopes, "owner": { "type": "IDENTITY", "id": p.owner.to_string() },
        "created": crate::http::routes::rfc3339(p.created), "lastUsed": p.last_used.map(crate::http::routes::rfc3339),
    })
}

/// `POST /beta/personal-access-tokens` (ISC's shape): a user creates a PAT for themself.
pub async fn create_pat(
    State(state): State<AppState>,
    auth: Authorized<ManagePats>,
    ApiJson(body): ApiJson<CreatePat>,
) -> ApiResult<Response> {
    let Principal::User(user) = auth.principal else {
        return Err(ApiError::forbidden(
            "personal access tokens belong to users; call this with a user's token",
        ));
    };
    let name = body
        .name
        .filter(|n| !n.trim().is_empty() && n.chars().count() <= 128)
        .ok_or_else(|| ApiError::bad_request("name: is required (1 to 128 characters)"))?;
    let scopes = match body.scope {
        Some(list) if !list.is_empty() => parse_scopes(&list.join(" "))
            .map_err(|s| ApiError::bad_request(format!("scope: unknown scope {s:?}")))?,
        _ => vec![SCOPE_ALL.to_owned()],
    };
    let now = state.clock.now();
    // argon2id: CPU work for a blocking thread, not the runtime's.
    let owner = user.identity_id.clone();
    let (pat, secret) = tokio::task::spawn_blocking(move || {
        crate::ops::credentials::new_pat(&owner, &name, scopes, now)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    state.store.insert_pat(&pat).await?;
    let mut body = pat_json(&pat);
    body["secret"] = json!(secret.as_str());
    Ok((StatusCode::OK, Json(body)).into_response())
}

pub async fn list_pats(
    State(state): State<AppState>,
    auth: Authorized<ManagePats>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let pats = match &auth.principal {
        Principal::User(u) => state.store.list_pats(Some(&u.identity_id)).await?,
        Principal::App(_) => state.store.list_pats(None).await?,
    };
    Ok(Json(
        pats.iter().filter(|p| !p.revoked).map(pat_json).collect(),
    ))
}

pub async fn delete_pat(
    State(state): State<AppState>,
    auth: Authorized<ManagePats>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let pat = state
        .store
        .get_pat(&id)
        .await?
        .filter(|p| !p.revoked)
        .ok_or_else(|| ApiError::not_found(format!("no personal access token {id:?}")))?;
    if let Principal::User(u) = &auth.principal {
        if u.identity_id != pat.owner && u.level != passbroker_core::identity::UserLevel::OrgAdmin {
            return Err(ApiError::not_found(format!(
                "no personal access token {id:?}"
            )));
        }
    }
    state.store.revoke_pat(&pat.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
