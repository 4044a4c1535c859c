//! The signed-in person's authenticator app (TOTP) and strong authentication, for the page:
//!
//! - `GET /passbroker/v1/me/strong-authn` — `{totp: NONE|PENDING|ACTIVE, strong: bool}`;
//! - `POST /passbroker/v1/me/totp` — starts an enrolment: a new secret (shown once, base32 and
//!   `otpauthUri`) and recovery codes (shown once). Replacing an active authenticator needs a
//!   strongly authenticated session;
//! - `GET /passbroker/v1/me/totp/qr.svg` — the QR code of a pending enrolment (an image of
//!   this origin, so the page's CSP needs no `data:`), never of a confirmed one;
//! - `POST /passbroker/v1/me/totp/confirm` `{code}` — the first code confirms the enrolment
//!   and makes the session strong;
//! - `POST /passbroker/v1/me/strong-authn` `{code}` — an authenticator or recovery code makes
//!   the session strong for [`crate::strong_authn::VALID_SECS`].
//!
//! Page sessions only (the strength is the session's). Wrong codes count in the guessing
//! protection (kind `totp`), per user and address.

use super::extract::ApiJson;
use super::me::UseOwnAccounts;
use super::sign_in::no_store;
use crate::audit::{audit_event, Audit};
use crate::auth::{Authorized, Principal, UserPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::totp;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_store::{TotpFactor, WrappedKind};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

pub const STATE_ROUTE: &str = "/passbroker/v1/me/strong-authn";
pub const TOTP_ROUTE: &str = "/passbroker/v1/me/totp";
pub const QR_ROUTE: &str = "/passbroker/v1/me/totp/qr.svg";
pub const CONFIRM_ROUTE: &str = "/passbroker/v1/me/totp/confirm";

const ISSUER: &str = "passbroker";
const WRONG: &str = "code: the code is wrong or was already used";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeBody {
    code: Option<String>,
}

/// The page session's user and its stored hash, or 403 for anything else.
fn session_user<'a>(
    state: &AppState,
    principal: &'a Principal,
    headers: &HeaderMap,
) -> ApiResult<(&'a UserPrincipal, String)> {
    let user = super::me::user(principal)?;
    let hash = crate::strong_authn::page_session(state, headers).ok_or_else(|| {
        ApiError::forbidden(
            "strong authentication belongs to a page session; sign in on the Password Manager page",
        )
    })?;
    Ok((user, hash))
}

async fn audit(state: &AppState, user: &UserPrincipal, action: &str, outcome: &str, detail: &str) {
    let mut event = audit_event(
        &format!("identity:{}", user.identity_id),
        action,
        outcome,
        detail.to_owned(),
        state.clock.now(),
    );
    event.identity_id = Some(user.identity_id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
}

fn status_of(f: Option<&TotpFactor>) -> &'static str {
    match f {
        None => "NONE",
        Some(f) if f.confirmed.is_none() => "PENDING",
        Some(_) => "ACTIVE",
    }
}

/// `GET /passbroker/v1/me/strong-authn`.
pub async fn status(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (user, hash) = session_user(&state, &auth.principal, &headers)?;
    let factor = state.store.recovery().get_totp(&user.identity_id).await?;
    let strong = crate::strong_authn::session_is_strong(&state, &hash, state.clock.now()).await?;
    let mut r =
        Json(json!({ "totp": status_of(factor.as_ref()), "strong": strong })).into_response();
    no_store(&mut r);
    Ok(r)
}

/// `POST /passbroker/v1/me/totp`.
pub async fn enrol(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (user, hash) = session_user(&state, &auth.principal, &headers)?;
    let now = state.clock.now();
    let recovery = state.store.recovery();
    if let Some(existing) = recovery.get_totp(&user.identity_id).await? {
        if existing.confirmed.is_some()
            && !crate::strong_authn::session_is_strong(&state, &hash, now).await?
        {
            return Err(ApiError::forbidden(crate::strong_authn::REQUIRED));
        }
    }
    let secret =
        zeroize::Zeroizing::new(passbroker_crypto::random::random_bytes(totp::SECRET_BYTES));
    let wrapped = state
        .secrets
        .wrap(WrappedKind::TotpSecret, &secret)
        .map_err(ApiError::internal)?;
    let codes: Vec<String> = (0..totp::RECOVERY_CODES)
        .map(|_| totp::recovery_code())
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    recovery
        .put_totp(
            &TotpFactor {
                identity_id: user.identity_id.clone(),
                wrapped_secret: wrapped,
                created: now,
                confirmed: None,
                last_step: 0,
            },
            &hashes,
        )
        .await?;
    audit(
        &state,
        user,
        "TOTP_ENROLMENT_STARTED",
        "INFO",
        "an authenticator app enrolment started",
    )
    .await;
    let mut r = (
        StatusCode::CREATED,
        Json(json!({
            "secret": totp::base32(&secret),
            "otpauthUri": totp::otpauth_uri(ISSUER, &user.user_name, &secret),
            "qrCode": QR_ROUTE,
            "recoveryCodes": codes,
            "digits": totp::DIGITS,
            "period": totp::STEP_SECS,
        })),
    )
        .into_response();
    no_store(&mut r);
    Ok(r)
}

