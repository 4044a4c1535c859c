//! Password sync groups: CRUD, the rules of a group, and the fan-out of one set-password to
//! the identity's accounts on every member source (builtin and simulated).

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn policy(app: &TestApp, admin: &str, body: Value) -> String {
    let (s, p) = call(
        app,
        Method::POST,
        "/v3/password-policies",
        admin,
        Some(&body),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

/// Adds a simulated source with the PASSWORD feature and an account of Abby on it.
async fn simulated_source(app: &TestApp, admin: &str, name: &str, config: Value) -> String {
    let (s, src) = call(app, Method::POST, "/v3/sources", admin, Some(&json!({"name": name, "connector": "simulated", "features": ["PASSWORD"], "connectorAttributes": config}))).await;
    assert_eq!(s, 201, "{src}");
    let abby = app.abby().await;
    let body = json!({"identityId": abby.identity.id.to_string(), "sourceId": src["id"], "nativeIdentity": format!("abby@{name}")});
    let (s, a) = call(
        app,
        Method::POST,
        "/passbroker/v1/accounts",
        admin,
        Some(&body),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    src["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn crud_and_the_rules_of_a_group() {
    let app = spawn_app().await;
    without_demo_sync_group(&app).await;
    let admin = admin_token(&app).await;
    let pid = policy(&app, &admin, json!({"name": "Sync"})).await;
    let (ad, builtin) = (
        source_id(&app, "My-AD").await,
        source_id(&app, "passbroker").await,
    );
    let (s, g) = call(
        &app,
        Method::POST,
        "/password-sync-groups/v1",
        &admin,
        Some(&json!({"name": "G1", "passwordPolicyId": pid, "sourceIds": [ad, builtin]})),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let id = g["id"].as_str().unwrap().to_owned();
    assert_eq!(g["sourceIds"], json!([ad, builtin]));
    assert!(g["created"].as_str().is_some() && g["modified"].as_str().is_some());
    let (s, got) = call(
        &app,
        Method::GET,
        &format!("/v2025/password-sync-groups/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!((s, &got), (200, &g));
    let r = app
        .http
        .get(app.url("/beta/password-sync-groups?count=true"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    let (s, u) = call(
        &app,
        Method::PUT,
        &format!("/v3/password-sync-groups/{id}"),
        &admin,
        Some(&json!({"name": "G1 renamed", "passwordPolicyId": pid, "sourceIds": [builtin, ad]})),
    )
    .await;
    assert_eq!((s, &u["name"]), (200, &json!("G1 renamed")), "{u}");
    // A second group may not take a member of the first.
    let third = simulated_source(&app, &admin, "Third", json!({})).await;
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-sync-groups",
        &admin,
        Some(&json!({"name": "G2", "passwordPolicyId": pid, "sourceIds": [third, ad]})),
    )
    .await;
    assert_400(s, &body, &["sourceIds[1]", "at most one group"]);
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v2024/password-sync-groups/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v3/password-sync-groups/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn bad_groups_get_400_with_causes_and_change_nothing() {
    let app = spawn_app().await;
    without_demo_sync_group(&app).await;
    let admin = admin_token(&app).await;
    let ad = source_id(&app, "My-AD").await;
    let unknown = "0123456789abcdef0123456789abcdef";
    let (s, body) = call(&app, Method::POST, "/v3/password-sync-groups", &admin, Some(&json!({"name": "G", "passwordPolicyId": unknown, "sourceIds": [ad, source_id(&app, "passbroker").await]}))).await;
    assert_400(
        s,
        &body,
        &[&format!(
            "passwordPolicyId: no password policy \"{unknown}\""
        )],
    );
    let pid = policy(&app, &admin, json!({"name": "P"})).await;
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-sync-groups",
        &admin,
        Some(&json!({"name": "G", "passwordPolicyId": pid, "sourceIds": [ad]})),
    )
    .await;
    assert_400(s, &body, &["at least 2 sources"]);
    let (_, plain) = call(
        &app,
        Method::POST,
        "/v3/sources",
        &admin,
        Some(
            &json!({"name": "NoPassword", "connector": "simulated", "features": ["AUTHENTICATE"]}),
        ),
    )
    .await;
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-sync-groups",
        &admin,
        Some(
            &json!({"name": "G", "passwordPolicyId": pid, "sourceIds": [ad, plain["id"], unknown]}),
        ),
    )
    .await;
    assert_400(
        s,
        &body,
        &[
            "sourceIds[1]",
            "PASSWORD feature",
            "sourceIds[2]: no source",
        ],
    );
    let (s, list) = call(&app, Method::GET, "/v3/password-sync-groups", &admin, None).await;
    assert_eq!((s, list), (200, json!([])), "nothing was created");
}

#[tokio::test]
async fn one_set_password_changes_every_member_source() {
    let app = spawn_app().await;
    without_demo_sync_group(&app).await;
    let admin = admin_token(&app).await;
    let api = app.token().await;
    let pid = policy(
        &app,
        &admin,
        json!({"name": "Group", "minLength": 12, "minNumeric": 1}),
    )
    .await;
    let (ad, builtin) = (
        source_id(&app, "My-AD").await,
        source_id(&app, "passbroker").await,
    );
    let extra = simulated_source(&app, &admin, "Mainframe", json!({"latencyMs": 1})).await;
    let (s, g) = call(&app, Method::POST, "/v3/password-sync-groups", &admin, Some(&json!({"name": "Everything", "passwordPolicyId": pid, "sourceIds": [ad, builtin, extra]}))).await;
    assert_eq!(s, 200, "{g}");
    // query-password-info shows the group's policy.
    let info = app.query_info(&api, "Abby.Smith", "My-AD").await;
    assert!(
        info["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("passwordMinLength is 12")),
        "{info}"
    );

    let body = app
        .change_body(&api, "Abby.Smith", "My-AD", "Correct-Horse-42")
        .await;
    let id = app.set_password(&api, &body).await;
    let status = app.wait_terminal(&api, &id).await;
    assert_eq!(status["state"], "FINISHED", "{status}");
    let mut touched: Vec<String> = status["sourceIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    touched.sort();
    let mut expected = vec![ad.clone(), builtin.clone(), extra.clone()];
    expected.sort();
    assert_eq!(touched, expected, "every member source");
    // The builtin source really changed: Abby's login password is the new one.
    let abby = app.abby().await;
    let hash = app
        .state
        .store
        .get_builtin_credential(&abby.identity.id)
        .await
        .unwrap()
        .expect("a builtin credential");
    assert!(passbroker_crypto::password_hash::verify(
        b"Correct-Horse-42",
        &hash
    ));

    // A password the group's policy refuses fails the whole request; nothing is set.
    let body = app
        .change_body(&api, "Abby.Smith", "passbroker", "short")
        .await;
    let id = app.set_password(&api, &body).await;
    let status = app.wait_terminal(&api, &id).await;
    assert_eq!(status["state"], "FAILED", "{status}");
    assert_eq!(status["sourceIds"].as_array().unwrap().len(), 3, "{status}");
    let errors = status["errors"].to_string();
    assert!(errors.contains("12"), "names the length rule: {errors}");
    let hash = app
        .state
        .store
        .get_builtin_credential(&abby.identity.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        passbroker_crypto::password_hash::verify(b"Correct-Horse-42", &hash),
        "unchanged"
    );
}

#[tokio::test]
async fn a_failing_member_source_is_reported_per_source() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let api = app.token().await;
    let pid = policy(&app, &admin, json!({"name": "Group"})).await;
    let broken = simulated_source(
        &app,
        &admin,
        "Broken",
        json!({"failureRate": 1.0, "failureMessage": "account locked on the target"}),
    )
    .await;
    let ad = source_id(&app, "My-AD").await;
    let (s, _) = call(
        &app,
        Method::POST,
        "/v3/password-sync-groups",
        &admin,
        Some(&json!({"name": "G", "passwordPolicyId": pid, "sourceIds": [ad, broken]})),
    )
    .await;
    assert_eq!(s, 200);
    let body = app
        .change_body(&api, "Abby.Smith", "My-AD", "Another-Good-Pass-7")
        .await;
    let id = app.set_password(&api, &body).await;
    let status = app.wait_terminal(&api, &id).await;
    assert_eq!(status["state"], "FAILED", "{status}");
    assert_eq!(status["sourceIds"].as_array().unwrap().len(), 2);
    let errors: Vec<&str> = status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("Broken:") && e.contains("account locked")),
        "{errors:?}"
    );
    assert!(
        !errors.iter().any(|e| e.starts_with("My-AD:")),
        "My-AD succeeded: {errors:?}"
    );
}

/// A step calls every target at once and records each outcome as it comes: a fast target's
/// success is stored while a slow target of the same request is still being called.
#[tokio::test]
async fn a_fast_targets_success_is_recorded_while_a_slow_one_is_still_out() {
    use passbroker_core::request::{RequestState, TaskState};
    let app = spawn_app().await;
    without_demo_sync_group(&app).await;
    let admin = admin_token(&app).await;
    let api = app.token().await;
    let pid = policy(&app, &admin, json!({"name": "Group"})).await;
    let slow = simulated_source(&app, &admin, "Slow", json!({"latencyMs": 1500})).await;
    let ad = source_id(&app, "My-AD").await;
    let (s, g) = call(
        &app,
        Method::POST,
        "/v3/password-sync-groups",
        &admin,
        Some(&json!({"name": "G", "passwordPolicyId": pid, "sourceIds": [ad, slow]})),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let body = app
        .change_body(&api, "Abby.Smith", "My-AD", "Another-Good-Pass-7")
        .await;
    let id = app.set_password(&api, &body).await;
    let rid = passbroker_core::RequestId::parse(&id).unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_millis(1200);
    loop {
        let (request, tasks) = app
            .state
            .store
            .request_with_tasks(&rid)
            .await
            .unwrap()
            .unwrap();
        let done = |source: &str, state: TaskState| {
            tasks
                .iter()
                .any(|t| t.source_id.as_str() == source && t.state == state)
        };
        if done(&ad, TaskState::Succeeded) {
            assert_eq!(
                request.state,
                RequestState::InProgress,
                "the slow call is out"
            );
            assert!(done(&slow, TaskState::Pending), "{tasks:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "My-AD's success was not recorded while the slow target was being called: {tasks:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = app.wait_terminal(&api, &id).await;
    assert_eq!(status["state"], "FINISHED", "{status}");
}
