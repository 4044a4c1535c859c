//! Small requests must not make the server do unbounded work (JSON Patch bombs, floods of
//! causes, hostile dictionary files, deep nesting), and the wire must match ISC's
//! specification where it marks operations experimental or lists no 415.

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const EXPERIMENTAL: &[(&str, &str)] = &[("X-SailPoint-Experimental", "true")];

/// An app whose rate limit does not get in the way of tests that send many requests.
async fn spawn_unthrottled() -> TestApp {
    spawn_app_with(Options {
        env: vec![("PASSBROKER_RATE_LIMIT_REQUESTS".into(), "100000".into())],
        ..Options::default()
    })
    .await
}

/// This process's resident set size and its peak, in KiB (Linux), after resetting the peak
/// when `reset` is set; `None` where /proc does not tell.
fn rss_kib(reset: bool) -> Option<(u64, u64)> {
    if reset {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Runs `request` and returns its result with how much this process's peak RSS grew over
/// the RSS it had before (KiB), when the platform tells. Other tests of this binary may run
/// at the same time, so the bounds checked against it are generous; before the fixes the
/// requests measured here grew the process by hundreds of MB or killed it.
async fn peak_growth<F: std::future::Future>(request: F) -> (F::Output, Option<u64>) {
    let before = rss_kib(true);
    let out = request.await;
    let growth = before
        .zip(rss_kib(false))
        .map(|((rss, _), (_, peak))| peak.saturating_sub(rss));
    (out, growth)
}

async fn patch_source(app: &TestApp, token: &str, id: &str, ops: &Value) -> (u16, Value) {
    let r = app
        .http
        .patch(app.url(&format!("/v3/sources/{id}")))
        .bearer_auth(token)
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    assert!(
        bytes.len() < 64 * 1024,
        "a small request got a {} byte answer",
        bytes.len()
    );
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `/health/live` answers 200 within a second.
async fn assert_live(app: &TestApp) {
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        app.http.get(app.url("/health/live")).send(),
    )
    .await
    .expect("/health/live answers within 1 s")
    .expect("the server is still up");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// The issue's reproduction: forty `copy /features → /features/-` operations (2.4 KB) asked
/// for 2^40 copies; 20 took 1.2 s and 117 MB, 40 aborted the process.
#[tokio::test]
async fn hardening_json_patch_copy_bomb_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = source_id(&app, "My-AD").await;
    let (_, before) = call(
        &app,
        Method::GET,
        &format!("/v3/sources/{id}"),
        &token,
        None,
    )
    .await;
    let bomb = Value::Array(vec![
        json!({"op": "copy", "from": "/features", "path": "/features/-"});
        40
    ]);
    assert!(bomb.to_string().len() <= 2_500);
    let started = Instant::now();
    let ((status, body), growth) = peak_growth(patch_source(&app, &token, &id, &bomb)).await;
    assert_400(
        status,
        &body,
        &["(copy /features/-)", "after this operation"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    if let Some(kib) = growth {
        assert!(kib < 64 * 1024, "the bomb grew the process by {kib} KiB");
    }
    if let Some((rss, _)) = rss_kib(false) {
        assert!(rss < 200 * 1024, "RSS {rss} KiB after the bomb");
    }
    assert_live(&app).await;
    let (_, after) = call(
        &app,
        Method::GET,
        &format!("/v3/sources/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(after["features"], before["features"], "nothing changed");
}

/// Ten copies of a value into its own deepest point (11 KB) nested it 5,000 levels deep and
/// overflowed a worker's stack: the whole process aborted.
#[tokio::test]
async fn hardening_json_patch_nesting_bomb_is_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = source_id(&app, "My-AD").await;
    let mut ops = vec![
        json!({"op": "add", "path": "/connectorAttributes/deep", "value": [[[[[[[[[[]]]]]]]]]]}),
    ];
    let mut depth = 10;
    for _ in 0..10 {
        let path = format!("/connectorAttributes/deep{}/-", "/0".repeat(depth - 1));
        ops.push(json!({"op": "copy", "from": "/connectorAttributes/deep", "path": path}));
        depth *= 2;
    }
    let (status, body) = patch_source(&app, &token, &id, &Value::Array(ops)).await;
    assert_400(status, &body, &["levels deep after this operation"]);
    assert_live(&app).await;
}

#[tokio::test]
async fn hardening_json_patch_operation_count_is_bounded() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = source_id(&app, "My-AD").await;
    let ops = Value::Array(vec![
        json!({"op": "test", "path": "/name", "value": "My-AD"});
        101
    ]);
    let (status, body) = patch_source(&app, &token, &id, &ops).await;
    assert_400(status, &body, &["101 operations; at most 100"]);
    // 100 is fine.
    let ops = Value::Array(vec![
        json!({"op": "test", "path": "/name", "value": "My-AD"});
        100
    ]);
    let (status, body) = patch_source(&app, &token, &id, &ops).await;
    assert_eq!(status, 200, "{body}");
}

/// A 40 KB body of 20,000 bad features drew 20,000 causes (3 MB); a 400 now lists at most
/// 100, the last saying how many were left out.
#[tokio::test]
async fn hardening_error_causes_are_bounded() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = source_id(&app, "My-AD").await;
    let body = json!({"name": "My-AD", "connector": "builtin", "features": vec![1; 20_000]});
    let r = app
        .http
        .put(app.url(&format!("/v3/sources/{id}")))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let causes = cause_texts(&body);
    assert_eq!(causes.len(), 100);
    assert!(causes[0].starts_with("features[0]:"), "{}", causes[0]);
    assert_eq!(causes[99], "19901 more problems are not listed");
}

fn dictionary_form(bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("dictionary.txt")
            .mime_str("text/plain")
            .unwrap(),
    )
}

/// A 2 MB dictionary of a million bad lines kept a million problems in memory (~75 MB)
/// before reporting 100 of them; one of 700,000 short words normalised and kept them all.
#[tokio::test]
async fn hardening_hostile_dictionary_files_are_refused_with_bounded_work() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for (what, file, first) in [
        (
            "invalid UTF-8 lines",
            b"\xff\n".repeat(1_000_000),
            "line 1: is not valid UTF-8",
        ),
        (
            "too many words",
            b"ab\n".repeat(690_000),
            "the file has 690000 words",
        ),
    ] {
        let started = Instant::now();
        let (r, growth) = peak_growth(
            app.http
                .put(app.url("/v3/password-dictionary"))
                .bearer_auth(&admin)
                .multipart(dictionary_form(file))
                .send(),
        )
        .await;
        let r = r.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_400(status, &body, &[first]);
        assert!(cause_texts(&body).len() <= 100, "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: {:?}",
            started.elapsed()
        );
        if let Some(kib) = growth {
            assert!(kib < 40 * 1024, "{what} grew the process by {kib} KiB");
        }
    }
    assert_live(&app).await;
}

/// ISC's specification lists no 415 for `PUT /password-dictionary`: a body that is not
/// multipart is a 400 with a cause, on every path form.
#[tokio::test]
async fn hardening_dictionary_put_without_multipart_is_400() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for path in [
        "/v3/password-dictionary",
        "/beta/password-dictionary",
        "/v2024/password-dictionary",
        "/v2025/password-dictionary",
        "/password-dictionary/v1",
    ] {
        for (content_type, body) in [
            ("application/json", r#"{"file": "qwerty"}"#),
            ("text/plain", "qwerty"),
        ] {
            let r = app
                .http
                .put(app.url(path))
                .bearer_auth(&admin)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_400(status, &body, &["multipart/form-data"]);
        }
    }
}

/// serde_json refuses nesting past 128 levels; this keeps it that way for every JSON body
/// (a parser without the limit recurses once per `[` and overflows the stack).
#[tokio::test]
async fn hardening_deeply_nested_json_bodies_are_400() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = source_id(&app, "My-AD").await;
    let deep = "[".repeat(60_000);
    // Typed bodies stop at the first `[` where an object belongs; untyped ones at the limit.
    let recursion: &[&str] = &["recursion limit"];
    for (method, path, content_type, needles) in [
        (
            Method::POST,
            "/v3/sources".to_owned(),
            "application/json",
            recursion,
        ),
        (
            Method::PATCH,
            format!("/v3/sources/{id}"),
            "application/json-patch+json",
            recursion,
        ),
        (
            Method::POST,
            "/passbroker/v1/identities".to_owned(),
            "application/json",
            &[],
        ),
        (
            Method::POST,
            "/v3/query-password-info".to_owned(),
            "application/json",
            &[],
        ),
    ] {
        let r = app
            .http
            .request(method, app.url(&path))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(deep.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_400(status, &body, needles);
    }
    assert_live(&app).await;
}

/// Every operation SailPoint's published OpenAPI marks with a *required*
/// `X-SailPoint-Experimental` header, per version (`password-apis.v2024.json`,
/// `password-apis.v2025.json`, `apis/*.v1.json`; `/v3` and `/beta` mark none), as served here.
const SPEC_EXPERIMENTAL: &[(&str, &str)] = &[
    ("GET", "/v2024/password-policies"),
    ("POST", "/v2024/password-policies"),
    ("GET", "/v2024/password-policies/{id}"),
    ("PUT", "/v2024/password-policies/{id}"),
    ("DELETE", "/v2024/password-policies/{id}"),
    ("POST", "/v2024/custom-password-instructions"),
    ("GET", "/v2024/custom-password-instructions/{pageId}"),
    ("DELETE", "/v2024/custom-password-instructions/{pageId}"),
    ("POST", "/v2024/generate-password-reset-token/digit"),
    ("GET", "/v2025/password-policies"),
    ("POST", "/v2025/password-policies"),
    ("GET", "/v2025/password-policies/{id}"),
    ("PUT", "/v2025/password-policies/{id}"),
    ("DELETE", "/v2025/password-policies/{id}"),
    ("POST", "/v2025/custom-password-instructions"),
    ("GET", "/v2025/custom-password-instructions/{pageId}"),
    ("DELETE", "/v2025/custom-password-instructions/{pageId}"),
    ("POST", "/v2025/generate-password-reset-token/digit"),
    ("GET", "/password-policies/v1"),
    ("POST", "/password-policies/v1"),
    ("GET", "/password-policies/v1/{id}"),
    ("PUT", "/password-policies/v1/{id}"),
    ("DELETE", "/password-policies/v1/{id}"),
    ("POST", "/custom-password-instructions/v1"),
    ("GET", "/custom-password-instructions/v1/{pageId}"),
    ("DELETE", "/custom-password-instructions/v1/{pageId}"),
    ("POST", "/generate-password-reset-token/v1/digit"),
    // ISC's Triggers API is experimental in /v2024 and /v2025.
    ("GET", "/v2024/triggers"),
    ("GET", "/v2024/trigger-subscriptions"),
    ("POST", "/v2024/trigger-subscriptions"),
    ("GET", "/v2024/trigger-subscriptions/{id}"),
    ("PUT", "/v2024/trigger-subscriptions/{id}"),
    ("PATCH", "/v2024/trigger-subscriptions/{id}"),
    ("DELETE", "/v2024/trigger-subscriptions/{id}"),
    ("GET", "/v2025/triggers"),
    ("GET", "/v2025/trigger-subscriptions"),
    ("POST", "/v2025/trigger-subscriptions"),
    ("GET", "/v2025/trigger-subscriptions/{id}"),
    ("PUT", "/v2025/trigger-subscriptions/{id}"),
    ("PATCH", "/v2025/trigger-subscriptions/{id}"),
    ("DELETE", "/v2025/trigger-subscriptions/{id}"),
];

/// Every operation of this server's own OpenAPI document, with whether it requires the
/// experimental header.
fn served_operations() -> Vec<(Method, String, bool)> {
    let doc: Value =
        serde_json::from_str(passbroker_server::http::routes::openapi::DOCUMENT).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            if !op.is_object() || op.get("responses").is_none() {
                continue;
            }
            let required = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["name"].as_str() == Some("X-SailPoint-Experimental")
                        && p["required"] == json!(true)
                })
            });
            out.push((method, path.clone(), required));
        }
    }
    out
}

