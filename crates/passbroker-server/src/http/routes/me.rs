//! The Password Manager page's own small API, for the signed-in person:
//!
//! - signing in and out: [`super::sign_in`];
//! - `GET /passbroker/v1/me`: who I am, my password sync groups and my sources on their own,
//!   each with its accounts, whether the password can be changed, the last change and its
//!   outcome, the policy's rules, and the org's custom password instructions in my language.
//! - `GET /passbroker/v1/me/password-changes/{id}`: one of my requests, target by target.
//!
//! Users only (API clients get 403): as in ISC a user token cannot call query-password-info, so
//! the page reads its accounts here, takes the key from `/passbroker/v1/public-key`, and calls
//! the public `set-password` and `password-change-status` as the user.

use super::extract::ApiPath;
use super::sign_in::no_store;
use crate::http::auth::{Access, Authorized, Principal, UserPrincipal};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::rfc3339;
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::policy::effective_policy;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::account::Account;
use passbroker_core::policy::describe::describe;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::{TargetTask, TaskState};
use passbroker_core::source::Source;
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::{RequestId, SourceId};
use serde_json::{json, Value};
use std::collections::HashMap;

operation!(
    UseOwnAccounts,
    "passbroker-me",
    Access::AppsAndUsers,
    ["idn:password-change:manage", "idn:password-change:read"]
);

/// The custom-instruction pages the Password Manager page shows.
pub const PAGE_IDS: &[&str] = &[
    "flow-selection:select",
    "change-password:enter-password",
    "change-password:finish",
    "reset-password:enter-password",
    "reset-password:finish",
    "mfa:enter-code",
];

pub(super) fn user(principal: &Principal) -> ApiResult<&UserPrincipal> {
    match principal {
        Principal::User(u) => Ok(u),
        Principal::App(_) => Err(ApiError::forbidden(
            "passbroker-me is the signed-in person's own view; API clients use query-password-info",
        )),
    }
}

/// A rule of a policy for the page's checklist: `check` says whether the browser can check it
/// as the person types (`browser`) or only the server can (`server`: history, dictionary,
/// attribute values, the common-password list).
pub fn rules(policy: &PasswordPolicy) -> Vec<Value> {
    describe(policy)
        .iter()
        .filter_map(|line| {
            let (name, value) = line.split_once(" is ")?;
            let (rule, check) = match name {
                "passwordMinLength" => ("minLength", "browser"),
                "passwordMaxLength" => ("maxLength", "browser"),
                "passwordMinAlpha" => ("minAlpha", "browser"),
                "passwordMinLower" => ("minLower", "browser"),
                "passwordMinUpper" => ("minUpper", "browser"),
                "passwordMinNumeric" => ("minNumeric", "browser"),
                "passwordMinSpecial" => ("minSpecial", "browser"),
                "passwordMinCharType" => ("minCharacterTypes", "browser"),
                "passwordRepeatedChar" => ("maxRepeatedChars", "browser"),
                "passwordDictionary" => ("useDictionary", "server"),
                "passwordIdentityAttributes" => ("useIdentityAttributes", "server"),
                "passwordAccountAttributes" => ("useAccountAttributes", "server"),
                "passwordValidateAgainstAccountId" => ("validateAgainstAccountId", "server"),
                "passwordValidateAgainstAccountName" => ("validateAgainstAccountName", "server"),
                "passwordHistory" => ("historyDepth", "server"),
                "passwordBlockCommon" => ("blockCommonPasswords", "server"),
                "passwordBlockBreached" => ("blockBreachedPasswords", "server"),
                "passwordNistProfile" => ("nistProfile", "server"),
                _ => return None,
            };
            let value = value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::Bool(true));
            Some(json!({ "rule": rule, "value": value, "check": check }))
        })
        .collect()
}

/// A target's outcome as the page shows it (ISC's badges).
fn outcome(task: &TargetTask) -> (&'static str, Option<String>) {
    match task.state {
        TaskState::Pending => ("IN_PROGRESS", None),
        TaskState::Succeeded => ("SUCCESS", None),
        // A request-level error (the policy, an unreadable payload) stopped it before the
        // target was called.
        TaskState::Failed if task.error.is_none() && task.attempts == 0 => ("NOT_ATTEMPTED", None),
        TaskState::Failed => ("FAILED", task.error.clone()),
    }
}

