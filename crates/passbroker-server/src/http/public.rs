//! The deny-by-default list: the only routes served without authentication.

use crate::config::Config;

/// The breach corpus's range endpoint, public only when `breach_range_public` is on.
pub const BREACH_RANGE_ROUTE: &str = "/passbroker/v1/pwned/range/{prefix}";

/// "Forgot password": start a flow (an emailed code), prove the code, or redeem the help
/// desk's digit token.
pub const RECOVERY_START_ROUTE: &str = "/passbroker/v1/recovery/start";
pub const RECOVERY_VERIFY_ROUTE: &str = "/passbroker/v1/recovery/verify";
pub const RECOVERY_DIGIT_TOKEN_ROUTE: &str = "/passbroker/v1/recovery/digit-token";

/// The only routes a caller may reach without a bearer token. Every other route the router
/// serves is authenticated by [`crate::http::auth::authenticate`] before its handler runs, so a
/// new route is protected unless it is added here (deny by default).
pub const PUBLIC_ROUTES: &[&str] = &[
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/oauth/token",
    "/oauth/jwks",
    "/oauth/authorize",
    "/passbroker/v1/public-key",
    "/passbroker/v1/digit-token/redeem",
    // The Password Manager page (its data calls are authenticated) and its sign-in.
    "/",
    "/assets/{file}",
    "/passbroker/v1/session",
    // "Forgot password": the emailed code, or the help desk's digit token, is the proof
    // (under the guessing protection); starting a flow answers the same for every user name.
    RECOVERY_START_ROUTE,
    RECOVERY_VERIFY_ROUTE,
    RECOVERY_DIGIT_TOKEN_ROUTE,
];

/// Whether a route (as matched, e.g. `/v3/sources/{id}`) is on [`PUBLIC_ROUTES`].
pub fn is_public(matched_path: &str) -> bool {
    PUBLIC_ROUTES.contains(&matched_path)
}

/// Whether a route is public under this configuration: the public list, plus the breach
/// range endpoint when `breach_range_public` is on (then rate limited per address instead).
pub fn is_public_with(matched_path: &str, config: &Config) -> bool {
    is_public(matched_path) || (config.breach_range_public && matched_path == BREACH_RANGE_ROUTE)
}
