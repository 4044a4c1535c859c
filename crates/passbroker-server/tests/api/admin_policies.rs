//! Password policies: CRUD on every path form, paging, validation, source assignment,
//! protection of policies in use, and who may call what.

use crate::admin_helpers::*;
use crate::helpers::*;
use passbroker_core::identity::UserLevel;
use reqwest::Method;
use serde_json::json;

const EXPERIMENTAL: &[(&str, &str)] = &[("X-SailPoint-Experimental", "true")];

#[tokio::test]
async fn crud_on_every_path_form() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let (s, created) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "Strict", "minLength": 12, "minUpper": 1, "description": "d"})),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["minLength"], 12);
    assert_eq!(created["minCharacterTypes"], -1, "ISC's default");
    assert_eq!(created["passwordExpiration"], 90);
    assert!(
        created["dateCreated"].as_i64().unwrap() > 1_600_000_000_000,
        "epoch milliseconds: {created}"
    );
    assert!(
        created["created"].as_str().unwrap().ends_with('Z'),
        "RFC 3339: {created}"
    );
    assert_eq!(created["sourceIds"], json!([]));
    // ISC marks the v2024, v2025 and v1 forms experimental: they need the header.
    for (path, headers) in [
        (format!("/beta/password-policies/{id}"), &[][..]),
        (format!("/v2024/password-policies/{id}"), EXPERIMENTAL),
        (format!("/password-policies/v1/{id}"), EXPERIMENTAL),
    ] {
        let (s, got) = call_with(&app, Method::GET, &path, &admin, None, headers).await;
        assert_eq!((s, &got["name"]), (200, &json!("Strict")), "{path}");
    }
    let mut changed = created.clone();
    changed["minLength"] = json!(14);
    changed["name"] = json!("Stricter");
    let (s, updated) = call_with(
        &app,
        Method::PUT,
        &format!("/v2025/password-policies/{id}"),
        &admin,
        Some(&changed),
        EXPERIMENTAL,
    )
    .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(
        (updated["minLength"].as_i64(), updated["name"].as_str()),
        (Some(14), Some("Stricter"))
    );
    assert_eq!(updated["dateCreated"], created["dateCreated"]);
    let (s, _) = call_with(
        &app,
        Method::DELETE,
        &format!("/password-policies/v1/{id}"),
        &admin,
        None,
        EXPERIMENTAL,
    )
    .await;
    assert_eq!(s, 204);
    for method in [Method::GET, Method::DELETE] {
        let (s, body) = call(
            &app,
            method,
            &format!("/v3/password-policies/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 404, "{body}");
    }
    let (s, _) = call(
        &app,
        Method::PUT,
        "/v3/password-policies/0123456789abcdef0123456789abcdef",
        &admin,
        Some(&json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn lists_page_with_a_total_count() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for n in 0..4 {
        let (s, _) = call(
            &app,
            Method::POST,
            "/v3/password-policies",
            &admin,
            Some(&json!({"name": format!("P{n}")})),
        )
        .await;
        assert_eq!(s, 200);
    }
    let r = app
        .http
        .get(app.url("/v3/password-policies?limit=2&offset=1&count=true"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-total-count"],
        "5",
        "the demo's default policy and four more"
    );
    let page: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(
        page.iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["P0", "P1"]
    );
    let r = app
        .http
        .get(app.url("/password-policies/v1?limit=2"))
        .bearer_auth(&admin)
        .header("X-SailPoint-Experimental", "true")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("x-total-count").is_none(),
        "only with count=true"
    );
    let (s, body) = call(
        &app,
        Method::GET,
        "/v3/password-policies?limit=251",
        &admin,
        None,
    )
    .await;
    assert_400(s, &body, &["limit"]);
}

#[tokio::test]
async fn impossible_values_are_refused_with_every_cause_and_change_nothing() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let bad = json!({"name": "Bad", "minLength": 20, "maxLength": 10, "minCharacterTypes": 7, "maxRepeatedChars": 0, "sourceIds": ["0123456789abcdef0123456789abcdef"]});
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&bad),
    )
    .await;
    assert_400(
        s,
        &body,
        &[
            "maxLength",
            "minCharacterTypes",
            "maxRepeatedChars",
            "sourceIds[0]",
        ],
    );
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "Default Policy"})),
    )
    .await;
    assert_400(s, &body, &["name: a password policy named"]);
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "T", "minLenght": 3})),
    )
    .await;
    assert_400(s, &body, &["minLenght"]);
    let (_, list) = call(&app, Method::GET, "/v3/password-policies", &admin, None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "nothing was created: {list}"
    );
}

