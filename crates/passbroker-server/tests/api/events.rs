//! Events end to end: subscriptions through ISC's trigger API, deliveries to a real receiver
//! that verifies each with `standardwebhooks` and parses it with the CloudEvents SDK,
//! receivers that fail, hang or are down, dead letters and replay.

use crate::admin_helpers::{call, cause_texts};
use crate::helpers::*;
use crate::webhooks::{types_for, Receiver};
use reqwest::Method;
use serde_json::{json, Value};

const MANAGE: &str = "sp:trigger-service-subscriptions:manage";
const STRONG: &str = "Tq7#vLm2@pZx9!Rw";

/// An app whose dispatcher retries fast (tests wait on it by polling, never by sleeping).
async fn app_with(max_attempts: u32) -> TestApp {
    spawn_app_with(Options {
        env: vec![
            ("PASSBROKER_EVENTS_BACKOFF_MS".into(), "20".into()),
            ("PASSBROKER_EVENTS_TIMEOUT_SECS".into(), "1".into()),
            ("PASSBROKER_EVENTS_POLL_INTERVAL_MS".into(), "50".into()),
            (
                "PASSBROKER_EVENTS_MAX_ATTEMPTS".into(),
                max_attempts.to_string(),
            ),
        ],
        ..Default::default()
    })
    .await
}

fn subscription(url: &str) -> Value {
    json!({
        "name": "SIEM",
        "triggerId": "passbroker:all",
        "type": "HTTP",
        "httpConfig": {
            "url": url,
            "httpDispatchMode": "SYNC",
            "httpAuthenticationType": "BEARER_TOKEN",
            "bearerTokenAuthConfig": {"bearerToken": "receiver-token-1"}
        },
        "enabled": true
    })
}

