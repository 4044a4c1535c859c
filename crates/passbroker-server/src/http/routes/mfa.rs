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
//!   the session strong for [`crate::http::strong_authn::VALID_SECS`].
//!
//! Page sessions only (the strength is the session's). Wrong codes count in the guessing
//! protection (kind `totp`), per user and address.

use super::extract::ApiJson;
use super::me::UseOwnAccounts;
use super::sign_in::no_store;
use crate::http::auth::{Authorized, Principal, UserPrincipal};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::pipeline::audit::{audit_event, Audit};
use crate::pipeline::totp;
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
pub const EMAIL_ROUTE: &str = "/passbroker/v1/me/strong-authn/email";
/// Digits of an emailed second-factor code.
const EMAIL_CODE_DIGITS: usize = 8;
/// An emailed second-factor code is valid this long.
const EMAIL_CODE_SECS: i64 = 600;

const ISSUER: &str = "passbroker";
const WRONG: &str = "code: the code is wrong or was already used";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeBody {
    code: Option<String>,
    /// For an emailed code: the challenge `POST /me/strong-authn/email` answered with.
    challenge_id: Option<String>,
}

fn challenge_hash(challenge: &str) -> String {
    let mut m = b"passbroker-mfa-email\0".to_vec();
    m.extend_from_slice(challenge.as_bytes());
    hex::encode(passbroker_crypto::random::sha256(&m))
}

fn email_code_hash(challenge: &str, code: &str) -> Vec<u8> {
    let mut m = b"passbroker-mfa-email-code\0".to_vec();
    m.extend_from_slice(challenge.as_bytes());
    m.push(0);
    m.extend_from_slice(code.as_bytes());
    passbroker_crypto::random::sha256(&m).to_vec()
}

/// `POST /passbroker/v1/me/strong-authn/email`: emails a one-time code to the person's
/// address (the second factor for people without an authenticator app); answers
/// `202 {challengeId, expiresAt}`.
pub async fn email_code(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (user, _) = session_user(&state, &auth.principal, &headers)?;
    if !state.recovery.mailer.enabled() {
        return Err(ApiError::bad_request(
            "codes by email are not available on this server (no mail server is configured); use an authenticator app",
        ));
    }
    let identity = state
        .store
        .get_identity(&user.identity_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the user no longer exists".into()))?;
    let Some(to) = identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.parse::<lettre::message::Mailbox>().is_ok())
        .map(str::to_owned)
    else {
        return Err(ApiError::bad_request(
            "you have no email address on file; use an authenticator app",
        ));
    };
    let now = state.clock.now();
    let address = crate::http::ratelimit::address_key(peer.ip());
    if !state.recovery.may_send(&user.user_name, &address, now) {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 900,
        });
    }
    let challenge = passbroker_crypto::random::random_token(32);
    let code = zeroize::Zeroizing::new(passbroker_crypto::random::random_digits(EMAIL_CODE_DIGITS));
    let expires = now.plus_secs(EMAIL_CODE_SECS);
    state
        .store
        .recovery()
        .insert_reset_code(&passbroker_store::ResetCode {
            id_hash: challenge_hash(&challenge),
            identity_id: Some(user.identity_id.clone()),
            user_hash: user.identity_id.to_string(),
            code_hash: email_code_hash(&challenge, &code),
            created: now,
            expires,
            used: None,
            failed_attempts: 0,
        })
        .await?;
    let lang = crate::http::routes::page::choose_language(&headers);
    let minutes = (EMAIL_CODE_SECS / 60).to_string();
    let name = if identity.display_name.is_empty() {
        identity.login_name.as_str()
    } else {
        identity.display_name.as_str()
    };
    crate::http::mail_queue::enqueue(
        &state,
        &crate::pipeline::mail::Mail {
            to: Some(to),
            subject: super::recovery::mail_text(lang, "mail.mfa.subject", &[]),
            text: super::recovery::mail_text(
                lang,
                "mail.mfa.body",
                &[("name", name), ("code", &code), ("minutes", &minutes)],
            ),
        },
    )
    .await?;
    audit(
        &state,
        user,
        "STRONG_AUTHN_CODE_EMAILED",
        "INFO",
        "a second-factor code was emailed",
    )
    .await;
    let mut r = (
        StatusCode::ACCEPTED,
        Json(
            json!({ "challengeId": challenge, "expiresAt": crate::http::routes::rfc3339(expires) }),
        ),
    )
        .into_response();
    no_store(&mut r);
    Ok(r)
}

