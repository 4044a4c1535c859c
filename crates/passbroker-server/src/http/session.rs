//! First-party browser sessions of the Password Manager page.
//!
//! Signing in on the page (`POST /passbroker/v1/session`, the built-in directory's login name
//! and password, under the same [`crate::http::ratelimit::GuessGuard`] as the login page) creates a
//! session: a random 256-bit token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`, and
//! named with the `__Host-` prefix, when the server speaks TLS or `public_url` is `https://`). The store keeps only the
//! token's SHA-256, so a copy of the database signs nobody in. A session ends at its absolute
//! lifetime (`session_lifetime_secs`), after `session_idle_timeout_secs` without use, on
//! sign-out (the row is deleted: revocation is immediate on every node), or when the user is
//! deactivated.
//!
//! The router's gate ([`crate::http::auth::authenticate`]) accepts the cookie in place of a bearer
//! token (a bearer token, when sent, always wins) and gives the request the same
//! [`Authenticated`] a user token would, with the scopes of [`SESSION_SCOPES`] only: a
//! session can change its own passwords and read its own requests, never administer.
//! State-changing requests (POST, PUT, PATCH, DELETE) authenticated by the cookie must also
//! carry the session's CSRF token in `X-CSRF-Token`. The CSRF token is derived from the
//! cookie's token (SHA-256 under a label of its own), so it needs no storage, and a page of
//! another origin can learn it neither from the cookie (HttpOnly) nor from `/passbroker/v1/me`
//! (no CORS).

use crate::http::error::ApiError;
use crate::http::principal::{Authenticated, Principal, UserPrincipal};
use crate::http::ratelimit::Verdict;
use crate::http::state::AppState;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use passbroker_core::identity::Identity;
use passbroker_core::time::Millis;
use passbroker_store::WebSession;

/// The cookie's name over plain HTTP.
pub const COOKIE_NAME: &str = "passbroker_session";
/// The cookie's name over HTTPS: the `__Host-` prefix pins it to this host and path `/`.
pub const SECURE_COOKIE_NAME: &str = "__Host-passbroker_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// What a session may do: change its own passwords and follow its own requests.
pub const SESSION_SCOPES: &[&str] = &["idn:password-change:manage", "idn:password-change:read"];
/// A session's `last_seen` is written at most this often (one store write per minute of use,
/// not per request); the idle timeout is therefore exact to within this.
const TOUCH_EVERY_MS: i64 = 30_000;

/// Whether cookies are marked `Secure`: the page is served over TLS (passbroker's own, or a
/// proxy's, as an `https://` `public_url` says).
pub fn secure(state: &AppState) -> bool {
    state.config.tls()
        || state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

pub fn cookie_name(state: &AppState) -> &'static str {
    if secure(state) {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session token of the request's cookie, if any.
pub fn session_token<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, cookie_name(state))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(passbroker_crypto::random::sha256(token.as_bytes()))
}

/// The CSRF token of a session: derived from its cookie's token, under a label of its own.
pub fn csrf_token(token: &str) -> String {
    let mut material = b"passbroker-csrf\0".to_vec();
    material.extend_from_slice(token.as_bytes());
    hex::encode(passbroker_crypto::random::sha256(&material))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(state: &AppState, token: &str) -> Option<HeaderValue> {
    let secure = if secure(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        cookie_name(state),
        state.config.session_lifetime_secs
    ))
    .ok()
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub fn clear_cookie(state: &AppState) -> Option<HeaderValue> {
    let secure = if secure(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(state)
    ))
    .ok()
}

fn expired() -> ApiError {
    ApiError::Unauthorized(
        "the session expired or was signed out; sign in again on the Password Manager page".into(),
    )
}

/// Whether a session is still usable at `now`.
pub fn is_live(state: &AppState, s: &WebSession, now: Millis) -> bool {
    let idle_ms = state.config.session_idle_timeout_secs.saturating_mul(1000);
    now < s.expires && now.0.saturating_sub(s.last_seen.0) < idle_ms
}

/// Starts a session for `identity`; returns the cookie's token.
pub async fn create(state: &AppState, identity: &Identity) -> Result<String, ApiError> {
    let now = state.clock.now();
    let token = passbroker_crypto::random::random_token(32);
    state
        .store
        .insert_web_session(&WebSession {
            id_hash: token_hash(&token),
            identity_id: identity.id.clone(),
            created: now,
            last_seen: now,
            expires: now.plus_secs(state.config.session_lifetime_secs),
        })
        .await?;
    Ok(token)
}

/// Authenticates a request by its session cookie (the gate calls this when the request
/// carries the cookie and no bearer token), with the same limits as bearer tokens: the
/// address's failed-authentication budget, then a per-session request limit.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    token: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Authenticated, ApiError> {
    let now = state.clock.now();
    let address = ip.map(crate::http::ratelimit::address_key);
    if let Some(address) = &address {
        if let Verdict::Limited { retry_after_secs } =
            state.auth_failure_limit.blocked(address, now).await?
        {
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
    }
    let hash = token_hash(token);
    let session = state
        .store
        .get_web_session(&hash)
        .await?
        .filter(|s| is_live(state, s, now));
    let Some(session) = session else {
        if let Some(address) = &address {
            state.auth_failure_limit.hit(address, now).await?;
        }
        return Err(expired());
    };
    let identity = state
        .store
        .get_identity(&session.identity_id)
        .await?
        .filter(|i| i.active)
        .ok_or_else(|| {
            ApiError::Unauthorized("the user is no longer active; the session ended".into())
        })?;
    if !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let expected = csrf_token(token);
        if !passbroker_crypto::random::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::forbidden(format!(
                "a request signed in by the session cookie must send the session's CSRF token in the {CSRF_HEADER} header"
            )));
        }
    }
    if let Verdict::Limited { retry_after_secs } = state
        .rate_limit
        .hit(&format!("session:{hash}"), now)
        .await?
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    if now.0.saturating_sub(session.last_seen.0) >= TOUCH_EVERY_MS {
        state.store.touch_web_session(&hash, now).await?;
    }
    Ok(Authenticated {
        principal: Principal::User(UserPrincipal {
            identity_id: identity.id.clone(),
            user_name: identity.login_name.as_str().to_owned(),
            level: identity.user_level,
            pat_id: None,
        }),
        scopes: SESSION_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; passbroker_session_x=2; passbroker_session=tok"),
        );
        assert_eq!(cookie(&h, COOKIE_NAME), Some("tok"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn the_csrf_token_is_not_the_stored_hash() {
        assert_ne!(csrf_token("t"), token_hash("t"));
        assert_eq!(csrf_token("t"), csrf_token("t"));
        assert_ne!(csrf_token("t"), csrf_token("u"));
    }
}
