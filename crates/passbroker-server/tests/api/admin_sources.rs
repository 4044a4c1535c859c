//! Sources: ISC's shape, JSON Patch, task-style delete, password-policy holders.

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn patch(app: &TestApp, path: &str, token: &str, ops: Value) -> (u16, Value) {
    let r = app
        .http
        .patch(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn crud_in_isc_shape() {
    let app = spawn_app().await;
    let api = app.token().await;
    let abby = app.abby().await;
    let body = json!({"name": "HR-DB", "description": "HR database", "connector": "simulated", "owner": {"type": "IDENTITY", "id": abby.identity.id.to_string()},
        "features": ["AUTHENTICATE"], "connectorAttributes": {"latencyMs": 2}, "secrets": {"apiKey": "s3cret"}, "cluster": null, "type": "whatever"});
    let (s, src) = call(&app, Method::POST, "/v3/sources", &api, Some(&body)).await;
    assert_eq!(s, 201, "{src}");
    let id = src["id"].as_str().unwrap().to_owned();
    assert_eq!(
        src["owner"],
        json!({"type": "IDENTITY", "id": abby.identity.id.to_string(), "name": "Abby.Smith"})
    );
    assert_eq!(
        (
            src["connector"].as_str(),
            src["connectorAttributes"]["latencyMs"].as_i64()
        ),
        (Some("simulated"), Some(2))
    );
    assert!(
        src.get("secrets").is_none() && !src.to_string().contains("s3cret"),
        "secrets never come back"
    );
    assert_eq!(src["passwordPolicies"], json!([]));
    for path in [
        format!("/beta/sources/{id}"),
        format!("/v2025/sources/{id}"),
        format!("/sources/v1/{id}"),
    ] {
        assert_eq!(
            call(&app, Method::GET, &path, &api, None).await,
            (200, src.clone()),
            "{path}"
        );
    }
    let r = app
        .http
        .get(app.url("/v3/sources?count=true&limit=1&filters=name%20sw%20%22HR%22"))
        .bearer_auth(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    let list: Vec<Value> = r.json().await.unwrap();
    assert_eq!(list[0]["id"], json!(id));
    let (s, all) = call(
        &app,
        Method::GET,
        "/v3/sources?limit=2&offset=1",
        &api,
        None,
    )
    .await;
    assert_eq!(
        (s, all.as_array().unwrap().len()),
        (200, 2),
        "three sources, from the second"
    );
    let (s, body) = call(
        &app,
        Method::GET,
        "/v3/sources?filters=owner%20eq%20%22x%22",
        &api,
        None,
    )
    .await;
    assert_400(s, &body, &["owner"]);
    let mut replaced = src.clone();
    replaced["description"] = json!("replaced");
    let (s, put) = call(
        &app,
        Method::PUT,
        &format!("/v2024/sources/{id}"),
        &api,
        Some(&replaced),
    )
    .await;
    assert_eq!((s, &put["description"]), (200, &json!("replaced")), "{put}");
    let (s, del) = call(
        &app,
        Method::DELETE,
        &format!("/v3/sources/{id}"),
        &api,
        None,
    )
    .await;
    assert_eq!((s, &del["type"]), (202, &json!("TASK_RESULT")), "{del}");
    assert_eq!(
        call(&app, Method::GET, &format!("/v3/sources/{id}"), &api, None)
            .await
            .0,
        404
    );
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/sources",
        &api,
        Some(&json!({"name": "My-AD", "connector": "ldapx", "features": ["FLY"]})),
    )
    .await;
    assert_400(
        s,
        &body,
        &["name: a source named", "connector", "features[0]"],
    );
}

#[tokio::test]
async fn json_patch_changes_features_config_and_policy() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let (_, src) = call(
        &app,
        Method::POST,
        "/v3/sources",
        &admin,
        Some(&json!({"name": "Legacy", "connector": "simulated", "features": ["AUTHENTICATE"]})),
    )
    .await;
    let id = src["id"].as_str().unwrap().to_owned();
    let (_, p) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "Legacy policy"})),
    )
    .await;
    let ops = json!([
        {"op": "add", "path": "/features/-", "value": "PASSWORD"},
        {"op": "replace", "path": "/description", "value": "now with passwords"},
        {"op": "add", "path": "/connectorAttributes/latencyMs", "value": 3},
        {"op": "replace", "path": "/passwordPolicies", "value": [{"type": "PASSWORD_POLICY", "id": p["id"], "name": "Legacy policy"}]},
        {"op": "test", "path": "/name", "value": "Legacy"}
    ]);
    let (s, patched) = patch(&app, &format!("/v3/sources/{id}"), &admin, ops).await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["features"], json!(["AUTHENTICATE", "PASSWORD"]));
    assert_eq!(patched["connectorAttributes"], json!({"latencyMs": 3}));
    assert_eq!(patched["passwordPolicies"][0]["id"], p["id"]);
    let (s, holders) = call(
        &app,
        Method::GET,
        &format!("/v2025/sources/{id}/password-policies"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, &holders[0]["policyName"]),
        (200, &json!("Legacy policy")),
        "{holders}"
    );
    let (s, holders) = call(
        &app,
        Method::PATCH,
        &format!("/v2024/sources/{id}/password-policies"),
        &admin,
        Some(&json!([])),
    )
    .await;
    assert_eq!((s, holders), (200, json!([])));
    let (_, before) = call(
        &app,
        Method::GET,
        &format!("/v3/sources/{id}"),
        &admin,
        None,
    )
    .await;
    // Invalid patches: 400 naming the operation and path, and nothing changes.
    for (ops, needle) in [
        (
            json!([{"op": "replace", "path": "/description", "value": "x"}, {"op": "remove", "path": "/nosuch"}]),
            "operation 1 (remove /nosuch)",
        ),
        (
            json!([{"op": "add", "path": "/features/-", "value": "FLYING"}]),
            "features[2]",
        ),
        (
            json!([{"op": "test", "path": "/name", "value": "Other"}]),
            "operation 0 (test /name)",
        ),
        (
            json!([{"op": "replace", "path": "/id", "value": "0123456789abcdef0123456789abcdef"}]),
            "id: is read-only",
        ),
        (
            json!([{"op": "add", "path": "/connectorAttributes/latencyMs", "value": "slow"}]),
            "connectorAttributes",
        ),
        (json!({"op": "add"}), "JSON array"),
    ] {
        let (s, body) = patch(&app, &format!("/v3/sources/{id}"), &admin, ops).await;
        assert_400(s, &body, &[needle]);
    }
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/v3/sources/{id}"),
            &admin,
            None
        )
        .await
        .1,
        before,
        "unchanged"
    );
    assert_eq!(
        patch(
            &app,
            "/v3/sources/0123456789abcdef0123456789abcdef",
            &admin,
            json!([])
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn a_sync_group_member_cannot_be_deleted() {
    let app = spawn_app().await;
    without_demo_sync_group(&app).await;
    let admin = admin_token(&app).await;
    let (_, p) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "P"})),
    )
    .await;
    let ad = source_id(&app, "My-AD").await;
    let group = json!({"name": "G", "passwordPolicyId": p["id"], "sourceIds": [ad, source_id(&app, "passbroker").await]});
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v3/password-sync-groups",
            &admin,
            Some(&group)
        )
        .await
        .0,
        200
    );
    let (s, body) = call(
        &app,
        Method::DELETE,
        &format!("/v3/sources/{ad}"),
        &admin,
        None,
    )
    .await;
    assert_400(s, &body, &["password sync group"]);
}
