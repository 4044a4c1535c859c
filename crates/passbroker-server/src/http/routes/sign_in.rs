//! Signing in to and out of the Password Manager page:
//! - `POST /passbroker/v1/session` (public): sign in with the built-in directory's login name
//!   and password (under the sign-in guessing protection); sets the session cookie and returns
//!   the CSRF token.
//! - `DELETE /passbroker/v1/me/session`: sign out (the session row is deleted).

use super::extract::ApiJson;
use super::me::{user, UseOwnAccounts};
use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::rfc3339;
use crate::http::state::AppState;
use crate::pipeline::audit::{audit_event, Audit};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::identity::Identity;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInBody {
    user_name: Option<String>,
    password: Option<String>,
}

/// A sign-in must come from a page of this origin (login CSRF): browsers send `Origin` on
/// every cross-origin POST and `Sec-Fetch-Site` on every request; a client that sends neither
/// is not a browser acting for another site.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return false;
        }
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            match (origin.to_str().ok(), host) {
                (Some(origin), Some(host)) => {
                    origin == format!("http://{host}") || origin == format!("https://{host}")
                }
                _ => false,
            }
        }
    }
}

/// Checks a login name and password against the built-in directory, under the same guessing
/// protection as the login page (`GuessGuard`, kind `login`).
async fn verify_login(
    state: &AppState,
    user_name: &str,
    password: String,
    ip: Option<std::net::IpAddr>,
) -> ApiResult<Identity> {
    let now = state.clock.now();
    if let Some(retry_after_secs) = state.guesses.blocked("login", user_name, ip, now) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let identity = state
        .store
        .find_identity_by_login(user_name)
        .await?
        .filter(|i| i.active);
    let hash = match &identity {
        Some(i) => state.store.get_builtin_credential(&i.id).await?,
        None => None,
    };
    let secret = zeroize::Zeroizing::new(password.into_bytes());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => passbroker_crypto::password_hash::verify(&secret, &h),
        None => {
            passbroker_crypto::password_hash::dummy_verify(&secret);
            false
        }
    })
    .await
    .unwrap_or(false);
    match identity.filter(|_| ok) {
        Some(identity) => {
            state.guesses.succeeded("login", user_name, ip);
            Ok(identity)
        }
        None => {
            state.guesses.failed("login", user_name, ip, now);
            Err(ApiError::Unauthorized(
                "the user name or password is wrong".into(),
            ))
        }
    }
}

pub(super) fn no_store(r: &mut Response) {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
}

/// `POST /passbroker/v1/session`.
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignInBody>,
) -> ApiResult<Response> {
    if !same_origin(&headers) {
        return Err(ApiError::forbidden(
            "sign in from the Password Manager page of this server",
        ));
    }
    // Sign-ins per address share the token endpoint's budget (each success is a new session
    // row); wrong passwords are counted apart, by the guessing protection.
    let address = crate::http::ratelimit::address_key(peer.ip());
    if let Err(retry_after_secs) = state
        .token_rate_limit
        .check(&format!("page-sign-in:{address}"), state.clock.now())
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let user_name = body.user_name.unwrap_or_default();
    let password = body.password.unwrap_or_default();
    if user_name.is_empty() || user_name.len() > 256 || password.is_empty() || password.len() > 4096
    {
        return Err(ApiError::bad_request(
            "userName and password: both are required (at most 256 and 4096 bytes)",
        ));
    }
    let identity = verify_login(&state, &user_name, password, Some(peer.ip())).await?;
    // A browser signing in again leaves no second live session behind.
    if let Some(old) = crate::http::session::session_token(&state, &headers) {
        state
            .store
            .delete_web_session(&crate::http::session::token_hash(old))
            .await?;
    }
    let token = crate::http::session::create(&state, &identity).await?;
    let now = state.clock.now();
    let mut event = audit_event(
        &format!("identity:{}", identity.id),
        "PAGE_SESSION_STARTED",
        "SUCCESS",
        "signed in on the Password Manager page".to_owned(),
        now,
    );
    event.identity_id = Some(identity.id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    let mut r = Json(json!({
        "userName": identity.login_name.as_str(),
        "csrfToken": crate::http::session::csrf_token(&token),
        "expiresAt": rfc3339(now.plus_secs(state.config.session_lifetime_secs)),
        "idleTimeoutSecs": state.config.session_idle_timeout_secs,
    }))
    .into_response();
    if let Some(cookie) = crate::http::session::set_cookie(&state, &token) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    no_store(&mut r);
    Ok(r)
}

/// `DELETE /passbroker/v1/me/session`: ends the session of the request's cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    auth: Authorized<UseOwnAccounts>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let user = user(&auth.principal)?;
    let token = crate::http::session::session_token(&state, &headers).ok_or_else(|| {
        ApiError::bad_request(
            "this request has no session cookie; a bearer token has no session to end",
        )
    })?;
    state
        .store
        .delete_web_session(&crate::http::session::token_hash(token))
        .await?;
    let mut event = audit_event(
        &format!("identity:{}", user.identity_id),
        "PAGE_SESSION_ENDED",
        "SUCCESS",
        "signed out of the Password Manager page".to_owned(),
        state.clock.now(),
    );
    event.identity_id = Some(user.identity_id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = crate::http::session::clear_cookie(&state) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    no_store(&mut r);
    Ok(r)
}
