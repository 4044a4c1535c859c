//! `POST /oauth/token` (client_credentials, refresh_token, authorization_code with PKCE) and
//! `GET /oauth/jwks`. The login page of the authorization-code flow is in `login.rs`.

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::tokens::Subject;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use passbroker_core::client::SCOPE_ALL;
use passbroker_core::identity::Identity;
use passbroker_core::time::Millis;
use passbroker_store::RefreshToken;
use passbroker_wire::TokenResponse;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;

mod request;
use request::{basic_credentials, read_params};

/// An OAuth error (RFC 6749 §5.2): `{"error": …, "error_description": …}`.
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
    fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad credentials",
        )
    }
    fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    fn server_error(e: impl std::fmt::Display) -> Self {
        tracing::error!(tracking_id = %crate::telemetry::current_tracking_id(), error = %e, "token endpoint failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "an internal error occurred",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(crate::http::error::UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        r
    }
}

impl From<passbroker_store::StoreError> for OAuthError {
    fn from(e: passbroker_store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(tracking_id = %crate::telemetry::current_tracking_id(), error = %e, "token endpoint: store unavailable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; try again shortly",
            );
        }
        OAuthError::server_error(e)
    }
}

async fn verify_secret(secret: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => passbroker_crypto::password_hash::verify(secret.as_bytes(), &h),
        None => {
            passbroker_crypto::password_hash::dummy_verify(secret.as_bytes());
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Requested scopes must be a subset of what the grant allows; none requested means all.
fn narrow_scopes(
    requested: Option<&String>,
    allowed: &[String],
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(allowed.to_vec());
    };
    let mut out = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !passbroker_core::client::KNOWN_SCOPES.contains(&s) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("scope {s:?} does not exist"),
            ));
        }
        if allowed.iter().any(|a| a == s || a == SCOPE_ALL) {
            out.push(s.to_owned());
        } else {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("scope {s:?} is not granted to this client"),
            ));
        }
    }
    Ok(out)
}

pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let now = state.clock.now();
    if let Err(retry_after_secs) = state
        .token_rate_limit
        .check(&format!("ip:{}", peer.ip()), now)
    {
        return ApiError::TooManyRequests { retry_after_secs }.into_response();
    }
    let basic = basic_credentials(req.headers());
    match token_inner(&state, basic, req, now).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn token_inner(
    state: &AppState,
    basic: Option<(String, String)>,
    req: Request,
    now: Millis,
) -> Result<Response, OAuthError> {
    let mut params = read_params(state, req).await?;
    if let Some((id, secret)) = basic {
        params.entry("client_id".into()).or_insert(id);
        params.entry("client_secret".into()).or_insert(secret);
    }
    let grant_type = params
        .get("grant_type")
        .cloned()
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    match grant_type.as_str() {
        "client_credentials" => client_credentials(state, &params, now).await,
        "refresh_token" => refresh(state, &params, now).await,
        "authorization_code" => authorization_code(state, &params, now).await,
        _ => Err(OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", format!("grant_type {grant_type:?} is not supported; use client_credentials, authorization_code or refresh_token"))),
    }
}

async fn client_credentials(
    state: &AppState,
    params: &HashMap<String, String>,
    now: Millis,
) -> Result<Response, OAuthError> {
    let client_id = params
        .get("client_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("client_id is required"))?;
    let secret = params
        .get("client_secret")
        .cloned()
        .ok_or_else(|| OAuthError::invalid_request("client_secret is required"))?;
    if client_id.len() > 128 || secret.len() > 1024 {
        return Err(OAuthError::invalid_client());
    }
    // An API client?
    if let Some(client) = state.store.get_client(client_id).await? {
        let ok = verify_secret(secret, client.secret_hash.clone()).await;
        if !ok || client.disabled || !client.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(OAuthError::invalid_client());
        }
        let scopes = narrow_scopes(params.get("scope"), &client.scopes)?;
        return issue(
            state,
            Subject::Client {
                client_id: client.client_id,
            },
            scopes,
            None,
            now,
        )
        .await;
    }
    // A personal access token, exchanged like ISC does.
    let pat = state.store.get_pat(client_id).await?;
    let ok = verify_secret(secret, pat.as_ref().map(|p| p.secret_hash.clone())).await;
    let Some(pat) = pat.filter(|p| ok && !p.revoked) else {
        return Err(OAuthError::invalid_client());
    };
    let identity = state
        .store
        .get_identity(&pat.owner)
        .await?
        .filter(|i| i.active)
        .ok_or_else(OAuthError::invalid_client)?;
    state.store.touch_pat(&pat.id, now).await?;
    let scopes = narrow_scopes(params.get("scope"), &pat.scopes)?;
    issue(
        state,
        user_subject(&identity, pat.id.clone(), Some(pat.id)),
        scopes,
        None,
        now,
    )
    .await
}

pub fn user_subject(identity: &Identity, client_id: String, pat_id: Option<String>) -> Subject {
    Subject::User {
        identity_id: identity.id.clone(),
        user_name: identity.login_name.as_str().to_owned(),
        level: identity.user_level,
        client_id,
        pat_id,
    }
}

fn hash_token(token: &str) -> String {
    hex::encode(passbroker_crypto::random::sha256(token.as_bytes()))
}

async fn refresh(
    state: &AppState,
    params: &HashMap<String, String>,
    now: Millis,
) -> Result<Response, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let stored = state
        .store
        .take_refresh_token(&hash_token(token), now)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_grant("the refresh token is invalid, expired or already used")
        })?;
    if params
        .get("client_id")
        .is_some_and(|c| *c != stored.client_id)
    {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    // A confidential client authenticates (RFC 6749 §6); a disabled client's tokens are dead.
    let client = state
        .store
        .get_client(&stored.client_id)
        .await?
        .filter(|c| !c.disabled)
        .ok_or_else(OAuthError::invalid_client)?;
    if client.secret_hash.is_some() {
        let secret = params.get("client_secret").cloned().unwrap_or_default();
        if !verify_secret(secret, client.secret_hash.clone()).await {
            return Err(OAuthError::invalid_client());
        }
    }
    let identity = state
        .store
        .get_identity(&stored.identity_id)
        .await?
        .filter(|i| i.active)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    let subject = user_subject(&identity, stored.client_id.clone(), None);
    issue(
        state,
        subject,
        stored.scopes.clone(),
        Some(stored.client_id),
        now,
    )
    .await
}

