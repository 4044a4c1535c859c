//! The login page of the authorization-code flow (`/oauth/authorize`): plain, accessible
//! HTML; the user signs in with their built-in directory password and consents; passbroker
//! redirects back with a one-time code (PKCE S256 required) and the caller's `state`.

use crate::http::state::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use passbroker_core::client::ApiClient;
use passbroker_store::AuthCode;
use serde::Deserialize;
use std::net::SocketAddr;

const CODE_LIFETIME_SECS: i64 = 60;

#[derive(Debug, Deserialize, Default)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    username: Option<String>,
    password: Option<String>,
    decision: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · passbroker</title><style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         label{{display:block;margin-top:1rem;font-weight:600}}input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}\
         button{{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem;margin-right:.5rem}}.error{{color:#a00;font-weight:600}}</style></head>\
         <body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::http::error::UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert("x-frame-options", header::HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        header::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    r
}

/// Checks the client and redirect URI. Errors here are shown, never redirected: the
/// redirect URI is not trusted until it matches the client's allow-list.
async fn validate(state: &AppState, p: &AuthorizeParams) -> Result<ApiClient, Response> {
    let bad = |msg: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            &format!("<p class=\"error\" role=\"alert\">{}</p>", escape(msg)),
        )
    };
    if p.response_type.as_deref() != Some("code") {
        return Err(bad("response_type must be \"code\"."));
    }
    let client_id = p
        .client_id
        .as_deref()
        .ok_or_else(|| bad("client_id is required."))?;
    let client = match state.store.get_client(client_id).await {
        Ok(Some(c)) if !c.disabled && c.grant_types.iter().any(|g| g == "authorization_code") => c,
        Ok(_) => return Err(bad("This application is not allowed to sign users in.")),
        Err(_) => {
            return Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot sign in",
                "<p class=\"error\">Try again shortly.</p>",
            ))
        }
    };
    let redirect = p
        .redirect_uri
        .as_deref()
        .ok_or_else(|| bad("redirect_uri is required."))?;
    if !client.redirect_uris.iter().any(|u| u == redirect) {
        return Err(bad(
            "The redirect_uri is not registered for this application.",
        ));
    }
    if p.code_challenge_method.as_deref() != Some("S256")
        || p.code_challenge
            .as_deref()
            .is_none_or(|c| c.len() < 43 || c.len() > 128)
    {
        return Err(bad(
            "PKCE is required: send code_challenge (S256) and code_challenge_method=S256.",
        ));
    }
    Ok(client)
}

fn form(p: &AuthorizeParams, client: &ApiClient, error: Option<&str>) -> String {
    let hidden = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    escape(v)
                )
            })
            .unwrap_or_default()
    };
    let scopes = p.scope.clone().unwrap_or_else(|| client.scopes.join(" "));
    format!(
        "{err}<p><strong>{app}</strong> asks to act as you with these permissions: <code>{scopes}</code>.</p>\
         <form method=\"post\" action=\"/oauth/authorize\">{h1}{h2}{h3}{h4}{h5}{h6}{h7}\
         <label for=\"username\">User name</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Sign in and allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></form>",
        err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default(),
        app = escape(&client.name),
        scopes = escape(&scopes),
        h1 = hidden("response_type", &p.response_type),
        h2 = hidden("client_id", &p.client_id),
        h3 = hidden("redirect_uri", &p.redirect_uri),
        h4 = hidden("state", &p.state),
        h5 = hidden("code_challenge", &p.code_challenge),
        h6 = hidden("code_challenge_method", &p.code_challenge_method),
        h7 = hidden("scope", &p.scope),
    )
}

pub async fn authorize_page(
    State(state): State<AppState>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    match validate(&state, &p).await {
        Ok(client) => page(
            StatusCode::OK,
            "Sign in to passbroker",
            &form(&p, &client, None),
        ),
        Err(r) => r,
    }
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{sep}{query}");
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The scopes a login grants: those asked for that the client itself holds (all of the
/// client's when none are asked for).
fn granted_scopes(requested: Option<&str>, client: &ApiClient) -> Vec<String> {
    match requested.filter(|s| !s.trim().is_empty()) {
        // Only scopes the client itself holds can be granted.
        Some(s) => s
            .split(' ')
            .filter(|x| {
                !x.is_empty()
                    && client
                        .scopes
                        .iter()
                        .any(|c| c == x || c == passbroker_core::client::SCOPE_ALL)
            })
            .map(str::to_owned)
            .collect(),
        None => client.scopes.clone(),
    }
}

pub async fn authorize_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let client = match validate(&state, &f.params).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let redirect_uri = f.params.redirect_uri.clone().unwrap_or_default();
    let state_param = f.params.state.clone().unwrap_or_default();
    if f.decision.as_deref() != Some("allow") {
        return redirect_with(
            &redirect_uri,
            &[("error", "access_denied"), ("state", &state_param)],
        );
    }
    let now = state.clock.now();
    let username = f.username.clone().unwrap_or_default();
    let ip = Some(peer.ip());
    if state.guesses.blocked("login", &username, ip, now).is_some() {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            "Sign in to passbroker",
            &form(
                &f.params,
                &client,
                Some("Too many failed sign-ins. Wait a few minutes and try again."),
            ),
        );
    }
    let identity = state
        .store
        .find_identity_by_login(&username)
        .await
        .ok()
        .flatten()
        .filter(|i| i.active);
    let hash = match &identity {
        Some(i) => state
            .store
            .get_builtin_credential(&i.id)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let secret = zeroize::Zeroizing::new(f.password.clone().unwrap_or_default().into_bytes());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => passbroker_crypto::password_hash::verify(&secret, &h),
        None => {
            passbroker_crypto::password_hash::dummy_verify(&secret);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(identity) = identity.filter(|_| ok) else {
        state.guesses.failed("login", &username, ip, now);
        return page(
            StatusCode::UNAUTHORIZED,
            "Sign in to passbroker",
            &form(
                &f.params,
                &client,
                Some("The user name or password is wrong."),
            ),
        );
    };
    state.guesses.succeeded("login", &username, ip);
    let scopes = granted_scopes(f.params.scope.as_deref(), &client);
    let code = passbroker_crypto::random::random_token(32);
    let stored = AuthCode {
        code_hash: hex::encode(passbroker_crypto::random::sha256(code.as_bytes())),
        client_id: client.client_id.clone(),
        identity_id: identity.id.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: f.params.code_challenge.clone().unwrap_or_default(),
        scopes,
        expires: now.plus_secs(CODE_LIFETIME_SECS),
    };
    if state.store.insert_auth_code(&stored).await.is_err() {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot sign in",
            "<p class=\"error\">Try again shortly.</p>",
        );
    }
    redirect_with(&redirect_uri, &[("code", &code), ("state", &state_param)])
}
