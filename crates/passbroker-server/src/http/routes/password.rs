//! The Password Management API: query-password-info, set-password, password-change-status.

use super::extract::{ApiJson, ApiPath};
use super::password_wait::{prefer_wait, wait_until_terminal};
use crate::http::auth::{Access, Authorized, Principal};
use crate::http::error::{ApiError, ApiResult, Cause};
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::audit::{audit_event, Audit};
use crate::pipeline::intake;
use crate::pipeline::keyring::KeyLookupError;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use passbroker_core::account::Account;
use passbroker_core::client::SCOPE_ALL;
use passbroker_core::identity::{Identity, UserLevel};
use passbroker_core::policy::describe::describe;
use passbroker_core::request::{Encryption, PasswordChangeRequest, RequestState, TargetTask};
use passbroker_core::source::{ConnectorKind, Source};
use passbroker_core::time::Millis;
use passbroker_core::{IdentityId, PublicKeyId, RequestId, SourceId};
use passbroker_wire::{
    PasswordChangeRequestDto, PasswordChangeResponse, PasswordInfo, PasswordInfoAccount,
    PasswordInfoQueryDto, PasswordStatus,
};

operation!(
    QueryPasswordInfo,
    "query-password-info",
    Access::AppsOnly,
    ["idn:password-info:read"]
);
operation!(
    SetPassword,
    "set-password",
    Access::AppsAndUsers,
    ["idn:password-change:manage"]
);
operation!(
    GetPasswordChangeStatus,
    "password-change-status",
    Access::AppsAndUsers,
    ["idn:password-change:read", "idn:password-change:manage"]
);

/// The field's text, or a cause saying it is required (absent or empty).
pub(crate) fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    causes: &mut Vec<Cause>,
) -> &'a str {
    match value.as_deref() {
        Some(v) if !v.is_empty() => v,
        _ => {
            causes.push(Cause(format!("{field}: is required")));
            ""
        }
    }
}

pub async fn query_password_info(
    State(state): State<AppState>,
    _auth: Authorized<QueryPasswordInfo>,
    ApiJson(body): ApiJson<PasswordInfoQueryDto>,
) -> ApiResult<Json<PasswordInfo>> {
    let mut causes = Vec::new();
    let user_name = required(&body.user_name, "userName", &mut causes);
    let source_name = required(&body.source_name, "sourceName", &mut causes);
    if !causes.is_empty() {
        return Err(ApiError::BadRequest(causes));
    }
    let view = state.store.password_info(user_name, source_name).await?;
    let identity = view.identity.ok_or_else(|| {
        ApiError::not_found(format!(
            "userName: no identity has the login name {user_name:?}"
        ))
    })?;
    let source = view.source.ok_or_else(|| {
        ApiError::not_found(format!("sourceName: no source is named {source_name:?}"))
    })?;
    let key = state
        .keys
        .active()
        .ok_or_else(|| ApiError::internal("no active RSA key"))?;
    let policy = view.policy.unwrap_or_default();
    Ok(Json(PasswordInfo {
        identity_id: identity.id.to_string(),
        source_id: source.id.to_string(),
        public_key_id: key.id.to_string(),
        public_key: key.public_key_base64,
        accounts: view
            .accounts
            .into_iter()
            .filter(|a| !a.disabled)
            .map(|a| PasswordInfoAccount {
                account_id: a.native_id.as_str().to_owned(),
                account_name: a.account_name,
            })
            .collect(),
        policies: describe(&policy),
    }))
}

/// The request body, checked: everything set-password may refuse synchronously.
pub(crate) struct Checked {
    identity: Identity,
    source: Source,
    account: Account,
    public_key_id: PublicKeyId,
    encryption: Encryption,
    ciphertext: Vec<u8>,
}

