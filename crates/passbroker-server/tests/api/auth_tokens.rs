//! Bearer tokens the API refuses: missing, malformed, expired, tampered, `alg: none`,
//! another algorithm, an unknown key, the wrong audience or issuer. Each is 401 with
//! `{"error": "…"}` and `WWW-Authenticate: Bearer`, on every password operation.

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passbroker_server::http::tokens::{Subject, TokenService};
use serde_json::{json, Value};

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none());
    (h.to_owned(), p.to_owned(), s.to_owned())
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn encode(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A token service over the app's own store and signing keys, but with another issuer or
/// audience: its tokens carry a valid signature.
async fn foreign_service(app: &TestApp, issuer: &str, audience: &str) -> TokenService {
    let svc = TokenService::new(
        app.state.store.clone(),
        app.state.secrets.clone(),
        issuer.into(),
        audience.into(),
        720,
    );
    svc.reload().await.unwrap();
    svc
}

/// Calls the three password operations with `token`; each must be 401 `{"error"}`.
/// Returns the error text of the status call.
async fn refused_everywhere(app: &TestApp, token: &str, what: &str) -> String {
    let r = app
        .post_json(
            "/v3/query-password-info",
            token,
            &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
        )
        .await;
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer"),
        "{what}"
    );
    assert_401(r, &format!("{what}: query-password-info")).await;
    assert_401(
        app.post_json("/set-password/v1", token, &json!({})).await,
        &format!("{what}: set-password"),
    )
    .await;
    let r = app
        .get(
            "/beta/password-change-status/0123456789abcdef0123456789abcdef",
            token,
        )
        .await;
    assert_401(r, &format!("{what}: password-change-status")).await
}

