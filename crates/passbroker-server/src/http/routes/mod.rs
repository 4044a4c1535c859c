//! The HTTP surface: every path form the SDKs use, one fallback, one error shape.

pub mod accounts;
pub mod admin_support;
pub mod captured_passwords;
pub mod custom_instructions;
pub mod dictionary;
pub mod digit_tokens;
pub mod extract;
pub mod health;
pub mod helpdesk;
pub mod identities;
pub mod isc_admin;
pub mod json_patch;
pub mod login;
pub mod me;
pub mod mfa;
pub mod oauth;
pub mod openapi;
pub mod org_config;
pub mod page;
pub mod password;
pub mod password_policies;
mod password_wait;
pub mod pats_audit;
pub mod pwned;
pub mod recovery;
pub mod sign_in;
pub mod source_doc;
pub mod sources;
pub mod sync_groups;
pub mod trigger_doc;
pub mod triggers;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use passbroker_core::time::Millis;

/// ISC's API families that carry the password operations.
pub const VERSIONS: &[&str] = &["v3", "beta", "v2024", "v2025"];

pub use crate::http::public::{is_public, is_public_with, PUBLIC_ROUTES};

/// The router under construction, remembering every path it was given, so that the set of
/// served routes can be listed (and each proven to be public or authenticated).
pub struct Routes {
    router: Router<AppState>,
    paths: Vec<String>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub fn route(mut self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        self.paths.push(path.to_owned());
        self.router = self.router.route(path, method_router);
        self
    }
}

/// The password routes, relative to a version prefix.
fn password_routes(r: Routes, prefix: &str) -> Routes {
    r.route(
        &format!("{prefix}/query-password-info"),
        post(password::query_password_info),
    )
    .route(
        &format!("{prefix}/set-password"),
        post(password::set_password),
    )
    .route(
        &format!("{prefix}/password-change-status/{{id}}"),
        get(password::password_change_status),
    )
}

/// Every route the server serves, public and protected.
fn all_routes() -> Routes {
    let mut api = Routes::new();
    for v in VERSIONS {
        api = password_routes(api, &format!("/{v}"));
    }
    // The per-API form used by the Python SDK 2.x.
    api = api
        .route(
            "/query-password-info/v1",
            post(password::query_password_info),
        )
        .route("/set-password/v1", post(password::set_password))
        .route(
            "/password-change-status/v1/{id}",
            get(password::password_change_status),
        );
    for v in ["beta", "v2024", "v2025"] {
        api = api
            .route(
                &format!("/{v}/personal-access-tokens"),
                get(pats_audit::list_pats).post(pats_audit::create_pat),
            )
            .route(
                &format!("/{v}/personal-access-tokens/{{id}}"),
                axum::routing::delete(pats_audit::delete_pat),
            );
    }
    api = isc_admin::routes(api);
    api = trigger_routes(api);
    api.route("/passbroker/v1/audit-events", get(pats_audit::list_audit))
        .route(captured_passwords::ROUTE, post(captured_passwords::report))
        .route(crate::http::public::BREACH_RANGE_ROUTE, get(pwned::range))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/jwks", get(oauth::jwks))
        .route(
            "/oauth/authorize",
            get(login::authorize_page).post(login::authorize_submit),
        )
        .route("/health/live", get(health::live))
        .route("/openapi.json", get(openapi::document))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/", get(page::index))
        .route("/assets/{file}", get(page::asset))
        .route("/passbroker/v1/session", post(sign_in::sign_in))
        .route(recovery::START_ROUTE, post(recovery::start))
        .route(recovery::VERIFY_ROUTE, post(recovery::verify))
        .route(recovery::DIGIT_TOKEN_ROUTE, post(recovery::digit_token))
        .route(helpdesk::PEOPLE_ROUTE, get(helpdesk::search))
        .route(helpdesk::PERSON_ROUTE, get(helpdesk::show))
        .route(helpdesk::TOKEN_ROUTE, post(helpdesk::issue))
        .route(mfa::STATE_ROUTE, get(mfa::status).post(mfa::verify))
        .route(mfa::TOTP_ROUTE, post(mfa::enrol))
        .route(mfa::QR_ROUTE, get(mfa::qr))
        .route(mfa::CONFIRM_ROUTE, post(mfa::confirm))
        .route(mfa::EMAIL_ROUTE, post(mfa::email_code))
        .route("/passbroker/v1/me", get(me::me))
        .route(
            "/passbroker/v1/me/session",
            axum::routing::delete(sign_in::sign_out),
        )
        .route(
            "/passbroker/v1/me/password-changes/{id}",
            get(me::password_change),
        )
}

