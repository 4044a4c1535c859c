//! Authentication and authorization you cannot forget.
//!
//! A handler states the operation it performs in its signature: `Authorized<SetPassword>`.
//! The extractor verifies the bearer token, applies the per-token rate limit, checks the
//! operation's scopes and who may call it (API clients, users, admins), and hands the handler
//! a [`Principal`]: an enum, so the handler must say what it does for each kind of caller.

use crate::http::error::ApiError;
pub use crate::http::principal::{ApiAuthority, Authenticated, Principal, UserPrincipal};
use crate::http::ratelimit::Verdict;
use crate::http::state::AppState;
use crate::http::tokens::Subject;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use passbroker_core::client::SCOPE_ALL;
use passbroker_core::identity::UserLevel;
use std::marker::PhantomData;

/// Who may call an operation, beyond holding its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// API clients and any user (the handler limits users to their own data).
    AppsAndUsers,
    /// API clients only; users get 403.
    AppsOnly,
    /// API clients, and users whose level is ORG_ADMIN.
    AppsAndAdmins,
    /// Users whose level is ORG_ADMIN only (ISC operations with only `userAuth`).
    AdminsOnly,
}

/// One API operation: its name (for messages), the scopes that grant it, who may call it.
pub trait Operation: Send + Sync + 'static {
    const NAME: &'static str;
    const SCOPES: &'static [&'static str];
    const ACCESS: Access;
}

/// Proof that the caller may perform `O`.
pub struct Authorized<O: Operation> {
    pub principal: Principal,
    /// The token's scopes (for the few operations whose reach depends on a second scope).
    pub scopes: Vec<String>,
    _op: PhantomData<O>,
}

impl<O: Operation> Authorized<O> {
    /// Whether the caller may act on identities with an administrative user level (set
    /// their built-in login, manage them): a user (an ORG_ADMIN for admin APIs, or a user
    /// setting their own password: the handlers check which), or an API client holding
    /// `passbroker:admins:manage` or `sp:scopes:all`.
    pub fn may_set_admin_logins(&self) -> bool {
        match self.principal {
            Principal::User(_) => true,
            Principal::App(_) => self
                .scopes
                .iter()
                .any(|s| s == SCOPE_ALL || s == passbroker_core::client::SCOPE_ADMINS_MANAGE),
        }
    }
}

/// Declares operations: `operation!(Name, "opName", Access::X, ["scope", …]);`
#[macro_export]
macro_rules! operation {
    ($name:ident, $op:literal, $access:expr, [$($scope:literal),*]) => {
        pub struct $name;
        impl $crate::http::auth::Operation for $name {
            const NAME: &'static str = $op;
            const SCOPES: &'static [&'static str] = &[$($scope),*];
            const ACCESS: $crate::http::auth::Access = $access;
        }
    };
}

/// Pure decision, kept apart from HTTP so the table test can drive it directly.
pub fn authorize(
    principal: &Principal,
    scopes: &[String],
    op_name: &str,
    op_scopes: &[&str],
    access: Access,
) -> Result<(), ApiError> {
    let has_scope = scopes
        .iter()
        .any(|s| s == SCOPE_ALL || op_scopes.contains(&s.as_str()));
    if !has_scope {
        let mut needed: Vec<&str> = op_scopes.to_vec();
        if !needed.contains(&SCOPE_ALL) {
            needed.push(SCOPE_ALL);
        }
        return Err(ApiError::forbidden(format!(
            "the token lacks a scope for {op_name}; it needs one of: {}",
            needed.join(", ")
        )));
    }
    match (access, principal) {
        (Access::AppsAndUsers, _) | (Access::AppsOnly | Access::AppsAndAdmins, Principal::App(_)) => Ok(()),
        (Access::AppsOnly, Principal::User(_)) => Err(ApiError::forbidden(format!(
            "{op_name} is only available to API clients (client_credentials), not to personal access tokens or user logins"
        ))),
        (Access::AppsAndAdmins | Access::AdminsOnly, Principal::User(u)) if u.level == UserLevel::OrgAdmin => Ok(()),
        (Access::AppsAndAdmins | Access::AdminsOnly, Principal::User(u)) => Err(ApiError::forbidden(format!(
            "{op_name} needs the ORG_ADMIN user level; this user is {}",
            u.level.as_str()
        ))),
        (Access::AdminsOnly, Principal::App(_)) => Err(ApiError::forbidden(format!(
            "{op_name} needs a user token (personal access token of an ORG_ADMIN), as in ISC"
        ))),
    }
}

/// The client address of a request, for per-address limits (`None` in in-process tests
/// that do not go through a socket).
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized("Full authentication is required to access this resource".into())
        })?;
    header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("JWT validation failed: expected a Bearer token".into())
        })
}

