//! The bad-input corpus: for every endpoint, malformed and hostile input gets a documented
//! error with a cause — never a 500, never a panic, never an empty body.

use crate::helpers::*;
use reqwest::Method;
use serde_json::Value;

/// (method, path) of every JSON endpoint, on every path form.
fn json_endpoints() -> Vec<(Method, String)> {
    let mut v = Vec::new();
    for p in ["/v3", "/beta", "/v2024", "/v2025"] {
        v.push((Method::POST, format!("{p}/query-password-info")));
        v.push((Method::POST, format!("{p}/set-password")));
    }
    v.push((Method::POST, "/query-password-info/v1".into()));
    v.push((Method::POST, "/set-password/v1".into()));
    v.push((Method::POST, "/beta/personal-access-tokens".into()));
    v
}

fn id_paths() -> Vec<String> {
    let mut v: Vec<String> = ["/v3", "/beta", "/v2024", "/v2025"]
        .iter()
        .map(|p| format!("{p}/password-change-status/"))
        .collect();
    v.push("/password-change-status/v1/".into());
    v
}

async fn assert_documented(r: reqwest::Response, what: &str) -> u16 {
    let status = r.status().as_u16();
    assert!(status < 500, "{what}: HTTP {status}");
    let bytes = r.bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{what}: body is not JSON: {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    match status {
        401 => assert!(v["error"].is_string(), "{what}: {v}"),
        429 => assert!(v["message"].is_string(), "{what}: {v}"),
        400 | 403 | 404 | 405 | 409 | 413 | 415 => {
            assert_eq!(
                v["trackingId"].as_str().map(str::len),
                Some(32),
                "{what}: {v}"
            );
            assert!(v["detailCode"].is_string(), "{what}: {v}");
            assert!(
                !v["causes"].as_array().unwrap().is_empty(),
                "{what}: no cause in {v}"
            );
        }
        _ => {}
    }
    status
}

#[tokio::test]
async fn bad_input_never_gets_a_500_and_always_gets_a_cause() {
    let app = spawn_app_with(Options {
        env: vec![
            ("PASSBROKER_RATE_LIMIT_REQUESTS".into(), "100000".into()),
            (
                "PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS".into(),
                "100000".into(),
            ),
            ("PASSBROKER_AUTH_FAILURES_PER_IP".into(), "100000".into()),
        ],
        ..Options::default()
    })
    .await;
    let token = app.token().await;
    let info = app.query_info(&token, "Abby.Smith", "My-AD").await;
    let huge = format!("{{\"userName\": \"{}\"}}", "x".repeat(100_000));
    let long = "é".repeat(5_000);
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed JSON", b"{\"userName\": ".to_vec(), "application/json"),
        ("not an object", b"[1,2,3]".to_vec(), "application/json"),
        ("null", b"null".to_vec(), "application/json"),
        ("wrong types", br#"{"userName": 5, "sourceName": [], "identityId": {}, "encryptedPassword": false}"#.to_vec(), "application/json"),
        ("unknown fields only", br#"{"colour": "red"}"#.to_vec(), "application/json"),
        ("invalid UTF-8", b"{\"userName\": \"\xff\xfe\"}".to_vec(), "application/json"),
        ("empty", Vec::new(), "application/json"),
        ("huge", huge.into_bytes(), "application/json"),
        ("wrong content type", br#"{"userName": "Abby.Smith"}"#.to_vec(), "text/plain"),
        ("form body", b"userName=Abby.Smith".to_vec(), "application/x-www-form-urlencoded"),
        ("over-long strings", format!(r#"{{"userName": "{long}", "sourceName": "{long}", "identityId": "{long}", "accountId": "{long}", "sourceId": "{long}", "publicKeyId": "{long}", "encryptedPassword": "{long}"}}"#).into_bytes(), "application/json"),
        ("NUL in strings", br#"{"userName": "Abby\u0000Smith", "sourceName": "My\u0000AD"}"#.to_vec(), "application/json"),
    ];
    for (method, path) in json_endpoints() {
        for (name, body, ct) in &bodies {
            let r = app
                .http
                .request(method.clone(), app.url(&path))
                .bearer_auth(&token)
                .header("content-type", *ct)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = assert_documented(r, &format!("{path} {name}")).await;
            match *name {
                "huge" => assert_eq!(status, 413, "{path}"),
                "wrong content type" | "form body" => assert_eq!(status, 415, "{path}"),
                _ => assert!((400..500).contains(&status), "{path} {name}: {status}"),
            }
        }
    }
    // Set-password bodies that are well-formed JSON but wrong.
    let base = serde_json::json!({"identityId": info["identityId"], "publicKeyId": info["publicKeyId"], "accountId": info["accounts"][0]["accountId"], "sourceId": info["sourceId"]});
    for (name, enc, key) in [
        ("invalid base64", "%%%not*base64", None),
        ("too short", "AAAA", None),
        ("too long", &*"QUFB".repeat(200), None),
        ("unknown key id", "AAAA", Some("dW5rbm93bg==")),
        ("path-like key id", "AAAA", Some("../../etc/passwd")),
    ] {
        let mut b = base.clone();
        b["encryptedPassword"] = Value::from(enc);
        if let Some(k) = key {
            b["publicKeyId"] = Value::from(k);
        }
        let r = app.post_json("/v3/set-password", &token, &b).await;
        assert_eq!(assert_documented(r, name).await, 400, "{name}");
    }
    // Ids with path tricks.
    for prefix in id_paths() {
        for id in [
            "..%2F..%2Fetc%2Fpasswd",
            "../../etc",
            "%00",
            "a%00b",
            &"f".repeat(10_000),
            "%C3%28",
            "0123456789ABCDEF0123456789ABCDEF",
            "%20",
        ] {
            let r = app.get(&format!("{prefix}{id}"), &token).await;
            let status = assert_documented(r, &format!("{prefix}{id:.40}")).await;
            assert!(status == 404 || status == 400, "{prefix}{id:.40}: {status}");
        }
    }
    // Methods and paths that do not exist.
    let r = app
        .http
        .delete(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(assert_documented(r, "DELETE set-password").await, 405);
    let r = app.get("/v3/no-such-api", &token).await;
    assert_eq!(assert_documented(r, "unknown path").await, 404);
    // Tokens that are not tokens.
    for bad in [
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a.b.c",
        &format!("Bearer {}", "x".repeat(20_000)),
    ] {
        let r = app
            .http
            .post(app.url("/v3/query-password-info"))
            .header("authorization", bad)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            assert_documented(r, &format!("{bad:.20}")).await,
            401,
            "{bad:.20}"
        );
    }
    // The token endpoint answers OAuth errors, never a 500.
    for body in [
        "",
        "grant_type=",
        "grant_type=password",
        "grant_type=client_credentials",
        "client_id=%ff&grant_type=client_credentials&client_secret=x",
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret=x",
            "a".repeat(50_000)
        ),
    ] {
        let r = app
            .http
            .post(app.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "token {body:.40}: {status}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string(), "{v}");
    }
}