/// The target's reason without the `Source: ` prefix the worker adds (the page names the
/// source already).
fn reason(error: Option<String>, source_name: &str) -> Option<String> {
    error.map(|e| {
        e.strip_prefix(&format!("{source_name}: "))
            .map(str::to_owned)
            .unwrap_or(e)
    })
}

async fn account_json(state: &AppState, source: &Source, a: &Account) -> ApiResult<Value> {
    let last = state.store.last_change_of_account(&a.id).await?;
    let last_change = last.map(|l| {
        let (status, error) = outcome(&l.task);
        json!({
            "requestId": l.task.request_id.to_string(),
            "requested": rfc3339(l.requested),
            "finished": l.task.finished.map(rfc3339),
            "status": status,
            "reason": reason(error, source.name.as_str()),
        })
    });
    Ok(json!({
        "sourceId": source.id.to_string(),
        "sourceName": source.name.as_str(),
        "description": source.description,
        "accountId": a.native_id.as_str(),
        "accountName": a.account_name,
        "passwordChangeable": source.supports_password() && !a.disabled,
        "disabled": a.disabled,
        "lastChange": last_change,
    }))
}

/// Locales to try for custom instructions, most specific first: `de-CH` → `de-CH`, `de`,
/// then `default`.
fn locale_candidates(requested: &str) -> Vec<String> {
    let mut out = Vec::new();
    let requested: String = requested
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(35)
        .collect();
    if !requested.is_empty() {
        out.push(requested.clone());
        if let Some((primary, _)) = requested.split_once(['-', '_']) {
            out.push(primary.to_owned());
        }
    }
    out.push(super::custom_instructions::DEFAULT_LOCALE.to_owned());
    out
}

/// The org's custom instructions for one page in a locale (falling back to the language,
/// then `default`), while the org config switches them on.
pub async fn instruction(
    state: &AppState,
    page_id: &str,
    locale: &str,
) -> ApiResult<Option<String>> {
    if !super::org_config::current(state)
        .await?
        .custom_instructions_enabled
    {
        return Ok(None);
    }
    for locale in locale_candidates(locale) {
        if let Some(found) = state.store.get_custom_instruction(page_id, &locale).await? {
            return Ok(Some(found.content));
        }
    }
    Ok(None)
}

async fn instructions(state: &AppState, locale: &str) -> ApiResult<Value> {
    let mut out = serde_json::Map::new();
    for page_id in PAGE_IDS {
        if let Some(content) = instruction(state, page_id, locale).await? {
            out.insert((*page_id).to_owned(), Value::String(content));
        }
    }
    Ok(Value::Object(out))
}

/// `GET /passbroker/v1/me[?locale=de]`.
pub async fn me(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let user = user(&auth.principal)?;
    let identity = state
        .store
        .get_identity(&user.identity_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))?;
    let accounts = state.store.accounts_of_identity(&identity.id, None).await?;
    let mut sources: HashMap<SourceId, Source> = HashMap::new();
    for a in &accounts {
        if !sources.contains_key(&a.source_id) {
            if let Some(s) = state.store.get_source(&a.source_id).await? {
                sources.insert(s.id.clone(), s);
            }
        }
    }
    // Groups in the order first met; sources of a group in the group's order.
    // Each group with the member source it was met through (its effective policy is the
    // group's).
    let mut groups: Vec<(PasswordSyncGroup, &Source, Vec<Value>)> = Vec::new();
    let mut alone: Vec<Value> = Vec::new();
    let mut grouped: HashMap<SourceId, usize> = HashMap::new();
    for source in sources.values() {
        if grouped.contains_key(&source.id) {
            continue;
        }
        if let Some(g) = state.store.sync_group_of_source(&source.id).await? {
            for s in &g.source_ids {
                grouped.insert(s.clone(), groups.len());
            }
            groups.push((g, source, Vec::new()));
        }
    }
    for a in &accounts {
        let Some(source) = sources.get(&a.source_id) else {
            continue;
        };
        let mut entry = account_json(&state, source, a).await?;
        match grouped.get(&source.id) {
            Some(&g) => groups[g].2.push(entry),
            None => {
                let policy = effective_policy(state.store.as_ref(), source).await?;
                if let Some(o) = entry.as_object_mut() {
                    o.insert("policy".into(), Value::Array(rules(&policy)));
                }
                alone.push(entry);
            }
        }
    }
    let mut groups_json = Vec::new();
    for (g, member, mut members) in groups {
        let order = |v: &Value| {
            g.source_ids
                .iter()
                .position(|s| v["sourceId"] == s.to_string())
                .unwrap_or(usize::MAX)
        };
        members.sort_by_key(order);
        let policy = effective_policy(state.store.as_ref(), member).await?;
        groups_json.push(json!({
            "id": g.id.to_string(),
            "name": g.name,
            "policy": rules(&policy),
            "sources": members,
        }));
    }
    groups_json.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    alone.sort_by(|a, b| {
        (a["sourceName"].as_str(), a["accountName"].as_str())
            .cmp(&(b["sourceName"].as_str(), b["accountName"].as_str()))
    });
    let locale = super::admin_support::query_param(&uri, "locale")?
        .unwrap_or_else(|| super::page::choose_language(&headers).to_owned());
    let csrf = crate::http::session::session_token(&state, &headers)
        .filter(|_| headers.get(header::AUTHORIZATION).is_none())
        .map(crate::http::session::csrf_token);
    let mut r = Json(json!({
        "identityId": identity.id.to_string(),
        "userName": identity.login_name.as_str(),
        "displayName": identity.display_name,
        "userLevel": identity.user_level.as_str(),
        "csrfToken": csrf,
        "idleTimeoutSecs": state.config.session_idle_timeout_secs,
        "groups": groups_json,
        "sources": alone,
        "instructions": instructions(&state, &locale).await?,
    }))
    .into_response();
    no_store(&mut r);
    Ok(r)
}

