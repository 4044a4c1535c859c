//! Personal access tokens: exchanged with `client_credentials` like ISC, the token acts as
//! its user (own identity only; no query-password-info), and revocation kills the already
//! issued access tokens at once.

use crate::helpers::*;
use passbroker_core::identity::UserLevel;
use serde_json::{json, Value};

#[tokio::test]
async fn a_pat_acts_as_its_user_and_only_for_that_user() {
    let app = spawn_app().await;
    let api = app.token().await;
    let abby = app.abby().await;
    let other = app.add_user("Other.User", UserLevel::User).await;
    let (pat_id, secret) = app.new_pat(&abby.identity.id, &["sp:scopes:all"]).await;

    // The exchange: client_credentials with the PAT's id and secret.
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &pat_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["identity_id"], json!(abby.identity.id.to_string()));
    assert_eq!(t["user_name"], "Abby.Smith");
    assert!(
        t.get("refresh_token").is_none(),
        "a PAT exchange gets no refresh token"
    );
    let pat = t["access_token"].as_str().unwrap().to_owned();
    assert!(
        app.state
            .store
            .get_pat(&pat_id)
            .await
            .unwrap()
            .unwrap()
            .last_used
            .is_some(),
        "the exchange is recorded"
    );

    // Own account: accepted.
    let own_body = app.body_for(&api, &abby, "Corr3ct-Horse-1").await;
    let r = app.post_json("/v3/set-password", &pat, &own_body).await;
    assert_eq!(r.status(), 202);
    let own_id = r.json::<Value>().await.unwrap()["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another identity's account, on every path form: 403.
    let other_body = app.body_for(&api, &other, "Corr3ct-Horse-2").await;
    for path in [
        "/v3/set-password",
        "/beta/set-password",
        "/v2024/set-password",
        "/v2025/set-password",
        "/set-password/v1",
    ] {
        let r = app.post_json(path, &pat, &other_body).await;
        assert_eq!(r.status(), 403, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["detailCode"], "403 Forbidden");
        assert!(v["causes"].to_string().contains("own identity"), "{v}");
    }
    // Own identity with another identity's account: refused too (not the identity's account).
    let mut mixed = own_body.clone();
    mixed["accountId"] = other_body["accountId"].clone();
    let r = app.post_json("/v3/set-password", &pat, &mixed).await;
    assert_eq!(r.status(), 400);
    // Nothing was created for the other identity.
    assert_eq!(app.state.store.count_requests(None).await.unwrap(), 1);

    // Status: own request 200; another's request is "absent" (404), on every path form.
    let other_id = app.set_password(&api, &other_body).await;
    for prefix in [
        "/v3/password-change-status/",
        "/beta/password-change-status/",
        "/v2025/password-change-status/",
        "/password-change-status/v1/",
    ] {
        let r = app.get(&format!("{prefix}{own_id}"), &pat).await;
        assert_eq!(r.status(), 200, "{prefix} own");
        assert_eq!(r.json::<Value>().await.unwrap()["requestId"], json!(own_id));
        let r = app.get(&format!("{prefix}{other_id}"), &pat).await;
        assert_eq!(r.status(), 404, "{prefix} another's");
        let absent = app
            .get(&format!("{prefix}0123456789abcdef0123456789abcdef"), &pat)
            .await;
        assert_eq!(absent.status(), 404);
        // Another's request looks exactly like one that does not exist (apart from the id).
        let a: Value = r.json().await.unwrap();
        let b: Value = absent.json().await.unwrap();
        assert_eq!(a["detailCode"], b["detailCode"]);
        assert_eq!(a["messages"], b["messages"]);
        // The API client sees both.
        assert_eq!(
            app.get(&format!("{prefix}{other_id}"), &api).await.status(),
            200
        );
    }

    // query-password-info: API clients only.
    for path in [
        "/v3/query-password-info",
        "/beta/query-password-info",
        "/query-password-info/v1",
    ] {
        let r = app
            .post_json(
                path,
                &pat,
                &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
            )
            .await;
        assert_eq!(r.status(), 403, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["causes"]
                .to_string()
                .contains("only available to API clients"),
            "{v}"
        );
    }
}

