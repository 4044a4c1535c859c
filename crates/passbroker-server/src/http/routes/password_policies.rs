//! Password policies: `GET/POST /password-policies`, `GET/PUT/DELETE /password-policies/{id}`
//! with ISC's `PasswordPolicyV3Dto`. Assigning `sourceIds` moves those sources to the policy.

use super::admin_support::{causes, paged, ExperimentalGate};
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
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::{PolicyId, SourceId};
use passbroker_store::{Page, WriteOp};
use serde::Deserialize;
use serde_json::{json, Value};

operation!(
    ListPasswordPolicies,
    "listPasswordPolicies",
    Access::AppsAndAdmins,
    ["idn:password-policy:read", "idn:password-policy:write"]
);
operation!(
    GetPasswordPolicy,
    "getPasswordPolicyById",
    Access::AppsAndAdmins,
    ["idn:password-policy:read", "idn:password-policy:write"]
);
operation!(
    WritePasswordPolicy,
    "createPasswordPolicy/setPasswordPolicy/deletePasswordPolicy",
    Access::AdminsOnly,
    ["idn:password-policy:write"]
);

/// `PasswordPolicyV3Dto` as a request body. Read-only fields are accepted and ignored so a
/// fetched policy can be sent back unchanged.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyBody {
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[allow(dead_code)] // read-only: accepted and ignored
    date_created: Option<Value>,
    #[allow(dead_code)] // read-only: accepted and ignored
    last_updated: Option<Value>,
    #[allow(dead_code)] // read-only: accepted and ignored
    created: Option<Value>,
    #[allow(dead_code)] // read-only: accepted and ignored
    modified: Option<Value>,
    first_expiration_reminder: Option<i64>,
    account_id_min_word_length: Option<i64>,
    account_name_min_word_length: Option<i64>,
    min_alpha: Option<i64>,
    min_character_types: Option<i64>,
    max_length: Option<i64>,
    min_length: Option<i64>,
    max_repeated_chars: Option<i64>,
    min_lower: Option<i64>,
    min_numeric: Option<i64>,
    min_special: Option<i64>,
    min_upper: Option<i64>,
    password_expiration: Option<i64>,
    default_policy: Option<bool>,
    enable_passwd_expiration: Option<bool>,
    require_strong_authn: Option<bool>,
    require_strong_auth_off_network: Option<bool>,
    require_strong_auth_untrusted_geographies: Option<bool>,
    use_account_attributes: Option<bool>,
    use_dictionary: Option<bool>,
    use_identity_attributes: Option<bool>,
    validate_against_account_id: Option<bool>,
    validate_against_account_name: Option<bool>,
    source_ids: Option<Vec<String>>,
    // passbroker's opt-in rules beyond ISC.
    history_depth: Option<i64>,
    block_common_passwords: Option<bool>,
    nist_profile: Option<bool>,
    block_breached_passwords: Option<bool>,
    breached_min_count: Option<i64>,
}