/// `GET /passbroker/v1/me/password-changes/{id}`: one of my requests, target by target.
pub async fn password_change(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let user = user(&auth.principal)?;
    let not_found = || ApiError::not_found(format!("no password change request {id:?}"));
    let request_id = RequestId::parse(&id).map_err(|_| not_found())?;
    let (request, tasks) = state
        .store
        .request_with_tasks(&request_id)
        .await?
        .ok_or_else(not_found)?;
    if request.identity_id != user.identity_id {
        return Err(not_found());
    }
    let mut targets = Vec::new();
    for t in &tasks {
        let source = state.store.get_source(&t.source_id).await?;
        let account = state.store.get_account(&t.account_ref).await?;
        let source_name = source
            .as_ref()
            .map(|s| s.name.as_str().to_owned())
            .unwrap_or_default();
        let (status, error) = outcome(t);
        targets.push(json!({
            "sourceId": t.source_id.to_string(),
            "sourceName": source_name,
            "accountName": account.map(|a| a.account_name),
            "status": status,
            "reason": reason(error, &source_name),
        }));
    }
    let mut r = Json(json!({
        "requestId": request.id.to_string(),
        "state": request.state.as_str(),
        "errors": request.errors,
        "targets": targets,
    }))
    .into_response();
    no_store(&mut r);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_described_rule_becomes_a_checklist_rule() {
        let policy = PasswordPolicy {
            min_length: 8,
            max_length: 64,
            min_alpha: 1,
            min_lower: 1,
            min_upper: 1,
            min_numeric: 1,
            min_special: 1,
            min_character_types: 3,
            max_repeated_chars: 3,
            use_dictionary: true,
            use_identity_attributes: true,
            use_account_attributes: true,
            validate_against_account_id: true,
            validate_against_account_name: true,
            history_depth: 5,
            block_common_passwords: true,
            ..PasswordPolicy::default()
        };
        let r = rules(&policy);
        assert_eq!(r.len(), describe(&policy).len());
        assert_eq!(
            r[0],
            json!({"rule": "minLength", "value": 8, "check": "browser"})
        );
        assert!(r
            .iter()
            .any(|x| x == &json!({"rule": "historyDepth", "value": 5, "check": "server"})));
        assert!(r.iter().any(|x| x
            == &json!({"rule": "validateAgainstAccountName", "value": true, "check": "server"})));
    }

    #[test]
    fn locales_fall_back_to_the_language_then_default() {
        assert_eq!(locale_candidates("de-CH"), ["de-CH", "de", "default"]);
        assert_eq!(locale_candidates("fr"), ["fr", "default"]);
        assert_eq!(locale_candidates("<x>"), ["x", "default"]);
        assert_eq!(locale_candidates(""), ["default"]);
    }
}