#[tokio::test]
async fn a_good_token_is_accepted_and_every_kind_of_bad_one_is_401() {
    let app = spawn_app().await;
    let good = app.token().await;
    // The control: the untouched token works, so each refusal below is about the change.
    let r = app
        .post_json(
            "/v3/query-password-info",
            &good,
            &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (h, p, s) = parts(&good);
    assert_eq!(decode(&h)["alg"], "EdDSA");

    // Tampered payload (more scopes, another subject), original signature.
    let mut claims = decode(&p);
    claims["sub"] = json!("someone-else");
    claims["client_id"] = json!("someone-else");
    let e = refused_everywhere(
        &app,
        &format!("{h}.{}.{s}", encode(&claims)),
        "tampered payload",
    )
    .await;
    assert!(e.contains("signature"), "{e}");
    // Tampered signature.
    let mut sig = URL_SAFE_NO_PAD.decode(&s).unwrap();
    sig[0] ^= 1;
    let e = refused_everywhere(
        &app,
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig)),
        "tampered signature",
    )
    .await;
    assert!(e.contains("signature"), "{e}");

    // alg: none, with and without the signature; and an HMAC algorithm.
    for alg in ["none", "None", "HS256"] {
        let mut header = decode(&h);
        header["alg"] = json!(alg);
        let e = refused_everywhere(
            &app,
            &format!("{}.{p}.", encode(&header)),
            &format!("alg {alg} unsigned"),
        )
        .await;
        assert!(e.contains("algorithm"), "{e}");
        refused_everywhere(
            &app,
            &format!("{}.{p}.{s}", encode(&header)),
            &format!("alg {alg} signed"),
        )
        .await;
    }
    let e = refused_everywhere(
        &app,
        &format!("{}.{p}.", encode(&json!({"alg": "none", "typ": "JWT"}))),
        "alg none, no kid",
    )
    .await;
    assert!(e.contains("algorithm"), "{e}");

    // Signed with a key this server does not have.
    let stranger = passbroker_crypto::jwt::SigningKey::generate().unwrap();
    let e = refused_everywhere(&app, &stranger.sign(&decode(&p)).unwrap(), "unknown key").await;
    assert!(e.contains("key"), "{e}");

    // Validly signed, but for another audience or by another issuer.
    let issuer = app.state.config.token_issuer.clone();
    let audience = app.state.config.token_audience.clone();
    let now = app.state.clock.now();
    let subject = || Subject::Client {
        client_id: app.demo.client_id.clone(),
    };
    let scopes = || vec!["sp:scopes:all".to_owned()];
    let (t, _) = foreign_service(&app, &issuer, "another-service")
        .await
        .issue(subject(), scopes(), now)
        .unwrap();
    let e = refused_everywhere(&app, &t, "wrong audience").await;
    assert!(e.contains("audience"), "{e}");
    let (t, _) = foreign_service(&app, "https://evil.example", &audience)
        .await
        .issue(subject(), scopes(), now)
        .unwrap();
    let e = refused_everywhere(&app, &t, "wrong issuer").await;
    assert!(e.contains("issuer"), "{e}");
    // The same service with the right issuer and audience: accepted (the control for both).
    let (t, _) = foreign_service(&app, &issuer, &audience)
        .await
        .issue(subject(), scopes(), now)
        .unwrap();
    assert_eq!(
        app.get(
            "/v3/password-change-status/0123456789abcdef0123456789abcdef",
            &t
        )
        .await
        .status(),
        404
    );
    // Issued an hour from now: not yet valid.
    let (t, _) = foreign_service(&app, &issuer, &audience)
        .await
        .issue(subject(), scopes(), now.plus_secs(3600))
        .unwrap();
    refused_everywhere(&app, &t, "not yet valid").await;

    // Garbage, an empty bearer, another scheme, no header.
    for (name, header) in [
        ("garbage", "Bearer not-a-jwt"),
        ("three garbage parts", "Bearer a.b.c"),
        ("empty bearer", "Bearer "),
        ("basic", "Basic dXNlcjpwYXNz"),
        ("no scheme", good.as_str()),
    ] {
        let r = app
            .http
            .get(app.url("/v3/password-change-status/0123456789abcdef0123456789abcdef"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_401(r, name).await;
    }
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_401(r, "no token").await;
    // An oversized token is refused without trouble.
    assert_401(
        app.get("/v3/password-change-status/x", &"a".repeat(9000))
            .await,
        "oversized",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_401_and_a_fresh_one_works() {
    let app = spawn_app().await;
    let token = app.token().await;
    let status = "/v3/password-change-status/0123456789abcdef0123456789abcdef";
    assert_eq!(
        app.get(status, &token).await.status(),
        404,
        "valid before expiry"
    );
    let lifetime = app.state.config.token_lifetime_secs;
    // Within the 5 s leeway it still works; past it, it does not.
    app.state.clock.advance(lifetime * 1000);
    assert_eq!(
        app.get(status, &token).await.status(),
        404,
        "valid at exp (leeway)"
    );
    app.state.clock.advance(6_000);
    let e = refused_everywhere(&app, &token, "expired").await;
    assert!(e.contains("expired"), "{e}");
    let fresh = app.token().await;
    assert_eq!(
        app.get(status, &fresh).await.status(),
        404,
        "a new token works"
    );
}

#[tokio::test]
async fn error_texts_do_not_echo_the_token() {
    let app = spawn_app().await;
    let good = app.token().await;
    let (h, p, _) = parts(&good);
    let forged = format!("{h}.{p}.AAAA");
    let e = refused_everywhere(&app, &forged, "forged").await;
    assert!(!e.contains(&p[..20]) && !e.contains(&h[..20]), "{e}");
    let mut header = decode(&h);
    header["alg"] = json!("x".repeat(500));
    let e = refused_everywhere(&app, &format!("{}.{p}.", encode(&header)), "long alg").await;
    assert!(e.len() < 200, "an attacker's alg is cut short: {e}");
}

/// Verified tokens are remembered (the verification is skipped for the exact same text):
/// any other text, even one a byte away from a remembered token, is verified in full.
#[tokio::test]
async fn a_remembered_token_matches_only_its_exact_text() {
    let app = spawn_app().await;
    let good = app.token().await;
    let status = "/v3/password-change-status/0123456789abcdef0123456789abcdef";
    for _ in 0..3 {
        assert_eq!(app.get(status, &good).await.status(), 404);
    }
    let (h, p, s) = parts(&good);
    let first = s.chars().next().unwrap();
    let other = if first == 'A' { 'B' } else { 'A' };
    let changed_sig = format!("{h}.{p}.{other}{}", &s[1..]);
    refused_everywhere(&app, &changed_sig, "signature changed by one character").await;
    let mut claims = decode(&p);
    claims["scope"] = json!("sp:scopes:all idn:everything");
    refused_everywhere(
        &app,
        &format!("{h}.{}.{s}", encode(&claims)),
        "payload changed",
    )
    .await;
    refused_everywhere(&app, &format!("{good}x"), "a character appended").await;
    // Reloading the keys forgets every remembered token; the good one verifies again.
    app.state.tokens.reload().await.unwrap();
    assert_eq!(app.get(status, &good).await.status(), 404);
}
