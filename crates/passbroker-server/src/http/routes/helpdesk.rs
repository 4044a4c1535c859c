//! The help desk on the Password Manager page, for users whose level is ORG_ADMIN or HELPDESK
//! (signed in on the page; API clients use ISC's own APIs):
//!
//! - `GET /passbroker/v1/helpdesk/people?q=` — people whose login name or email address
//!   starts with `q` (at most 20);
//! - `GET /passbroker/v1/helpdesk/people/{id}` — one person: the digit tokens issued for them
//!   (by whom, when, used or not) and each account's last password change, i.e. the outcome of
//!   the reset they did with a token;
//! - `POST /passbroker/v1/helpdesk/people/{id}/digit-token` — issues a digit token (ISC's
//!   `generate-password-reset-token/digit`, with the org config's length and duration; refused
//!   while the org config switches digit tokens off), shown in this one answer only.
//!
//! A HELPDESK user may issue tokens for users only (not for administrators); nobody for
//! themselves. Every step is audited with who did it.

use super::extract::ApiPath;
use super::sign_in::no_store;
use crate::http::auth::{Access, Authorized, Principal, UserPrincipal};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::rfc3339;
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::audit::{audit_event, Audit};
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::identity::{Identity, UserLevel};
use passbroker_core::IdentityId;
use passbroker_crypto::random::{random_bytes, random_digits};
use passbroker_store::{DigitToken, IdentityFilter, Match, Page};
use serde_json::{json, Value};

operation!(
    HelpDesk,
    "passbroker-helpdesk",
    Access::AppsAndUsers,
    ["idn:password-change:manage"]
);

pub const PEOPLE_ROUTE: &str = "/passbroker/v1/helpdesk/people";
pub const PERSON_ROUTE: &str = "/passbroker/v1/helpdesk/people/{id}";
pub const TOKEN_ROUTE: &str = "/passbroker/v1/helpdesk/people/{id}/digit-token";

/// People a search lists at most.
const MAX_RESULTS: u64 = 20;
/// Tokens of a person shown at most.
const MAX_TOKENS: u32 = 10;

/// The signed-in help-desk agent (ORG_ADMIN or HELPDESK), or 403.
fn agent(principal: &Principal) -> ApiResult<&UserPrincipal> {
    match principal {
        Principal::User(u) if matches!(u.level, UserLevel::OrgAdmin | UserLevel::HelpdeskAdmin) => {
            Ok(u)
        }
        Principal::User(_) => Err(ApiError::forbidden(
            "the help desk is for users whose level is ORG_ADMIN or HELPDESK",
        )),
        Principal::App(_) => Err(ApiError::forbidden(
            "the help desk is the page's; API clients use generate-password-reset-token/digit",
        )),
    }
}

fn person_json(i: &Identity) -> Value {
    json!({
        "identityId": i.id.to_string(),
        "userName": i.login_name.as_str(),
        "displayName": i.display_name,
        "email": i.email,
        "userLevel": i.user_level.as_str(),
        "active": i.active,
    })
}

async fn record(
    state: &AppState,
    agent: &UserPrincipal,
    action: &str,
    person: Option<&IdentityId>,
    detail: String,
) {
    let mut event = audit_event(
        &format!("identity:{}", agent.identity_id),
        action,
        "INFO",
        detail,
        state.clock.now(),
    );
    event.identity_id = person.map(ToString::to_string);
    Audit::record(state.store.as_ref(), vec![event]).await;
}

/// `GET /passbroker/v1/helpdesk/people?q=`.
pub async fn search(
    State(state): State<AppState>,
    auth: Authorized<HelpDesk>,
    uri: Uri,
) -> ApiResult<Response> {
    let agent = agent(&auth.principal)?;
    let q = super::admin_support::query_param(&uri, "q")?.unwrap_or_default();
    let q = q.trim();
    if q.is_empty() || q.len() > 256 {
        return Err(ApiError::bad_request(
            "q: the start of a login name or email address is required (at most 256 bytes)",
        ));
    }
    let page = Page {
        offset: 0,
        limit: MAX_RESULTS,
    };
    let (mut found, _) = state
        .store
        .search_identities(
            &IdentityFilter {
                name: Some(Match::StartsWith(q.to_owned())),
                ..IdentityFilter::default()
            },
            page,
        )
        .await?;
    let (by_mail, _) = state
        .store
        .search_identities(
            &IdentityFilter {
                email: Some(Match::StartsWith(q.to_owned())),
                ..IdentityFilter::default()
            },
            page,
        )
        .await?;
    for i in by_mail {
        if !found.iter().any(|f| f.id == i.id) {
            found.push(i);
        }
    }
    found.truncate(usize::try_from(MAX_RESULTS).unwrap_or(20));
    record(
        &state,
        agent,
        "HELPDESK_PEOPLE_SEARCHED",
        None,
        format!("help desk search for {:?}: {} found", q, found.len()),
    )
    .await;
    let mut r = Json(json!({ "people": found.iter().map(person_json).collect::<Vec<_>>() }))
        .into_response();
    no_store(&mut r);
    Ok(r)
}