async fn authorization_code(
    state: &AppState,
    params: &HashMap<String, String>,
    now: Millis,
) -> Result<Response, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_request("client_id is required"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let client = state
        .store
        .get_client(client_id)
        .await?
        .filter(|c| !c.disabled)
        .ok_or_else(OAuthError::invalid_client)?;
    if client.secret_hash.is_some() {
        let secret = params.get("client_secret").cloned().unwrap_or_default();
        if !verify_secret(secret, client.secret_hash.clone()).await {
            return Err(OAuthError::invalid_client());
        }
    }
    // Taking the code marks it used, so a replay fails even if this exchange fails later.
    let stored = state
        .store
        .take_auth_code(&hash_token(code))
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_grant("the authorization code is invalid or was already used")
        })?;
    if stored.expires < now {
        return Err(OAuthError::invalid_grant("the authorization code expired"));
    }
    if stored.client_id != client.client_id || stored.redirect_uri != *redirect_uri {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client or redirect_uri",
        ));
    }
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(passbroker_crypto::random::sha256(verifier.as_bytes()));
    if !passbroker_crypto::random::constant_time_eq(
        challenge.as_bytes(),
        stored.code_challenge.as_bytes(),
    ) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let identity = state
        .store
        .get_identity(&stored.identity_id)
        .await?
        .filter(|i| i.active)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    issue(
        state,
        user_subject(&identity, client.client_id.clone(), None),
        stored.scopes,
        Some(client.client_id),
        now,
    )
    .await
}

/// Issues an access token, and for user logins (`refresh_for`) a rotating refresh token.
async fn issue(
    state: &AppState,
    subject: Subject,
    scopes: Vec<String>,
    refresh_for: Option<String>,
    now: Millis,
) -> Result<Response, OAuthError> {
    let (access_token, claims) = state
        .tokens
        .issue(subject.clone(), scopes.clone(), now)
        .map_err(OAuthError::server_error)?;
    let (identity_id, user_name) = match &subject {
        Subject::User {
            identity_id,
            user_name,
            ..
        } => (Some(identity_id.to_string()), Some(user_name.clone())),
        Subject::Client { .. } => (None, None),
    };
    let mut refresh_token = None;
    if let (Some(client_id), Subject::User { identity_id, .. }) = (refresh_for, &subject) {
        let token = passbroker_crypto::random::random_token(32);
        let stored = RefreshToken {
            token_hash: hash_token(&token),
            client_id,
            identity_id: identity_id.clone(),
            scopes: scopes.clone(),
            expires: now.plus_secs(state.config.refresh_token_lifetime_secs),
        };
        state.store.insert_refresh_token(&stored).await?;
        refresh_token = Some(token);
    }
    let body = TokenResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: state.tokens.lifetime_secs(),
        scope: scopes.join(" "),
        jti: claims.jti,
        refresh_token,
        identity_id,
        user_name,
    };
    let mut r = (StatusCode::OK, Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.tokens.jwks())
}
