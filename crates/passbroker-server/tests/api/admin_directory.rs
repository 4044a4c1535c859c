//! passbroker's identity and account APIs for operators: filters, paging, CRUD, scopes.

use crate::admin_helpers::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn identities_and_accounts_for_operators() {
    let app = spawn_app().await;
    let api = app.token().await;
    let (s, jane) = call(&app, Method::POST, "/passbroker/v1/identities", &api, Some(&json!({"name": "Jane.Doe", "emailAddress": "jane@example.com", "userLevel": "ORG_ADMIN", "attributes": {"department": "IT"}}))).await;
    assert_eq!(s, 201, "{jane}");
    let jid = jane["id"].as_str().unwrap().to_owned();
    for n in 0..3 {
        call(
            &app,
            Method::POST,
            "/passbroker/v1/identities",
            &api,
            Some(&json!({"name": format!("Jane.Clone{n}")})),
        )
        .await;
    }
    let r = app
        .http
        .get(
            app.url("/passbroker/v1/identities?filters=name%20sw%20%22jane.%22&limit=2&count=true"),
        )
        .bearer_auth(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "4");
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 2);
    let (_, exact) = call(
        &app,
        Method::GET,
        "/passbroker/v1/identities?filters=name%20eq%20%22Jane.Doe%22",
        &api,
        None,
    )
    .await;
    assert_eq!(exact, json!([jane.clone()]));
    let (s, body) = call(
        &app,
        Method::POST,
        "/passbroker/v1/identities",
        &api,
        Some(&json!({"name": "jane.doe", "userLevel": "KING", "emailAddress": "nope"})),
    )
    .await;
    assert_400(s, &body, &["userLevel", "emailAddress"]);
    let (s, body) = call(
        &app,
        Method::POST,
        "/passbroker/v1/identities",
        &api,
        Some(&json!({"name": "JANE.DOE"})),
    )
    .await;
    assert_400(s, &body, &["already exists"]);
    let (s, upd) = call(
        &app,
        Method::PUT,
        &format!("/passbroker/v1/identities/{jid}"),
        &api,
        Some(&json!({"displayName": "Jane D."})),
    )
    .await;
    assert_eq!(
        (s, &upd["displayName"], &upd["emailAddress"]),
        (200, &json!("Jane D."), &json!("jane@example.com"))
    );

    let (s, acct) = call(&app, Method::POST, "/passbroker/v1/accounts", &api, Some(&json!({"userName": "Jane.Doe", "sourceName": "My-AD", "nativeIdentity": "CN=Jane Doe,DC=example"}))).await;
    assert_eq!(s, 201, "{acct}");
    assert_eq!(
        (acct["identityId"].as_str(), acct["sourceName"].as_str()),
        (Some(jid.as_str()), Some("My-AD"))
    );
    let (s, body) = call(&app, Method::POST, "/passbroker/v1/accounts", &api, Some(&json!({"userName": "Jane.Doe", "sourceName": "My-AD", "nativeIdentity": "CN=Jane Doe,DC=example"}))).await;
    assert_400(s, &body, &["already has an account"]);
    let (s, body) = call(
        &app,
        Method::POST,
        "/passbroker/v1/accounts",
        &api,
        Some(&json!({"userName": "Nobody", "sourceName": "Nowhere"})),
    )
    .await;
    assert_400(s, &body, &["userName", "sourceName", "nativeIdentity"]);
    let (_, mine) = call(
        &app,
        Method::GET,
        &format!("/passbroker/v1/accounts?filters=identityId%20eq%20%22{jid}%22"),
        &api,
        None,
    )
    .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let aid = acct["id"].as_str().unwrap();
    let (s, upd) = call(
        &app,
        Method::PUT,
        &format!("/passbroker/v1/accounts/{aid}"),
        &api,
        Some(&json!({"disabled": true})),
    )
    .await;
    assert_eq!((s, &upd["disabled"]), (200, &json!(true)));
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/passbroker/v1/accounts/{aid}"),
            &api,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/passbroker/v1/accounts/{aid}"),
            &api,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/passbroker/v1/identities/{jid}"),
            &api,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/passbroker/v1/identities/{jid}"),
            &api,
            None
        )
        .await
        .0,
        404
    );
    let reader = app.token_with_scopes(&["idn:identity:read"]).await;
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/passbroker/v1/identities",
            &reader,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/passbroker/v1/identities",
            &reader,
            Some(&json!({"name": "X"}))
        )
        .await
        .0,
        403
    );
}
