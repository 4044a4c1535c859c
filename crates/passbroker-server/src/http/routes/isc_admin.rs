//! ISC's password administration APIs (policies, sync groups, dictionary, org config, digit
//! tokens, custom instructions, sources) and passbroker's operator APIs (identities,
//! accounts, digit-token redemption). Each family lives in its own module and is mounted here,
//! on every path form ISC's OpenAPI lists:
//!
//! | family | `/v3` | `/beta` | `/v2024` | `/v2025` | `/…/v1` |
//! |---|---|---|---|---|---|
//! | password-policies | ✓ | ✓ | ✓ (experimental) | ✓ (experimental) | ✓ (experimental) |
//! | password-sync-groups, -dictionary, -org-config, sources | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | generate-password-reset-token/digit, custom-password-instructions | | ✓ | ✓ (experimental) | ✓ (experimental) | ✓ (experimental) |
//! | sources/{id}/password-policies | | | PATCH | GET, PATCH | GET, PATCH |
//!
//! "Experimental" operations need `X-SailPoint-Experimental: true` (400 otherwise, as ISC):
//! exactly the operations whose ISC specification marks the header required. The Python SDK
//! 1.x v2024/v2025 password-policy classes do not send it; pass it with `_headers`.

use super::admin_support::{ExperimentalRoute, FAMILIES};
use super::Routes;
use super::{
    accounts, custom_instructions, dictionary, digit_tokens, identities, org_config,
    password_policies as policies, sources, sync_groups,
};
use crate::http::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post, MethodRouter};
use axum::Extension;

fn experimental(route: MethodRouter<AppState>, on: bool) -> MethodRouter<AppState> {
    if on {
        route.layer(Extension(ExperimentalRoute))
    } else {
        route
    }
}

/// Routes whose paths differ only by where the form puts the version:
/// `/{family}/password-policies` or `/password-policies/v1`.
/// `policies_experimental`: the form's password-policy operations need the experimental
/// header (`/v2024`, `/v2025`, `/…/v1`).
fn common(r: Routes, at: impl Fn(&str, &str) -> String, policies_experimental: bool) -> Routes {
    let dictionary = get(dictionary::get)
        .put(dictionary::put)
        .layer(DefaultBodyLimit::max(dictionary::MAX_UPLOAD_BYTES));
    r.route(
        &at("password-policies", ""),
        experimental(
            get(policies::list).post(policies::create),
            policies_experimental,
        ),
    )
    .route(
        &at("password-policies", "/{id}"),
        experimental(
            get(policies::get)
                .put(policies::update)
                .delete(policies::delete),
            policies_experimental,
        ),
    )
    .route(
        &at("password-sync-groups", ""),
        get(sync_groups::list).post(sync_groups::create),
    )
    .route(
        &at("password-sync-groups", "/{id}"),
        get(sync_groups::get)
            .put(sync_groups::update)
            .delete(sync_groups::delete),
    )
    .route(&at("password-dictionary", ""), dictionary)
    .route(
        &at("password-org-config", ""),
        get(org_config::get)
            .post(org_config::create)
            .put(org_config::update),
    )
    .route(&at("sources", ""), get(sources::list).post(sources::create))
    .route(
        &at("sources", "/{id}"),
        get(sources::get)
            .put(sources::put)
            .patch(sources::patch)
            .delete(sources::delete),
    )
}

/// Digit tokens and custom password instructions (not in `/v3`).
fn self_service(r: Routes, at: impl Fn(&str, &str) -> String, experimental_on: bool) -> Routes {
    r.route(
        &at("generate-password-reset-token", "/digit"),
        experimental(post(digit_tokens::create), experimental_on),
    )
    .route(
        &at("custom-password-instructions", ""),
        experimental(post(custom_instructions::create), experimental_on),
    )
    .route(
        &at("custom-password-instructions", "/{id}"),
        experimental(
            get(custom_instructions::get).delete(custom_instructions::delete),
            experimental_on,
        ),
    )
}

/// Adds the routes of the administration APIs.
pub fn routes(mut r: Routes) -> Routes {
    for family in FAMILIES {
        let at = move |api: &str, rest: &str| format!("/{family}/{api}{rest}");
        let experimental_on = !matches!(*family, "v3" | "beta");
        r = common(r, at, experimental_on);
        if *family != "v3" {
            r = self_service(r, at, experimental_on);
        }
    }
    r = r
        .route(
            "/v2024/sources/{id}/password-policies",
            patch(sources::update_policy_holders),
        )
        .route(
            "/v2025/sources/{id}/password-policies",
            get(sources::list_policy_holders).patch(sources::update_policy_holders),
        );
    // The per-API form of the Python SDK 2.x: `/password-policies/v1/{id}`.
    let v1 = |api: &str, rest: &str| format!("/{api}/v1{rest}");
    r = common(r, v1, true);
    r = self_service(r, v1, true);
    r = r.route(
        "/sources/v1/{id}/password-policies",
        get(sources::list_policy_holders).patch(sources::update_policy_holders),
    );
    // passbroker's own operator and self-service APIs.
    r.route(
        "/passbroker/v1/digit-token/redeem",
        post(digit_tokens::redeem),
    )
    .route("/passbroker/v1/public-key", get(digit_tokens::public_key))
    .route(
        "/passbroker/v1/identities",
        get(identities::list).post(identities::create),
    )
    .route(
        "/passbroker/v1/identities/{id}",
        get(identities::get)
            .put(identities::update)
            .delete(identities::delete),
    )
    .route(
        "/passbroker/v1/accounts",
        get(accounts::list).post(accounts::create),
    )
    .route(
        "/passbroker/v1/accounts/{id}",
        get(accounts::get)
            .put(accounts::update)
            .delete(accounts::delete),
    )
}