/// The ciphertext of `encryptedPassword`: base64 (whitespace ignored, padding optional)
/// of exactly the key's modulus length, for a key this server may still decrypt with.
pub(crate) async fn ciphertext(
    state: &AppState,
    public_key_id: &PublicKeyId,
    encrypted: &str,
    now: Millis,
) -> ApiResult<Vec<u8>> {
    let key = state.keys.decryption_key(public_key_id, now).await.map_err(|e| match e {
        KeyLookupError::Unknown => ApiError::bad_request(format!("publicKeyId: {public_key_id} is not a key of this server; call query-password-info for the current key")),
        KeyLookupError::Retired => ApiError::bad_request(format!("publicKeyId: key {public_key_id} was retired; call query-password-info for the current key")),
        // The key ring could not be read from the store: an outage, not the caller's fault.
        KeyLookupError::Internal(e) => ApiError::Unavailable(e),
    })?;
    let compact: String = encrypted
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
        .map_err(|_| ApiError::bad_request("encryptedPassword: is not valid base64"))?;
    if ciphertext.len() != key.modulus_bytes() {
        return Err(ApiError::bad_request(format!(
            "encryptedPassword: must decode to exactly {} bytes for key {public_key_id} (RSA-{}), got {}",
            key.modulus_bytes(),
            key.bits(),
            ciphertext.len()
        )));
    }
    Ok(ciphertext)
}

pub(crate) async fn check_request(
    state: &AppState,
    principal: &Principal,
    body: &PasswordChangeRequestDto,
    now: Millis,
) -> ApiResult<Checked> {
    let mut causes = Vec::new();
    let identity_id = required(&body.identity_id, "identityId", &mut causes);
    let encrypted = required(&body.encrypted_password, "encryptedPassword", &mut causes);
    let public_key_id = required(&body.public_key_id, "publicKeyId", &mut causes);
    let account_id = required(&body.account_id, "accountId", &mut causes);
    let source_id = required(&body.source_id, "sourceId", &mut causes);
    if !causes.is_empty() {
        return Err(ApiError::BadRequest(causes));
    }
    let identity_id = IdentityId::parse(identity_id)?;
    let source_id = SourceId::parse(source_id)?;
    let public_key_id = PublicKeyId::parse(public_key_id)?;
    let encryption = match body.encryption.as_deref() {
        None => Encryption::Pkcs1v15,
        Some(e) => Encryption::parse(e).ok_or_else(|| ApiError::bad_request(format!("encryption: unknown scheme {e:?}; use RSA-OAEP-256 or leave it out for RSA PKCS#1 v1.5")))?,
    };
    if encryption == Encryption::Pkcs1v15 && !state.config.allow_pkcs1v15 {
        return Err(ApiError::bad_request("encryption: RSA PKCS#1 v1.5 is switched off on this server; encrypt with RSA-OAEP (SHA-256) and send \"encryption\": \"RSA-OAEP-256\""));
    }
    if let Principal::User(user) = principal {
        if user.identity_id != identity_id {
            return Err(ApiError::forbidden(
                "a user may only set the passwords of their own identity's accounts",
            ));
        }
    }
    let identity = state
        .store
        .get_identity(&identity_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("identityId: no identity {identity_id}")))?;
    let source = state
        .store
        .get_source(&source_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("sourceId: no source {source_id}")))?;
    if !source.supports_password() {
        return Err(ApiError::bad_request(format!(
            "sourceId: source {:?} does not have the PASSWORD feature; enable it with PATCH /v3/sources/{} (Content-Type: application/json-patch+json) and the body [{{\"op\":\"add\",\"path\":\"/features/-\",\"value\":\"PASSWORD\"}}]",
            source.name.as_str(),
            source.id
        )));
    }
    let account = state
        .store
        .find_account(&source.id, account_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "accountId: source {:?} has no account {account_id:?}",
                source.name.as_str()
            ))
        })?;
    if account.identity_id != identity.id {
        return Err(ApiError::bad_request(format!(
            "accountId: account {account_id:?} does not belong to identity {}",
            identity.id
        )));
    }
    if account.disabled {
        return Err(ApiError::bad_request(format!(
            "accountId: account {account_id:?} is disabled"
        )));
    }
    let ciphertext = ciphertext(state, &public_key_id, encrypted, now).await?;
    Ok(Checked {
        identity,
        source,
        account,
        public_key_id,
        encryption,
        ciphertext,
    })
}