impl PolicyBody {
    /// The policy this body describes: given fields over ISC's defaults.
    fn to_policy(&self) -> PasswordPolicy {
        let d = PasswordPolicy::default();
        PasswordPolicy {
            id: None,
            name: self.name.clone().unwrap_or_default(),
            description: self.description.clone(),
            min_length: self.min_length.unwrap_or(d.min_length),
            max_length: self.max_length.unwrap_or(d.max_length),
            min_alpha: self.min_alpha.unwrap_or(d.min_alpha),
            min_lower: self.min_lower.unwrap_or(d.min_lower),
            min_upper: self.min_upper.unwrap_or(d.min_upper),
            min_numeric: self.min_numeric.unwrap_or(d.min_numeric),
            min_special: self.min_special.unwrap_or(d.min_special),
            min_character_types: self.min_character_types.unwrap_or(d.min_character_types),
            max_repeated_chars: self.max_repeated_chars.unwrap_or(d.max_repeated_chars),
            use_dictionary: self.use_dictionary.unwrap_or(d.use_dictionary),
            use_identity_attributes: self
                .use_identity_attributes
                .unwrap_or(d.use_identity_attributes),
            use_account_attributes: self
                .use_account_attributes
                .unwrap_or(d.use_account_attributes),
            validate_against_account_id: self
                .validate_against_account_id
                .unwrap_or(d.validate_against_account_id),
            validate_against_account_name: self
                .validate_against_account_name
                .unwrap_or(d.validate_against_account_name),
            account_id_min_word_length: self
                .account_id_min_word_length
                .unwrap_or(d.account_id_min_word_length),
            account_name_min_word_length: self
                .account_name_min_word_length
                .unwrap_or(d.account_name_min_word_length),
            enable_passwd_expiration: self
                .enable_passwd_expiration
                .unwrap_or(d.enable_passwd_expiration),
            password_expiration: self.password_expiration.unwrap_or(d.password_expiration),
            first_expiration_reminder: self
                .first_expiration_reminder
                .unwrap_or(d.first_expiration_reminder),
            default_policy: self.default_policy.unwrap_or(d.default_policy),
            require_strong_authn: self.require_strong_authn.unwrap_or(d.require_strong_authn),
            require_strong_auth_off_network: self
                .require_strong_auth_off_network
                .unwrap_or(d.require_strong_auth_off_network),
            require_strong_auth_untrusted_geographies: self
                .require_strong_auth_untrusted_geographies
                .unwrap_or(d.require_strong_auth_untrusted_geographies),
            source_ids: Vec::new(),
            date_created: None,
            last_updated: None,
            history_depth: self.history_depth.unwrap_or(d.history_depth),
            block_common_passwords: self
                .block_common_passwords
                .unwrap_or(d.block_common_passwords),
            nist_profile: self.nist_profile.unwrap_or(d.nist_profile),
            block_breached_passwords: self
                .block_breached_passwords
                .unwrap_or(d.block_breached_passwords),
            breached_min_count: self.breached_min_count.unwrap_or(d.breached_min_count),
        }
    }
}

