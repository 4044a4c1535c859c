//! The Password Manager page (`cargo test -- page`): serving and security headers, the
//! first-party session (cookie flags, CSRF, expiry, sign-out), the `/passbroker/v1/me` API,
//! and a whole change made the way the page makes it (cookie + CSRF token, RSA-OAEP-256).

use crate::helpers::*;
use passbroker_server::ops::demo::{
    DEMO_FAILING_SOURCE, DEMO_FAILURE_MESSAGE, DEMO_MAIL_SOURCE, DEMO_SYNC_GROUP,
};
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{json, Value};
use std::time::Duration;

fn with_env(pairs: &[(&str, &str)]) -> Options {
    Options {
        env: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    }
}

/// A signed-in page session: the cookie header to send and the CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    set_cookie: String,
}

fn abby_password(app: &TestApp) -> String {
    app.demo
        .user_password
        .clone()
        .expect("the demo writes Abby's sign-in password")
}

async fn sign_in_raw(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/passbroker/v1/session"))
        .json(&json!({"userName": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn sign_in(app: &TestApp, password: &str) -> Session {
    let r = sign_in_raw(app, "Abby.Smith", password).await;
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    Session {
        cookie,
        csrf: body["csrfToken"].as_str().unwrap().to_owned(),
        set_cookie,
    }
}

async fn get_with(app: &TestApp, s: &Session, path: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, s: &Session) -> Value {
    let r = get_with(app, s, "/passbroker/v1/me").await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The set-password body the page sends for `entry` (an element of `/me`'s groups' sources
/// or of its sources).
async fn page_body(app: &TestApp, me: &Value, entry: &Value, password: &str) -> Value {
    let key: Value = app
        .http
        .get(app.url("/passbroker/v1/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    json!({
        "identityId": me["identityId"],
        "encryptedPassword": oaep(key["publicKey"].as_str().unwrap(), password),
        "publicKeyId": key["publicKeyId"],
        "accountId": entry["accountId"],
        "sourceId": entry["sourceId"],
        "encryption": "RSA-OAEP-256",
    })
}

async fn post_with(
    app: &TestApp,
    s: &Session,
    path: &str,
    csrf: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(path))
        .header("cookie", &s.cookie)
        .json(body);
    if let Some(csrf) = csrf {
        req = req.header("x-csrf-token", csrf);
    }
    req.send().await.unwrap()
}

/// Polls the page's per-target view until the request ends (bounded).
async fn wait_targets(app: &TestApp, s: &Session, id: &str) -> Value {
    for _ in 0..500 {
        let r = get_with(app, s, &format!("/passbroker/v1/me/password-changes/{id}")).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        if v["state"] != "IN_PROGRESS" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("request {id} did not finish");
}

fn group(me: &Value) -> &Value {
    me["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == DEMO_SYNC_GROUP)
        .expect("the demo's sync group")
}

fn alone<'a>(me: &'a Value, source: &str) -> &'a Value {
    me["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sourceName"] == source)
        .unwrap_or_else(|| panic!("source {source} on its own"))
}

fn assert_page_headers(h: &HeaderMap) {
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp} lacks {part}");
    }
    for forbidden in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
        assert!(!csp.contains(forbidden), "{csp} has {forbidden}");
    }
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
}

#[tokio::test]
async fn page_is_public_with_a_strict_csp_and_no_third_party_origin() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_page_headers(r.headers());
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"));
    for (asset, kind) in [
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("zxcvbn.js", "text/javascript"),
        ("messages-de.json", "application/json"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let r = app
            .http
            .get(app.url(&format!("/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert_page_headers(r.headers());
    }
    let script = app
        .http
        .get(app.url("/assets/app.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!script.contains("localStorage") && !script.contains("sessionStorage"));
    assert!(!script.contains("eval(") && !script.contains("new Function"));
    let r = app
        .http
        .get(app.url("/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The page's data needs a session.
    let r = app
        .http
        .get(app.url("/passbroker/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn page_language_follows_accept_language_then_the_switch() {
    let app = spawn_app().await;
    let page = |lang: &'static str, cookie: Option<&'static str>| {
        let mut r = app.http.get(app.url("/")).header("accept-language", lang);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        async move { r.send().await.unwrap().text().await.unwrap() }
    };
    let de = page("de-CH,de;q=0.9,en;q=0.5", None).await;
    assert!(de.contains("<html lang=\"de\">") && de.contains(">Benutzername</label>"));
    let fr = page("fr-FR", None).await;
    assert!(fr.contains("<html lang=\"fr\">") && fr.contains(">Mot de passe</label>"));
    let en = page("ja", None).await;
    assert!(en.contains(">Username</label>") && en.contains(">Password</label>"));
    let switched = page("de", Some("passbroker_lang=fr")).await;
    assert!(switched.contains("<html lang=\"fr\">"));
    // The page's language links choose a language and remember it.
    let r = app
        .http
        .get(app.url("/?lang=de"))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("passbroker_lang=de;"), "{cookie}");
    assert!(r.text().await.unwrap().contains("<html lang=\"de\">"));
    let r = app.http.get(app.url("/?lang=xx")).send().await.unwrap();
    assert!(r.headers().get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn page_sign_in_sets_an_httponly_samesite_cookie_and_checks_guesses() {
    let app = spawn_app().await;
    let r = sign_in_raw(&app, "Abby.Smith", "wrong-password-1").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let s = sign_in(&app, &abby_password(&app)).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(s.set_cookie.contains(flag), "{} lacks {flag}", s.set_cookie);
    }
    assert!(
        !s.set_cookie.contains("Secure"),
        "plain HTTP: no Secure flag"
    );
    assert!(s.cookie.starts_with("passbroker_session="));
    // The store keeps only the token's hash.
    let token = s.cookie.split_once('=').unwrap().1;
    assert!(app
        .state
        .store
        .get_web_session(token)
        .await
        .unwrap()
        .is_none());
    assert!(app
        .state
        .store
        .get_web_session(&passbroker_server::http::session::token_hash(token))
        .await
        .unwrap()
        .is_some());
    // Wrong passwords lock out the address, as on the login page.
    let mut last = 0;
    for _ in 0..12 {
        last = sign_in_raw(&app, "Abby.Smith", "still-wrong-1")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    // Malformed input is a 400, never a 500.
    for body in [
        json!({}),
        json!({"userName": "", "password": ""}),
        json!({"userName": 3}),
    ] {
        let r = app
            .http
            .post(app.url("/passbroker/v1/session"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn page_cookie_is_secure_and_host_only_behind_https() {
    let app = spawn_app_with(with_env(&[(
        "PASSBROKER_PUBLIC_URL",
        "https://passbroker.example.com",
    )]))
    .await;
    let s = sign_in(&app, &abby_password(&app)).await;
    assert!(s.set_cookie.starts_with("__Host-passbroker_session="));
    assert!(s.set_cookie.contains("; Secure"));
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert!(r.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    assert_eq!(me(&app, &s).await["userName"], "Abby.Smith");
}

#[tokio::test]
async fn page_sign_in_from_another_origin_is_refused() {
    let app = spawn_app().await;
    let password = abby_password(&app);
    let body = json!({"userName": "Abby.Smith", "password": password});
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .header("sec-fetch-site", "cross-site")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A form post (what a cross-site page can send without CORS) is not JSON.
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .form(&[("userName", "Abby.Smith"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let host = app.address.trim_start_matches("http://").to_owned();
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn page_signing_in_again_ends_the_previous_session() {
    let app = spawn_app().await;
    let password = abby_password(&app);
    let first = sign_in(&app, &password).await;
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .header("cookie", &first.cookie)
        .json(&json!({"userName": "Abby.Smith", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        get_with(&app, &first, "/passbroker/v1/me").await.status(),
        401
    );
}

#[tokio::test]
async fn page_csrf_token_is_required_for_cookie_writes_only() {
    let app = spawn_app().await;
    let s = sign_in(&app, &abby_password(&app)).await;
    let me = me(&app, &s).await;
    assert_eq!(me["csrfToken"], s.csrf.as_str());
    let entry = &alone(&me, "My-AD");
    let body = page_body(&app, &me, entry, "Fresh-Passw0rd-a").await;
    for csrf in [None, Some("0".repeat(64)), Some(String::new())] {
        let r = post_with(&app, &s, "/v3/set-password", csrf.as_deref(), &body).await;
        assert_eq!(r.status(), 403, "csrf {csrf:?}");
    }
    let r = app
        .http
        .delete(app.url("/passbroker/v1/me/session"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "sign-out needs the token too");
    let r = post_with(&app, &s, "/v3/set-password", Some(&s.csrf), &body).await;
    assert_eq!(r.status(), 202);
    // A bearer token is unaffected (and wins over a cookie sent alongside).
    let token = app.token().await;
    let info_body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Other-Passw0rd-b")
        .await;
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .header("cookie", &s.cookie)
        .json(&info_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn page_session_cannot_administer_or_query_password_info() {
    let app = spawn_app().await;
    let s = sign_in(&app, &abby_password(&app)).await;
    let r = get_with(&app, &s, "/v3/password-policies").await;
    assert_eq!(r.status(), 403);
    let r = post_with(
        &app,
        &s,
        "/v3/query-password-info",
        Some(&s.csrf),
        &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
    )
    .await;
    assert_eq!(r.status(), 403);
    // API clients have no "me".
    let token = app.token().await;
    assert_eq!(app.get("/passbroker/v1/me", &token).await.status(), 403);
}

#[tokio::test]
async fn page_session_expires_when_idle_and_at_its_lifetime() {
    let app = spawn_app_with(with_env(&[
        ("PASSBROKER_SESSION_LIFETIME_SECS", "600"),
        ("PASSBROKER_SESSION_IDLE_TIMEOUT_SECS", "120"),
    ]))
    .await;
    let password = abby_password(&app);
    // Idle: unused for the idle timeout.
    let s = sign_in(&app, &password).await;
    app.state.clock.advance(119_000);
    assert_eq!(get_with(&app, &s, "/passbroker/v1/me").await.status(), 200);
    app.state.clock.advance(119_000);
    assert_eq!(
        get_with(&app, &s, "/passbroker/v1/me").await.status(),
        200,
        "each use restarts the idle time"
    );
    app.state.clock.advance(121_000);
    assert_eq!(get_with(&app, &s, "/passbroker/v1/me").await.status(), 401);
    // Absolute: used all along, still ends at its lifetime.
    let s = sign_in(&app, &password).await;
    for _ in 0..5 {
        app.state.clock.advance(110_000);
        assert_eq!(get_with(&app, &s, "/passbroker/v1/me").await.status(), 200);
    }
    app.state.clock.advance(51_000);
    let r = get_with(&app, &s, "/passbroker/v1/me").await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("sign in again"));
}

#[tokio::test]
async fn page_sign_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let s = sign_in(&app, &abby_password(&app)).await;
    let r = app
        .http
        .delete(app.url("/passbroker/v1/me/session"))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cleared = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0") && cleared.contains("HttpOnly"));
    // A client that keeps the old cookie is refused: revocation is server-side.
    assert_eq!(get_with(&app, &s, "/passbroker/v1/me").await.status(), 401);
    let token = app.token().await;
    let events = app
        .get(
            "/passbroker/v1/audit-events?action=PAGE_SESSION_ENDED",
            &token,
        )
        .await;
    assert_eq!(events.status(), 200);
}

#[tokio::test]
async fn page_me_groups_sources_rules_and_last_changes() {
    let app = spawn_app().await;
    let s = sign_in(&app, &abby_password(&app)).await;
    let m = me(&app, &s).await;
    assert_eq!(m["userName"], "Abby.Smith");
    assert_eq!(m["displayName"], "Abby Smith");
    let g = group(&m);
    let names: Vec<&str> = g["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sourceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["passbroker", DEMO_MAIL_SOURCE]);
    assert!(g["sources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["passwordChangeable"] == true && s["lastChange"].is_null()));
    assert_eq!(
        g["policy"],
        json!([
            {"rule": "minLength", "value": 8, "check": "browser"},
            {"rule": "maxLength", "value": 128, "check": "browser"},
            {"rule": "minAlpha", "value": 1, "check": "browser"},
            {"rule": "minNumeric", "value": 1, "check": "browser"},
            {"rule": "maxRepeatedChars", "value": 3, "check": "browser"},
        ])
    );
    let ad = alone(&m, "My-AD");
    assert_eq!(ad["passwordChangeable"], true);
    assert!(ad["policy"].is_array());
    alone(&m, DEMO_FAILING_SOURCE);

    // A change on My-AD shows up as its last change, with its outcome.
    let body = page_body(&app, &m, ad, "Fresh-Passw0rd-a").await;
    let r = post_with(&app, &s, "/v3/set-password", Some(&s.csrf), &body).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_targets(&app, &s, &id).await;
    let m = me(&app, &s).await;
    let last = &alone(&m, "My-AD")["lastChange"];
    assert_eq!(last["requestId"], id.as_str());
    assert_eq!(last["status"], "SUCCESS");
    assert!(last["finished"].is_string());

    // Someone else's request is not found.
    let token = app.token().await;
    let other = app
        .add_user("Bob.Other", passbroker_core::identity::UserLevel::User)
        .await;
    let other_body = app
        .change_body(
            &token,
            other.identity.login_name.as_str(),
            "My-AD",
            "Bobs-Passw0rd-1",
        )
        .await;
    let other_id = app.set_password(&token, &other_body).await;
    let r = get_with(
        &app,
        &s,
        &format!("/passbroker/v1/me/password-changes/{other_id}"),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = get_with(&app, &s, "/passbroker/v1/me/password-changes/not-an-id").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn page_change_on_the_sync_group_reaches_every_source_and_the_new_password_signs_in() {
    let app = spawn_app().await;
    let old = abby_password(&app);
    let s = sign_in(&app, &old).await;
    let m = me(&app, &s).await;
    let first = &group(&m)["sources"][0];
    let new = "Brand-New-Passw0rd-7";
    let body = page_body(&app, &m, first, new).await;
    let r = post_with(&app, &s, "/v3/set-password", Some(&s.csrf), &body).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_targets(&app, &s, &id).await;
    assert_eq!(done["state"], "FINISHED", "{done}");
    let targets = done["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t["status"] == "SUCCESS"), "{done}");
    // The ISC status, as the user, agrees.
    let r = get_with(&app, &s, &format!("/v3/password-change-status/{id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "FINISHED");
    // Sign out; the new password signs in, the old one no longer does.
    let r = app
        .http
        .delete(app.url("/passbroker/v1/me/session"))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(sign_in_raw(&app, "Abby.Smith", &old).await.status(), 401);
    sign_in(&app, new).await;
    // The password never reached the logs.
    assert!(!captured_logs().contains(new));
}

#[tokio::test]
async fn page_failed_target_and_failed_policy_are_reported_target_by_target() {
    let app = spawn_app().await;
    let s = sign_in(&app, &abby_password(&app)).await;
    let m = me(&app, &s).await;
    let hr = alone(&m, DEMO_FAILING_SOURCE);
    let body = page_body(&app, &m, hr, "Fresh-Passw0rd-a").await;
    let r = post_with(&app, &s, "/v3/set-password", Some(&s.csrf), &body).await;
    let id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_targets(&app, &s, &id).await;
    assert_eq!(done["state"], "FAILED");
    assert_eq!(
        done["targets"],
        json!([{"sourceId": hr["sourceId"], "sourceName": DEMO_FAILING_SOURCE,
                "accountName": hr["accountName"], "status": "FAILED", "reason": DEMO_FAILURE_MESSAGE}])
    );

    // A password the policy refuses: every failed rule at once, no target attempted.
    let first = &group(&m)["sources"][0];
    let body = page_body(&app, &m, first, "aaaa").await;
    let r = post_with(&app, &s, "/v3/set-password", Some(&s.csrf), &body).await;
    let id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_targets(&app, &s, &id).await;
    assert_eq!(done["state"], "FAILED");
    let errors = done["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "length, digit and repetition: {done}");
    assert!(done["targets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "NOT_ATTEMPTED"));
}

#[tokio::test]
async fn page_shows_custom_instructions_in_the_persons_locale() {
    let app = spawn_app().await;
    let admin = app
        .add_user("Org.Admin", passbroker_core::identity::UserLevel::OrgAdmin)
        .await;
    let (_, pat) = app.pat_token(&admin.identity.id).await;
    let r = app
        .http
        .put(app.url("/v3/password-org-config"))
        .bearer_auth(&pat)
        .json(&json!({"customInstructionsEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (page, locale, text) in [
        (
            "change-password:enter-password",
            "de",
            "<b>Bitte</b> ein neues Passwort",
        ),
        (
            "change-password:enter-password",
            "default",
            "Please choose a new password",
        ),
        (
            "flow-selection:select",
            "default",
            "<a href=\"https://help.example\">Help</a>",
        ),
    ] {
        let r = app
            .http
            .post(app.url("/beta/custom-password-instructions"))
            .bearer_auth(&pat)
            .header("x-sailpoint-experimental", "true")
            .json(&json!({"pageId": page, "pageContent": text, "locale": locale}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{page} {locale}");
    }
    let s = sign_in(&app, &abby_password(&app)).await;
    let de = get_with(&app, &s, "/passbroker/v1/me?locale=de-CH")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        de["instructions"]["change-password:enter-password"],
        "<b>Bitte</b> ein neues Passwort"
    );
    let fr = get_with(&app, &s, "/passbroker/v1/me?locale=fr")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        fr["instructions"]["change-password:enter-password"],
        "Please choose a new password"
    );
    assert!(fr["instructions"].get("change-password:finish").is_none());
    // The sign-in screen's instructions travel escaped in an attribute, for the script to
    // sanitise.
    let html = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(
        "data-content=\"&lt;a href=&quot;https://help.example&quot;&gt;Help&lt;/a&gt;\""
    ));
}
