//! OAuth clients and personal access tokens.

use crate::time::Millis;
use crate::IdentityId;

/// Scopes passbroker understands (ISC's names).
pub const SCOPE_ALL: &str = "sp:scopes:all";
pub const SCOPE_DEFAULT: &str = "sp:scopes:default";
/// passbroker's own: lets an API client act on identities with an administrative user level
/// (ORG_ADMIN, HELPDESK, SOURCE_ADMIN): set or issue a reset token for their built-in login,
/// create, change or delete them, or grant such a level. Without it (or `sp:scopes:all`),
/// `idn:password-change:manage` and `idn:identity:manage` reach ordinary users only, so an
/// API client cannot make itself an administrator.
pub const SCOPE_ADMINS_MANAGE: &str = "passbroker:admins:manage";
/// passbroker's own: a capture agent reporting passwords changed at a directory
/// (`POST /passbroker/v1/captured-passwords`), for the sources its API client is bound to.
pub const SCOPE_PASSWORD_CAPTURE: &str = "passbroker:password-capture:write";
pub const KNOWN_SCOPES: &[&str] = &[
    SCOPE_ALL,
    SCOPE_DEFAULT,
    SCOPE_ADMINS_MANAGE,
    SCOPE_PASSWORD_CAPTURE,
    "idn:password-info:read",
    "idn:password-change:manage",
    "idn:password-change:read",
    "idn:password-policy:read",
    "idn:password-policy:write",
    "idn:password-sync-group:read",
    "idn:password-sync-group:manage",
    "idn:password-dictionary:read",
    "idn:password-dictionary:manage",
    "idn:password-org-config:read",
    "idn:password-org-config:manage",
    "idn:password-digit-token:create",
    "idn:sources:read",
    "idn:sources:manage",
    "idn:identity:read",
    "idn:identity:manage",
    "idn:accounts:read",
    "idn:accounts:manage",
    "idn:audit:read",
];

/// Validates a space-separated scope list; returns the scopes or the first unknown one.
pub fn parse_scopes(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for s in text.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !KNOWN_SCOPES.contains(&s) {
            return Err(s.to_owned());
        }
        if !out.iter().any(|o: &String| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

/// An OAuth client (`client_credentials`, and `authorization_code` for browser apps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub client_id: String,
    pub name: String,
    /// argon2id PHC string of the secret; `None` for public clients (PKCE only).
    pub secret_hash: Option<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub created: Millis,
    pub disabled: bool,
}

/// A personal access token: acts as its owner identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    pub id: String,
    pub name: String,
    pub owner: IdentityId,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub created: Millis,
    pub last_used: Option<Millis>,
    pub revoked: bool,
}