/// ISC's `PasswordPolicyV3Dto` (plus passbroker's opt-in fields).
pub fn policy_json(p: &PasswordPolicy) -> Value {
    // `dateCreated`/`lastUpdated` are epoch milliseconds as in ISC's examples: the SDKs type
    // them as integers (v2024, v2025, v1) or date-times (v3, beta), and both read a number.
    json!({
        "id": p.id.as_ref().map(ToString::to_string), "name": p.name, "description": p.description,
        "dateCreated": p.date_created.map(|m| m.0), "lastUpdated": p.last_updated.map(|m| m.0),
        "created": p.date_created.map(rfc3339), "modified": p.last_updated.map(rfc3339),
        "firstExpirationReminder": p.first_expiration_reminder,
        "accountIdMinWordLength": p.account_id_min_word_length, "accountNameMinWordLength": p.account_name_min_word_length,
        "minAlpha": p.min_alpha, "minCharacterTypes": p.min_character_types, "maxLength": p.max_length,
        "minLength": p.min_length, "maxRepeatedChars": p.max_repeated_chars, "minLower": p.min_lower,
        "minNumeric": p.min_numeric, "minSpecial": p.min_special, "minUpper": p.min_upper,
        "passwordExpiration": p.password_expiration, "defaultPolicy": p.default_policy,
        "enablePasswdExpiration": p.enable_passwd_expiration, "requireStrongAuthn": p.require_strong_authn,
        "requireStrongAuthOffNetwork": p.require_strong_auth_off_network,
        "requireStrongAuthUntrustedGeographies": p.require_strong_auth_untrusted_geographies,
        "useAccountAttributes": p.use_account_attributes, "useDictionary": p.use_dictionary,
        "useIdentityAttributes": p.use_identity_attributes, "validateAgainstAccountId": p.validate_against_account_id,
        "validateAgainstAccountName": p.validate_against_account_name,
        "sourceIds": p.source_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "historyDepth": p.history_depth, "blockCommonPasswords": p.block_common_passwords, "nistProfile": p.nist_profile,
        "blockBreachedPasswords": p.block_breached_passwords, "breachedMinCount": p.breached_min_count,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no password policy {id:?}"))
}

async fn load(state: &AppState, id: &str) -> ApiResult<PasswordPolicy> {
    let policy_id = PolicyId::parse(id).map_err(|_| not_found(id))?;
    state
        .store
        .get_policy(&policy_id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Validates the body against the policy rules and the store (name taken, unknown sources);
/// every problem becomes a cause. Returns the source ids to assign, if the body had any.
async fn check(
    state: &AppState,
    body: &PolicyBody,
    policy: &PasswordPolicy,
    own_id: Option<&PolicyId>,
) -> ApiResult<Option<Vec<SourceId>>> {
    let mut problems: Vec<String> = match policy.validate() {
        Ok(()) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    };
    if let Some(existing) = state.store.find_policy_by_name(&policy.name).await? {
        if existing.id.as_ref() != own_id {
            problems.push(format!(
                "name: a password policy named {:?} already exists",
                policy.name
            ));
        }
    }
    let mut ids = None;
    if let Some(list) = &body.source_ids {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match SourceId::parse(s) {
                Ok(id) if state.store.get_source(&id).await?.is_some() => {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
                _ => problems.push(format!("sourceIds[{i}]: no source {s:?}")),
            }
        }
        ids = Some(out);
    }
    if !problems.is_empty() {
        return Err(causes(problems));
    }
    Ok(ids)
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<ListPasswordPolicies>,
    _gate: ExperimentalGate,
    paging: Paging,
) -> ApiResult<Response> {
    let (policies, total) = state.store.list_policies(paging.page()).await?;
    Ok(paged(
        &paging,
        policies.iter().map(policy_json).collect(),
        total,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<GetPasswordPolicy>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(policy_json(&load(&state, &id).await?)))
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<WritePasswordPolicy>,
    _gate: ExperimentalGate,
    ApiJson(body): ApiJson<PolicyBody>,
) -> ApiResult<Json<Value>> {
    let now = state.clock.now();
    let mut policy = body.to_policy();
    let sources = check(&state, &body, &policy, None).await?;
    let id = PolicyId::generate();
    policy.id = Some(id.clone());
    policy.date_created = Some(now);
    policy.last_updated = Some(now);
    policy.source_ids = sources.unwrap_or_default();
    state
        .store
        .apply(vec![WriteOp::UpsertPolicy(policy)])
        .await?;
    Ok(Json(policy_json(&load(&state, id.as_str()).await?)))
}

pub async fn update(
    State(state): State<AppState>,
    _auth: Authorized<WritePasswordPolicy>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> ApiResult<Json<Value>> {
    let existing = load(&state, &id).await?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::bad_request(format!(
            "id: the body's id {:?} differs from the path's {id:?}",
            body.id.as_deref().unwrap_or("")
        )));
    }
    let mut policy = body.to_policy();
    let sources = check(&state, &body, &policy, existing.id.as_ref()).await?;
    policy.id = existing.id.clone();
    policy.date_created = existing.date_created;
    policy.last_updated = Some(state.clock.now());
    let mut ops = Vec::new();
    match sources {
        // The list replaces the policy's sources: those left out go back to the default.
        Some(list) => {
            for s in existing.source_ids.iter().filter(|s| !list.contains(s)) {
                if let Some(mut source) = state.store.get_source(s).await? {
                    source.password_policy_id = None;
                    ops.push(WriteOp::UpsertSource(source));
                }
            }
            policy.source_ids = list;
        }
        None => policy.source_ids = existing.source_ids.clone(),
    }
    ops.push(WriteOp::UpsertPolicy(policy));
    state.store.apply(ops).await?;
    Ok(Json(policy_json(&load(&state, &id).await?)))
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized<WritePasswordPolicy>,
    _gate: ExperimentalGate,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let policy = load(&state, &id).await?;
    let (groups, _) = state.store.list_sync_groups(Page::all()).await?;
    let users: Vec<String> = groups
        .iter()
        .filter(|g| Some(&g.password_policy_id) == policy.id.as_ref())
        .map(|g| format!("{:?} ({})", g.name, g.id))
        .collect();
    if !users.is_empty() {
        return Err(ApiError::bad_request(format!(
            "id: password policy {id} is used by the password sync group(s) {}; give those groups another policy or delete them first",
            users.join(", ")
        )));
    }
    if policy.default_policy {
        return Err(ApiError::bad_request(format!(
            "id: password policy {id} is the default policy; make another policy the default first"
        )));
    }
    if let Some(policy_id) = policy.id {
        state
            .store
            .apply(vec![WriteOp::DeletePolicy(policy_id)])
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
