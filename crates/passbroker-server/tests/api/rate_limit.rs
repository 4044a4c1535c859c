//! ISC's limit: 100 requests per access token per 10 seconds. The 101st is 429 with
//! `{"message": " Rate Limit Exceeded "}` and an integer `Retry-After`; after that many
//! seconds (on the app's clock) the token works again. Other tokens are not affected.

use crate::helpers::*;
use serde_json::{json, Value};

async fn assert_429(r: reqwest::Response, context: &str) -> u64 {
    assert_eq!(r.status(), 429, "{context}");
    let retry_after = r
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{context}: Retry-After"))
        .to_str()
        .unwrap()
        .to_owned();
    let secs: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("{context}: Retry-After {retry_after:?} is not an integer"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": " Rate Limit Exceeded "}),
        "{context}"
    );
    secs
}

#[tokio::test]
async fn the_101st_request_in_10_seconds_is_429_until_retry_after_has_passed() {
    let app = spawn_app().await;
    // Another client's token: all tokens of one client also share a per-client budget.
    let setup = app.token_with_scopes(&["sp:scopes:all"]).await;
    let body = app
        .change_body(&setup, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let id = app.set_password(&setup, &body).await;
    let path = format!("/v3/password-change-status/{id}");

    let token = app.token().await;
    let window_start = app.state.clock.now();
    for n in 1..=100 {
        let r = app.get(&path, &token).await;
        assert_eq!(r.status(), 200, "request {n} of 100 is within the limit");
    }
    let elapsed = app.state.clock.now().0 - window_start.0;
    assert!(
        elapsed < 10_000,
        "the 100 requests took {elapsed} ms; the window is 10 s"
    );
    let retry_after = assert_429(app.get(&path, &token).await, "the 101st").await;
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    // Every path form and operation shares the token's budget.
    assert_429(
        app.post_json(
            "/query-password-info/v1",
            &token,
            &json!({"userName": "Abby.Smith", "sourceName": "My-AD"}),
        )
        .await,
        "another operation",
    )
    .await;
    // Another token is not affected.
    assert_eq!(
        app.get(&path, &setup).await.status(),
        200,
        "the limit is per token"
    );

    // Still limited a moment later; then wait exactly Retry-After seconds.
    let again = assert_429(app.get(&path, &token).await, "retry at once").await;
    assert!(
        again <= retry_after,
        "Retry-After counts down: {again} after {retry_after}"
    );
    app.state
        .clock
        .advance(i64::try_from(retry_after).unwrap() * 1000);
    let r = app.get(&path, &token).await;
    assert_eq!(
        r.status(),
        200,
        "after waiting Retry-After seconds the token works again"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["requestId"], json!(id));
}

#[tokio::test]
async fn refused_requests_count_too_and_the_limit_is_configurable() {
    let app = spawn_app_with(Options {
        env: vec![("PASSBROKER_RATE_LIMIT_REQUESTS".into(), "3".into())],
        ..Options::default()
    })
    .await;
    let token = app.token().await;
    // Requests the handler refuses (404) still use the budget.
    for _ in 0..3 {
        assert_eq!(
            app.get(
                "/v3/password-change-status/0123456789abcdef0123456789abcdef",
                &token
            )
            .await
            .status(),
            404
        );
    }
    assert_429(
        app.get(
            "/v3/password-change-status/0123456789abcdef0123456789abcdef",
            &token,
        )
        .await,
        "4th with limit 3",
    )
    .await;
    // A user token is limited the same way.
    let abby = app.abby().await;
    let (_, pat) = app.pat_token(&abby.identity.id).await;
    for _ in 0..3 {
        assert_eq!(
            app.get(
                "/v3/password-change-status/0123456789abcdef0123456789abcdef",
                &pat
            )
            .await
            .status(),
            404
        );
    }
    let secs = assert_429(
        app.get(
            "/v3/password-change-status/0123456789abcdef0123456789abcdef",
            &pat,
        )
        .await,
        "PAT",
    )
    .await;
    app.state.clock.advance(i64::try_from(secs).unwrap() * 1000);
    assert_eq!(
        app.get(
            "/v3/password-change-status/0123456789abcdef0123456789abcdef",
            &pat
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn a_bad_token_is_401_not_429() {
    // Rate limiting keys on verified tokens only: garbage cannot fill anybody's budget.
    let app = spawn_app_with(Options {
        env: vec![("PASSBROKER_RATE_LIMIT_REQUESTS".into(), "2".into())],
        ..Options::default()
    })
    .await;
    for _ in 0..5 {
        assert_401(
            app.get("/v3/password-change-status/x", "garbage").await,
            "garbage",
        )
        .await;
    }
}

#[tokio::test]
async fn the_token_endpoint_is_limited_per_address() {
    let app = spawn_app().await;
    let limit = app.state.config.token_rate_limit_requests;
    for n in 0..limit {
        let r = app.token_request(&[("grant_type", "nonsense")]).await;
        assert_eq!(r.status(), 400, "token request {n}");
    }
    let secs = assert_429(
        app.token_request(&[("grant_type", "nonsense")]).await,
        "token endpoint",
    )
    .await;
    app.state.clock.advance(i64::try_from(secs).unwrap() * 1000);
    assert_eq!(
        app.token_request(&[("grant_type", "nonsense")])
            .await
            .status(),
        400
    );
}
