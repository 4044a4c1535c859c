//! Sources: `GET/POST /sources`, `GET/PUT/PATCH/DELETE /sources/{id}` (PATCH takes
//! `application/json-patch+json`), and `GET/PATCH /sources/{sourceId}/password-policies`.

use super::admin_support::{paged, query_filters, unsupported_filter};
use super::extract::{ApiJson, ApiPath, Paging};
use super::json_patch;
use super::source_doc::{source_from_doc, source_json};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::source::Source;
use passbroker_core::{PolicyId, SourceId};
use passbroker_store::{Match, SourceFilter, WriteOp};
use serde_json::{json, Value};

operation!(
    ReadSources,
    "listSources/getSource",
    Access::AppsAndAdmins,
    ["idn:sources:read", "idn:sources:manage"]
);
operation!(
    ManageSources,
    "createSource/putSource/updateSource/deleteSource",
    Access::AppsAndAdmins,
    ["idn:sources:manage"]
);
operation!(
    ReadSourcePolicies,
    "listPasswordPolicyHoldersOnSource",
    Access::AdminsOnly,
    ["idn:password-policy:read"]
);
operation!(
    ManageSourcePolicies,
    "updatePasswordPolicyHolders",
    Access::AppsAndAdmins,
    ["idn:sources:manage"]
);

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no source {id:?}"))
}

pub async fn load(state: &AppState, id: &str) -> ApiResult<Source> {
    let source_id = SourceId::parse(id).map_err(|_| not_found(id))?;
    state
        .store
        .get_source(&source_id)
        .await?
        .ok_or_else(|| not_found(id))
}

async fn save(state: &AppState, source: Source) -> ApiResult<Value> {
    state
        .store
        .apply(vec![WriteOp::UpsertSource(source.clone())])
        .await?;
    source_json(state, &source).await
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<ReadSources>,
    paging: Paging,
    uri: Uri,
) -> ApiResult<Response> {
    let mut filter = SourceFilter::default();
    for term in query_filters(uri.query())? {
        match (term.field.as_str(), &term.matcher) {
            ("id", Match::Eq(_) | Match::In(_)) => filter.id = Some(term.matcher),
            ("name", _) => filter.name = Some(term.matcher),
            (f, _) => return Err(unsupported_filter(f, "id (eq, in), name (eq, sw, in)")),
        }
    }
    let (sources, total) = state.store.search_sources(&filter, paging.page()).await?;
    let mut out = Vec::with_capacity(sources.len());
    for s in &sources {
        out.push(source_json(&state, s).await?);
    }
    Ok(paged(&paging, out, total))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<ReadSources>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let source = load(&state, &id).await?;
    Ok(Json(source_json(&state, &source).await?))
}

/// ISC answers 201 with the new source.
pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<ManageSources>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let source = source_from_doc(&state, &body, None, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(save(&state, source).await?)).into_response())
}

pub async fn put(
    State(state): State<AppState>,
    _auth: Authorized<ManageSources>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let existing = load(&state, &id).await?;
    let source = source_from_doc(&state, &body, Some(&existing), state.clock.now()).await?;
    Ok(Json(save(&state, source).await?))
}

/// RFC 6902 on the source's ISC document. A patch that fails, or whose result is not a valid
/// source, changes nothing.
pub async fn patch(
    State(state): State<AppState>,
    _auth: Authorized<ManageSources>,
    ApiPath(id): ApiPath<String>,
    ApiJson(ops): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let existing = load(&state, &id).await?;
    let doc = source_json(&state, &existing).await?;
    let patched =
        json_patch::apply(&doc, &ops).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for field in ["id", "created"] {
        if patched.get(field) != doc.get(field) {
            return Err(ApiError::bad_request(format!(
                "{field}: is read-only and cannot be patched"
            )));
        }
    }
    let source = source_from_doc(&state, &patched, Some(&existing), state.clock.now()).await?;
    Ok(Json(save(&state, source).await?))
}

/// ISC deletes asynchronously and answers 202 with a task reference; passbroker deletes at
/// once and answers the same shape.
pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized<ManageSources>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let source = load(&state, &id).await?;
    if let Some(group) = state.store.sync_group_of_source(&source.id).await? {
        return Err(ApiError::bad_request(format!(
            "id: source {:?} belongs to the password sync group {:?} ({}); remove it from the group first",
            source.name.as_str(),
            group.name,
            group.id
        )));
    }
    state
        .store
        .apply(vec![WriteOp::DeleteSource(source.id)])
        .await?;
    let body =
        json!({"type": "TASK_RESULT", "id": passbroker_core::ids::new_isc_id(), "name": null});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `PasswordPolicyHoldersDto` for a source: its policy, without selectors.
async fn holders(state: &AppState, source: &Source) -> ApiResult<Value> {
    let mut out = Vec::new();
    if let Some(id) = &source.password_policy_id {
        if let Some(p) = state.store.get_policy(id).await? {
            out.push(json!({"policyId": id.to_string(), "policyName": p.name, "selectors": {"identityAttr": []}}));
        }
    }
    Ok(Value::Array(out))
}

async fn password_source(state: &AppState, id: &str) -> ApiResult<Source> {
    let source = load(state, id).await?;
    if !source.supports_password() {
        return Err(ApiError::bad_request(format!(
            "sourceId: source {:?} does not have the PASSWORD feature",
            source.name.as_str()
        )));
    }
    Ok(source)
}

pub async fn list_policy_holders(
    State(state): State<AppState>,
    _auth: Authorized<ReadSourcePolicies>,
    _paging: Paging,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let source = password_source(&state, &id).await?;
    Ok(Json(holders(&state, &source).await?))
}

pub async fn update_policy_holders(
    State(state): State<AppState>,
    _auth: Authorized<ManageSourcePolicies>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut source = password_source(&state, &id).await?;
    let list = body.as_array().ok_or_else(|| {
        ApiError::bad_request("the body must be an array of {policyId, policyName, selectors}")
    })?;
    if list.len() > 1 {
        return Err(ApiError::bad_request(
            "passbroker applies one password policy per source; send at most one holder",
        ));
    }
    source.password_policy_id = match list.first() {
        None => None,
        Some(h) => {
            if h.pointer("/selectors/identityAttr")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return Err(ApiError::bad_request("[0].selectors.identityAttr: attribute selectors are not supported; the policy applies to the whole source"));
            }
            let pid = h.get("policyId").and_then(Value::as_str).unwrap_or("");
            match PolicyId::parse(pid) {
                Ok(p) if state.store.get_policy(&p).await?.is_some() => Some(p),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "[0].policyId: no password policy {pid:?}"
                    )))
                }
            }
        }
    };
    source.modified = state.clock.now();
    state
        .store
        .apply(vec![WriteOp::UpsertSource(source.clone())])
        .await?;
    Ok(Json(holders(&state, &source).await?))
}
