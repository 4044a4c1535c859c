//! Digit tokens: `POST /generate-password-reset-token/digit` (ISC) issues a short numeric
//! one-time token for a user; `POST /passbroker/v1/digit-token/redeem` (passbroker's own)
//! lets that user set a password with it, without the old one.
//!
//! Tokens are stored as SHA-256(salt ‖ token) with a random 16-byte salt: they are short-lived
//! (1–60 minutes), single-use, and die after [`MAX_FAILED_ATTEMPTS`] wrong guesses, so a slow
//! hash would add nothing but cost.

use super::admin_support::{causes, ExperimentalGate};
use super::extract::ApiJson;
use super::password::{check_request, submit, Reach};
use crate::http::auth::{Access, Authorized, Principal, UserPrincipal};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::audit::{audit_event, Audit};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use passbroker_core::identity::Identity;
use passbroker_crypto::random::{constant_time_eq, random_bytes, random_digits, sha256};
use passbroker_store::DigitToken;
use passbroker_wire::PasswordChangeRequestDto;
use serde::Deserialize;
use serde_json::{json, Value};

operation!(
    CreateDigitToken,
    "createDigitToken",
    Access::AppsAndAdmins,
    ["idn:password-digit-token:create"]
);

/// Wrong redemptions a user's live tokens survive.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// The one answer to every failed redemption, so callers learn nothing about users or tokens.
const INVALID: &str = "digitToken: the digit token is not valid for this user (wrong, already used or expired); ask for a new one";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigitTokenRequest {
    user_id: Option<String>,
    length: Option<i64>,
    duration_minutes: Option<i64>,
}

pub(crate) fn token_hash(salt: &[u8], token: &str) -> Vec<u8> {
    let mut material = salt.to_vec();
    material.extend_from_slice(token.as_bytes());
    sha256(&material).to_vec()
}

/// A user named by login name or by identity id.
async fn find_user(state: &AppState, user: &str) -> ApiResult<Option<Identity>> {
    if let Ok(id) = passbroker_core::IdentityId::parse(user) {
        if let Some(i) = state.store.get_identity(&id).await? {
            return Ok(Some(i));
        }
    }
    Ok(state.store.find_identity_by_login(user).await?)
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized<CreateDigitToken>,
    _gate: ExperimentalGate,
    ApiJson(body): ApiJson<DigitTokenRequest>,
) -> ApiResult<Json<Value>> {
    let config = super::org_config::current(&state).await?;
    if !config.digit_token_enabled {
        return Err(ApiError::bad_request(
            "digitTokenEnabled: digit tokens are switched off in the password org config; turn them on with PUT /password-org-config {\"digitTokenEnabled\": true}",
        ));
    }
    let mut problems = Vec::new();
    let length = body.length.unwrap_or(config.digit_token_length);
    if !(6..=18).contains(&length) {
        problems.push(format!("length: must be between 6 and 18, got {length}"));
    }
    let minutes = body
        .duration_minutes
        .unwrap_or(config.digit_token_duration_minutes);
    if !(1..=60).contains(&minutes) {
        problems.push(format!(
            "durationMinutes: must be between 1 and 60, got {minutes}"
        ));
    }
    let identity = match body.user_id.as_deref().filter(|u| !u.is_empty()) {
        None => {
            problems.push("userId: is required (the user's login name or identity id)".to_owned());
            None
        }
        Some(u) => match find_user(&state, u).await? {
            Some(i) if i.active => Some(i),
            Some(_) => {
                problems.push(format!("userId: the identity {u:?} is inactive"));
                None
            }
            None => {
                problems.push(format!(
                    "userId: no identity has the login name or id {u:?}"
                ));
                None
            }
        },
    };
    let Some(identity) = identity.filter(|_| problems.is_empty()) else {
        return Err(causes(problems));
    };
    // A reset token redeems into the user's passbroker login too: for an administrator that
    // is signing in as them, which an API client may do only with the explicit scope.
    if identity.user_level != passbroker_core::identity::UserLevel::User
        && !auth.may_set_admin_logins()
    {
        return Err(ApiError::forbidden(format!(
            "userId: {} has the user level {}; an API client needs the scope {} (or sp:scopes:all) to issue a reset token for an administrator",
            identity.id,
            identity.user_level.as_str(),
            passbroker_core::client::SCOPE_ADMINS_MANAGE
        )));
    }
    let now = state.clock.now();
    let token = random_digits(usize::try_from(length).unwrap_or(6));
    let salt = random_bytes(16);
    let record = DigitToken {
        id: passbroker_core::ids::new_isc_id(),
        identity_id: identity.id.clone(),
        hash: token_hash(&salt, &token),
        salt,
        created: now,
        expires: now.plus_secs(minutes * 60),
        used: None,
        failed_attempts: 0,
        created_by: auth.principal.actor().to_text(),
    };
    state.store.insert_digit_token(&record).await?;
    let _ = state
        .store
        .purge_digit_tokens(now.plus_secs(-24 * 3600))
        .await;
    let mut event = audit_event(
        &record.created_by,
        "DIGIT_TOKEN_CREATED",
        "INFO",
        format!("digit token issued, valid for {minutes} minute(s)"),
        now,
    );
    event.identity_id = Some(identity.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    Ok(Json(json!({ "digitToken": token, "requestId": record.id })))
}

/// `POST /passbroker/v1/digit-token/redeem`: no bearer token; the digit token is the proof.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeemRequest {
    user_name: Option<String>,
    digit_token: Option<String>,
    source_name: Option<String>,
    /// Which of the user's accounts on the source (default: the first enabled one).
    account_id: Option<String>,
    encrypted_password: Option<String>,
    public_key_id: Option<String>,
    encryption: Option<String>,
}