/// Creates a subscription for the receiver and tells it the signing secret.
async fn subscribe(app: &TestApp, receiver: &Receiver, token: &str) -> Value {
    let r = app
        .post_json(
            "/beta/trigger-subscriptions",
            token,
            &subscription(&receiver.url()),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let secret = created["signingSecret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.set_secret(secret);
    created
}

fn assert_in_order(types: &[String], last: &str) {
    assert_eq!(
        types.first().map(String::as_str),
        Some("passbroker.password.change.accepted"),
        "{types:?}"
    );
    assert_eq!(types.last().map(String::as_str), Some(last), "{types:?}");
    for t in &types[1..types.len() - 1] {
        assert!(
            t.starts_with("passbroker.password.change.target.")
                || t.starts_with("passbroker.password.change.failed")
                || t == "passbroker.password.policy.rejected",
            "{types:?}"
        );
    }
}

#[tokio::test]
async fn events_are_signed_cloudevents_delivered_in_order_per_request() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app = app_with(8).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    subscribe(&app, &receiver, &admin).await;
    let token = app.token().await;
    let ok_body = app.change_body(&token, "Abby.Smith", "My-AD", STRONG).await;
    let ok = app.set_password(&token, &ok_body).await;
    let weak_body = app.change_body(&token, "Abby.Smith", "My-AD", "aaaa").await;
    let weak = app.set_password(&token, &weak_body).await;
    assert_eq!(app.wait_terminal(&token, &ok).await["state"], "FINISHED");
    assert_eq!(app.wait_terminal(&token, &weak).await["state"], "FAILED");

    let got = receiver
        .wait_for(20, |d| {
            types_for(d, &ok).last().map(String::as_str)
                == Some("passbroker.password.change.finished")
                && types_for(d, &weak).contains(&"passbroker.password.policy.rejected".to_owned())
        })
        .await;
    for d in &got {
        assert_eq!(d["verified"], true, "standardwebhooks refused: {d}");
        assert_eq!(d["contentType"], "application/cloudevents+json");
        assert_eq!(d["authorization"], "Bearer receiver-token-1");
        assert_eq!(d["event"]["specversion"], "1.0");
        assert_eq!(d["event"]["source"], "/passbroker");
        assert_eq!(d["event"]["datacontenttype"], "application/json");
        assert_eq!(d["webhookId"], d["event"]["id"]);
        assert!(d["event"]["time"].as_str().is_some_and(|t| t.contains('T')));
    }
    let ok_types = types_for(&got, &ok);
    assert_in_order(&ok_types, "passbroker.password.change.finished");
    assert!(ok_types.contains(&"passbroker.password.change.target.succeeded".to_owned()));
    let weak_types = types_for(&got, &weak);
    assert_eq!(
        weak_types.last().map(String::as_str),
        Some("passbroker.password.policy.rejected")
    );
    assert!(weak_types.contains(&"passbroker.password.change.failed".to_owned()));
    let failed = got
        .iter()
        .find(|d| d["event"]["type"] == "passbroker.password.change.failed")
        .unwrap();
    assert!(
        failed["data"]["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "the failed rules are named: {failed}"
    );
    // Ids and outcomes only: neither password nor ciphertext reaches a receiver.
    let raw = std::fs::read_to_string(receiver.dir.path().join("deliveries.jsonl")).unwrap();
    for secret in [
        STRONG,
        "aaaa\"",
        ok_body["encryptedPassword"].as_str().unwrap(),
    ] {
        assert!(!raw.contains(secret), "{secret} reached the receiver");
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("passbroker_event_deliveries_total ") && !l.ends_with(" 0")),
        "{text}"
    );
    assert!(text.contains("passbroker_event_delivery_lag_seconds_bucket"));
}

#[tokio::test]
async fn events_subscriptions_follow_iscs_trigger_api() {
    let app = app_with(8).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    let reader = app
        .token_with_scopes(&["sp:trigger-service-subscriptions:read"])
        .await;
    let (s, triggers) = call(&app, Method::GET, "/beta/triggers", &reader, None).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = triggers
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"passbroker:password-change-finished"),
        "{ids:?}"
    );
    assert_eq!(triggers[0]["type"], "FIRE_AND_FORGET");
    assert!(triggers[0]["inputSchema"].as_str().is_some());

    let body = subscription("http://127.0.0.1:9/hook");
    let (s, e) = call(
        &app,
        Method::POST,
        "/beta/trigger-subscriptions",
        &reader,
        Some(&body),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    let (s, created) = call(
        &app,
        Method::POST,
        "/beta/trigger-subscriptions",
        &admin,
        Some(&body),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["triggerName"], "Every event");
    assert_eq!(
        created["httpConfig"]["bearerTokenAuthConfig"]["bearerToken"],
        Value::Null,
        "credentials are never shown"
    );
    let path = format!("/beta/trigger-subscriptions/{id}");
    let (s, got) = call(&app, Method::GET, &path, &reader, None).await;
    assert_eq!(s, 200);
    assert!(
        got.get("signingSecret").is_none(),
        "the secret is shown once"
    );
    let (s, list) = call(
        &app,
        Method::GET,
        "/beta/trigger-subscriptions?filters=triggerId%20eq%20%22passbroker%3Aall%22",
        &reader,
        None,
    )
    .await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)));

    let mut put = got.clone();
    put["name"] = json!("SIEM 2");
    put["filter"] = json!("$[?($.outcome == \"FAILED\")]");
    let (s, updated) = call(&app, Method::PUT, &path, &admin, Some(&put)).await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["name"], "SIEM 2");
    let r = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("content-type", "application/json-patch+json")
        .body(r#"[{"op":"replace","path":"/enabled","value":false}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], false);

    for (bad, why) in [
        (json!({"filter": "$[?($.outcome == )]"}), "filter"),
        (json!({"triggerId": "idn:nothing"}), "triggerId"),
        (
            json!({"httpConfig": {"url": "ftp://x", "httpDispatchMode": "SYNC"}}),
            "httpConfig.url",
        ),
        (json!({"type": "EVENTBRIDGE"}), "type"),
    ] {
        let mut b = subscription("http://127.0.0.1:9/hook");
        for (k, v) in bad.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (s, e) = call(
            &app,
            Method::POST,
            "/beta/trigger-subscriptions",
            &admin,
            Some(&b),
        )
        .await;
        assert_eq!(s, 400, "{why}: {e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    let (s, e) = call(
        &app,
        Method::GET,
        "/v2025/trigger-subscriptions",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 400, "experimental without the header: {e}");
    let r = app
        .http
        .get(app.url("/v2025/trigger-subscriptions"))
        .bearer_auth(&admin)
        .header("X-SailPoint-Experimental", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let rotated = format!("/passbroker/v1/trigger-subscriptions/{id}/rotate-secret");
    let (s, r) = call(&app, Method::POST, &rotated, &admin, None).await;
    assert_eq!(s, 200, "{r}");
    assert!(r["signingSecret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(r["signingSecret"], created["signingSecret"]);

    let (s, _) = call(&app, Method::DELETE, &path, &admin, None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&app, Method::GET, &path, &admin, None).await;
    assert_eq!(s, 404);
}

/// A receiver that answers 500, then hangs, then is down: the events arrive once it
/// recovers, in order for their request, each with one `webhook-id` however often it was
/// sent.
#[tokio::test]
async fn events_arrive_in_order_after_a_receiver_fails_hangs_and_is_down() {
    let Some(mut receiver) = Receiver::start().await else {
        return;
    };
    receiver.set_mode("500");
    let app = app_with(30).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    subscribe(&app, &receiver, &admin).await;
    let token = app.token().await;
    let body = app.change_body(&token, "Abby.Smith", "My-AD", STRONG).await;
    let id = app.set_password(&token, &body).await;
    assert_eq!(app.wait_terminal(&token, &id).await["state"], "FINISHED");
    receiver
        .wait_for(20, |d| {
            d.iter().filter(|x| x["answered"] == 500).count() >= 2
        })
        .await;
    receiver.set_mode("hang");
    receiver
        .wait_for(20, |d| d.iter().any(|x| x["answered"] == "hang"))
        .await;
    receiver.stop().await;
    let before = receiver.deliveries().len();
    receiver.set_mode("ok");
    receiver.restart().await;
    let got = receiver
        .wait_for(30, |d| {
            types_for(d, &id).last().map(String::as_str)
                == Some("passbroker.password.change.finished")
        })
        .await;
    assert!(got.len() > before);
    let types = types_for(&got, &id);
    assert_in_order(&types, "passbroker.password.change.finished");
    // Nothing after the first event was sent before the first was acknowledged.
    let first_ok = got.iter().position(|d| d["answered"] == 204).unwrap();
    let first_id = &got[first_ok]["webhookId"];
    assert!(got[..first_ok].iter().all(|d| &d["webhookId"] == first_id));
    assert!(got.iter().all(|d| d["verified"] == true));
}

#[tokio::test]
async fn events_dead_lettered_after_the_attempt_limit_are_replayed_on_request() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    receiver.set_mode("500");
    let app = app_with(2).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    let created = subscribe(&app, &receiver, &admin).await;
    let sub = created["id"].as_str().unwrap();
    let token = app.token().await;
    let body = app.change_body(&token, "Abby.Smith", "My-AD", STRONG).await;
    let id = app.set_password(&token, &body).await;
    assert_eq!(app.wait_terminal(&token, &id).await["state"], "FINISHED");
    let letters_path = format!("/passbroker/v1/trigger-subscriptions/{sub}/dead-letters");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let letters = loop {
        let (s, v) = call(&app, Method::GET, &letters_path, &admin, None).await;
        assert_eq!(s, 200);
        let dead = v["deadLetters"].as_array().cloned().unwrap_or_default();
        if dead
            .iter()
            .any(|l| l["type"] == "passbroker.password.change.finished")
        {
            break dead;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not dead-lettered: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(letters.iter().all(|l| l["attempts"] == 2), "{letters:?}");
    let tried = receiver.deliveries();
    assert!(tried.iter().all(|d| d["answered"] == 500));
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text
        .lines()
        .any(|l| l.starts_with("passbroker_event_dead_letters_total ") && !l.ends_with(" 0")));

    receiver.set_mode("ok");
    let replay = format!("/passbroker/v1/trigger-subscriptions/{sub}/replay");
    let (s, r) = call(&app, Method::POST, &replay, &admin, None).await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["replayed"].as_u64(), Some(letters.len() as u64));
    let got = receiver
        .wait_for(20, |d| {
            types_for(d, &id).last().map(String::as_str)
                == Some("passbroker.password.change.finished")
        })
        .await;
    let replayed: Vec<&Value> = got.iter().filter(|d| d["answered"] == 204).collect();
    assert_eq!(replayed.len(), letters.len());
    for d in replayed {
        assert_eq!(d["verified"], true);
        assert!(
            tried.iter().any(|t| t["webhookId"] == d["webhookId"]),
            "a replay keeps the event's webhook-id"
        );
    }
    let (_, v) = call(&app, Method::GET, &letters_path, &admin, None).await;
    assert_eq!(v["deadLetters"], json!([]));
}

/// The official SailPoint Python SDK (1.x, its beta `TriggersApi`, unmodified) creates,
/// lists, updates and deletes a subscription (`conformance/triggers_sdk_py.py`). The SDK's
/// venv is made by `scripts/conformance.sh` (`CONF_SETUP_ONLY=1 CONF_SUITES=py1`).
#[tokio::test]
async fn events_the_sailpoint_python_sdk_manages_trigger_subscriptions() {
    let python = std::path::Path::new("/opt/passbroker-venvs/sdk1/bin/python");
    let has_sdk = std::process::Command::new(python)
        .args(["-c", "import sailpoint.beta.api.triggers_api"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        let msg = "SKIP: no SailPoint Python SDK in /opt/passbroker-venvs/sdk1 (run CONF_SETUP_ONLY=1 CONF_SUITES=py1 scripts/conformance.sh)";
        assert!(
            std::env::var("PASSBROKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{msg}"
        );
        eprintln!("\n*** {msg} ***\n");
        return;
    }
    let app = app_with(8).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../conformance/triggers_sdk_py.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("SAIL_BASE_URL", &app.address)
        .env("SAIL_CLIENT_ID", &app.demo.client_id)
        .env("SAIL_CLIENT_SECRET", &app.demo.client_secret)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("4 passed, 0 failed"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two nodes on one PostgreSQL database, both dispatching: every event reaches the receiver
/// exactly once (in this run nothing fails, so nothing is repeated), in order per request,
/// whichever node accepted the change.
#[tokio::test]
async fn events_two_nodes_on_postgresql_deliver_each_event_once() {
    let Some(url) = crate::two_node::pg::fresh_database().await else {
        return;
    };
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let key = passbroker_crypto::MasterKey::generate()
        .to_base64()
        .to_string();
    let env: Vec<(String, String)> = vec![
        ("PASSBROKER_DATABASE_URL".into(), url),
        ("PASSBROKER_MASTER_KEY".into(), key),
        ("PASSBROKER_DATABASE_MAX_CONNECTIONS".into(), "8".into()),
        ("PASSBROKER_EVENTS_POLL_INTERVAL_MS".into(), "50".into()),
        ("PASSBROKER_EVENTS_BACKOFF_MS".into(), "20".into()),
    ];
    let a = spawn_app_with(Options {
        env: env.clone(),
        ..Default::default()
    })
    .await;
    let b = spawn_app_with(Options {
        env,
        ..Default::default()
    })
    .await;
    let admin = a.token_with_scopes(&[MANAGE]).await;
    subscribe(&a, &receiver, &admin).await;
    let token = a.token().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        let body = node
            .change_body(&token, "Abby.Smith", "My-AD", STRONG)
            .await;
        ids.push(node.set_password(&token, &body).await);
    }
    for id in &ids {
        assert_eq!(a.wait_terminal(&token, id).await["state"], "FINISHED");
    }
    let got = receiver
        .wait_for(30, |d| {
            ids.iter().all(|id| {
                types_for(d, id).last().map(String::as_str)
                    == Some("passbroker.password.change.finished")
            })
        })
        .await;
    let mut seen = std::collections::HashSet::new();
    for d in &got {
        assert_eq!(d["verified"], true);
        assert!(
            seen.insert(d["webhookId"].as_str().unwrap().to_owned()),
            "delivered twice: {d}"
        );
    }
    for id in &ids {
        assert_in_order(&types_for(&got, id), "passbroker.password.change.finished");
    }
}

/// After a rotation the new secret signs, and the old one too (a second signature) for a
/// day, so a receiver still holding the old secret keeps verifying while it switches.
#[tokio::test]
async fn events_a_rotated_secret_signs_alongside_the_old_one() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app = app_with(8).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    let created = subscribe(&app, &receiver, &admin).await;
    let old = created["signingSecret"].as_str().unwrap().to_owned();
    let rotate = format!(
        "/passbroker/v1/trigger-subscriptions/{}/rotate-secret",
        created["id"].as_str().unwrap()
    );
    let (s, r) = call(&app, Method::POST, &rotate, &admin, None).await;
    assert_eq!(s, 200);
    let new = r["signingSecret"].as_str().unwrap().to_owned();
    let token = app.token().await;
    for secret in [&old, &new] {
        receiver.set_secret(secret);
        let body = app.change_body(&token, "Abby.Smith", "My-AD", STRONG).await;
        let id = app.set_password(&token, &body).await;
        let got = receiver
            .wait_for(20, |d| {
                types_for(d, &id).last().map(String::as_str)
                    == Some("passbroker.password.change.finished")
            })
            .await;
        let mine: Vec<&Value> = got
            .iter()
            .filter(|d| d["event"]["subject"] == id.as_str())
            .collect();
        assert!(
            mine.iter().all(|d| d["verified"] == true),
            "a receiver with the {} secret verifies: {mine:?}",
            if secret == &old { "old" } else { "new" }
        );
    }
    receiver.set_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = app.change_body(&token, "Abby.Smith", "My-AD", STRONG).await;
    let id = app.set_password(&token, &body).await;
    let got = receiver
        .wait_for(20, |d| !types_for(d, &id).is_empty())
        .await;
    assert!(
        got.iter()
            .filter(|d| d["event"]["subject"] == id.as_str())
            .all(|d| d["verified"] == false),
        "another secret does not verify"
    );
}

/// A subscription's JSONPath filter decides which events it receives.
#[tokio::test]
async fn events_a_subscription_filter_selects_what_is_delivered() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app = app_with(8).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    let mut body = subscription(&receiver.url());
    body["filter"] = json!("$[?($.outcome == \"FAILED\")]");
    let (s, created) = call(
        &app,
        Method::POST,
        "/beta/trigger-subscriptions",
        &admin,
        Some(&body),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    receiver.set_secret(created["signingSecret"].as_str().unwrap());
    let token = app.token().await;
    let mut ids = Vec::new();
    for password in [STRONG, "aaaa", "bbbb"] {
        let b = app
            .change_body(&token, "Abby.Smith", "My-AD", password)
            .await;
        let id = app.set_password(&token, &b).await;
        app.wait_terminal(&token, &id).await;
        let expected = password != STRONG;
        if expected {
            receiver
                .wait_for(20, |d| {
                    types_for(d, &id).contains(&"passbroker.password.policy.rejected".to_owned())
                })
                .await;
        }
        ids.push(id);
    }
    let got = receiver.deliveries();
    assert!(
        types_for(&got, &ids[0]).is_empty(),
        "a FINISHED change is filtered out"
    );
    for id in &ids[1..] {
        assert_eq!(
            types_for(&got, id),
            [
                "passbroker.password.change.target.failed",
                "passbroker.password.change.failed",
                "passbroker.password.policy.rejected"
            ],
            "only the events whose data has outcome FAILED"
        );
    }
}

/// Malformed subscription bodies are 400 (or 415) with a cause, never a 500.
#[tokio::test]
async fn events_malformed_subscription_bodies_are_refused_with_400() {
    let app = app_with(8).await;
    let admin = app.token_with_scopes(&[MANAGE]).await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/beta/trigger-subscriptions",
        &admin,
        Some(&subscription("http://127.0.0.1:9/hook")),
    )
    .await;
    let path = format!(
        "/beta/trigger-subscriptions/{}",
        created["id"].as_str().unwrap()
    );
    let long = "x".repeat(5000);
    for bad in [
        json!([1, 2]),
        json!("text"),
        json!({"name": 5, "triggerId": "passbroker:all", "type": "HTTP"}),
        json!({"name": "n", "triggerId": "passbroker:all", "type": "HTTP", "httpConfig": "x"}),
        json!({"name": "n", "triggerId": "passbroker:all", "type": "HTTP", "enabled": "yes",
               "httpConfig": {"url": "http://127.0.0.1:9/", "httpDispatchMode": "SYNC"}}),
        json!({"name": long, "triggerId": "passbroker:all", "type": "HTTP",
               "httpConfig": {"url": "http://127.0.0.1:9/", "httpDispatchMode": "SYNC"}}),
        json!({"name": "n", "triggerId": "passbroker:all", "type": "HTTP",
               "httpConfig": {"url": "http://127.0.0.1:9/", "httpDispatchMode": "SYNC",
                              "httpAuthenticationType": "BASIC_AUTH"}}),
        json!({"name": "n", "triggerId": "passbroker:all", "type": "HTTP",
               "httpConfig": {"url": "http://127.0.0.1:9/", "httpDispatchMode": "LATER"}}),
    ] {
        for (method, at) in [
            (Method::POST, "/beta/trigger-subscriptions"),
            (Method::PUT, path.as_str()),
        ] {
            let (s, e) = call(&app, method.clone(), at, &admin, Some(&bad)).await;
            assert_eq!(s, 400, "{method} {bad}: {e}");
            assert!(!cause_texts(&e).is_empty(), "{e}");
        }
    }
    let r = app
        .http
        .post(app.url("/beta/trigger-subscriptions"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (s, e) = call(
        &app,
        Method::PATCH,
        &path,
        &admin,
        Some(&json!({"op": "x"})),
    )
    .await;
    assert_eq!(s, 400, "a patch that is not a list of operations: {e}");
    let replay = format!(
        "/passbroker/v1/trigger-subscriptions/{}/replay?seq=abc",
        created["id"].as_str().unwrap()
    );
    let (s, _) = call(&app, Method::POST, &replay, &admin, None).await;
    assert_eq!(s, 400);
    let (s, _) = call(
        &app,
        Method::GET,
        "/beta/trigger-subscriptions?sorters=name",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 400);
}