/// Checks an emailed second-factor code of `challenge` (single use, expiring, five wrong
/// tries per challenge).
async fn emailed_code_ok(
    state: &AppState,
    user: &UserPrincipal,
    challenge: &str,
    code: &str,
) -> ApiResult<bool> {
    let now = state.clock.now();
    let recovery = state.store.recovery();
    let id_hash = challenge_hash(challenge);
    let Some(flow) = recovery.get_reset_code(&id_hash).await? else {
        return Ok(false);
    };
    let mine = flow.identity_id.as_ref() == Some(&user.identity_id);
    let live = mine
        && flow.used.is_none()
        && flow.expires > now
        && flow.failed_attempts < crate::http::recovery_limits::MAX_CODE_FAILURES;
    if !live {
        return Ok(false);
    }
    if !passbroker_crypto::random::constant_time_eq(
        &flow.code_hash,
        &email_code_hash(challenge, code),
    ) {
        recovery.record_reset_code_failure(&id_hash).await?;
        return Ok(false);
    }
    Ok(recovery
        .consume_reset_code(
            &id_hash,
            now,
            crate::http::recovery_limits::MAX_CODE_FAILURES,
        )
        .await?)
}

/// The page session's user and its stored hash, or 403 for anything else.
fn session_user<'a>(
    state: &AppState,
    principal: &'a Principal,
    headers: &HeaderMap,
) -> ApiResult<(&'a UserPrincipal, String)> {
    let user = super::me::user(principal)?;
    let hash = crate::http::strong_authn::page_session(state, headers).ok_or_else(|| {
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
    let strong =
        crate::http::strong_authn::session_is_strong(&state, &hash, state.clock.now()).await?;
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
            && !crate::http::strong_authn::session_is_strong(&state, &hash, now).await?
        {
            return Err(ApiError::forbidden(crate::http::strong_authn::REQUIRED));
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
    let secret = crate::http::strong_authn::secret_of(&state, &factor).await?;
    let svg = totp::qr_svg(&totp::otpauth_uri(ISSUER, &user.user_name, &secret))
        .ok_or_else(|| ApiError::internal("the QR code could not be drawn"))?;
    let mut r = (StatusCode::OK, svg).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    no_store(&mut r);
    crate::http::routes::page::secure_headers(&state, r.headers_mut());
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
    challenge: Option<String>,
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
    if let Some(challenge) = challenge.filter(|c| !c.is_empty() && c.len() <= 128 && !confirming) {
        if !emailed_code_ok(state, user, &challenge, code).await? {
            state.guesses.failed("totp", user_key, ip, now);
            audit(
                state,
                user,
                "STRONG_AUTHN_FAILED",
                "FAILURE",
                "a wrong emailed code",
            )
            .await;
            return Err(ApiError::bad_request(WRONG));
        }
        state.guesses.succeeded("totp", user_key, ip);
        recovery.mark_session_verified(hash, now).await?;
        audit(
            state,
            user,
            "STRONG_AUTHN_PASSED",
            "SUCCESS",
            "the session is strongly authenticated (emailed code)",
        )
        .await;
        return Ok(());
    }
    let ok = crate::http::strong_authn::totp_code_ok(state, user, code, now, confirming).await?;
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
    prove(&state, user, &hash, peer, body.code, None, true).await?;
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
    prove(
        &state,
        user,
        &hash,
        peer,
        body.code,
        body.challenge_id,
        false,
    )
    .await?;
    let mut r = Json(json!({ "totp": "ACTIVE", "strong": true })).into_response();
    no_store(&mut r);
    Ok(r)
}
