//! Password sync groups: `GET/POST /password-sync-groups`, `GET/PUT/DELETE
//! /password-sync-groups/{id}`. A group has a policy and at least two sources with the
//! `PASSWORD` feature; a source belongs to at most one group. (The fan-out itself lives in
//! set-password and the workers.)

use super::admin_support::{causes, paged};
use super::extract::{ApiJson, ApiPath, Paging};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::rfc3339;
use crate::http::state::AppState;
use crate::operation;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::{PolicyId, SourceId, SyncGroupId};
use passbroker_store::{CapturePolicyFailure, Page, WriteOp};
use serde::Deserialize;
use serde_json::{json, Value};

operation!(
    ReadSyncGroups,
    "getPasswordSyncGroups/getPasswordSyncGroup",
    Access::AppsAndAdmins,
    [
        "idn:password-sync-group:read",
        "idn:password-sync-group:manage"
    ]
);
operation!(
    ManageSyncGroups,
    "createPasswordSyncGroup/updatePasswordSyncGroup/deletePasswordSyncGroup",
    Access::AdminsOnly,
    ["idn:password-sync-group:manage"]
);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupBody {
    id: Option<String>,
    name: Option<String>,
    password_policy_id: Option<String>,
    source_ids: Option<Vec<String>>,
    /// passbroker's own: what a captured password that fails the group's policy does,
    /// `hold` (the default) or `propagate`.
    capture_policy_failure: Option<String>,
    #[allow(dead_code)] // read-only: accepted and ignored
    created: Option<Value>,
    #[allow(dead_code)] // read-only: accepted and ignored
    modified: Option<Value>,
}

pub fn group_json(g: &PasswordSyncGroup) -> Value {
    json!({
        "id": g.id.to_string(), "name": g.name, "passwordPolicyId": g.password_policy_id.to_string(),
        "sourceIds": g.source_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "created": rfc3339(g.created), "modified": rfc3339(g.modified),
    })
}

/// The group's JSON with its capture setting.
async fn group_doc(state: &AppState, g: &PasswordSyncGroup) -> ApiResult<Value> {
    let mode = state.store.capture().capture_policy_failure(&g.id).await?;
    let mut doc = group_json(g);
    doc["capturePolicyFailure"] = json!(mode.as_str());
    Ok(doc)
}

/// The body's capture setting, checked (`None`: not given, keep the current one).
fn capture_mode(body: &GroupBody) -> ApiResult<Option<CapturePolicyFailure>> {
    match body.capture_policy_failure.as_deref() {
        None => Ok(None),
        Some(m) => CapturePolicyFailure::parse(m).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "capturePolicyFailure: must be \"hold\" or \"propagate\", not {m:?}"
            ))
        }),
    }
}

async fn save_capture_mode(
    state: &AppState,
    group: &PasswordSyncGroup,
    mode: Option<CapturePolicyFailure>,
) -> ApiResult<()> {
    if let Some(mode) = mode {
        state
            .store
            .capture()
            .set_capture_policy_failure(&group.id, mode)
            .await?;
    }
    Ok(())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no password sync group {id:?}"))
}

