//! Hardening of authentication and authorization (`cargo test -- hardening`):
//! - deny by default: every route the router serves answers 401 without a token unless it is
//!   on the one public list;
//! - minting new tokens buys no new budget (per-client limit), and an address sending bad
//!   tokens is limited before any signature check (a token it used before still works);
//! - wrong sign-in passwords lock out the address that sent them, not the user;
//! - `idn:password-change:manage` / `idn:identity:manage` reach ordinary users only: an API
//!   client needs `passbroker:admins:manage` to set an administrator's login.

use crate::helpers::*;
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::UserLevel;
use passbroker_server::http::routes::{is_public, route_paths, PUBLIC_ROUTES};
use serde_json::json;

fn with_env(pairs: &[(&str, &str)]) -> Options {
    Options {
        env: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    }
}

#[tokio::test]
async fn hardening_every_route_is_public_or_answers_401_without_a_token() {
    let app = spawn_app().await;
    let paths = route_paths();
    assert!(
        paths.len() > 60,
        "every path form is listed: {}",
        paths.len()
    );
    for public in PUBLIC_ROUTES {
        assert!(
            paths.iter().any(|p| p == public),
            "the public list names a route the router serves: {public}"
        );
    }
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ];
    let mut protected = 0;
    for path in &paths {
        if is_public(path) {
            continue;
        }
        protected += 1;
        let concrete = path
            .replace("{id}", "2c9180835d2e5168015d32f890ca1581")
            .replace("{pageId}", "change-password:enter-password");
        let mut answered_401 = false;
        for method in &methods {
            let r = app
                .http
                .request(method.clone(), app.url(&concrete))
                .header("content-type", "application/json")
                .header("x-sailpoint-experimental", "true")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                status == 401 || status == 405,
                "{method} {concrete} without a token answered {status}, not 401"
            );
            answered_401 |= status == 401;
        }
        assert!(answered_401, "{concrete} never asked for a token");
    }
    assert!(protected > 50, "{protected}");
}

