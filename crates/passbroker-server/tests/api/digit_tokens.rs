//! Digit tokens (experimental header, org-config gate, bounds, hashed single-use storage,
//! redemption into a password change) and custom password instructions.

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const EXP: &[(&str, &str)] = &[("X-SailPoint-Experimental", "true")];

async fn enable(app: &TestApp, token: &str, config: Value) {
    let (s, body) = call(
        app,
        Method::PUT,
        "/v3/password-org-config",
        token,
        Some(&config),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

async fn new_token(app: &TestApp, token: &str, body: Value) -> String {
    let (s, t) = call_with(
        app,
        Method::POST,
        "/v2025/generate-password-reset-token/digit",
        token,
        Some(&body),
        EXP,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    t["digitToken"].as_str().unwrap().to_owned()
}

async fn redeem(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    let api = app.token().await;
    let info = app.query_info(&api, "Abby.Smith", "My-AD").await;
    let body = json!({
        "userName": "Abby.Smith", "digitToken": token, "sourceName": "My-AD",
        "encryptedPassword": encrypt_pkcs1(info["publicKey"].as_str().unwrap(), password.as_bytes()), "publicKeyId": info["publicKeyId"],
    });
    let r = app
        .http
        .post(app.url("/passbroker/v1/digit-token/redeem"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn generating_needs_the_feature_the_header_and_sane_bounds() {
    let app = spawn_app().await;
    let api = app.token().await;
    let body = json!({"userId": "Abby.Smith"});
    let (s, r) = call_with(
        &app,
        Method::POST,
        "/v2025/generate-password-reset-token/digit",
        &api,
        Some(&body),
        EXP,
    )
    .await;
    assert_400(s, &r, &["digitTokenEnabled"]);
    enable(
        &app,
        &api,
        json!({"digitTokenEnabled": true, "digitTokenLength": 8}),
    )
    .await;
    for path in [
        "/v2024/generate-password-reset-token/digit",
        "/v2025/generate-password-reset-token/digit",
        "/generate-password-reset-token/v1/digit",
    ] {
        let (s, r) = call(&app, Method::POST, path, &api, Some(&body)).await;
        assert_400(s, &r, &["X-SailPoint-Experimental"]);
        let (s, r) = call_with(&app, Method::POST, path, &api, Some(&body), EXP).await;
        assert_eq!(s, 200, "{path}: {r}");
        let token = r["digitToken"].as_str().unwrap();
        assert!(
            token.len() == 8 && token.bytes().all(|b| b.is_ascii_digit()),
            "{r}"
        );
        assert!(r["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let (s, r) = call(
        &app,
        Method::POST,
        "/beta/generate-password-reset-token/digit",
        &api,
        Some(&json!({"userId": "Abby.Smith", "length": 12})),
    )
    .await;
    assert_eq!(
        (s, r["digitToken"].as_str().map(str::len)),
        (200, Some(12)),
        "beta does not mark it experimental"
    );
    let (s, r) = call_with(
        &app,
        Method::POST,
        "/v2025/generate-password-reset-token/digit",
        &api,
        Some(&json!({"userId": "nobody", "length": 5, "durationMinutes": 61})),
        EXP,
    )
    .await;
    assert_400(
        s,
        &r,
        &[
            "length: must be between 6 and 18",
            "durationMinutes: must be between 1 and 60",
            "userId",
        ],
    );
    let (s, _) = call(
        &app,
        Method::POST,
        "/v3/generate-password-reset-token/digit",
        &api,
        Some(&body),
    )
    .await;
    assert_eq!(s, 404, "not in the v3 family");
    let other = app.token_with_scopes(&["idn:password-change:manage"]).await;
    assert_eq!(
        call_with(
            &app,
            Method::POST,
            "/v2025/generate-password-reset-token/digit",
            &other,
            Some(&body),
            EXP
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn a_token_is_stored_hashed_and_redeems_once_into_a_password_change() {
    let app = spawn_app().await;
    let api = app.token().await;
    enable(&app, &api, json!({"digitTokenEnabled": true})).await;
    let token = new_token(&app, &api, json!({"userId": "Abby.Smith"})).await;
    let abby = app.abby().await;
    let stored = app
        .state
        .store
        .live_digit_tokens(&abby.identity.id, app.state.clock.now(), 5)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0]
            .hash
            .windows(token.len())
            .any(|w| w == token.as_bytes())
            && stored[0].hash.len() == 32,
        "only a hash is kept"
    );
    let wrong = if token.starts_with('0') { "1" } else { "0" }.repeat(token.len());
    let (s, r) = redeem(&app, &wrong, "Brand-New-Pass-1").await;
    assert_400(s, &r, &["digitToken"]);
    let (s, r) = redeem(&app, &token, "Brand-New-Pass-1").await;
    assert_eq!(s, 202, "{r}");
    let status = app
        .wait_terminal(&api, r["requestId"].as_str().unwrap())
        .await;
    assert_eq!(status["state"], "FINISHED", "{status}");
    let (s, r) = redeem(&app, &token, "Brand-New-Pass-2").await;
    assert_400(s, &r, &["digitToken"]);
}

#[tokio::test]
async fn tokens_expire_and_die_after_repeated_wrong_guesses() {
    let app = spawn_app().await;
    let api = app.token().await;
    enable(&app, &api, json!({"digitTokenEnabled": true})).await;
    let token = new_token(
        &app,
        &api,
        json!({"userId": "Abby.Smith", "durationMinutes": 1}),
    )
    .await;
    app.state.clock.advance(61_000);
    assert_eq!(
        redeem(&app, &token, "Brand-New-Pass-1").await.0,
        400,
        "expired"
    );
    let token = new_token(&app, &api, json!({"userId": "Abby.Smith"})).await;
    let wrong = if token.starts_with('0') { "1" } else { "0" }.repeat(token.len());
    for _ in 0..5 {
        assert_eq!(redeem(&app, &wrong, "Brand-New-Pass-1").await.0, 400);
    }
    assert_eq!(
        redeem(&app, &token, "Brand-New-Pass-1").await.0,
        400,
        "burnt by five wrong guesses"
    );
    // A bad ciphertext is refused before the token is spent.
    let token = new_token(&app, &api, json!({"userId": "Abby.Smith"})).await;
    let body = json!({"userName": "Abby.Smith", "digitToken": token, "sourceName": "My-AD", "encryptedPassword": "AAAA", "publicKeyId": "0123456789abcdef0123456789abcdef"});
    let r = app
        .http
        .post(app.url("/passbroker/v1/digit-token/redeem"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        redeem(&app, &token, "Brand-New-Pass-1").await.0,
        202,
        "still usable"
    );
    let r = app
        .http
        .get(app.url("/passbroker/v1/public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn custom_instructions_need_the_org_config_switch() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let body = json!({"pageId": "reset-password:enter-password", "pageContent": "See <a href=\"https://example.com\">our policy</a>"});
    let (s, r) = call(
        &app,
        Method::POST,
        "/beta/custom-password-instructions",
        &admin,
        Some(&body),
    )
    .await;
    assert_400(s, &r, &["customInstructionsEnabled"]);
    enable(&app, &admin, json!({"customInstructionsEnabled": true})).await;
    let (s, r) = call(
        &app,
        Method::POST,
        "/v2024/custom-password-instructions",
        &admin,
        Some(&body),
    )
    .await;
    assert_400(s, &r, &["X-SailPoint-Experimental"]);
    let (s, r) = call_with(
        &app,
        Method::POST,
        "/v2024/custom-password-instructions",
        &admin,
        Some(&body),
        EXP,
    )
    .await;
    assert_eq!((s, &r["locale"]), (200, &json!("default")), "{r}");
    let fr = json!({"pageId": "reset-password:enter-password", "pageContent": "Voir la politique", "locale": "fr"});
    assert_eq!(
        call_with(
            &app,
            Method::POST,
            "/custom-password-instructions/v1",
            &admin,
            Some(&fr),
            EXP
        )
        .await
        .0,
        200
    );
    let path = "/v2025/custom-password-instructions/reset-password:enter-password";
    let (s, r) = call_with(
        &app,
        Method::GET,
        &format!("{path}?locale=fr"),
        &admin,
        None,
        EXP,
    )
    .await;
    assert_eq!((s, &r["pageContent"]), (200, &json!("Voir la politique")));
    let (s, r) = call_with(
        &app,
        Method::GET,
        &format!("{path}?locale=de"),
        &admin,
        None,
        EXP,
    )
    .await;
    assert_eq!(
        (s, &r["locale"]),
        (200, &json!("default")),
        "falls back to the default text"
    );
    assert_eq!(
        call_with(
            &app,
            Method::DELETE,
            &format!("{path}?locale=fr"),
            &admin,
            None,
            EXP
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call_with(
            &app,
            Method::DELETE,
            &format!("{path}?locale=fr"),
            &admin,
            None,
            EXP
        )
        .await
        .0,
        404
    );
    let (s, r) = call(
        &app,
        Method::POST,
        "/beta/custom-password-instructions",
        &admin,
        Some(&json!({"pageId": "nope", "pageContent": ""})),
    )
    .await;
    assert_400(s, &r, &["pageId", "pageContent"]);
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/beta/custom-password-instructions/nope",
            &admin,
            None
        )
        .await
        .0,
        400
    );
    let api = app.token().await;
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/beta/custom-password-instructions",
            &api,
            Some(&body)
        )
        .await
        .0,
        403,
        "userAuth only"
    );
}
