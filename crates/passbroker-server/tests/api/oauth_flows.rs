//! `POST /oauth/token` and the login page: client_credentials in every body form the SDKs
//! send, authorization_code with PKCE driven over HTTP, refresh tokens, and the refusals.

use crate::helpers::*;
use base64::Engine;
use serde_json::{json, Value};

const PASSWORD: &str = "Login-Passw0rd!";

async fn oauth_error(r: reqwest::Response, status: u16, error: &str, context: &str) -> Value {
    assert_eq!(r.status(), status, "{context}");
    assert_eq!(
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{context}"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], error, "{context}: {v}");
    assert!(v["error_description"].is_string(), "{context}: {v}");
    v
}

async fn access_token(r: reqwest::Response, context: &str) -> Value {
    assert_eq!(r.status(), 200, "{context}");
    assert_eq!(
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{context}"
    );
    let v: Value = r.json().await.unwrap();
    assert!(
        v["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{context}"
    );
    assert_eq!(v["token_type"], "bearer");
    v
}

async fn query_info_status(app: &TestApp, token: &str) -> u16 {
    app.post_json(
        "/v3/query-password-info",
        token,
        &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn client_credentials_in_every_body_form() {
    let app = spawn_app().await;
    let (id, secret) = (app.demo.client_id.clone(), app.demo.client_secret.clone());
    // form-urlencoded (Python SDK).
    let v = access_token(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await,
        "form",
    )
    .await;
    assert_eq!(
        query_info_status(&app, v["access_token"].as_str().unwrap()).await,
        200
    );
    assert!(
        v.get("refresh_token").is_none() && v.get("identity_id").is_none(),
        "no refresh token or identity for an API client"
    );
    assert_eq!(v["expires_in"], json!(app.state.config.token_lifetime_secs));
    // multipart/form-data (TypeScript SDK).
    let form = reqwest::multipart::Form::new()
        .text("grant_type", "client_credentials")
        .text("client_id", id.clone())
        .text("client_secret", secret.clone());
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let v = access_token(r, "multipart").await;
    assert_eq!(
        query_info_status(&app, v["access_token"].as_str().unwrap()).await,
        200
    );
    // HTTP Basic, grant type in the body.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let v = access_token(r, "basic").await;
    assert_eq!(
        query_info_status(&app, v["access_token"].as_str().unwrap()).await,
        200
    );
    // The query string (ISC accepts it too) and JSON.
    let q = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ])
    .unwrap();
    access_token(
        app.http
            .post(app.url(&format!("/oauth/token?{q}")))
            .send()
            .await
            .unwrap(),
        "query string",
    )
    .await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
        )
        .send()
        .await
        .unwrap();
    access_token(r, "json").await;
    // A narrower scope can be asked for and is what the token holds.
    let v = access_token(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "idn:password-change:read"),
        ])
        .await,
        "scope",
    )
    .await;
    assert_eq!(v["scope"], "idn:password-change:read");
    assert_eq!(
        query_info_status(&app, v["access_token"].as_str().unwrap()).await,
        403
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_clients_and_grants() {
    let app = spawn_app().await;
    let (id, secret) = (app.demo.client_id.clone(), app.demo.client_secret.clone());
    let wrong = format!("{secret}x");
    oauth_error(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &wrong),
        ])
        .await,
        401,
        "invalid_client",
        "wrong secret",
    )
    .await;
    oauth_error(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", ""),
        ])
        .await,
        401,
        "invalid_client",
        "empty secret",
    )
    .await;
    oauth_error(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", &secret),
        ])
        .await,
        401,
        "invalid_client",
        "unknown client",
    )
    .await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&wrong))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    oauth_error(r, 401, "invalid_client", "basic, wrong secret").await;
    let form = reqwest::multipart::Form::new()
        .text("grant_type", "client_credentials")
        .text("client_id", id.clone())
        .text("client_secret", wrong.clone());
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    oauth_error(r, 401, "invalid_client", "multipart, wrong secret").await;
    oauth_error(
        app.token_request(&[
            ("grant_type", "password"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await,
        400,
        "unsupported_grant_type",
        "password grant",
    )
    .await;
    oauth_error(
        app.token_request(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")])
            .await,
        400,
        "unsupported_grant_type",
        "jwt bearer",
    )
    .await;
    oauth_error(
        app.token_request(&[("client_id", &id), ("client_secret", &secret)])
            .await,
        400,
        "invalid_request",
        "no grant type",
    )
    .await;
    oauth_error(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ])
        .await,
        400,
        "invalid_request",
        "no client id",
    )
    .await;
    let (narrow, narrow_secret) = app
        .new_client(&["idn:password-change:read"], &["client_credentials"])
        .await;
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &narrow),
            ("client_secret", &narrow_secret),
            ("scope", "idn:password-change:manage"),
        ])
        .await;
    oauth_error(r, 400, "invalid_scope", "a scope the client does not hold").await;
    // A client without the client_credentials grant cannot use it.
    let (code_only, code_secret) = app
        .new_client(&["sp:scopes:all"], &["authorization_code"])
        .await;
    oauth_error(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &code_only),
            ("client_secret", &code_secret),
        ])
        .await,
        401,
        "invalid_client",
        "grant not allowed",
    )
    .await;
    // A disabled client neither.
    let mut client = app.state.store.get_client(&id).await.unwrap().unwrap();
    client.disabled = true;
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertClient(client)])
        .await
        .unwrap();
    oauth_error(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await,
        401,
        "invalid_client",
        "disabled",
    )
    .await;
}