fn idempotency_key(
    principal: &Principal,
    headers: &HeaderMap,
    checked: &Checked,
) -> ApiResult<String> {
    let actor = principal.actor().to_text();
    if let Some(v) = headers.get("idempotency-key") {
        let v = v
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.len() <= 255)
            .ok_or_else(|| {
                ApiError::bad_request("Idempotency-Key: must be 1 to 255 visible ASCII characters")
            })?;
        return Ok(format!(
            "h:{}",
            hex::encode(passbroker_crypto::random::sha256(
                format!("{actor}\n{v}").as_bytes()
            ))
        ));
    }
    let mut material = format!(
        "{actor}\n{}\n{}\n{}\n{}\n",
        checked.identity.id,
        checked.source.id,
        checked.account.id,
        checked.encryption.as_str()
    )
    .into_bytes();
    material.extend_from_slice(&checked.ciphertext);
    Ok(format!(
        "a:{}",
        hex::encode(passbroker_crypto::random::sha256(&material))
    ))
}

pub async fn set_password(
    State(state): State<AppState>,
    auth: Authorized<SetPassword>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    ApiJson(body): ApiJson<PasswordChangeRequestDto>,
) -> ApiResult<Response> {
    let now = state.clock.now();
    let checked = check_request(&state, &auth.principal, &body, now).await?;
    // A page session changing a source whose policy wants strong authentication.
    let ip = crate::http::auth::client_ip(&extensions);
    crate::http::strong_authn::require(&state, &headers, ip, body.source_id.as_deref()).await?;
    let reach = if auth.may_set_admin_logins() {
        Reach::AdminLogins
    } else {
        Reach::NoAdminLogins
    };
    let response = submit(&state, &auth.principal, &headers, checked, now, reach).await?;
    if response.status() == StatusCode::ACCEPTED {
        crate::http::notify::password_change(
            &state,
            &headers,
            ip,
            body.identity_id.as_deref(),
            body.source_id.as_deref(),
        )
        .await;
    }
    Ok(response)
}

/// Whether a change may reach the built-in login of an identity with an administrative user
/// level (ORG_ADMIN, HELPDESK, SOURCE_ADMIN): setting it is signing in as that admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    AdminLogins,
    NoAdminLogins,
}

/// Refuses a change that would set an admin's built-in login for a caller without the
/// reach, and audits one that does with it.
async fn guard_admin_login(
    state: &AppState,
    principal: &Principal,
    checked: &Checked,
    tasks: &[TargetTask],
    reach: Reach,
    now: Millis,
) -> ApiResult<()> {
    if checked.identity.user_level == UserLevel::User {
        return Ok(());
    }
    let mut builtin = None;
    for task in tasks {
        let source = state.store.get_source(&task.source_id).await?;
        if let Some(source) = source.filter(|s| s.connector == ConnectorKind::Builtin) {
            builtin = Some(source);
            break;
        }
    }
    let Some(source) = builtin else {
        return Ok(());
    };
    if reach == Reach::NoAdminLogins {
        return Err(ApiError::forbidden(format!(
            "this change would set the passbroker login (source {:?}) of {}, whose user level is {}; an API client needs the scope {} (or {SCOPE_ALL}) for that",
            source.name.as_str(),
            checked.identity.id,
            checked.identity.user_level.as_str(),
            passbroker_core::client::SCOPE_ADMINS_MANAGE,
        )));
    }
    if matches!(principal, Principal::App(_)) {
        let mut event = audit_event(
            &principal.actor().to_text(),
            "ADMIN_LOGIN_PASSWORD_CHANGE_REQUESTED",
            "INFO",
            format!(
                "an API client is setting the passbroker login of an identity with user level {}",
                checked.identity.user_level.as_str()
            ),
            now,
        );
        event.identity_id = Some(checked.identity.id.to_string());
        event.source_id = Some(source.id.to_string());
        Audit::record(state.store.as_ref(), vec![event]).await;
    }
    Ok(())
}