/// The key of the per-client budget: every token of one API client, of one personal access
/// token, or of one user's logins through one client counts against the same budget.
fn client_budget_key(subject: &Subject) -> String {
    match subject {
        Subject::Client { client_id } => format!("client:{client_id}"),
        Subject::User {
            pat_id: Some(pat_id),
            ..
        } => format!("pat:{pat_id}"),
        Subject::User {
            identity_id,
            client_id,
            pat_id: None,
            ..
        } => format!("login:{client_id}:{identity_id}"),
    }
}

/// Verifies the bearer token of a request to a protected route and applies the limits:
/// the client address's failed-authentication budget (checked before any signature check,
/// except for tokens this node already verified), the per-token limit (ISC's 100 per 10 s)
/// and the per-client budget (all of a client's tokens together).
pub async fn authenticate_request(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Authenticated, ApiError> {
    let token = bearer_token(headers)?;
    let now = state.clock.now();
    let address = ip.map(crate::http::ratelimit::address_key);
    if let Some(address) = &address {
        if !state.tokens.is_remembered(token) {
            if let Verdict::Limited { retry_after_secs } =
                state.auth_failure_limit.blocked(address, now).await?
            {
                return Err(ApiError::TooManyRequests { retry_after_secs });
            }
        }
    }
    let claims = match state.tokens.verify(token, now).await {
        Ok(claims) => claims,
        Err(e) => {
            if let Some(address) = &address {
                state.auth_failure_limit.hit(address, now).await?;
            }
            return Err(ApiError::Unauthorized(e.to_string()));
        }
    };
    if let Verdict::Limited { retry_after_secs } = state.rate_limit.hit(&claims.jti, now).await? {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    if let Verdict::Limited { retry_after_secs } = state
        .client_rate_limit
        .hit(&client_budget_key(&claims.subject), now)
        .await?
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let principal = match claims.subject {
        Subject::Client { client_id } => Principal::App(ApiAuthority { client_id }),
        Subject::User {
            identity_id,
            user_name,
            level,
            pat_id,
            ..
        } => {
            // Revocation is immediate: a PAT's tokens die with it.
            if let Some(pat_id) = &pat_id {
                let pat = state.store.get_pat(pat_id).await?;
                if pat.is_none_or(|p| p.revoked) {
                    return Err(ApiError::Unauthorized(
                        "JWT validation failed: the personal access token was revoked".into(),
                    ));
                }
            }
            // So is deactivation (or deletion) of the user.
            if !state
                .store
                .get_identity(&identity_id)
                .await?
                .is_some_and(|i| i.active)
            {
                return Err(ApiError::Unauthorized(
                    "JWT validation failed: the user is no longer active".into(),
                ));
            }
            Principal::User(UserPrincipal {
                identity_id,
                user_name,
                level,
                pat_id,
            })
        }
    };
    Ok(Authenticated {
        principal,
        scopes: claims.scopes,
    })
}

/// The router's gate: every route that is not on the public list passes through here, so no
/// handler of a protected route runs for a caller without a valid token.
pub async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let is_public = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|p| crate::http::public::is_public_with(p.as_str(), &state.config));
    if is_public {
        return next.run(request).await;
    }
    let ip = client_ip(request.extensions());
    // The Password Manager page's session cookie stands in for a bearer token (which wins
    // when both are sent); see `crate::http::session` for its CSRF rule.
    let session = match request.headers().get(axum::http::header::AUTHORIZATION) {
        Some(_) => None,
        None => crate::http::session::session_token(&state, request.headers()),
    };
    let result = match session {
        Some(token) => {
            crate::http::session::authenticate(
                &state,
                request.method(),
                request.headers(),
                token,
                ip,
            )
            .await
        }
        None => authenticate_request(&state, request.headers(), ip).await,
    };
    match result {
        Ok(authenticated) => {
            request.extensions_mut().insert(authenticated);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

impl<O: Operation> FromRequestParts<AppState> for Authorized<O> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        // The gate authenticated the caller before routing reached this handler; a handler
        // on a public route that asks for authorization gets none.
        let authenticated = parts.extensions.get::<Authenticated>().ok_or_else(|| {
            ApiError::Unauthorized("Full authentication is required to access this resource".into())
        })?;
        authorize(
            &authenticated.principal,
            &authenticated.scopes,
            O::NAME,
            O::SCOPES,
            O::ACCESS,
        )?;
        Ok(Authorized {
            principal: authenticated.principal.clone(),
            scopes: authenticated.scopes.clone(),
            _op: PhantomData,
        })
    }
}