async fn secret_of(state: &AppState, f: &TotpFactor) -> ApiResult<zeroize::Zeroizing<Vec<u8>>> {
    state
        .secrets
        .unwrap(WrappedKind::TotpSecret, &f.wrapped_secret)
        .map_err(ApiError::internal)
}

/// `GET /passbroker/v1/me/totp/qr.svg`.
pub async fn qr(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (user, _) = session_user(&state, &auth.principal, &headers)?;
    let factor = state
        .store
        .recovery()
        .get_totp(&user.identity_id)
        .await?
        .filter(|f| f.confirmed.is_none())
        .ok_or_else(|| ApiError::not_found("no authenticator enrolment is pending"))?;
    let secret = secret_of(&state, &factor).await?;
    let svg = totp::qr_svg(&totp::otpauth_uri(ISSUER, &user.user_name, &secret))
        .ok_or_else(|| ApiError::internal("the QR code could not be drawn"))?;
    let mut r = (StatusCode::OK, svg).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    no_store(&mut r);
    crate::routes::page::secure_headers(&state, r.headers_mut());
    Ok(r)
}

/// Checks `code` (an authenticator code, or when `recovery_codes` a recovery code) under the
/// guessing protection; makes the session strong when right.
async fn prove(
    state: &AppState,
    user: &UserPrincipal,
    hash: &str,
    peer: SocketAddr,
    code: Option<String>,
    confirming: bool,
) -> ApiResult<()> {
    let code = code.unwrap_or_default();
    let code = code.trim();
    if code.is_empty() || code.len() > 32 {
        return Err(ApiError::bad_request("code: is required"));
    }
    let ip = Some(peer.ip());
    let now = state.clock.now();
    let user_key = user.user_name.as_str();
    if let Some(retry_after_secs) = state.guesses.blocked("totp", user_key, ip, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let recovery = state.store.recovery();
    let factor = recovery
        .get_totp(&user.identity_id)
        .await?
        .filter(|f| f.confirmed.is_none() == confirming);
    let Some(factor) = factor else {
        return Err(ApiError::bad_request(if confirming {
            "code: no authenticator enrolment is pending; start one first"
        } else {
            "code: you have no authenticator app yet; set one up first"
        }));
    };
    let secret = secret_of(state, &factor).await?;
    let ok = match totp::matching_step(&secret, code, now) {
        Some(step) => {
            recovery
                .accept_totp_step(&user.identity_id, step, confirming.then_some(now))
                .await?
        }
        None if !confirming && code.len() >= 10 => {
            recovery
                .use_totp_recovery_code(&user.identity_id, &totp::recovery_code_hash(code), now)
                .await?
        }
        None => false,
    };
    if !ok {
        state.guesses.failed("totp", user_key, ip, now);
        audit(
            state,
            user,
            "STRONG_AUTHN_FAILED",
            "FAILURE",
            "a wrong authenticator code",
        )
        .await;
        return Err(ApiError::bad_request(WRONG));
    }
    state.guesses.succeeded("totp", user_key, ip);
    recovery.mark_session_verified(hash, now).await?;
    audit(
        state,
        user,
        if confirming {
            "TOTP_ENROLLED"
        } else {
            "STRONG_AUTHN_PASSED"
        },
        "SUCCESS",
        if confirming {
            "an authenticator app was set up; the session is strongly authenticated"
        } else {
            "the session is strongly authenticated"
        },
    )
    .await;
    Ok(())
}

/// `POST /passbroker/v1/me/totp/confirm`.
pub async fn confirm(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Response> {
    let (user, hash) = session_user(&state, &auth.principal, &headers)?;
    prove(&state, user, &hash, peer, body.code, true).await?;
    let mut r = Json(json!({ "totp": "ACTIVE", "strong": true })).into_response();
    no_store(&mut r);
    Ok(r)
}

/// `POST /passbroker/v1/me/strong-authn`.
pub async fn verify(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Response> {
    let (user, hash) = session_user(&state, &auth.principal, &headers)?;
    prove(&state, user, &hash, peer, body.code, false).await?;
    let mut r = Json(json!({ "totp": "ACTIVE", "strong": true })).into_response();
    no_store(&mut r);
    Ok(r)
}
