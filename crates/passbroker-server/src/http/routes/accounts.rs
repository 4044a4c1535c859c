//! Accounts for operators (passbroker's own API): `GET/POST /passbroker/v1/accounts`,
//! `GET/PUT/DELETE /passbroker/v1/accounts/{id}`, with ISC-style field names
//! (`nativeIdentity`, `sourceId`, `identityId`) and `filters`/paging on the list.

use super::admin_support::{causes, paged, query_filters, unsupported_filter};
use super::extract::{ApiJson, ApiPath, Paging};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::{AccountRef, IdentityId, SourceId};
use passbroker_store::{AccountFilter, Store, StoreResult, WriteOp};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

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

/// An account as given by an operator. The identity is named by `identityId` or `userName`,
/// the source by `sourceId` or `sourceName`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountFields {
    pub id: Option<String>,
    pub identity_id: Option<String>,
    pub user_name: Option<String>,
    pub source_id: Option<String>,
    pub source_name: Option<String>,
    /// The account's id on its source (ISC's `nativeIdentity`; `accountId` is accepted too).
    #[serde(alias = "accountId")]
    pub native_identity: Option<String>,
    pub name: Option<String>,
    pub disabled: Option<bool>,
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Validates the fields into an account (keeping `existing`'s id); every problem is listed.
pub async fn build_account(
    store: &dyn Store,
    f: AccountFields,
    existing: Option<&Account>,
) -> StoreResult<Result<Account, Vec<String>>> {
    let identity = match (&f.identity_id, &f.user_name) {
        (Some(id), _) => match IdentityId::parse(id) {
            Ok(i) => store.get_identity(&i).await?.map(|i| i.id),
            Err(_) => None,
        }
        .ok_or_else(|| format!("identityId: no identity {id:?}")),
        (None, Some(u)) => store
            .find_identity_by_login(u)
            .await?
            .map(|i| i.id)
            .ok_or_else(|| format!("userName: no identity {u:?}")),
        (None, None) => existing
            .map(|e| e.identity_id.clone())
            .ok_or_else(|| "identityId: is required (or userName)".to_owned()),
    };
    let source = match (&f.source_id, &f.source_name) {
        (Some(id), _) => match SourceId::parse(id) {
            Ok(s) => store.get_source(&s).await?.map(|s| s.id),
            Err(_) => None,
        }
        .ok_or_else(|| format!("sourceId: no source {id:?}")),
        (None, Some(n)) => store
            .find_source_by_name(n)
            .await?
            .map(|s| s.id)
            .ok_or_else(|| format!("sourceName: no source {n:?}")),
        (None, None) => existing
            .map(|e| e.source_id.clone())
            .ok_or_else(|| "sourceId: is required (or sourceName)".to_owned()),
    };
    let account = match assemble_account(f, identity, source, existing) {
        Ok(a) => a,
        Err(problems) => return Ok(Err(problems)),
    };
    if let Some(other) = store
        .find_account(&account.source_id, account.native_id.as_str())
        .await?
    {
        if Some(&other.id) != existing.map(|e| &e.id) {
            return Ok(Err(vec![format!(
                "nativeIdentity: the source already has an account {:?}",
                account.native_id.as_str()
            )]));
        }
    }
    Ok(Ok(account))
}

/// Builds an account from its fields once the identity and source are resolved (or why
/// they are not), keeping `existing`'s id and values for fields left out. Every problem is
/// listed. The bulk import resolves whole chunks of records at once and then calls this.
pub fn assemble_account(
    f: AccountFields,
    identity: Result<IdentityId, String>,
    source: Result<SourceId, String>,
    existing: Option<&Account>,
) -> Result<Account, Vec<String>> {
    let native = match f
        .native_identity
        .as_deref()
        .or(existing.map(|e| e.native_id.as_str()))
    {
        Some(n) => NativeAccountId::parse(n).map_err(|e| format!("nativeIdentity: {}", e.message)),
        None => Err("nativeIdentity: is required (the account's id on its source)".to_owned()),
    };
    let (identity_id, source_id, native_id) = match (identity, source, native) {
        (Ok(i), Ok(s), Ok(n)) => (i, s, n),
        (i, s, n) => return Err([i.err(), s.err(), n.err()].into_iter().flatten().collect()),
    };
    Ok(Account {
        id: existing
            .map(|e| e.id.clone())
            .unwrap_or_else(AccountRef::generate),
        account_name: f
            .name
            .or(existing.map(|e| e.account_name.clone()))
            .unwrap_or_else(|| native_id.as_str().to_owned()),
        source_id,
        identity_id,
        native_id,
        attributes: f
            .attributes
            .or(existing.map(|e| e.attributes.clone()))
            .unwrap_or_default(),
        disabled: f.disabled.or(existing.map(|e| e.disabled)).unwrap_or(false),
    })
}

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
