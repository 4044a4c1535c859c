//! The Password Management API end to end.

use crate::helpers::*;
use passbroker_server::pipeline::worker::{Outcome, Worker};
use serde_json::{json, Value};

#[tokio::test]
async fn password_flow_finishes_on_every_path_form() {
    let app = spawn_app().await;
    let token = app.token().await;
    for (query, set, status) in [
        (
            "/v3/query-password-info",
            "/v3/set-password",
            "/v3/password-change-status/",
        ),
        (
            "/beta/query-password-info",
            "/beta/set-password",
            "/beta/password-change-status/",
        ),
        (
            "/v2024/query-password-info",
            "/v2024/set-password",
            "/v2024/password-change-status/",
        ),
        (
            "/v2025/query-password-info",
            "/v2025/set-password",
            "/v2025/password-change-status/",
        ),
        (
            "/query-password-info/v1",
            "/set-password/v1",
            "/password-change-status/v1/",
        ),
        (
            "//v3/query-password-info",
            "//v3/set-password",
            "//v3/password-change-status/",
        ),
    ] {
        let r = app
            .post_json(
                query,
                &token,
                &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
            )
            .await;
        assert_eq!(r.status(), 200, "{query}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let info: Value = r.json().await.unwrap();
        assert_eq!(info["accounts"][0]["accountName"], "Abby.Smith");
        assert!(
            info["policies"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "passwordMinLength is 8"),
            "{info}"
        );
        let body = json!({
            "identityId": info["identityId"],
            "encryptedPassword": encrypt_pkcs1(info["publicKey"].as_str().unwrap(), b"Corr3ct-Horse-Battery"),
            "publicKeyId": info["publicKeyId"], "accountId": info["accounts"][0]["accountId"], "sourceId": info["sourceId"],
        });
        let r = app.post_json(set, &token, &body).await;
        assert_eq!(r.status(), 202, "{set}");
        let accepted: Value = r.json().await.unwrap();
        assert_eq!(accepted["state"], "IN_PROGRESS");
        let id = accepted["requestId"].as_str().unwrap().to_owned();
        let mut last = Value::Null;
        for _ in 0..500 {
            last = app
                .get(&format!("{status}{id}"), &token)
                .await
                .json()
                .await
                .unwrap();
            if last["state"] != "IN_PROGRESS" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(last["state"], "FINISHED", "{status}: {last}");
        assert_eq!(last["sourceIds"], json!([info["sourceId"]]));
        assert_eq!(last["errors"], json!([]));
    }
}

#[tokio::test]
async fn policy_failures_are_all_reported_in_the_status() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = app.change_body(&token, "Abby.Smith", "My-AD", "aaaa").await;
    let id = app.set_password(&token, &body).await;
    let status = app.wait_terminal(&token, &id).await;
    assert_eq!(status["state"], "FAILED");
    let errors: Vec<String> = status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("at least 8 characters")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("digit")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("more than 3 times")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn synchronous_refusals_name_the_field() {
    let app = spawn_app().await;
    let token = app.token().await;
    let good = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({}), 400, "identityId: is required"),
        (
            {
                let mut b = good.clone();
                b["encryptedPassword"] = json!("not base64!!");
                b
            },
            400,
            "not valid base64",
        ),
        (
            {
                let mut b = good.clone();
                b["encryptedPassword"] = json!("AAAA");
                b
            },
            400,
            "exactly 256 bytes",
        ),
        (
            {
                let mut b = good.clone();
                b["publicKeyId"] = json!("bm9wZQ==");
                b
            },
            400,
            "publicKeyId",
        ),
        (
            {
                let mut b = good.clone();
                b["identityId"] = json!("0123456789abcdef0123456789abcdef");
                b
            },
            404,
            "identityId",
        ),
        (
            {
                let mut b = good.clone();
                b["sourceId"] = json!("../../etc");
                b
            },
            400,
            "sourceId",
        ),
        (
            {
                let mut b = good.clone();
                b["accountId"] = json!("CN=Nobody");
                b
            },
            404,
            "accountId",
        ),
        (
            {
                let mut b = good.clone();
                b["identityId"] = json!(5);
                b
            },
            400,
            "identityId",
        ),
    ];
    for (body, status, needle) in cases {
        let r = app.post_json("/v3/set-password", &token, &body).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["trackingId"].as_str().unwrap().len(), 32);
        let causes = v["causes"].to_string();
        assert!(causes.contains(needle), "{needle} not in {causes}");
    }
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .body("{}")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let huge = "x".repeat(200_000);
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .body(huge)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = app
        .get(
            "/v3/password-change-status/0123456789abcdef0123456789abcdef",
            &token,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .get("/v3/password-change-status/..%2F..%2Fetc", &token)
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_source_without_the_password_feature_says_how_to_enable_it() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let mut source = app
        .state
        .store
        .find_source_by_name("My-AD")
        .await
        .unwrap()
        .unwrap();
    source.features.clear();
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertSource(source)])
        .await
        .unwrap();
    let r = app.post_json("/v3/set-password", &token, &body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["causes"].to_string().contains("PASSWORD feature"), "{v}");
}