#[tokio::test]
async fn hardening_minting_new_tokens_buys_no_new_budget() {
    let app = spawn_app_with(with_env(&[("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "10")])).await;
    let (id, secret) = app
        .new_client(&["sp:scopes:all"], &["client_credentials"])
        .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let token = app.token_for(&id, &secret).await;
        for _ in 0..3 {
            let r = app
                .get(
                    "/v3/password-change-status/2c9180835d2e5168015d32f890ca1581",
                    &token,
                )
                .await;
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                assert!(r.headers().get("retry-after").is_some());
            }
        }
    }
    // 10 answers (404: no such request) then 429, whichever token is used.
    assert_eq!(&statuses[..10], &[404; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    // Another client's budget is its own.
    let other = app.token_with_scopes(&["sp:scopes:all"]).await;
    assert_eq!(
        app.get(
            "/v3/password-change-status/2c9180835d2e5168015d32f890ca1581",
            &other
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn hardening_bad_tokens_from_one_address_are_limited_before_verification() {
    let app = spawn_app_with(with_env(&[("PASSBROKER_AUTH_FAILURES_PER_IP", "5")])).await;
    let good = app.token().await;
    let path = "/v3/password-change-status/2c9180835d2e5168015d32f890ca1581";
    assert_eq!(
        app.get(path, &good).await.status(),
        404,
        "a good token, seen once"
    );
    // A forged token: right shape, wrong signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[2] = "A".repeat(parts[2].len());
    let forged = parts.join(".");
    for n in 0..5 {
        let r = app.get(path, &forged).await;
        assert_eq!(r.status(), 401, "failure {n} is still answered 401");
    }
    let r = app.get(path, &forged).await;
    assert_eq!(r.status(), 429, "the address is over its failure budget");
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(app.get(path, "garbage").await.status(), 429);
    // A token this node already verified is not held up by the address's failures.
    assert_eq!(app.get(path, &good).await.status(), 404);
}

/// Signs in through the login page from a given local address (127.0.0.0/8 all reach the
/// server on Linux), so tests can act as several clients.
async fn sign_in_from(app: &TestApp, from: &str, user: &str, password: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap();
    sign_in_with(app, &client, user, password)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn hardening_wrong_passwords_lock_out_the_sender_not_the_user() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    app.set_builtin_password(&abby.identity.id, "Right-Passw0rd-1")
        .await;
    // An attacker at 127.0.0.2 guesses ten times …
    for _ in 0..10 {
        assert_eq!(
            sign_in_from(&app, "127.0.0.2", "Abby.Smith", "wrong-guess").await,
            401
        );
    }
    // … and is refused even with the right password,
    assert_eq!(
        sign_in_from(&app, "127.0.0.2", "Abby.Smith", "Right-Passw0rd-1").await,
        429
    );
    // while Abby, elsewhere, signs in.
    assert_eq!(
        sign_in_from(&app, "127.0.0.3", "Abby.Smith", "Right-Passw0rd-1").await,
        303
    );
}

/// An ORG_ADMIN with an account on the built-in directory (their passbroker login).
async fn admin_with_login(app: &TestApp) -> TestUser {
    let mut admin = app.add_user("Olga.Admin", UserLevel::OrgAdmin).await;
    let builtin = app
        .state
        .store
        .find_source_by_name("passbroker")
        .await
        .unwrap()
        .unwrap();
    let account = Account {
        id: passbroker_core::AccountRef::generate(),
        source_id: builtin.id.clone(),
        identity_id: admin.identity.id.clone(),
        native_id: NativeAccountId::parse("Olga.Admin").unwrap(),
        account_name: "Olga.Admin".into(),
        attributes: Default::default(),
        disabled: false,
    };
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertAccount(
            account.clone(),
        )])
        .await
        .unwrap();
    admin.account = account;
    admin
}

#[tokio::test]
async fn hardening_an_api_client_needs_an_explicit_scope_to_set_an_admins_login() {
    let app = spawn_app().await;
    let admin = admin_with_login(&app).await;
    let reader = app.token().await;
    let changer = app
        .token_with_scopes(&["idn:password-change:manage", "idn:password-info:read"])
        .await;
    let body = app.body_for(&reader, &admin, "Taken-Over-Adm1n").await;
    let r = app.post_json("/v3/set-password", &changer, &body).await;
    assert_eq!(
        r.status(),
        403,
        "password-change:manage alone cannot take over an admin"
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("passbroker:admins:manage"), "{text}");

    // The explicit scope allows it, and the audit trail says so.
    let trusted = app
        .token_with_scopes(&["idn:password-change:manage", "passbroker:admins:manage"])
        .await;
    let body = app.body_for(&reader, &admin, "Reset-By-Trusted-1").await;
    let id = app.set_password(&trusted, &body).await;
    assert_eq!(app.wait_terminal(&trusted, &id).await["state"], "FINISHED");
    let events = app
        .audit_events("ADMIN_LOGIN_PASSWORD_CHANGE_REQUESTED")
        .await;
    assert!(
        events.iter().any(
            |e| e.identity_id.as_deref() == Some(admin.identity.id.as_str())
                && e.actor.starts_with("client:")
        ),
        "the change of an admin's login is audited as such: {events:?}"
    );

    // Nor can identity management promote someone whose password the client knows.
    let manager = app.token_with_scopes(&["idn:identity:manage"]).await;
    let user = app.add_user("Mallory.User", UserLevel::User).await;
    let r = app
        .http
        .put(app.url(&format!("/passbroker/v1/identities/{}", user.identity.id)))
        .bearer_auth(&manager)
        .json(&json!({"name": "Mallory.User", "userLevel": "ORG_ADMIN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "promotion needs passbroker:admins:manage");
    let r = app
        .http
        .post(app.url("/passbroker/v1/identities"))
        .bearer_auth(&manager)
        .json(&json!({"name": "New.Admin", "userLevel": "ORG_ADMIN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "creating an admin needs passbroker:admins:manage"
    );
}