async fn load(state: &AppState, id: &str) -> ApiResult<PasswordSyncGroup> {
    let group_id = SyncGroupId::parse(id).map_err(|_| not_found(id))?;
    state
        .store
        .get_sync_group(&group_id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Checks every rule of a group body; all problems are reported together.
async fn check(
    state: &AppState,
    body: &GroupBody,
    own: Option<&SyncGroupId>,
) -> ApiResult<(String, PolicyId, Vec<SourceId>)> {
    let mut problems = Vec::new();
    let name = body.name.clone().unwrap_or_default();
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        problems.push("name: is required (1 to 128 characters, no control characters)".to_owned());
    }
    let (groups, _) = state.store.list_sync_groups(Page::all()).await?;
    if groups.iter().any(|g| g.name == name && Some(&g.id) != own) {
        problems.push(format!(
            "name: a password sync group named {name:?} already exists"
        ));
    }
    let mut policy = None;
    match body.password_policy_id.as_deref() {
        None | Some("") => problems.push("passwordPolicyId: is required".to_owned()),
        Some(p) => match PolicyId::parse(p) {
            Ok(id) if state.store.get_policy(&id).await?.is_some() => policy = Some(id),
            _ => problems.push(format!("passwordPolicyId: no password policy {p:?}")),
        },
    }
    let mut ids: Vec<SourceId> = Vec::new();
    for (i, s) in body.source_ids.iter().flatten().enumerate() {
        let source = match SourceId::parse(s) {
            Ok(id) => state.store.get_source(&id).await?,
            Err(_) => None,
        };
        let Some(source) = source else {
            problems.push(format!("sourceIds[{i}]: no source {s:?}"));
            continue;
        };
        if ids.contains(&source.id) {
            problems.push(format!("sourceIds[{i}]: source {s} is listed twice"));
            continue;
        }
        if !source.supports_password() {
            problems.push(format!(
                "sourceIds[{i}]: source {:?} ({s}) does not have the PASSWORD feature",
                source.name.as_str()
            ));
        }
        if let Some(g) = groups
            .iter()
            .find(|g| Some(&g.id) != own && g.source_ids.contains(&source.id))
        {
            problems.push(format!("sourceIds[{i}]: source {:?} ({s}) already belongs to the password sync group {:?} ({}); a source belongs to at most one group", source.name.as_str(), g.name, g.id));
        }
        ids.push(source.id);
    }
    if body.source_ids.as_ref().is_none_or(|l| l.len() < 2) {
        problems.push("sourceIds: a password sync group needs at least 2 sources".to_owned());
    }
    match policy {
        Some(policy) if problems.is_empty() => Ok((name, policy, ids)),
        _ => Err(causes(problems)),
    }
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<ReadSyncGroups>,
    paging: Paging,
) -> ApiResult<Response> {
    let (groups, total) = state.store.list_sync_groups(paging.page()).await?;
    let mut docs = Vec::with_capacity(groups.len());
    for g in &groups {
        docs.push(group_doc(&state, g).await?);
    }
    Ok(paged(&paging, docs, total))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<ReadSyncGroups>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(group_doc(&state, &load(&state, &id).await?).await?))
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<ManageSyncGroups>,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<Json<Value>> {
    let (name, password_policy_id, source_ids) = check(&state, &body, None).await?;
    let mode = capture_mode(&body)?;
    let now = state.clock.now();
    let group = PasswordSyncGroup {
        id: SyncGroupId::generate(),
        name,
        password_policy_id,
        source_ids,
        created: now,
        modified: now,
    };
    state
        .store
        .apply(vec![WriteOp::UpsertSyncGroup(group.clone())])
        .await?;
    save_capture_mode(&state, &group, mode).await?;
    Ok(Json(group_doc(&state, &group).await?))
}

pub async fn update(
    State(state): State<AppState>,
    _auth: Authorized<ManageSyncGroups>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<Json<Value>> {
    let existing = load(&state, &id).await?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::bad_request(format!(
            "id: the body's id differs from the path's {id:?}"
        )));
    }
    let (name, password_policy_id, source_ids) = check(&state, &body, Some(&existing.id)).await?;
    let mode = capture_mode(&body)?;
    let group = PasswordSyncGroup {
        name,
        password_policy_id,
        source_ids,
        modified: state.clock.now(),
        ..existing
    };
    state
        .store
        .apply(vec![WriteOp::UpsertSyncGroup(group.clone())])
        .await?;
    save_capture_mode(&state, &group, mode).await?;
    Ok(Json(group_doc(&state, &group).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized<ManageSyncGroups>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let group = load(&state, &id).await?;
    state
        .store
        .apply(vec![WriteOp::DeleteSyncGroup(group.id)])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