#[tokio::test]
async fn identical_reposts_return_the_same_request() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let token = app.token().await;
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let a = app.set_password(&token, &body).await;
    let b = app.set_password(&token, &body).await;
    assert_eq!(a, b, "a resent POST must not create a second change");
    let with_key = |k: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let body = app
                .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
                .await;
            let r = app
                .http
                .post(app.url("/v3/set-password"))
                .bearer_auth(&token)
                .header("Idempotency-Key", k)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["requestId"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let c = with_key("key-1").await;
    let d = with_key("key-1").await;
    let e = with_key("key-2").await;
    assert_eq!(c, d);
    assert_ne!(c, e);
    assert_ne!(a, c);
    assert_eq!(app.state.store.count_requests(None).await.unwrap(), 3);
}

#[tokio::test]
async fn a_dropped_worker_s_request_is_completed_once_after_the_lease() {
    let app = spawn_app_with(Options {
        workers: false,
        env: vec![("PASSBROKER_LEASE_SECS".into(), "2".into())],
    })
    .await;
    let token = app.token().await;
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let id = app.set_password(&token, &body).await;
    // A worker claims the request and dies without finishing it.
    let now = app.state.clock.now();
    let claimed = app
        .state
        .store
        .claim_request("crashed-worker", now, 2_000)
        .await
        .unwrap();
    assert_eq!(claimed.map(|r| r.id.to_string()), Some(id.clone()));
    let worker = Worker::new(app.state.clone(), "survivor");
    assert_eq!(
        worker.try_run_once().await.unwrap(),
        Outcome::Idle,
        "leased: nobody else may take it"
    );
    app.state.clock.advance(2_001);
    match worker.try_run_once().await.unwrap() {
        Outcome::Finished(rid, state) => {
            assert_eq!(rid.to_string(), id);
            assert_eq!(state.as_str(), "FINISHED");
        }
        other => panic!("expected the request to finish, got {other:?}"),
    }
    assert_eq!(
        worker.try_run_once().await.unwrap(),
        Outcome::Idle,
        "done exactly once"
    );
    let (events, _) = app
        .state
        .store
        .list_audit(
            &passbroker_store::AuditFilter {
                request_id: Some(id.clone()),
                action: Some("PASSWORD_CHANGE_TARGET_SUCCEEDED".into()),
                ..Default::default()
            },
            passbroker_store::Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the target was changed once");
}

#[tokio::test]
async fn the_ciphertext_is_erased_and_no_plaintext_is_stored_or_logged() {
    let app = spawn_app().await;
    let token = app.token().await;
    let canary = format!("Canary{}x9", passbroker_core::ids::new_isc_id());
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", &canary)
        .await;
    let ciphertext = body["encryptedPassword"].as_str().unwrap().to_owned();
    let id = app.set_password(&token, &body).await;
    assert_eq!(app.wait_terminal(&token, &id).await["state"], "FINISHED");
    let stored = app
        .state
        .store
        .get_request(&passbroker_core::RequestId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.ciphertext, None,
        "the ciphertext must be erased when the request ends"
    );
    // Also a failing one (policy) and a builtin one.
    let weak = format!("Wk{}", &canary[6..11]); // 7 characters: too short for the policy
    let id2 = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "My-AD", &weak).await,
        )
        .await;
    assert_eq!(app.wait_terminal(&token, &id2).await["state"], "FAILED");
    let id3 = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "passbroker", &canary)
                .await,
        )
        .await;
    assert_eq!(app.wait_terminal(&token, &id3).await["state"], "FINISHED");
    let dir = app.stop().await;
    let raw_ct =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &ciphertext).unwrap();
    let mut haystack = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let logs = captured_logs();
    for needle in [canary.as_bytes(), weak.as_bytes()] {
        assert!(
            !contains(&haystack, needle),
            "plaintext found in the data dir"
        );
        assert!(
            !logs.contains(std::str::from_utf8(needle).unwrap()),
            "plaintext found in the logs"
        );
    }
    assert!(
        !contains(&haystack, &raw_ct[..64]),
        "ciphertext left in the data dir"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn add_simulated_source(app: &TestApp, name: &str, config: &str, delivery: &str) {
    let yaml = format!(
        "sources:\n  - name: {name}\n    features: [PASSWORD]\n    connector: simulated\n    config: {config}\n    delivery: {delivery}\naccounts:\n  - identity: Abby.Smith\n    source: {name}\n    accountId: abby-{name}\n"
    );
    let file =
        passbroker_server::ops::tenant::parse(std::path::Path::new("t.yaml"), &yaml).unwrap();
    let s = &app.state;
    passbroker_server::ops::tenant::apply(
        s.store.as_ref(),
        &s.secrets,
        &s.config.data_dir,
        file,
        s.clock.now(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn transient_target_errors_are_retried_with_backoff_then_fail_with_the_reason() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    add_simulated_source(
        &app,
        "Flaky",
        "{failureRate: 1.0, transientFailures: true, failureMessage: \"connection refused\"}",
        "{maxAttempts: 3, maxConcurrency: 2, timeoutMs: 1000}",
    )
    .await;
    let token = app.token().await;
    let id = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "Flaky", "Corr3ct-Horse")
                .await,
        )
        .await;
    let worker = Worker::new(app.state.clone(), "w");
    assert!(
        matches!(worker.try_run_once().await.unwrap(), Outcome::Progressed(_)),
        "attempt 1 fails, retry scheduled"
    );
    assert_eq!(
        worker.try_run_once().await.unwrap(),
        Outcome::Idle,
        "backing off"
    );
    app.state.clock.advance(1_000);
    assert!(
        matches!(worker.try_run_once().await.unwrap(), Outcome::Progressed(_)),
        "attempt 2"
    );
    app.state.clock.advance(1_000);
    assert_eq!(
        worker.try_run_once().await.unwrap(),
        Outcome::Idle,
        "the second backoff is longer"
    );
    app.state.clock.advance(1_000);
    assert!(
        matches!(
            worker.try_run_once().await.unwrap(),
            Outcome::Finished(_, _)
        ),
        "attempt 3 is the last"
    );
    let status: Value = app
        .get(&format!("/v3/password-change-status/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "FAILED");
    let errors = status["errors"].to_string();
    assert!(
        errors.contains("Flaky: connection refused (gave up after 3 attempts)"),
        "{errors}"
    );
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_without_retries() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    add_simulated_source(
        &app,
        "Strict",
        "{failureRate: 1.0, failureMessage: \"password in history\"}",
        "{maxAttempts: 5}",
    )
    .await;
    let token = app.token().await;
    let id = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "Strict", "Corr3ct-Horse")
                .await,
        )
        .await;
    let worker = Worker::new(app.state.clone(), "w");
    assert!(matches!(
        worker.try_run_once().await.unwrap(),
        Outcome::Finished(_, _)
    ));
    let status: Value = app
        .get(&format!("/v3/password-change-status/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["errors"], json!(["Strict: password in history"]));
}

#[tokio::test]
async fn a_request_past_its_deadline_fails_with_a_reason() {
    let app = spawn_app_with(Options {
        workers: false,
        env: vec![("PASSBROKER_REQUEST_DEADLINE_SECS".into(), "5".into())],
    })
    .await;
    add_simulated_source(
        &app,
        "Down",
        "{failureRate: 1.0, transientFailures: true, failureMessage: \"host unreachable\"}",
        "{maxAttempts: 100}",
    )
    .await;
    let token = app.token().await;
    let id = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "Down", "Corr3ct-Horse")
                .await,
        )
        .await;
    let worker = Worker::new(app.state.clone(), "w");
    let mut finished = false;
    for _ in 0..20 {
        app.state.clock.advance(1_000);
        if let Outcome::Finished(_, state) = worker.try_run_once().await.unwrap() {
            assert_eq!(state.as_str(), "FAILED");
            finished = true;
            break;
        }
    }
    assert!(finished, "the deadline must end the request");
    let status: Value = app
        .get(&format!("/v3/password-change-status/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    let errors = status["errors"].to_string();
    assert!(
        errors.contains("5-second deadline") && errors.contains("host unreachable"),
        "{errors}"
    );
}

#[tokio::test]
async fn audit_events_page_through_the_api() {
    let app = spawn_app().await;
    let token = app.token().await;
    let id = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
                .await,
        )
        .await;
    app.wait_terminal(&token, &id).await;
    let r = app
        .get(
            &format!("/passbroker/v1/audit-events?requestId={id}&count=true&limit=2"),
            &token,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-total-count"], "3");
    let page: Value = r.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0]["action"], "PASSWORD_CHANGE_REQUESTED");
    let rest: Value = app
        .get(
            &format!("/passbroker/v1/audit-events?requestId={id}&offset=2"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest[0]["action"], "PASSWORD_CHANGE_FINISHED");
    assert!(!rest.to_string().contains("Corr3ct"));
}