#[tokio::test]
async fn assigning_source_ids_moves_the_sources() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let ad = source_id(&app, "My-AD").await;
    let (s, p) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "AD", "minLength": 15, "sourceIds": [ad]})),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["sourceIds"], json!([ad]));
    let (_, list) = call(&app, Method::GET, "/v3/password-policies", &admin, None).await;
    let default = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Default Policy")
        .unwrap();
    assert!(
        !default["sourceIds"]
            .as_array()
            .unwrap()
            .contains(&json!(ad)),
        "moved away from the default policy"
    );
    let api = app.token().await;
    let info = app.query_info(&api, "Abby.Smith", "My-AD").await;
    assert!(
        info["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("passwordMinLength is 15")),
        "{info}"
    );
    // PUT with an empty list hands the source back to the org default.
    let id = p["id"].as_str().unwrap();
    let (s, p) = call(
        &app,
        Method::PUT,
        &format!("/v3/password-policies/{id}"),
        &admin,
        Some(&json!({"name": "AD", "minLength": 15, "sourceIds": []})),
    )
    .await;
    assert_eq!((s, &p["sourceIds"]), (200, &json!([])));
    let info = app.query_info(&api, "Abby.Smith", "My-AD").await;
    assert!(
        info["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("passwordMinLength is 8")),
        "{info}"
    );
}

#[tokio::test]
async fn a_policy_used_by_a_sync_group_cannot_be_deleted() {
    let app = spawn_app().await;
    without_demo_sync_group(&app).await;
    let admin = admin_token(&app).await;
    let (_, p) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &admin,
        Some(&json!({"name": "Group policy"})),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let body = json!({"name": "G", "passwordPolicyId": pid, "sourceIds": [source_id(&app, "My-AD").await, source_id(&app, "passbroker").await]});
    let (s, g) = call(
        &app,
        Method::POST,
        "/v3/password-sync-groups",
        &admin,
        Some(&body),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let (s, body) = call(
        &app,
        Method::DELETE,
        &format!("/v3/password-policies/{pid}"),
        &admin,
        None,
    )
    .await;
    assert_400(s, &body, &["password sync group", "\"G\""]);
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v3/password-policies/{pid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 200, "still there");
    let (_, list) = call(&app, Method::GET, "/v3/password-policies", &admin, None).await;
    let default_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["defaultPolicy"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, body) = call(
        &app,
        Method::DELETE,
        &format!("/v3/password-policies/{default_id}"),
        &admin,
        None,
    )
    .await;
    assert_400(s, &body, &["default policy"]);
}

#[tokio::test]
async fn scopes_and_user_levels_follow_the_spec() {
    let app = spawn_app().await;
    let api = app.token().await;
    // userAuth + applicationAuth: API clients may read.
    let (s, _) = call(&app, Method::GET, "/v3/password-policies", &api, None).await;
    assert_eq!(s, 200);
    // userAuth only: an API client may not write, as in ISC.
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &api,
        Some(&json!({"name": "X"})),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let user = user_token(&app, "Plain.User", UserLevel::User, &["sp:scopes:all"]).await;
    let (s, _) = call(&app, Method::GET, "/v3/password-policies", &user, None).await;
    assert_eq!(s, 403, "ORG_ADMIN only");
    let reader = user_token(
        &app,
        "Policy.Reader",
        UserLevel::OrgAdmin,
        &["idn:password-policy:read"],
    )
    .await;
    let (s, _) = call(&app, Method::GET, "/v3/password-policies", &reader, None).await;
    assert_eq!(s, 200);
    let (s, body) = call(
        &app,
        Method::POST,
        "/v3/password-policies",
        &reader,
        Some(&json!({"name": "X"})),
    )
    .await;
    assert_eq!(s, 403, "needs idn:password-policy:write: {body}");
    let r = app
        .http
        .get(app.url("/v3/password-policies"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
