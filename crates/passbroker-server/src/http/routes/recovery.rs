//! "Forgot password" on the Password Manager page (public routes: the emailed code or the
//! help desk's digit token is the proof):
//!
//! - `POST /passbroker/v1/recovery/start` `{userName, locale}`: queues an email with a
//!   one-time code to the identity's address and answers `202 {resetId, expiresAt}`. The
//!   answer, and the work done, are the same whether or not the user exists or has an
//!   address: a flow row is stored and a message queued either way (for an unknown user the
//!   message has no recipient and the sender drops it).
//! - `POST /passbroker/v1/recovery/verify` `{resetId, userName, code}`: a right code starts a
//!   page session (cookie + CSRF token, as a sign-in does), in which the person sets the new
//!   password on the usual change screen. Codes are single-use, expire after
//!   `reset_code_ttl_secs`, are stored hashed, and a flow dies after
//!   [`MAX_CODE_FAILURES`] wrong codes; wrong codes also count in the sign-in guessing
//!   protection (kind `reset-code`).
//! - `POST /passbroker/v1/recovery/digit-token` `{userName, digitToken}`: the "I have a reset
//!   code" screen: a digit token from the help desk (or ISC's API) starts a session the same
//!   way, and is used up.

use super::digit_tokens::MAX_FAILED_ATTEMPTS;
use super::extract::ApiJson;
use super::sign_in::{no_store, same_origin};
use crate::http::error::{ApiError, ApiResult};
use crate::http::recovery_limits::{CODE_DIGITS, MAX_CODE_FAILURES};
use crate::http::routes::rfc3339;
use crate::http::state::AppState;
use crate::pipeline::audit::{audit_event, Audit};
use crate::pipeline::mail::Mail;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::identity::Identity;
use passbroker_crypto::random::{constant_time_eq, random_digits, random_token, sha256};
use passbroker_store::ResetCode;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

pub use crate::http::public::{
    RECOVERY_DIGIT_TOKEN_ROUTE as DIGIT_TOKEN_ROUTE, RECOVERY_START_ROUTE as START_ROUTE,
    RECOVERY_VERIFY_ROUTE as VERIFY_ROUTE,
};

const WRONG_CODE: &str = "code: the code is wrong";
const DEAD_CODE: &str =
    "code: this code can no longer be used (used, expired or too many wrong tries); ask for a new one";
const WRONG_TOKEN: &str = "digitToken: the reset code is not valid for this user (wrong, already used or expired); ask your help desk for a new one";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartBody {
    user_name: Option<String>,
    locale: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyBody {
    reset_id: Option<String>,
    user_name: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigitTokenBody {
    user_name: Option<String>,
    digit_token: Option<String>,
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

fn user_hash(user_name: &str) -> String {
    let mut m = b"passbroker-reset-user\0".to_vec();
    m.extend_from_slice(user_name.to_lowercase().as_bytes());
    hex_sha256(&m)
}

fn code_hash(reset_id: &str, code: &str) -> Vec<u8> {
    let mut m = b"passbroker-reset-code\0".to_vec();
    m.extend_from_slice(reset_id.as_bytes());
    m.push(0);
    m.extend_from_slice(code.as_bytes());
    sha256(&m).to_vec()
}

/// The text of a mail template in a language (English when the language lacks it), with
/// `{name}` placeholders filled.
pub fn mail_text(lang: &str, key: &str, params: &[(&str, &str)]) -> String {
    let own = super::page::catalogue(lang);
    let english = super::page::catalogue(super::page::LANGUAGES[0]);
    let mut text = own
        .and_then(|c| c.get(key))
        .or_else(|| english.and_then(|c| c.get(key)))
        .cloned()
        .unwrap_or_else(|| key.to_owned());
    for (k, v) in params {
        text = text.replace(&format!("{{{k}}}"), v);
    }
    text
}

/// The page language for a request: `locale` when the page speaks it, else the headers'.
fn language(locale: Option<&str>, headers: &HeaderMap) -> &'static str {
    let primary = locale
        .unwrap_or("")
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    super::page::LANGUAGES
        .iter()
        .find(|l| **l == primary)
        .copied()
        .unwrap_or_else(|| super::page::choose_language(headers))
}

fn check_origin(headers: &HeaderMap) -> ApiResult<()> {
    if same_origin(headers) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "reset a password from the Password Manager page of this server",
        ))
    }
}

/// The per-address budget shared with the page's sign-in.
fn address_budget(state: &AppState, peer: &SocketAddr) -> ApiResult<String> {
    let address = crate::http::ratelimit::address_key(peer.ip());
    if let Err(retry_after_secs) = state
        .token_rate_limit
        .check(&format!("page-sign-in:{address}"), state.clock.now())
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    Ok(address)
}