/// Events: ISC's Triggers API on `/beta` and, experimental, on `/v2024` and `/v2025`;
/// passbroker's secret rotation, dead letters and replay.
fn trigger_routes(mut api: Routes) -> Routes {
    use axum::Extension;
    for v in ["beta", "v2024", "v2025"] {
        let gate = |r: MethodRouter<AppState>| {
            if v == "beta" {
                r
            } else {
                r.layer(Extension(admin_support::ExperimentalRoute))
            }
        };
        api = api
            .route(
                &format!("/{v}/triggers"),
                gate(get(triggers::list_triggers)),
            )
            .route(
                &format!("/{v}/trigger-subscriptions"),
                gate(get(triggers::list).post(triggers::create)),
            )
            .route(
                &format!("/{v}/trigger-subscriptions/{{id}}"),
                gate(
                    get(triggers::get)
                        .put(triggers::update)
                        .patch(triggers::patch)
                        .delete(triggers::delete),
                ),
            );
    }
    api.route(
        "/passbroker/v1/trigger-subscriptions/{id}/rotate-secret",
        post(triggers::rotate_secret),
    )
    .route(
        "/passbroker/v1/trigger-subscriptions/{id}/dead-letters",
        get(triggers::dead_letters),
    )
    .route(
        "/passbroker/v1/trigger-subscriptions/{id}/replay",
        post(triggers::replay),
    )
}

/// The path of every route the router serves, in every path form (for the test that proves
/// each is either public or authenticated).
pub fn route_paths() -> Vec<String> {
    all_routes().paths
}

pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    let max_body = state.config.max_body_bytes;
    // `route_layer` runs after routing, on every route registered so far: the gate sees the
    // matched path and lets only the public list through unauthenticated.
    all_routes()
        .router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::auth::authenticate,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::telemetry::track,
        ))
        .layer(axum::middleware::from_fn(run_to_completion))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a handler panicked".into()).into_response()
            },
        ))
}

/// Runs each request that may change something on a task of its own, so that a client
/// hanging up does not cancel the handler half-way: a handler that makes several writes
/// (an admin change, set-password's intake and audit) finishes them and logs them whether or
/// not anyone still listens. (Store transactions themselves roll back when dropped, on both
/// backends.) Requests that only read run on the connection's own task: a hang-up loses
/// nothing there, and the extra task cost a wake-up of another worker thread per request
/// (a profile of password-change-status under load showed the context switches).
async fn run_to_completion(req: Request, next: axum::middleware::Next) -> Response {
    if only_reads(&req) {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Internal("a handler panicked".into()).into_response(),
    }
}

/// Safe methods, and query-password-info (a POST that only reads).
fn only_reads(req: &Request) -> bool {
    use axum::http::Method;
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || (req.method() == Method::POST && req.uri().path().ends_with("/query-password-info"))
}

async fn not_found(uri: Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::not_found(format!("no API at {path}"))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `//v3/...` (an SDK base URL with a trailing slash) is served as `/v3/...`.
pub fn collapse_leading_slashes(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.starts_with("//") {
        let trimmed = format!("/{}", path.trim_start_matches('/'));
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed,
        };
        if let Ok(uri) = new.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// ISC's date-time form: RFC 3339 with milliseconds, UTC.
pub fn rfc3339(m: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(m.0) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Wraps the router so `//v3/...` is routed like `/v3/...`.
pub fn service(
    state: AppState,
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
       + Clone
       + Send
       + 'static {
    use tower::ServiceExt;
    router(state).map_request(collapse_leading_slashes)
}