#[tokio::test]
async fn revoking_a_pat_kills_its_access_tokens_at_once() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    let (pat_id, secret) = app.new_pat(&abby.identity.id, &["sp:scopes:all"]).await;
    let token = app.token_for(&pat_id, &secret).await;
    let status = "/v3/password-change-status/0123456789abcdef0123456789abcdef";
    assert_eq!(
        app.get(status, &token).await.status(),
        404,
        "works before revocation"
    );
    // A second PAT of the same user is not affected by the first one's revocation.
    let (_, other_token) = app.pat_token(&abby.identity.id).await;

    assert!(app.state.store.revoke_pat(&pat_id).await.unwrap());
    let e = assert_401(app.get(status, &token).await, "revoked PAT's token").await;
    assert!(e.contains("revoked"), "{e}");
    assert_401(
        app.post_json("/v3/set-password", &token, &json!({})).await,
        "revoked PAT's token on set-password",
    )
    .await;
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &pat_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    assert_eq!(
        app.get(status, &other_token).await.status(),
        404,
        "another PAT still works"
    );
}

#[tokio::test]
async fn pats_through_the_api_create_list_exchange_and_revoke() {
    let app = spawn_app().await;
    let abby = app.abby().await;
    let (_, user_token) = app.pat_token(&abby.identity.id).await;
    let r = app
        .post_json(
            "/beta/personal-access-tokens",
            &user_token,
            &json!({"name": "ci", "scope": ["idn:password-change:read"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["owner"]["id"], json!(abby.identity.id.to_string()));
    let id = created["id"].as_str().unwrap().to_owned();
    let narrow = app
        .token_for(&id, created["secret"].as_str().unwrap())
        .await;
    // The new PAT holds only the scope asked for.
    let status = "/v3/password-change-status/0123456789abcdef0123456789abcdef";
    assert_eq!(app.get(status, &narrow).await.status(), 404);
    let r = app.post_json("/v3/set-password", &narrow, &json!({})).await;
    assert_eq!(
        r.status(),
        403,
        "idn:password-change:read does not allow set-password"
    );
    // The list never shows secrets.
    let r = app.get("/v2025/personal-access-tokens", &user_token).await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == json!(id)));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("secret").is_none() && p.get("secretHash").is_none()),
        "the list shows no secrets"
    );
    // Another user cannot revoke it (it is absent for them); the owner can.
    let other = app.add_user("Other.User", UserLevel::User).await;
    let (_, other_token) = app.pat_token(&other.identity.id).await;
    let r = app
        .http
        .delete(app.url(&format!("/beta/personal-access-tokens/{id}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.get(status, &narrow).await.status(), 404, "still alive");
    let r = app
        .http
        .delete(app.url(&format!("/beta/personal-access-tokens/{id}")))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_401(app.get(status, &narrow).await, "revoked through the API").await;
}

#[tokio::test]
async fn a_pat_with_a_wrong_secret_or_of_an_inactive_user_does_not_exchange() {
    let app = spawn_app().await;
    let mut user = app.add_user("Leaving.User", UserLevel::User).await;
    let (pat_id, secret) = app.new_pat(&user.identity.id, &["sp:scopes:all"]).await;
    let wrong = format!("{secret}x");
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &pat_id),
            ("client_secret", &wrong),
        ])
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    app.token_for(&pat_id, &secret).await;
    // A scope the PAT does not hold cannot be asked for.
    let (narrow_id, narrow_secret) = app
        .new_pat(&user.identity.id, &["idn:password-change:read"])
        .await;
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &narrow_id),
            ("client_secret", &narrow_secret),
            ("scope", "idn:password-change:manage"),
        ])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    user.identity.active = false;
    app.state
        .store
        .apply(vec![passbroker_store::WriteOp::UpsertIdentity(
            user.identity.clone(),
        )])
        .await
        .unwrap();
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &pat_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(r.status(), 401, "an inactive user's PAT does not exchange");
}
