//! Identities for operators (passbroker's own API; ISC has no identity create/update):
//! `GET/POST /passbroker/v1/identities`, `GET/PUT/DELETE /passbroker/v1/identities/{id}`.
//! Lists take ISC's `filters` (`name eq "x"`, `name sw "x"`, `id in (…)`, `email eq "x"`)
//! and `limit`/`offset`/`count`.

use super::admin_support::{causes, paged, query_filters, unsupported_filter};
use super::extract::{ApiJson, ApiPath, Paging};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::directory::{build_identity, IdentityFields};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::identity::{Identity, UserLevel};
use passbroker_core::IdentityId;
use passbroker_store::{IdentityFilter, Match, WriteOp};
use serde_json::{json, Value};

operation!(
    ReadIdentities,
    "list-identities/get-identity",
    Access::AppsAndAdmins,
    ["idn:identity:read", "idn:identity:manage"]
);
operation!(
    ManageIdentities,
    "create/update/delete-identity",
    Access::AppsAndAdmins,
    ["idn:identity:manage"]
);

pub fn identity_json(i: &Identity) -> Value {
    json!({
        "id": i.id.to_string(), "name": i.login_name.as_str(), "alias": i.login_name.as_str(), "displayName": i.display_name,
        "emailAddress": i.email, "userLevel": i.user_level.as_str(),
        "identityStatus": if i.active { "ACTIVE" } else { "INACTIVE" }, "attributes": i.attributes,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no identity {id:?}"))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Identity> {
    let identity_id = IdentityId::parse(id).map_err(|_| not_found(id))?;
    state
        .store
        .get_identity(&identity_id)
        .await?
        .ok_or_else(|| not_found(id))
}

async fn ensure_login_free(state: &AppState, identity: &Identity) -> ApiResult<()> {
    match state
        .store
        .find_identity_by_login(identity.login_name.as_str())
        .await?
    {
        Some(other) if other.id != identity.id => Err(ApiError::bad_request(format!(
            "name: an identity with the login name {:?} already exists",
            identity.login_name.as_str()
        ))),
        _ => Ok(()),
    }
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<ReadIdentities>,
    paging: Paging,
    uri: Uri,
) -> ApiResult<Response> {
    let mut filter = IdentityFilter::default();
    for term in query_filters(uri.query())? {
        match (term.field.as_str(), &term.matcher) {
            ("id", Match::Eq(_) | Match::In(_)) => filter.id = Some(term.matcher),
            ("name" | "alias", _) => filter.name = Some(term.matcher),
            ("email" | "emailAddress", _) => filter.email = Some(term.matcher),
            (f, _) => {
                return Err(unsupported_filter(
                    f,
                    "id (eq, in), name (eq, sw, in), email (eq, sw, in)",
                ))
            }
        }
    }
    let (identities, total) = state
        .store
        .search_identities(&filter, paging.page())
        .await?;
    Ok(paged(
        &paging,
        identities.iter().map(identity_json).collect(),
        total,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<ReadIdentities>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(identity_json(&load(&state, &id).await?)))
}

/// An API client manages administrators (creates, changes, deletes, or grants a level
/// above USER) only with `passbroker:admins:manage`: otherwise `idn:identity:manage` would
/// let it promote an identity whose password it knows.
fn guard_admins(auth: &Authorized<ManageIdentities>, levels: &[UserLevel]) -> ApiResult<()> {
    if auth.may_set_admin_logins() {
        return Ok(());
    }
    match levels.iter().find(|l| **l != UserLevel::User) {
        Some(level) => Err(ApiError::forbidden(format!(
            "userLevel: managing an identity with the user level {} needs the scope {} (or sp:scopes:all)",
            level.as_str(),
            passbroker_core::client::SCOPE_ADMINS_MANAGE
        ))),
        None => Ok(()),
    }
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized<ManageIdentities>,
    ApiJson(body): ApiJson<IdentityFields>,
) -> ApiResult<Response> {
    let identity = build_identity(body, None).map_err(causes)?;
    guard_admins(&auth, &[identity.user_level])?;
    ensure_login_free(&state, &identity).await?;
    state
        .store
        .apply(vec![WriteOp::UpsertIdentity(identity.clone())])
        .await?;
    Ok((StatusCode::CREATED, Json(identity_json(&identity))).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    auth: Authorized<ManageIdentities>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<IdentityFields>,
) -> ApiResult<Json<Value>> {
    let existing = load(&state, &id).await?;
    let identity = build_identity(body, Some(&existing)).map_err(causes)?;
    guard_admins(&auth, &[existing.user_level, identity.user_level])?;
    ensure_login_free(&state, &identity).await?;
    state
        .store
        .apply(vec![WriteOp::UpsertIdentity(identity.clone())])
        .await?;
    Ok(Json(identity_json(&identity)))
}

/// Deletes the identity and its accounts.
pub async fn delete(
    State(state): State<AppState>,
    auth: Authorized<ManageIdentities>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let identity = load(&state, &id).await?;
    guard_admins(&auth, &[identity.user_level])?;
    state
        .store
        .apply(vec![WriteOp::DeleteIdentity(identity.id)])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