/// Queues a checked change (idempotently) and answers 202 `{requestId, state}`, waiting first
/// when the caller sent `Prefer: wait=N`. Shared by set-password and digit-token redemption.
pub(crate) async fn submit(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    checked: Checked,
    now: Millis,
    reach: Reach,
) -> ApiResult<Response> {
    let key = idempotency_key(principal, headers, &checked)?;
    if let Err(retry_after_secs) = state.backlog.admit(now, state.config.request_deadline_secs) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let request_id = RequestId::generate();
    let accounts = intake::target_accounts(
        state.store.as_ref(),
        &checked.identity.id,
        &checked.source.id,
        &checked.account,
    )
    .await?;
    let tasks = intake::pending_tasks(&request_id, accounts, now);
    guard_admin_login(state, principal, &checked, &tasks, reach, now).await?;
    let request = PasswordChangeRequest {
        id: request_id,
        identity_id: checked.identity.id.clone(),
        requested_by: principal.actor(),
        source_id: checked.source.id.clone(),
        account_ref: checked.account.id.clone(),
        public_key_id: checked.public_key_id.clone(),
        encryption: checked.encryption,
        ciphertext: Some(checked.ciphertext),
        state: RequestState::InProgress,
        errors: Vec::new(),
        validated: false,
        created: now,
        deadline: now.plus_secs(state.config.request_deadline_secs),
        finished: None,
        next_attempt_at: now,
        idempotency_key: Some(key),
    };
    let since = Millis(now.0 - state.config.idempotency_window_secs * 1000);
    let mut finished_rx = state.finished.subscribe();
    let queue = intake::Queue {
        store: state.store.as_ref(),
        backlog: &state.backlog,
        work_available: &state.work_available,
    };
    let (id, created) = queue.enqueue(&request, &tasks, since, now).await?;
    let wait = prefer_wait(headers, state.config.max_prefer_wait_secs);
    if let Some(secs) = wait {
        wait_until_terminal(state, &id, secs, &mut finished_rx).await?;
    }
    // Without `Prefer: wait` a new request is reported IN_PROGRESS whatever the workers did in
    // the meantime: the 202 must not depend on how fast (or how) the payload was processed.
    let current = if wait.is_some() || !created {
        state
            .store
            .get_request(&id)
            .await?
            .map(|r| r.state)
            .unwrap_or(RequestState::InProgress)
    } else {
        RequestState::InProgress
    };
    let mut response = (
        StatusCode::ACCEPTED,
        Json(PasswordChangeResponse {
            request_id: Some(id.to_string()),
            state: current.as_str().into(),
        }),
    )
        .into_response();
    if let Some(secs) = wait {
        if let Ok(v) = HeaderValue::from_str(&format!("wait={secs}")) {
            response.headers_mut().insert("preference-applied", v);
        }
    }
    Ok(response)
}

pub async fn password_change_status(
    State(state): State<AppState>,
    auth: Authorized<GetPasswordChangeStatus>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PasswordStatus>> {
    let not_found = || ApiError::not_found(format!("no password change request {id:?}"));
    let request_id = RequestId::parse(&id).map_err(|_| not_found())?;
    let (request, tasks) = state
        .store
        .request_with_tasks(&request_id)
        .await?
        .ok_or_else(not_found)?;
    // A user sees only their own requests; others' are reported as absent (404), so the
    // existence of other people's requests is not revealed.
    if let Principal::User(user) = &auth.principal {
        if user.identity_id != request.identity_id {
            return Err(not_found());
        }
    }
    let mut errors = request.errors.clone();
    if request.state.is_terminal() {
        errors.extend(tasks.iter().filter_map(|t| t.error.clone()));
    }
    let mut source_ids: Vec<String> = Vec::new();
    for t in &tasks {
        let s = t.source_id.to_string();
        if !source_ids.contains(&s) {
            source_ids.push(s);
        }
    }
    Ok(Json(PasswordStatus {
        request_id: Some(request_id.to_string()),
        state: request.state.as_str().into(),
        errors,
        source_ids,
    }))
}
