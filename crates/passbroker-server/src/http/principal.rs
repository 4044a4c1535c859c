//! Who a request acts as, established by the router's gate (`http::auth::authenticate`,
//! or `http::session` for the page's cookie) and read by every handler.

use passbroker_core::identity::UserLevel;
use passbroker_core::IdentityId;

/// An API client acting for itself (no user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAuthority {
    pub client_id: String,
}

/// A user acting through a personal access token or a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    pub identity_id: IdentityId,
    pub user_name: String,
    pub level: UserLevel,
    pub pat_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    App(ApiAuthority),
    User(UserPrincipal),
}

impl Principal {
    pub fn actor(&self) -> passbroker_core::request::Actor {
        match self {
            Principal::App(a) => passbroker_core::request::Actor::Client(a.client_id.clone()),
            Principal::User(u) => passbroker_core::request::Actor::Identity(u.identity_id.clone()),
        }
    }
}

/// Who the caller is, established once per request by [`authenticate`] before any handler
/// of a protected route runs; [`Authorized`] reads it from the request's extensions.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub scopes: Vec<String>,
}
