//! The password dictionary (multipart upload, text download, ISC's file rules) and the
//! password org config (defaults, ranges, partial PUT, POST once).

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

async fn upload(app: &TestApp, path: &str, token: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name("dictionary.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let r = app
        .http
        .put(app.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn download(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
    }
    (status, r.text().await.unwrap())
}

const FILE: &str = "# Password dictionary small test file\n\nlocale=en_US\n# prohibited words\nqwerty\nsunshine\npassword\n";

#[tokio::test]
async fn upload_and_download_on_every_path_form() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let (s, _) = download(&app, "/v3/password-dictionary", &admin).await;
    assert_eq!(s, 404, "none uploaded yet");
    let (s, body) = upload(
        &app,
        "/v3/password-dictionary",
        &admin,
        FILE.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    for path in [
        "/beta/password-dictionary",
        "/v2024/password-dictionary",
        "/v2025/password-dictionary",
        "/password-dictionary/v1",
    ] {
        assert_eq!(
            download(&app, path, &admin).await,
            (200, FILE.to_owned()),
            "{path}"
        );
    }
    let (s, _) = upload(
        &app,
        "/password-dictionary/v1",
        &admin,
        b"locale=fr\nsoleil\n".to_vec(),
    )
    .await;
    assert_eq!(s, 200, "a replacement");
    assert_eq!(
        download(&app, "/v3/password-dictionary", &admin).await.1,
        "locale=fr\nsoleil\n"
    );
    // userAuth only: an API client gets 403.
    let api = app.token().await;
    assert_eq!(download(&app, "/v3/password-dictionary", &api).await.0, 403);
}

#[tokio::test]
async fn bad_files_name_each_line_and_change_nothing() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    upload(
        &app,
        "/v3/password-dictionary",
        &admin,
        FILE.as_bytes().to_vec(),
    )
    .await;
    let mut big = String::from("# too many\n");
    for n in 0..2_501 {
        big.push_str(&format!("word{n}\n"));
    }
    let (s, body) = upload(&app, "/v3/password-dictionary", &admin, big.into_bytes()).await;
    assert_400(s, &body, &["2501 words", "at most 2500"]);
    let long = "x".repeat(129);
    let bad = format!("locale=en\ntwo words\n{long}\nlocale=de\n").into_bytes();
    let (s, body) = upload(&app, "/v3/password-dictionary", &admin, bad).await;
    assert_400(
        s,
        &body,
        &["line 2:", "line 3:", "129", "line 4:", "locale"],
    );
    let (s, body) = upload(
        &app,
        "/v3/password-dictionary",
        &admin,
        b"ok\n\xff\xfe\n".to_vec(),
    )
    .await;
    assert_400(s, &body, &["line 2:", "UTF-8"]);
    assert_eq!(
        download(&app, "/v3/password-dictionary", &admin).await,
        (200, FILE.to_owned()),
        "unchanged"
    );
    // Not multipart, or no `file` field.
    let r = app
        .http
        .put(app.url("/v3/password-dictionary"))
        .bearer_auth(&admin)
        .body("qwerty")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_400(status, &r.json().await.unwrap(), &["multipart/form-data"]);
    let form = Form::new().text("other", "qwerty");
    let r = app
        .http
        .put(app.url("/v3/password-dictionary"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn policies_with_use_dictionary_refuse_dictionary_words() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let api = app.token().await;
    upload(
        &app,
        "/v3/password-dictionary",
        &admin,
        FILE.as_bytes().to_vec(),
    )
    .await;
    let ad = source_id(&app, "My-AD").await;
    let (s, _) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "Dict", "useDictionary": true, "sourceIds": [ad]})),
    )
    .await;
    assert_eq!(s, 200);
    let body = app
        .change_body(&api, "Abby.Smith", "My-AD", "MySunshine2024!")
        .await;
    let id = app.set_password(&api, &body).await;
    let status = app.wait_terminal(&api, &id).await;
    assert_eq!(status["state"], "FAILED", "{status}");
    assert!(
        status["errors"]
            .to_string()
            .to_lowercase()
            .contains("dictionary"),
        "{status}"
    );
}

#[tokio::test]
async fn org_config_defaults_ranges_and_partial_updates() {
    let app = spawn_app().await;
    let api = app.token().await;
    let defaults = json!({"customInstructionsEnabled": false, "digitTokenEnabled": false, "digitTokenDurationMinutes": 5, "digitTokenLength": 6});
    for path in ["/v3/password-org-config", "/password-org-config/v1"] {
        assert_eq!(
            call(&app, Method::GET, path, &api, None).await,
            (200, defaults.clone()),
            "{path}"
        );
    }
    let (s, created) = call(
        &app,
        Method::POST,
        "/beta/password-org-config",
        &api,
        Some(&json!({"digitTokenEnabled": true, "digitTokenLength": 9})),
    )
    .await;
    assert_eq!(
        (
            s,
            &created["digitTokenLength"],
            &created["digitTokenDurationMinutes"]
        ),
        (200, &json!(9), &json!(5)),
        "{created}"
    );
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-org-config",
        &api,
        Some(&json!({})),
    )
    .await;
    assert_400(s, &body, &["already exists"]);
    let (s, updated) = call(
        &app,
        Method::PUT,
        "/v2025/password-org-config",
        &api,
        Some(&json!({"digitTokenDurationMinutes": 12})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        updated,
        json!({"customInstructionsEnabled": false, "digitTokenEnabled": true, "digitTokenDurationMinutes": 12, "digitTokenLength": 9})
    );
    let (s, body) = call(
        &app,
        Method::PUT,
        "/v3/password-org-config",
        &api,
        Some(&json!({"digitTokenDurationMinutes": 0, "digitTokenLength": 19})),
    )
    .await;
    assert_400(
        s,
        &body,
        &[
            "digitTokenDurationMinutes: must be between 1 and 60",
            "digitTokenLength: must be between 6 and 18",
        ],
    );
    let (s, body) = call(
        &app,
        Method::PUT,
        "/v3/password-org-config",
        &api,
        Some(&json!({"digitTokenLength": "nine"})),
    )
    .await;
    assert_400(s, &body, &["digitTokenLength"]);
    let (s, body) = call(
        &app,
        Method::PUT,
        "/v3/password-org-config",
        &api,
        Some(&json!({"tokenLength": 7})),
    )
    .await;
    assert_400(s, &body, &["tokenLength"]);
    assert_eq!(
        call(&app, Method::GET, "/v3/password-org-config", &api, None).await,
        (200, updated),
        "unchanged by the bad calls"
    );
    let reader = app
        .token_with_scopes(&["idn:password-org-config:read"])
        .await;
    assert_eq!(
        call(
            &app,
            Method::PUT,
            "/v3/password-org-config",
            &reader,
            Some(&json!({}))
        )
        .await
        .0,
        403
    );
}
