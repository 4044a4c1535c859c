//! Strong authentication on the page (`cargo test -- mfa`): a policy with requireStrongAuthn
//! refuses a page change until the session proves an authenticator code (TOTP enrolment with
//! a QR code and recovery codes, a code used once, wrong codes until the guard answers 429,
//! expiry of the strong state); requireStrongAuthOffNetwork honours `trusted_networks`; the
//! secret is never stored in clear.

use crate::helpers::*;
use passbroker_server::pipeline::totp;
use reqwest::header::SET_COOKIE;
use serde_json::{json, Value};

struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp) -> Session {
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .json(
            &json!({"userName": "Abby.Smith", "password": app.demo.user_password.clone().unwrap()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = r.json().await.unwrap();
    Session {
        cookie,
        csrf: body["csrfToken"].as_str().unwrap().to_owned(),
    }
}

async fn post(app: &TestApp, s: &Session, path: &str, body: &Value) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn set_policy(app: &TestApp, strong: bool, off_network: bool) {
    let mut policy = app.state.store.default_policy().await.unwrap().unwrap();
    policy.require_strong_authn = strong;
    policy.require_strong_auth_off_network = off_network;
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertPolicy(policy)])
        .await
        .unwrap();
}

/// A page change of Abby's My-AD account; returns the status code.
async fn change(app: &TestApp, s: &Session) -> (u16, Value) {
    let abby = app.abby().await;
    let key: Value = app
        .http
        .get(app.url("/passbroker/v1/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    post(
        app,
        s,
        "/v3/set-password",
        &json!({
            "identityId": abby.identity.id.to_string(),
            "encryptedPassword": oaep(key["publicKey"].as_str().unwrap(), "Strong-Auth-Passw0rd"),
            "publicKeyId": key["publicKeyId"],
            "accountId": abby.account.native_id.as_str(),
            "sourceId": abby.account.source_id.to_string(),
            "encryption": "RSA-OAEP-256",
        }),
    )
    .await
}

fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn code_at(secret: &[u8], app: &TestApp, steps_ahead: i64) -> String {
    let step = totp::step_of(app.state.clock.now()) + steps_ahead;
    format!("{:06}", totp::hotp(secret, u64::try_from(step).unwrap()))
}

#[tokio::test]
async fn mfa_a_strong_policy_needs_an_authenticator_code_before_a_page_change() {
    let app = spawn_app().await;
    set_policy(&app, true, false).await;
    let s = sign_in(&app).await;
    let (status, body) = change(&app, &s).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("strong authentication required"));
    // Without an authenticator, a code is refused (and says to set one up).
    let (status, _) = post(
        &app,
        &s,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": "123456"}),
    )
    .await;
    assert_eq!(status, 400);

    let (status, enrol) = post(&app, &s, "/passbroker/v1/me/totp", &json!({})).await;
    assert_eq!(status, 201, "{enrol}");
    let secret_text = enrol["secret"].as_str().unwrap().to_owned();
    let secret = base32_decode(&secret_text);
    assert_eq!(secret.len(), 20);
    assert!(enrol["otpauthUri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/passbroker:Abby.Smith?secret="));
    let recovery: Vec<String> = enrol["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 8);
    // The QR code is an SVG of this origin, for the pending enrolment only.
    let r = app
        .http
        .get(app.url("/passbroker/v1/me/totp/qr.svg"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));

    let code = code_at(&secret, &app, 0);
    let (status, body) = post(
        &app,
        &s,
        "/passbroker/v1/me/totp/confirm",
        &json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = change(&app, &s).await;
    assert_eq!(status, 202, "{body}");
    // The confirmed secret's QR code is gone.
    let r = app
        .http
        .get(app.url("/passbroker/v1/me/totp/qr.svg"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Fifteen minutes later the session must prove a code again; a used code is refused.
    app.state.clock.advance(16 * 60 * 1000);
    let s2 = sign_in(&app).await;
    let (status, _) = change(&app, &s2).await;
    assert_eq!(status, 403);
    let fresh = code_at(&secret, &app, 0);
    let (status, _) = post(
        &app,
        &s2,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": fresh}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &app,
        &s2,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": fresh}),
    )
    .await;
    assert_eq!(status, 400, "a code is accepted once");
    // A recovery code works once too.
    let s3 = sign_in(&app).await;
    let (status, _) = post(
        &app,
        &s3,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": recovery[0]}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = change(&app, &s3).await;
    assert_eq!(status, 202);
    let (status, _) = post(
        &app,
        &s3,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": recovery[0]}),
    )
    .await;
    assert_eq!(status, 400);

    // The secret is not in the database in clear (raw or base32), nor in the log.
    let mut db = Vec::new();
    for name in ["passbroker.db", "passbroker.db-wal"] {
        if let Ok(b) = std::fs::read(app.data_dir.path().join(name)) {
            db.extend(b);
        }
    }
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_slice()));
    assert!(!db
        .windows(secret_text.len())
        .any(|w| w == secret_text.as_bytes()));
    assert!(!captured_logs().contains(&secret_text));
    assert!(!app.audit_events("TOTP_ENROLLED").await.is_empty());
}

#[tokio::test]
async fn mfa_wrong_codes_until_the_guard_answers_429() {
    let app = spawn_app_with(Options {
        env: vec![("PASSBROKER_LOGIN_ATTEMPTS_PER_USER".into(), "4".into())],
        ..Options::default()
    })
    .await;
    let s = sign_in(&app).await;
    let (_, enrol) = post(&app, &s, "/passbroker/v1/me/totp", &json!({})).await;
    let secret = base32_decode(enrol["secret"].as_str().unwrap());
    let right = code_at(&secret, &app, 0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        let (status, _) = post(
            &app,
            &s,
            "/passbroker/v1/me/totp/confirm",
            &json!({"code": wrong}),
        )
        .await;
        assert_eq!(status, 400);
    }
    let (status, _) = post(
        &app,
        &s,
        "/passbroker/v1/me/totp/confirm",
        &json!({"code": right}),
    )
    .await;
    assert_eq!(status, 429, "the address waits, even with the right code");
    assert!(!app.audit_events("STRONG_AUTHN_FAILED").await.is_empty());
}

#[tokio::test]
async fn mfa_off_network_policies_trust_the_configured_networks() {
    for (networks, expected) in [("127.0.0.0/8", 202), ("10.0.0.0/8", 403)] {
        let app = spawn_app_with(Options {
            env: vec![("PASSBROKER_TRUSTED_NETWORKS".into(), networks.into())],
            ..Options::default()
        })
        .await;
        set_policy(&app, false, true).await;
        let s = sign_in(&app).await;
        let (status, body) = change(&app, &s).await;
        assert_eq!(status, expected, "{networks}: {body}");
    }
}

#[tokio::test]
async fn mfa_bearer_tokens_are_not_asked_and_sessions_only_enrol() {
    let app = spawn_app().await;
    set_policy(&app, true, false).await;
    let token = app.token().await;
    let abby = app.abby().await;
    let body = app.body_for(&token, &abby, "Api-Change-Passw0rd").await;
    let r = app.post_json("/v3/set-password", &token, &body).await;
    assert_eq!(r.status(), 202);
    let r = app
        .post_json("/passbroker/v1/me/totp", &token, &json!({}))
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn mfa_and_reset_pages_carry_the_orgs_custom_instructions() {
    let app = spawn_app().await;
    let mut config = app
        .state
        .store
        .get_org_config()
        .await
        .unwrap()
        .unwrap_or_default();
    config.custom_instructions_enabled = true;
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::PutOrgConfig(config)])
        .await
        .unwrap();
    for page_id in [
        "mfa:enter-code",
        "reset-password:enter-password",
        "reset-password:finish",
        "reset-password:enter-username",
    ] {
        app.state
            .store
            .put_custom_instruction(&passbroker_store::CustomInstruction {
                page_id: page_id.into(),
                locale: "default".into(),
                content: format!("<p>Text for {page_id}</p>"),
                modified: app.state.clock.now(),
            })
            .await
            .unwrap();
    }
    let s = sign_in(&app).await;
    let me: Value = app
        .http
        .get(app.url("/passbroker/v1/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for page_id in [
        "mfa:enter-code",
        "reset-password:enter-password",
        "reset-password:finish",
    ] {
        assert_eq!(
            me["instructions"][page_id],
            format!("<p>Text for {page_id}</p>"),
            "{page_id}"
        );
    }
    // The forgot-password screen's text is in the page itself (no session there).
    let html = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Text for reset-password:enter-username"),
        "escaped into data-content"
    );
}

#[tokio::test]
async fn mfa_an_emailed_code_is_a_second_factor_too() {
    use crate::smtp::{code_in, smtp_env, Mode, SmtpSink};
    let Some(sink) = SmtpSink::start(Mode::Plain, None).await else {
        return;
    };
    let app = spawn_app_with(Options {
        env: smtp_env(sink.port, "none"),
        ..Options::default()
    })
    .await;
    set_policy(&app, true, false).await;
    let s = sign_in(&app).await;
    assert_eq!(change(&app, &s).await.0, 403);
    let (status, challenge) =
        post(&app, &s, "/passbroker/v1/me/strong-authn/email", &json!({})).await;
    assert_eq!(status, 202, "{challenge}");
    let challenge_id = challenge["challengeId"].as_str().unwrap().to_owned();
    let message = sink.wait_for(1).await;
    assert!(
        message.contains("Subject: Your confirmation code"),
        "{message}"
    );
    let code = code_in(&message, 8);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let (status, _) = post(
        &app,
        &s,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": wrong, "challengeId": challenge_id}),
    )
    .await;
    assert_eq!(status, 400);
    // The right code makes the session strong.
    let (status, body) = post(
        &app,
        &s,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": code, "challengeId": challenge_id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(change(&app, &s).await.0, 202);
    // Used once.
    let s2 = sign_in(&app).await;
    let (status, _) = post(
        &app,
        &s2,
        "/passbroker/v1/me/strong-authn",
        &json!({"code": code, "challengeId": challenge_id}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(!captured_logs().contains(&code));
}