fn user_name_of(value: Option<String>) -> ApiResult<String> {
    let user_name = value.unwrap_or_default();
    if user_name.trim().is_empty() || user_name.len() > 256 {
        return Err(ApiError::bad_request(
            "userName: is required (at most 256 bytes)",
        ));
    }
    Ok(user_name.trim().to_owned())
}

/// The address a code may go to.
fn mail_address(identity: &Identity) -> Option<String> {
    identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.parse::<lettre::message::Mailbox>().is_ok())
        .map(str::to_owned)
}

/// `POST /passbroker/v1/recovery/start`.
pub async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartBody>,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    if !state.recovery.mailer.enabled() {
        return Err(ApiError::bad_request(
            "password reset by email is not available on this server (no mail server is configured); ask your help desk for a reset code",
        ));
    }
    let address = address_budget(&state, &peer)?;
    let user_name = user_name_of(body.user_name)?;
    let lang = language(body.locale.as_deref(), &headers);
    let now = state.clock.now();
    let identity = state
        .store
        .find_identity_by_login(&user_name)
        .await?
        .filter(|i| i.active);
    let may_send = state.recovery.may_send(&user_name, &address, now);
    let target = identity
        .as_ref()
        .filter(|_| may_send)
        .and_then(|i| mail_address(i).map(|a| (i, a)));
    // From here on the same work is done whether or not a code goes out.
    let reset_id = random_token(32);
    let code = zeroize::Zeroizing::new(random_digits(CODE_DIGITS));
    let ttl = state.config.reset_code_ttl_secs;
    let record = ResetCode {
        id_hash: hex_sha256(reset_id.as_bytes()),
        identity_id: target.as_ref().map(|(i, _)| i.id.clone()),
        user_hash: user_hash(&user_name),
        code_hash: code_hash(&reset_id, &code),
        created: now,
        expires: now.plus_secs(ttl),
        used: None,
        failed_attempts: 0,
    };
    state.store.recovery().insert_reset_code(&record).await?;
    let minutes = (ttl / 60).max(1).to_string();
    let name = target.as_ref().map_or(user_name.as_str(), |(i, _)| {
        if i.display_name.is_empty() {
            i.login_name.as_str()
        } else {
            i.display_name.as_str()
        }
    });
    let mail = Mail {
        to: target.as_ref().map(|(_, a)| a.clone()),
        subject: mail_text(lang, "mail.code.subject", &[]),
        text: mail_text(
            lang,
            "mail.code.body",
            &[("name", name), ("code", &code), ("minutes", &minutes)],
        ),
    };
    crate::http::mail_queue::enqueue(&state, &mail).await?;
    let mut event = audit_event(
        &format!("address:{address}"),
        "PASSWORD_RESET_CODE_REQUESTED",
        "INFO",
        match (&identity, &target) {
            (_, Some(_)) => "a reset code was emailed".to_owned(),
            (Some(_), None) if !may_send => {
                "no code was sent: too many reset requests for this user".to_owned()
            }
            (Some(_), None) => "no code was sent: the identity has no email address".to_owned(),
            (None, _) => "no code was sent: no active identity has this login name".to_owned(),
        },
        now,
    );
    event.identity_id = identity.as_ref().map(|i| i.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    let _ = state
        .store
        .recovery()
        .purge_reset_codes(now.plus_secs(-24 * 3600))
        .await;
    let mut r = (
        StatusCode::ACCEPTED,
        Json(json!({
            "resetId": reset_id,
            "expiresAt": rfc3339(record.expires),
            "codeLength": CODE_DIGITS,
        })),
    )
        .into_response();
    no_store(&mut r);
    Ok(r)
}

/// Starts a page session for someone who proved a reset code; the same answer as a sign-in.
async fn session_response(state: &AppState, identity: &Identity) -> ApiResult<Response> {
    let token = crate::http::session::create(state, identity).await?;
    let now = state.clock.now();
    let mut r = Json(json!({
        "userName": identity.login_name.as_str(),
        "csrfToken": crate::http::session::csrf_token(&token),
        "expiresAt": rfc3339(now.plus_secs(state.config.session_lifetime_secs)),
        "idleTimeoutSecs": state.config.session_idle_timeout_secs,
    }))
    .into_response();
    if let Some(cookie) = crate::http::session::set_cookie(state, &token) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    no_store(&mut r);
    Ok(r)
}