#[tokio::test]
async fn authorization_code_with_pkce_end_to_end() {
    let app = spawn_app().await;
    let api = app.token().await;
    let abby = app.abby().await;
    // Abby's login password is her account on the built-in source: set it through the API.
    let body = app
        .change_body(&api, "Abby.Smith", "passbroker", PASSWORD)
        .await;
    let id = app.set_password(&api, &body).await;
    assert_eq!(app.wait_terminal(&api, &id).await["state"], "FINISHED");

    // The login page, over HTTP.
    let r = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            app.authorize_query(DEMO_REDIRECT, "st-1")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    let hidden = hidden_inputs(&html);
    assert!(
        hidden.contains(&("code_challenge".into(), PKCE_CHALLENGE.into())),
        "{hidden:?}"
    );
    assert!(
        hidden.contains(&("redirect_uri".into(), DEMO_REDIRECT.into())),
        "{hidden:?}"
    );
    assert!(html.contains("method=\"post\""));

    // Sign in; the redirect carries a code and the state.
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    let r = app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await;
    let t = access_token(r, "code exchange").await;
    assert_eq!(t["identity_id"], json!(abby.identity.id.to_string()));
    assert_eq!(t["user_name"], "Abby.Smith");
    let user_token = t["access_token"].as_str().unwrap().to_owned();
    let refresh = t["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();

    // The access token is a user token: own accounts yes, query-password-info no.
    let own = app.body_for(&api, &abby, "Corr3ct-Horse-9").await;
    let r = app.post_json("/v3/set-password", &user_token, &own).await;
    assert_eq!(r.status(), 202);
    let own_id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&format!("/v3/password-change-status/{own_id}"), &user_token)
            .await
            .status(),
        200
    );
    assert_eq!(query_info_status(&app, &user_token).await, 403);
    let other = app
        .add_user("Other.User", passbroker_core::identity::UserLevel::User)
        .await;
    assert_eq!(
        app.post_json(
            "/v3/set-password",
            &user_token,
            &app.body_for(&api, &other, "Corr3ct-Horse-8").await
        )
        .await
        .status(),
        403
    );

    // Refresh: a new access token and a new refresh token; the old one is spent.
    let refresh_form = |rt: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".into(), rt.to_owned()),
            ("client_id".into(), app.demo.client_id.clone()),
            ("client_secret".into(), app.demo.client_secret.clone()),
        ]
    };
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&refresh_form(&refresh))
        .send()
        .await
        .unwrap();
    let t2 = access_token(r, "refresh").await;
    assert_eq!(t2["identity_id"], json!(abby.identity.id.to_string()));
    let refreshed = t2["access_token"].as_str().unwrap().to_owned();
    let refresh2 = t2["refresh_token"]
        .as_str()
        .expect("a rotated refresh token")
        .to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(
        app.get(&format!("/v3/password-change-status/{own_id}"), &refreshed)
            .await
            .status(),
        200
    );
    assert_eq!(
        query_info_status(&app, &refreshed).await,
        403,
        "still a user token"
    );
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&refresh_form(&refresh))
        .send()
        .await
        .unwrap();
    oauth_error(r, 400, "invalid_grant", "a used refresh token").await;
    // The rotated one works once; refresh tokens expire.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&refresh_form(&refresh2))
        .send()
        .await
        .unwrap();
    let t3 = access_token(r, "second refresh").await;
    app.state
        .clock
        .advance((app.state.config.refresh_token_lifetime_secs + 1) * 1000);
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&refresh_form(t3["refresh_token"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    oauth_error(r, 400, "invalid_grant", "an expired refresh token").await;
}

async fn fresh_refresh_token(app: &TestApp) -> String {
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    let t = access_token(
        app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await,
        "exchange",
    )
    .await;
    t["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refresh_needs_the_confidential_client_that_got_it() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    app.set_builtin_password(&abby.identity.id, PASSWORD).await;
    let demo_id = app.demo.client_id.clone();
    // The demo client is confidential: a refresh token alone (a stolen one) is not enough
    // (RFC 6749 §6). The failed attempt spends the token, as a replay would.
    let rt = fresh_refresh_token(&app).await;
    oauth_error(
        app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
            .await,
        401,
        "invalid_client",
        "no client authentication",
    )
    .await;
    let r = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &demo_id),
            ("client_secret", &app.demo.client_secret),
        ])
        .await;
    oauth_error(r, 400, "invalid_grant", "spent by the failed attempt").await;
    let rt = fresh_refresh_token(&app).await;
    let r = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &demo_id),
            ("client_secret", "wrong"),
        ])
        .await;
    oauth_error(r, 401, "invalid_client", "wrong client secret").await;
    // Another client cannot use it.
    let (other, other_secret) = app
        .new_client(&["sp:scopes:all"], &["client_credentials", "refresh_token"])
        .await;
    let rt = fresh_refresh_token(&app).await;
    let r = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &other),
            ("client_secret", &other_secret),
        ])
        .await;
    oauth_error(r, 400, "invalid_grant", "another client").await;
    // HTTP Basic is client authentication too.
    let rt = fresh_refresh_token(&app).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&demo_id, Some(&app.demo.client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let t = access_token(r, "refresh with basic").await;
    assert_eq!(t["identity_id"], json!(abby.identity.id.to_string()));
    // A disabled client's refresh tokens are dead.
    let rt = fresh_refresh_token(&app).await;
    let mut client = app.state.store.get_client(&demo_id).await.unwrap().unwrap();
    client.disabled = true;
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertClient(client)])
        .await
        .unwrap();
    let r = app
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &demo_id),
            ("client_secret", &app.demo.client_secret),
        ])
        .await;
    oauth_error(r, 401, "invalid_client", "disabled client").await;
}