fn mentions_experimental(body: &Value) -> bool {
    cause_texts(body)
        .iter()
        .any(|c| c.contains("X-SailPoint-Experimental"))
}

/// The server enforces the experimental header on exactly the operations ISC's spec marks:
/// each of them answers 400 (naming the header) without it and is not refused for it with
/// it, and no other operation mentions it.
#[tokio::test]
async fn hardening_experimental_header_is_required_exactly_where_the_spec_says() {
    let ops = served_operations();
    let documented: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|(_, _, required)| *required)
        .map(|(m, p, _)| (m.to_string(), p.clone()))
        .collect();
    let spec: BTreeSet<(String, String)> = SPEC_EXPERIMENTAL
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, spec,
        "openapi.json marks the header required on exactly ISC's operations"
    );
    let app = spawn_unthrottled().await;
    let admin = admin_token(&app).await;
    let dummy = "0".repeat(32);
    for (method, template, required) in &ops {
        if template.starts_with("/oauth/") {
            continue; // no bearer token there, and never experimental
        }
        let path = template
            .replace("{id}", &dummy)
            .replace("{pageId}", "change-password:enter-password");
        let body = matches!(*method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let what = format!("{method} {template}");
        let (status, without) = call(&app, method.clone(), &path, &admin, body.as_ref()).await;
        if *required {
            assert_eq!(status, 400, "{what} without the header: {without}");
            assert!(mentions_experimental(&without), "{what}: {without}");
        } else {
            assert!(!mentions_experimental(&without), "{what}: {without}");
        }
        let (status, with) = call_with(
            &app,
            method.clone(),
            &path,
            &admin,
            body.as_ref(),
            EXPERIMENTAL,
        )
        .await;
        assert!(
            !mentions_experimental(&with),
            "{what} with the header: HTTP {status} {with}"
        );
    }
}

/// Made-up HTTP methods do not each get a metrics series: `/metrics` (public) would otherwise
/// grow without bound, one series per method a client invents.
#[tokio::test]
async fn hardening_made_up_methods_share_one_metrics_series() {
    let app = spawn_unthrottled().await;
    for i in 0..40 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let r = app
            .http
            .request(method, app.url("/health/live"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let methods: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("passbroker_http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        !text.contains("MADEUP"),
        "a made-up method got its own series"
    );
    assert!(methods.contains("OTHER"), "{methods:?}");
    assert!(methods.len() <= 10, "{methods:?}");
}
