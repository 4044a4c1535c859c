//! Helpers for the admin API tests: admin tokens, one-call requests, cause checks.

#![allow(dead_code)]

use crate::helpers::TestApp;
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_store::WriteOp;
use reqwest::Method;
use serde_json::Value;

/// A token of a new identity at `level` through a personal access token with `scopes`.
pub async fn user_token(app: &TestApp, login: &str, level: UserLevel, scopes: &[&str]) -> String {
    let identity = Identity {
        id: passbroker_core::IdentityId::generate(),
        login_name: LoginName::parse(login).unwrap(),
        display_name: login.into(),
        email: None,
        attributes: Default::default(),
        user_level: level,
        active: true,
    };
    app.state
        .store
        .apply(vec![WriteOp::UpsertIdentity(identity.clone())])
        .await
        .unwrap();
    let (pat, secret) = passbroker_server::ops::credentials::new_pat(
        &identity.id,
        "admin tests",
        scopes.iter().map(|s| (*s).to_owned()).collect(),
        app.state.clock.now(),
    )
    .unwrap();
    app.state.store.insert_pat(&pat).await.unwrap();
    app.token_for(&pat.id, &secret).await
}

/// A token of an ORG_ADMIN user with `sp:scopes:all` (what ISC's userAuth-only operations need).
pub async fn admin_token(app: &TestApp) -> String {
    user_token(app, "Org.Admin", UserLevel::OrgAdmin, &["sp:scopes:all"]).await
}

/// Sends a JSON request (no body for `None`) and returns the status and the JSON body
/// (`Null` when the body is empty or not JSON).
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    call_with(app, method, path, token, body, &[]).await
}

pub async fn call_with(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The texts of an `ErrorResponseDto`'s causes.
pub fn cause_texts(body: &Value) -> Vec<String> {
    body["causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a 400 whose causes mention every needle.
pub fn assert_400(status: u16, body: &Value, needles: &[&str]) {
    assert_eq!(status, 400, "{body}");
    let causes = cause_texts(body);
    for n in needles {
        assert!(
            causes.iter().any(|c| c.contains(n)),
            "no cause mentions {n:?}: {causes:?}"
        );
    }
}

/// The id of the named demo source.
pub async fn source_id(app: &TestApp, name: &str) -> String {
    app.state
        .store
        .find_source_by_name(name)
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

/// Removes the demo's password sync group (`Workplace sign-in`: the built-in source and
/// `Corp-Mail`), for tests that build groups of their own from the demo's sources.
pub async fn without_demo_sync_group(app: &TestApp) {
    let (groups, _) = app
        .state
        .store
        .list_sync_groups(passbroker_store::Page::default())
        .await
        .unwrap();
    for g in groups
        .into_iter()
        .filter(|g| g.name == passbroker_server::ops::demo::DEMO_SYNC_GROUP)
    {
        app.state
            .store
            .apply(vec![WriteOp::DeleteSyncGroup(g.id)])
            .await
            .unwrap();
    }
}