/// `POST /passbroker/v1/recovery/verify`.
pub async fn verify(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyBody>,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    let user_name = user_name_of(body.user_name)?;
    let reset_id = body.reset_id.unwrap_or_default();
    let code: String = body
        .code
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if reset_id.is_empty() || reset_id.len() > 128 || code.is_empty() || code.len() > 32 {
        return Err(ApiError::bad_request(
            "resetId and code: both are required (from the start of the reset, and from the email)",
        ));
    }
    let ip = Some(peer.ip());
    let now = state.clock.now();
    if let Some(retry_after_secs) = state.guesses.blocked("reset-code", &user_name, ip, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let recovery = state.store.recovery();
    let id_hash = hex_sha256(reset_id.as_bytes());
    let Some(flow) = recovery.get_reset_code(&id_hash).await? else {
        state.guesses.failed("reset-code", &user_name, ip, now);
        return Err(ApiError::bad_request(DEAD_CODE));
    };
    let same_user = constant_time_eq(flow.user_hash.as_bytes(), user_hash(&user_name).as_bytes());
    let live = flow.used.is_none()
        && flow.expires > now
        && flow.failed_attempts < MAX_CODE_FAILURES
        && same_user;
    if !live {
        state.guesses.failed("reset-code", &user_name, ip, now);
        return Err(ApiError::bad_request(DEAD_CODE));
    }
    if !constant_time_eq(&flow.code_hash, &code_hash(&reset_id, &code)) {
        recovery.record_reset_code_failure(&id_hash).await?;
        state.guesses.failed("reset-code", &user_name, ip, now);
        let left = MAX_CODE_FAILURES.saturating_sub(flow.failed_attempts + 1);
        if left == 0 {
            return Err(ApiError::bad_request(DEAD_CODE));
        }
        return Err(ApiError::bad_request(format!(
            "{WRONG_CODE} ({left} more tries)"
        )));
    }
    if !recovery
        .consume_reset_code(&id_hash, now, MAX_CODE_FAILURES)
        .await?
    {
        return Err(ApiError::bad_request(DEAD_CODE));
    }
    let identity = match &flow.identity_id {
        Some(id) => state.store.get_identity(id).await?.filter(|i| i.active),
        None => None,
    };
    let Some(identity) = identity else {
        return Err(ApiError::bad_request(DEAD_CODE));
    };
    state.guesses.succeeded("reset-code", &user_name, ip);
    let mut event = audit_event(
        &format!("identity:{}", identity.id),
        "PASSWORD_RESET_CODE_VERIFIED",
        "SUCCESS",
        "an emailed reset code was verified; a page session started to set a new password"
            .to_owned(),
        now,
    );
    event.identity_id = Some(identity.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    session_response(&state, &identity).await
}

/// `POST /passbroker/v1/recovery/digit-token`.
pub async fn digit_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DigitTokenBody>,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    address_budget(&state, &peer)?;
    let user_name = user_name_of(body.user_name)?;
    let presented: String = body
        .digit_token
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if presented.is_empty() || presented.len() > 32 {
        return Err(ApiError::bad_request("digitToken: is required"));
    }
    let ip = Some(peer.ip());
    let now = state.clock.now();
    if let Some(retry_after_secs) = state.guesses.blocked("digit-token", &user_name, ip, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let identity = state
        .store
        .find_identity_by_login(&user_name)
        .await?
        .filter(|i| i.active);
    let live = match &identity {
        Some(i) => {
            state
                .store
                .live_digit_tokens(&i.id, now, MAX_FAILED_ATTEMPTS)
                .await?
        }
        None => Vec::new(),
    };
    let identity_id = identity.as_ref().map(|i| i.id.clone());
    let matched = live.into_iter().find(|t| {
        constant_time_eq(
            &t.hash,
            &super::digit_tokens::token_hash(&t.salt, &presented),
        )
    });
    let (Some(identity), Some(token)) = (identity, matched) else {
        if let Some(id) = &identity_id {
            state.store.record_digit_token_failure(id, now).await?;
        }
        state.guesses.failed("digit-token", &user_name, ip, now);
        return Err(ApiError::bad_request(WRONG_TOKEN));
    };
    if !state.store.consume_digit_token(&token.id, now).await? {
        return Err(ApiError::bad_request(WRONG_TOKEN));
    }
    state.guesses.succeeded("digit-token", &user_name, ip);
    let mut event = audit_event(
        &format!("identity:{}", identity.id),
        "DIGIT_TOKEN_REDEEMED",
        "INFO",
        format!(
            "digit token {} (issued by {}) redeemed on the Password Manager page; a page session started to set a new password",
            token.id, token.created_by
        ),
        now,
    );
    event.identity_id = Some(identity.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    session_response(&state, &identity).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_hashes_depend_on_the_flow_and_the_code() {
        assert_ne!(code_hash("a", "1"), code_hash("b", "1"));
        assert_ne!(code_hash("a", "1"), code_hash("a", "2"));
        assert_eq!(user_hash("Abby.Smith"), user_hash("abby.smith"));
    }

    #[test]
    fn mail_templates_are_filled_in_every_language() {
        for lang in super::super::page::LANGUAGES {
            let text = mail_text(
                lang,
                "mail.code.body",
                &[("name", "Abby"), ("code", "12345678"), ("minutes", "15")],
            );
            assert!(text.contains("12345678"), "{lang}: {text}");
            assert!(text.contains("15"), "{lang}: {text}");
            assert!(!text.contains('{'), "{lang}: {text}");
        }
    }
}
