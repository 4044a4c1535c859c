//! Accounts for operators (passbroker's own API): `GET/POST /passbroker/v1/accounts`,
//! `GET/PUT/DELETE /passbroker/v1/accounts/{id}`, with ISC-style field names
//! (`nativeIdentity`, `sourceId`, `identityId`) and `filters`/paging on the list.

use super::admin_support::{causes, paged, query_filters, unsupported_filter};
use super::extract::{ApiJson, ApiPath, Paging};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::directory::{build_account, AccountFields};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::account::Account;
use passbroker_core::AccountRef;
use passbroker_store::{AccountFilter, WriteOp};
use serde_json::{json, Value};

operation!(
    ReadAccounts,
    "list-accounts/get-account",
    Access::AppsAndAdmins,
    ["idn:accounts:read", "idn:accounts:manage"]
);
operation!(
    ManageAccounts,
    "create/update/delete-account",
    Access::AppsAndAdmins,
    ["idn:accounts:manage"]
);

async fn account_json(state: &AppState, a: &Account) -> ApiResult<Value> {
    let source_name = state
        .store
        .get_source(&a.source_id)
        .await?
        .map(|s| s.name.as_str().to_owned());
    Ok(json!({
        "id": a.id.to_string(), "name": a.account_name, "nativeIdentity": a.native_id.as_str(), "sourceId": a.source_id.to_string(),
        "sourceName": source_name, "identityId": a.identity_id.to_string(), "disabled": a.disabled, "attributes": a.attributes,
    }))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no account {id:?}"))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Account> {
    let account_ref = AccountRef::parse(id).map_err(|_| not_found(id))?;
    state
        .store
        .get_account(&account_ref)
        .await?
        .ok_or_else(|| not_found(id))
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<ReadAccounts>,
    paging: Paging,
    uri: Uri,
) -> ApiResult<Response> {
    let mut filter = AccountFilter::default();
    for term in query_filters(uri.query())? {
        let slot = match term.field.as_str() {
            "id" => &mut filter.id,
            "identityId" => &mut filter.identity_id,
            "sourceId" => &mut filter.source_id,
            "nativeIdentity" | "accountId" => &mut filter.native_id,
            "name" => &mut filter.name,
            f => {
                return Err(unsupported_filter(
                    f,
                    "id, identityId, sourceId, nativeIdentity, name",
                ))
            }
        };
        *slot = Some(term.matcher);
    }
    let (accounts, total) = state.store.search_accounts(&filter, paging.page()).await?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in &accounts {
        out.push(account_json(&state, a).await?);
    }
    Ok(paged(&paging, out, total))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<ReadAccounts>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let account = load(&state, &id).await?;
    Ok(Json(account_json(&state, &account).await?))
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<ManageAccounts>,
    ApiJson(body): ApiJson<AccountFields>,
) -> ApiResult<Response> {
    let account = build_account(state.store.as_ref(), body, None)
        .await?
        .map_err(causes)?;
    state
        .store
        .apply(vec![WriteOp::UpsertAccount(account.clone())])
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(account_json(&state, &account).await?),
    )
        .into_response())
}

pub async fn update(
    State(state): State<AppState>,
    _auth: Authorized<ManageAccounts>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AccountFields>,
) -> ApiResult<Json<Value>> {
    let existing = load(&state, &id).await?;
    let account = build_account(state.store.as_ref(), body, Some(&existing))
        .await?
        .map_err(causes)?;
    state
        .store
        .apply(vec![WriteOp::UpsertAccount(account.clone())])
        .await?;
    Ok(Json(account_json(&state, &account).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized<ManageAccounts>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let account = load(&state, &id).await?;
    state
        .store
        .apply(vec![WriteOp::DeleteAccount(account.id)])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