async fn person(state: &AppState, id: &str) -> ApiResult<Identity> {
    let not_found = || ApiError::not_found(format!("no person with the identity id {id:?}"));
    let id = IdentityId::parse(id).map_err(|_| not_found())?;
    state.store.get_identity(&id).await?.ok_or_else(not_found)
}

fn token_json(t: &DigitToken, now: passbroker_core::time::Millis) -> Value {
    let state = if t.used.is_some() {
        "USED"
    } else if t.failed_attempts >= super::digit_tokens::MAX_FAILED_ATTEMPTS {
        "LOCKED"
    } else if t.expires <= now {
        "EXPIRED"
    } else {
        "LIVE"
    };
    json!({
        "id": t.id,
        "created": rfc3339(t.created),
        "createdBy": t.created_by,
        "expires": rfc3339(t.expires),
        "used": t.used.map(rfc3339),
        "failedAttempts": t.failed_attempts,
        "state": state,
    })
}

/// `GET /passbroker/v1/helpdesk/people/{id}`.
pub async fn show(
    State(state): State<AppState>,
    auth: Authorized<HelpDesk>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let agent = agent(&auth.principal)?;
    let person = person(&state, &id).await?;
    let now = state.clock.now();
    let tokens = state
        .store
        .recovery()
        .digit_tokens_of(&person.id, MAX_TOKENS)
        .await?;
    let mut accounts = Vec::new();
    for a in state.store.accounts_of_identity(&person.id, None).await? {
        let source = state.store.get_source(&a.source_id).await?;
        let last = state.store.last_change_of_account(&a.id).await?;
        accounts.push(json!({
            "sourceName": source.as_ref().map(|s| s.name.as_str().to_owned()),
            "accountName": a.account_name,
            "lastChange": last.map(|l| json!({
                "requested": rfc3339(l.requested),
                "finished": l.task.finished.map(rfc3339),
                "status": match l.task.state {
                    passbroker_core::request::TaskState::Pending => "IN_PROGRESS",
                    passbroker_core::request::TaskState::Succeeded => "SUCCESS",
                    passbroker_core::request::TaskState::Failed => "FAILED",
                },
                "reason": l.task.error,
            })),
        }));
    }
    record(
        &state,
        agent,
        "HELPDESK_PERSON_VIEWED",
        Some(&person.id),
        "help desk viewed the person's reset codes and last changes".to_owned(),
    )
    .await;
    let mut body = person_json(&person);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "digitTokens".into(),
            Value::Array(tokens.iter().map(|t| token_json(t, now)).collect()),
        );
        o.insert("accounts".into(), Value::Array(accounts));
    }
    let mut r = Json(body).into_response();
    no_store(&mut r);
    Ok(r)
}

/// `POST /passbroker/v1/helpdesk/people/{id}/digit-token`.
pub async fn issue(
    State(state): State<AppState>,
    auth: Authorized<HelpDesk>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let agent = agent(&auth.principal)?;
    let person = person(&state, &id).await?;
    if !person.active {
        return Err(ApiError::bad_request(format!(
            "{}: the person is inactive",
            person.login_name.as_str()
        )));
    }
    if person.id == agent.identity_id {
        return Err(ApiError::forbidden(
            "a help-desk agent cannot issue a reset code for themselves",
        ));
    }
    if agent.level == UserLevel::HelpdeskAdmin && person.user_level != UserLevel::User {
        return Err(ApiError::forbidden(format!(
            "{} has the user level {}; only an ORG_ADMIN may issue a reset code for an administrator",
            person.login_name.as_str(),
            person.user_level.as_str()
        )));
    }
    let config = super::org_config::current(&state).await?;
    if !config.digit_token_enabled {
        return Err(ApiError::bad_request(
            "digitTokenEnabled: digit tokens are switched off in the password org config",
        ));
    }
    let length = usize::try_from(config.digit_token_length.clamp(6, 18)).unwrap_or(6);
    let minutes = config.digit_token_duration_minutes.clamp(1, 60);
    let now = state.clock.now();
    let token = zeroize::Zeroizing::new(random_digits(length));
    let salt = random_bytes(16);
    let record_row = DigitToken {
        id: passbroker_core::ids::new_isc_id(),
        identity_id: person.id.clone(),
        hash: super::digit_tokens::token_hash(&salt, &token),
        salt,
        created: now,
        expires: now.plus_secs(minutes * 60),
        used: None,
        failed_attempts: 0,
        created_by: format!("identity:{}", agent.identity_id),
    };
    state.store.insert_digit_token(&record_row).await?;
    let mut event = audit_event(
        &record_row.created_by,
        "DIGIT_TOKEN_CREATED",
        "INFO",
        format!(
            "help desk ({}) issued digit token {} for {}, valid for {minutes} minute(s)",
            agent.user_name,
            record_row.id,
            person.login_name.as_str()
        ),
        now,
    );
    event.identity_id = Some(person.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    let mut r = Json(json!({
        "digitToken": token.as_str(),
        "requestId": record_row.id,
        "expires": rfc3339(record_row.expires),
        "durationMinutes": minutes,
    }))
    .into_response();
    no_store(&mut r);
    Ok(r)
}