fn require_fields(body: &RedeemRequest) -> ApiResult<()> {
    let mut problems = Vec::new();
    for (field, value) in [
        ("userName", &body.user_name),
        ("digitToken", &body.digit_token),
        ("sourceName", &body.source_name),
        ("encryptedPassword", &body.encrypted_password),
        ("publicKeyId", &body.public_key_id),
    ] {
        if value.as_deref().is_none_or(str::is_empty) {
            problems.push(format!("{field}: is required"));
        }
    }
    if !problems.is_empty() {
        return Err(causes(problems));
    }
    Ok(())
}

/// The native id of the user's first enabled account on `source` (when the body names none).
async fn first_enabled_account(
    state: &AppState,
    identity: &passbroker_core::IdentityId,
    source: &passbroker_core::source::Source,
    user_name: &str,
) -> ApiResult<String> {
    state
        .store
        .accounts_of_identity(identity, Some(&source.id))
        .await?
        .into_iter()
        .find(|a| !a.disabled)
        .map(|a| a.native_id.as_str().to_owned())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "sourceName: {user_name:?} has no enabled account on {:?}",
                source.name.as_str()
            ))
        })
}

pub async fn redeem(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RedeemRequest>,
) -> ApiResult<Response> {
    require_fields(&body)?;
    let user_name = body.user_name.clone().unwrap_or_default();
    let presented = body.digit_token.clone().unwrap_or_default();
    let now = state.clock.now();
    let ip = crate::http::auth::client_ip(&extensions);
    if let Some(retry_after_secs) = state.guesses.blocked("digit-token", &user_name, ip, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let failed = || {
        state.guesses.failed("digit-token", &user_name, ip, now);
        ApiError::bad_request(INVALID)
    };
    let Some(identity) = state
        .store
        .find_identity_by_login(&user_name)
        .await?
        .filter(|i| i.active)
    else {
        return Err(failed());
    };
    let live = state
        .store
        .live_digit_tokens(&identity.id, now, MAX_FAILED_ATTEMPTS)
        .await?;
    let matched = live
        .into_iter()
        .find(|t| constant_time_eq(&t.hash, &token_hash(&t.salt, &presented)));
    let Some(token) = matched else {
        state
            .store
            .record_digit_token_failure(&identity.id, now)
            .await?;
        return Err(failed());
    };
    let source_name = body.source_name.clone().unwrap_or_default();
    let source = state
        .store
        .find_source_by_name(&source_name)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("sourceName: no source is named {source_name:?}"))
        })?;
    let account_id = match &body.account_id {
        Some(a) => a.clone(),
        None => first_enabled_account(&state, &identity.id, &source, &user_name).await?,
    };
    let principal = Principal::User(UserPrincipal {
        identity_id: identity.id.clone(),
        user_name: user_name.clone(),
        level: identity.user_level,
        pat_id: None,
    });
    let dto = PasswordChangeRequestDto {
        identity_id: Some(identity.id.to_string()),
        encrypted_password: body.encrypted_password.clone(),
        public_key_id: body.public_key_id.clone(),
        account_id: Some(account_id),
        source_id: Some(source.id.to_string()),
        encryption: body.encryption.clone(),
    };
    // Check the change before spending the token, so a malformed request does not burn it.
    let checked = check_request(&state, &principal, &dto, now).await?;
    if !state.store.consume_digit_token(&token.id, now).await? {
        return Err(ApiError::bad_request(INVALID));
    }
    state.guesses.succeeded("digit-token", &user_name, ip);
    let mut event = audit_event(
        &principal.actor().to_text(),
        "DIGIT_TOKEN_REDEEMED",
        "INFO",
        format!(
            "digit token {} redeemed for a password change on {source_name}",
            token.id
        ),
        now,
    );
    event.identity_id = Some(identity.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    // The token was issued for this user by someone allowed to; it is the user's own change.
    submit(
        &state,
        &principal,
        &headers,
        checked,
        now,
        Reach::AdminLogins,
    )
    .await
}

/// `GET /passbroker/v1/public-key`: the key to encrypt a redeemed password with (public).
pub async fn public_key(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let key = state
        .keys
        .active()
        .ok_or_else(|| ApiError::internal("no active RSA key"))?;
    Ok(Json(
        json!({ "publicKeyId": key.id.to_string(), "publicKey": key.public_key_base64 }),
    ))
}
