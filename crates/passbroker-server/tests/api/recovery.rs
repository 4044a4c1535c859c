//! "Forgot password" by email (`cargo test -- recovery`): against a real SMTP server on
//! 127.0.0.1 (`smtp.rs`), the code read from the message it received. Covers the whole reset
//! (code → session → change on the sync group → the new password signs in), single use,
//! expiry, five wrong codes, the guessing protection, no user enumeration (same answers,
//! no mail, for unknown users and users without an address), STARTTLS with authentication,
//! implicit TLS, retries while the SMTP server is down, the help desk's digit token on the
//! "I have a reset code" route, and no code in the logs or the database.

use crate::helpers::*;
use crate::smtp::{code_in, self_signed, smtp_env, Mode, SmtpSink};
use passbroker_server::ops::demo::DEMO_SYNC_GROUP;
use reqwest::header::SET_COOKIE;
use serde_json::{json, Value};
use std::time::Duration;

const ABBY_MAIL: &str = "abby.smith@example.com";

async fn app_with(env: Vec<(String, String)>) -> TestApp {
    spawn_app_with(Options {
        env,
        ..Options::default()
    })
    .await
}

async fn post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn start(app: &TestApp, user: &str) -> Value {
    let r = post(
        app,
        "/passbroker/v1/recovery/start",
        &json!({"userName": user, "locale": "en"}),
    )
    .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn verify(app: &TestApp, reset_id: &str, user: &str, code: &str) -> reqwest::Response {
    post(
        app,
        "/passbroker/v1/recovery/verify",
        &json!({"resetId": reset_id, "userName": user, "code": code}),
    )
    .await
}

async fn error_text(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["causes"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sets `password` on the demo sync group (which includes the passbroker login) as the page
/// does, with the session of a verified code; returns the request's final per-target view.
async fn change_group(app: &TestApp, cookie: &str, csrf: &str, password: &str) -> Value {
    let me: Value = app
        .http
        .get(app.url("/passbroker/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = me["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == DEMO_SYNC_GROUP)
        .unwrap()
        .clone();
    let entry = &group["sources"][0];
    let key: Value = app
        .http
        .get(app.url("/passbroker/v1/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({
            "identityId": me["identityId"],
            "encryptedPassword": oaep(key["publicKey"].as_str().unwrap(), password),
            "publicKeyId": key["publicKeyId"],
            "accountId": entry["accountId"],
            "sourceId": entry["sourceId"],
            "encryption": "RSA-OAEP-256",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = app
            .http
            .get(app.url(&format!("/passbroker/v1/me/password-changes/{id}")))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["state"] != "IN_PROGRESS" {
            return v;
        }
        assert!(std::time::Instant::now() < end, "request {id} did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the mail queue is empty (every message sent or dropped).
async fn queue_drained(app: &TestApp) {
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while app.state.store.recovery().count_mail().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < end,
            "the mail queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn database_bytes(app: &TestApp) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["passbroker.db", "passbroker.db-wal"] {
        if let Ok(b) = std::fs::read(app.data_dir.path().join(name)) {
            all.extend(b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn recovery_by_email_code_resets_the_password_end_to_end() {
    let Some(sink) = SmtpSink::start(Mode::Plain, None).await else {
        return;
    };
    let app = app_with(smtp_env(sink.port, "none")).await;
    let started = start(&app, "abby.smith").await;
    let reset_id = started["resetId"].as_str().unwrap();
    assert_eq!(started["codeLength"], 8);
    let message = sink.wait_for(1).await;
    assert!(
        message.contains(&format!("X-Sink-Rcpt: {ABBY_MAIL}")),
        "{message}"
    );
    assert!(
        message.contains("Subject: Your password reset code"),
        "{message}"
    );
    let code = code_in(&message, 8);
    // Neither the code nor the flow's id is in the database or the log in clear.
    queue_drained(&app).await;
    let db = database_bytes(&app);
    assert!(!contains(&db, &code), "the code is in the database");
    assert!(!contains(&db, reset_id), "the flow id is in the database");
    assert!(!captured_logs().contains(&code), "the code is in the log");

    let r = verify(&app, reset_id, "Abby.Smith", &code).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["userName"], "Abby.Smith");
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();
    // The code works once.
    let again = verify(&app, reset_id, "Abby.Smith", &code).await;
    assert_eq!(again.status(), 400);
    assert!(error_text(again).await.contains("can no longer be used"));

    let new_password = "Reset-By-Mail-42x";
    let done = change_group(&app, &cookie, &csrf, new_password).await;
    assert_eq!(done["state"], "FINISHED", "{done}");
    let r = sign_in_page(&app, "Abby.Smith", new_password).await;
    assert_eq!(r.status(), 200, "the reset password signs in");
    let audit = app.audit_events("PASSWORD_RESET_CODE_VERIFIED").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].identity_id.as_deref(),
        Some(app.abby().await.identity.id.as_str())
    );
}

async fn sign_in_page(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/passbroker/v1/session",
        &json!({"userName": user, "password": password}),
    )
    .await
}

#[tokio::test]
async fn recovery_answers_the_same_for_unknown_users_and_sends_them_nothing() {
    let Some(sink) = SmtpSink::start(Mode::Plain, None).await else {
        return;
    };
    let app = app_with(smtp_env(sink.port, "none")).await;
    // A user without an email address.
    let user = app
        .add_user("No.Mail", passbroker_core::identity::UserLevel::User)
        .await;
    assert!(user.identity.email.is_none());
    let known = start(&app, "Abby.Smith").await;
    let unknown = start(&app, "Nobody.Here").await;
    let no_mail = start(&app, "No.Mail").await;
    for v in [&known, &unknown, &no_mail] {
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["codeLength", "expiresAt", "resetId"], "{v}");
    }
    queue_drained(&app).await;
    let messages = sink.messages();
    assert_eq!(
        messages.len(),
        1,
        "only the known user with an address gets mail"
    );
    assert!(messages[0].contains(ABBY_MAIL));
    // Verifying an unknown user's flow fails like a wrong code does.
    let r = verify(
        &app,
        unknown["resetId"].as_str().unwrap(),
        "Nobody.Here",
        "12345678",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(error_text(r).await.starts_with("code: the code is wrong"));
}

#[tokio::test]
async fn recovery_five_wrong_codes_end_the_flow_and_the_guard_then_says_wait() {
    let Some(sink) = SmtpSink::start(Mode::Plain, None).await else {
        return;
    };
    let mut env = smtp_env(sink.port, "none");
    env.push(("PASSBROKER_LOGIN_ATTEMPTS_PER_USER".into(), "6".into()));
    let app = app_with(env).await;
    let started = start(&app, "Abby.Smith").await;
    let reset_id = started["resetId"].as_str().unwrap();
    let code = code_in(&sink.wait_for(1).await, 8);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for left in (1..5).rev() {
        let r = verify(&app, reset_id, "Abby.Smith", wrong).await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            error_text(r).await,
            format!("code: the code is wrong ({left} more tries)")
        );
    }
    let r = verify(&app, reset_id, "Abby.Smith", wrong).await;
    assert!(error_text(r).await.contains("can no longer be used"));
    // The right code no longer helps.
    let r = verify(&app, reset_id, "Abby.Smith", &code).await;
    assert_eq!(r.status(), 400);
    assert!(error_text(r).await.contains("can no longer be used"));
    // 6 failures from this address for this user: the guard makes it wait.
    let r = verify(&app, reset_id, "Abby.Smith", &code).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Another user from the same address is not locked out by Abby's guesses.
    let r = verify(&app, reset_id, "Someone.Else", &code).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn recovery_codes_expire() {
    let Some(sink) = SmtpSink::start(Mode::Plain, None).await else {
        return;
    };
    let mut env = smtp_env(sink.port, "none");
    env.push(("PASSBROKER_RESET_CODE_TTL_SECS".into(), "120".into()));
    let app = app_with(env).await;
    let started = start(&app, "Abby.Smith").await;
    let code = code_in(&sink.wait_for(1).await, 8);
    assert!(crate::smtp::body_of(&sink.messages()[0]).contains("within 2 minutes"));
    app.state.clock.advance(121_000);
    let r = verify(
        &app,
        started["resetId"].as_str().unwrap(),
        "Abby.Smith",
        &code,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(error_text(r).await.contains("can no longer be used"));
}

#[tokio::test]
async fn recovery_mail_goes_over_starttls_with_authentication() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let Some(sink) = SmtpSink::start(
        Mode::StartTls(cert.clone(), key),
        Some(("mailer", "smtp-Secret-9")),
    )
    .await
    else {
        return;
    };
    let password_file = certs.path().join("smtp-password");
    std::fs::write(&password_file, "smtp-Secret-9\n").unwrap();
    let mut env = smtp_env(sink.port, "starttls");
    env.extend([
        ("PASSBROKER_SMTP_USERNAME".into(), "mailer".into()),
        (
            "PASSBROKER_SMTP_PASSWORD_FILE".into(),
            password_file.display().to_string(),
        ),
        ("PASSBROKER_SMTP_CA_FILE".into(), cert.display().to_string()),
    ]);
    let app = app_with(env).await;
    start(&app, "Abby.Smith").await;
    let message = sink.wait_for(1).await;
    code_in(&message, 8);
    assert!(!captured_logs().contains("smtp-Secret-9"));
}

#[tokio::test]
async fn recovery_mail_goes_over_implicit_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let Some(sink) = SmtpSink::start(Mode::Tls(cert.clone(), key), None).await else {
        return;
    };
    let mut env = smtp_env(sink.port, "tls");
    env.push(("PASSBROKER_SMTP_CA_FILE".into(), cert.display().to_string()));
    let app = app_with(env).await;
    start(&app, "Abby.Smith").await;
    code_in(&sink.wait_for(1).await, 8);
}

#[tokio::test]
async fn recovery_mail_is_retried_from_the_queue_until_the_server_answers() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = app_with(smtp_env(port, "none")).await;
    // Nothing listens: the request still answers at once, and the message stays queued.
    let started = tokio::time::timeout(Duration::from_secs(5), start(&app, "Abby.Smith"))
        .await
        .expect("starting a reset does not wait for SMTP");
    assert!(started["resetId"].is_string());
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !captured_logs().contains("mail could not be sent; will retry") {
        assert!(
            std::time::Instant::now() < end,
            "no failed attempt was logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.store.recovery().count_mail().await.unwrap(), 1);
    let Some(sink) = SmtpSink::start_on(port, Mode::Plain, None).await else {
        return;
    };
    // The retry is due after the backoff; move the clock past it and run a sending round
    // (the background sender would within its 5 s poll).
    app.state.clock.advance(600_000);
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while sink.messages().is_empty() {
        passbroker_server::http::mail_queue::send_due(&app.state).await;
        assert!(std::time::Instant::now() < end, "the retry did not deliver");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    code_in(&sink.wait_for(1).await, 8);
    queue_drained(&app).await;
}

#[tokio::test]
async fn recovery_is_refused_without_a_mail_server_and_for_bad_input() {
    let app = spawn_app().await;
    let r = post(
        &app,
        "/passbroker/v1/recovery/start",
        &json!({"userName": "Abby.Smith"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(error_text(r).await.contains("not available on this server"));
    for (path, body) in [
        ("/passbroker/v1/recovery/verify", json!({})),
        (
            "/passbroker/v1/recovery/verify",
            json!({"userName": "x", "resetId": "y"}),
        ),
        (
            "/passbroker/v1/recovery/verify",
            json!({"userName": "x", "resetId": "y", "code": "x".repeat(100)}),
        ),
        ("/passbroker/v1/recovery/verify", json!({"userName": 5})),
        (
            "/passbroker/v1/recovery/digit-token",
            json!({"userName": "x"}),
        ),
        (
            "/passbroker/v1/recovery/digit-token",
            json!({"userName": "x", "digitToken": "1", "extra": 1}),
        ),
    ] {
        let r = post(&app, path, &body).await;
        assert_eq!(r.status(), 400, "{path} {body}");
    }
    // Another site's page cannot start or verify a reset.
    let r = app
        .http
        .post(app.url("/passbroker/v1/recovery/verify"))
        .header("origin", "https://evil.example")
        .json(&json!({"userName": "x", "resetId": "y", "code": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn recovery_digit_token_from_the_help_desk_starts_a_session_once() {
    let app = spawn_app().await;
    let token = app.token().await;
    let r = app
        .http
        .put(app.url("/v3/password-org-config"))
        .bearer_auth(&token)
        .json(&json!({"digitTokenEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .post(app.url("/v2025/generate-password-reset-token/digit"))
        .bearer_auth(&token)
        .header("X-SailPoint-Experimental", "true")
        .json(&json!({"userId": "Abby.Smith"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    let digits = v["digitToken"].as_str().unwrap().to_owned();
    let r = post(
        &app,
        "/passbroker/v1/recovery/digit-token",
        &json!({"userName": "Abby.Smith", "digitToken": "000"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        &app,
        "/passbroker/v1/recovery/digit-token",
        &json!({"userName": "abby.smith", "digitToken": digits}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key(SET_COOKIE));
    let r = post(
        &app,
        "/passbroker/v1/recovery/digit-token",
        &json!({"userName": "Abby.Smith", "digitToken": digits}),
    )
    .await;
    assert_eq!(r.status(), 400, "a digit token works once");
    let redeemed = app.audit_events("DIGIT_TOKEN_REDEEMED").await;
    assert_eq!(redeemed.len(), 1);
    assert!(
        redeemed[0].detail.contains("issued by client:"),
        "{}",
        redeemed[0].detail
    );
}

#[tokio::test]
async fn recovery_a_change_notice_goes_to_the_identity_in_its_language() {
    let Some(sink) = SmtpSink::start(Mode::Plain, None).await else {
        return;
    };
    let app = app_with(smtp_env(sink.port, "none")).await;
    let token = app.token().await;
    let abby = app.abby().await;
    let body = app.body_for(&token, &abby, "Notice-Passw0rd-1").await;
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .header("accept-language", "de-DE")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let message = sink.wait_for(1).await;
    assert!(
        message.contains(&format!("X-Sink-Rcpt: {ABBY_MAIL}")),
        "{message}"
    );
    let text = crate::smtp::body_of(&message);
    assert!(text.contains("neues Passwort"), "{text}");
    assert!(text.contains("My-AD"), "{text}");
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(text.contains("Helpdesk"), "{text}");
    assert!(!text.contains("Notice-Passw0rd-1"));
    // Switched off, nothing is sent.
    drop(app);
    let mut env = smtp_env(sink.port, "none");
    env.push(("PASSBROKER_NOTIFY_PASSWORD_CHANGES".into(), "false".into()));
    let app = app_with(env).await;
    let token = app.token().await;
    let abby = app.abby().await;
    let body = app.body_for(&token, &abby, "Notice-Passw0rd-2").await;
    let id = app.set_password(&token, &body).await;
    app.wait_terminal(&token, &id).await;
    queue_drained(&app).await;
    assert_eq!(sink.messages().len(), 1);
}