#[tokio::test]
async fn authorization_code_refusals() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    app.set_builtin_password(&abby.identity.id, PASSWORD).await;

    // A wrong verifier (and the code is spent by the attempt).
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    let wrong_verifier = "x".repeat(43);
    oauth_error(
        app.exchange_code(&code, &wrong_verifier, DEMO_REDIRECT)
            .await,
        400,
        "invalid_grant",
        "wrong verifier",
    )
    .await;
    oauth_error(
        app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await,
        400,
        "invalid_grant",
        "after a failed attempt",
    )
    .await;
    // No verifier at all.
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    let r = app
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &app.demo.client_id),
            ("client_secret", &app.demo.client_secret),
            ("redirect_uri", DEMO_REDIRECT),
        ])
        .await;
    oauth_error(r, 400, "invalid_request", "no verifier").await;
    // A reused code.
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    access_token(
        app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await,
        "first use",
    )
    .await;
    oauth_error(
        app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await,
        400,
        "invalid_grant",
        "reused code",
    )
    .await;
    // Another redirect URI at the exchange than at the authorization.
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    oauth_error(
        app.exchange_code(&code, PKCE_VERIFIER, "http://localhost/callback")
            .await,
        400,
        "invalid_grant",
        "redirect mismatch",
    )
    .await;
    // The client secret is required for the confidential demo client.
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    let r = app
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", PKCE_VERIFIER),
            ("client_id", &app.demo.client_id),
            ("client_secret", "wrong"),
            ("redirect_uri", DEMO_REDIRECT),
        ])
        .await;
    oauth_error(r, 401, "invalid_client", "wrong secret").await;
    // A made-up code.
    oauth_error(
        app.exchange_code("made-up", PKCE_VERIFIER, DEMO_REDIRECT)
            .await,
        400,
        "invalid_grant",
        "made-up code",
    )
    .await;
    // An expired code (60 s).
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    app.state.clock.advance(61_000);
    let v = oauth_error(
        app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await,
        400,
        "invalid_grant",
        "expired code",
    )
    .await;
    assert!(
        v["error_description"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    // The control: a fresh code with everything right still works at the end.
    let code = app.authorization_code("Abby.Smith", PASSWORD).await;
    access_token(
        app.exchange_code(&code, PKCE_VERIFIER, DEMO_REDIRECT).await,
        "control",
    )
    .await;
}

#[tokio::test]
async fn the_login_page_shows_errors_instead_of_redirecting_to_unknown_places() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    app.set_builtin_password(&abby.identity.id, PASSWORD).await;
    let evil = "https://evil.example/callback";
    // GET with an unlisted redirect URI: an error page, no redirect.
    let r = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            app.authorize_query(evil, "s")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("not registered"), "{html}");
    assert!(
        !html.contains("name=\"password\""),
        "no login form for an unknown redirect URI"
    );
    // POST the form with an unlisted redirect URI and the right password: still no redirect, no code.
    let mut form: Vec<(String, String)> =
        serde_urlencoded::from_str(&app.authorize_query(evil, "s")).unwrap();
    form.extend([
        ("username".into(), "Abby.Smith".into()),
        ("password".into(), PASSWORD.into()),
        ("decision".into(), "allow".into()),
    ]);
    let r = app
        .http
        .post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // A prefix of a registered URI is not registered.
    let r = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            app.authorize_query("http://127.0.0.1/callback/../x", "s")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Unknown client, missing PKCE, plain PKCE: error pages.
    let r = app.http.get(app.url("/oauth/authorize?response_type=code&client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let q = app
        .authorize_query(DEMO_REDIRECT, "s")
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = app
        .http
        .get(app.url(&format!("/oauth/authorize?{q}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("PKCE"));
    // A client without the authorization_code grant cannot sign users in.
    let (cc_only, _) = app
        .new_client(&["sp:scopes:all"], &["client_credentials"])
        .await;
    let q = app
        .authorize_query(DEMO_REDIRECT, "s")
        .replace(&app.demo.client_id, &cc_only);
    assert_eq!(
        app.http
            .get(app.url(&format!("/oauth/authorize?{q}")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // The state is escaped in the page.
    let r = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            app.authorize_query(DEMO_REDIRECT, "\"><script>x</script>")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("<script>x"));
    // Deny: back to the client with access_denied and no code.
    let mut form: Vec<(String, String)> =
        serde_urlencoded::from_str(&app.authorize_query(DEMO_REDIRECT, "s9")).unwrap();
    form.push(("decision".into(), "deny".into()));
    let r = app
        .http
        .post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(DEMO_REDIRECT)
            && location.contains("error=access_denied")
            && location.contains("state=s9")
            && !location.contains("code="),
        "{location}"
    );
    // A wrong password: the form again, 401, no redirect.
    let r = app.sign_in("Abby.Smith", "wrong").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("wrong"));
    // An unknown user looks the same.
    let r = app.sign_in("Nobody.Here", "wrong").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn too_many_wrong_passwords_throttle_the_login() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    app.set_builtin_password(&abby.identity.id, PASSWORD).await;
    let limit = app.state.config.login_attempts_per_user;
    for n in 0..limit {
        assert_eq!(
            app.sign_in("Abby.Smith", &format!("wrong-{n}"))
                .await
                .status(),
            401,
            "attempt {n}"
        );
    }
    // Now even the right password is refused, with a 429 page.
    let r = app.sign_in("Abby.Smith", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("location").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("Too many failed sign-ins"), "{html}");
    // The user name is matched case-insensitively for the throttle.
    assert_eq!(app.sign_in("abby.smith", PASSWORD).await.status(), 429);
    // Another user is not throttled (the per-address limit is higher).
    let other = app
        .add_user("Other.User", passbroker_core::identity::UserLevel::User)
        .await;
    app.set_builtin_password(&other.identity.id, "Other-Passw0rd")
        .await;
    assert_eq!(
        app.sign_in("Other.User", "Other-Passw0rd").await.status(),
        303
    );
    // After the 15-minute window the right password works again.
    app.state.clock.advance(900_000);
    assert_eq!(app.sign_in("Abby.Smith", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key() {
    let app = spawn_app().await;
    let token = app.token().await;
    let r = app.http.get(app.url("/oauth/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["kid"] == header["kid"] && k["kty"] == "OKP" && k["crv"] == "Ed25519"),
        "{jwks}"
    );
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private key material"
    );
}
