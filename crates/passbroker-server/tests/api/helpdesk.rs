//! The help desk on the page (`cargo test -- helpdesk`): a HELPDESK agent finds a person,
//! issues a digit token (the org config's length and duration), the person resets with it on
//! the "I have a reset code" route, and the agent reads the outcome; who may do what; audit.

use crate::helpers::*;
use passbroker_core::identity::UserLevel;
use passbroker_server::ops::demo::DEMO_HELPDESK_USER;
use reqwest::header::SET_COOKIE;
use serde_json::{json, Value};

struct Session {
    cookie: String,
    csrf: String,
}

async fn session_of(r: reqwest::Response) -> Session {
    assert_eq!(r.status(), 200);
    let cookie = r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = r.json().await.unwrap();
    Session {
        cookie,
        csrf: body["csrfToken"].as_str().unwrap().to_owned(),
    }
}

async fn sign_in(app: &TestApp, user: &str, password: &str) -> Session {
    let r = app
        .http
        .post(app.url("/passbroker/v1/session"))
        .json(&json!({"userName": user, "password": password}))
        .send()
        .await
        .unwrap();
    session_of(r).await
}

async fn agent(app: &TestApp) -> Session {
    let password = app
        .demo
        .helpdesk_password
        .clone()
        .expect("helpdesk password");
    sign_in(app, DEMO_HELPDESK_USER, &password).await
}

async fn get(app: &TestApp, s: &Session, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(app.url(path))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, s: &Session, path: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn enable_digit_tokens(app: &TestApp, length: u32, minutes: u32) {
    let token = app.token().await;
    let r = app
        .http
        .put(app.url("/v3/password-org-config"))
        .bearer_auth(&token)
        .json(&json!({
            "digitTokenEnabled": true,
            "digitTokenLength": length,
            "digitTokenDurationMinutes": minutes,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn helpdesk_issues_a_token_the_person_resets_with_it_and_the_agent_sees_the_outcome() {
    let app = spawn_app().await;
    enable_digit_tokens(&app, 9, 7).await;
    let hal = agent(&app).await;
    let (status, found) = get(&app, &hal, "/passbroker/v1/helpdesk/people?q=abby").await;
    assert_eq!(status, 200, "{found}");
    let people = found["people"].as_array().unwrap();
    assert_eq!(people.len(), 1, "{found}");
    assert_eq!(people[0]["userName"], "Abby.Smith");
    let id = people[0]["identityId"].as_str().unwrap().to_owned();
    // Searching by email address finds her too.
    let (_, by_mail) = get(&app, &hal, "/passbroker/v1/helpdesk/people?q=abby.smith%40").await;
    assert_eq!(by_mail["people"][0]["identityId"], id.as_str());

    let (status, issued) = post(
        &app,
        &hal,
        &format!("/passbroker/v1/helpdesk/people/{id}/digit-token"),
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let digits = issued["digitToken"].as_str().unwrap().to_owned();
    assert_eq!(digits.len(), 9, "the org config's length");
    assert_eq!(issued["durationMinutes"], 7);
    // The token is shown once: the person view does not carry it.
    let (_, view) = get(&app, &hal, &format!("/passbroker/v1/helpdesk/people/{id}")).await;
    assert!(!view.to_string().contains(&digits));
    assert_eq!(view["digitTokens"][0]["state"], "LIVE");

    // Abby resets with it.
    let r = app
        .http
        .post(app.url("/passbroker/v1/recovery/digit-token"))
        .json(&json!({"userName": "Abby.Smith", "digitToken": digits}))
        .send()
        .await
        .unwrap();
    let abby = session_of(r).await;
    let (status, me) = get(&app, &abby, "/passbroker/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["userName"], "Abby.Smith");

    let (_, view) = get(&app, &hal, &format!("/passbroker/v1/helpdesk/people/{id}")).await;
    assert_eq!(view["digitTokens"][0]["state"], "USED", "{view}");
    let hal_id = app
        .state
        .store
        .find_identity_by_login(DEMO_HELPDESK_USER)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        view["digitTokens"][0]["createdBy"],
        format!("identity:{hal_id}")
    );
    assert!(view["accounts"].as_array().unwrap().len() >= 2, "{view}");

    // Every step is audited with who did it.
    for action in [
        "HELPDESK_PEOPLE_SEARCHED",
        "HELPDESK_PERSON_VIEWED",
        "DIGIT_TOKEN_CREATED",
    ] {
        let events = app.audit_events(action).await;
        assert!(!events.is_empty(), "{action}");
        assert!(
            events
                .iter()
                .all(|e| e.actor == format!("identity:{hal_id}")),
            "{action}"
        );
    }
    assert!(!captured_logs().contains(&digits));
}

#[tokio::test]
async fn helpdesk_is_for_agents_only_and_agents_reach_users_only() {
    let app = spawn_app().await;
    enable_digit_tokens(&app, 6, 5).await;
    // A USER is refused.
    let abby = sign_in(&app, "Abby.Smith", &app.demo.user_password.clone().unwrap()).await;
    let (status, _) = get(&app, &abby, "/passbroker/v1/helpdesk/people?q=a").await;
    assert_eq!(status, 403);
    // An API client is refused.
    let token = app.token().await;
    let r = app.get("/passbroker/v1/helpdesk/people?q=a", &token).await;
    assert_eq!(r.status(), 403);
    // No session at all: 401.
    let r = app
        .http
        .get(app.url("/passbroker/v1/helpdesk/people?q=a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let hal = agent(&app).await;
    let admin = app.add_user("Ada.Admin", UserLevel::OrgAdmin).await;
    let (status, body) = post(
        &app,
        &hal,
        &format!(
            "/passbroker/v1/helpdesk/people/{}/digit-token",
            admin.identity.id
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // Bad ids and queries are 404 / 400, never 500.
    let (status, _) = get(&app, &hal, "/passbroker/v1/helpdesk/people/not-an-id").await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &hal, "/passbroker/v1/helpdesk/people?q=").await;
    assert_eq!(status, 400);
    let long = "a".repeat(300);
    let (status, _) = get(
        &app,
        &hal,
        &format!("/passbroker/v1/helpdesk/people?q={long}"),
    )
    .await;
    assert_eq!(status, 400);
    // Without the CSRF token the session cannot issue.
    let r = app
        .http
        .post(app.url(&format!(
            "/passbroker/v1/helpdesk/people/{}/digit-token",
            admin.identity.id
        )))
        .header("cookie", &hal.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn helpdesk_honours_the_org_config_switch() {
    let app = spawn_app().await;
    let hal = agent(&app).await;
    let abby = app.abby().await;
    let (status, body) = post(
        &app,
        &hal,
        &format!(
            "/passbroker/v1/helpdesk/people/{}/digit-token",
            abby.identity.id
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("switched off"));
}
