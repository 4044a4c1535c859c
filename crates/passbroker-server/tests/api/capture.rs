//! Password capture's intake (`POST /passbroker/v1/captured-passwords`, `-- capture`): a
//! change reported by an agent reaches the identity's accounts on the *other* sources of the
//! origin's sync group; echoes of passbroker's own writes are dropped; the same change
//! reported twice is one request; a password that fails the group's policy is held or
//! propagated as the group says.

use crate::helpers::{oaep, spawn_app, TestApp};
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::{AccountRef, SourceId, SyncGroupId};
use passbroker_store::WriteOp;
use serde_json::{json, Value};

const ROUTE: &str = "/passbroker/v1/captured-passwords";

/// The world of a capture test: My-AD (the origin, where the agent runs) in a sync group
/// with two simulated sources, Abby's accounts on all three, and an agent bound to My-AD.
struct World {
    app: TestApp,
    agent: String,
    /// The agent's API client.
    client: String,
    group_id: String,
    origin: Account,
    others: Vec<SourceId>,
}

async fn world() -> World {
    let app = spawn_app().await;
    let abby = app.abby().await;
    let store = app.state.store.clone();
    let policy = store.default_policy().await.unwrap().unwrap();
    let now = app.state.clock.now();
    let source = |name: &str| Source {
        id: SourceId::generate(),
        name: SourceName::parse(name).unwrap(),
        description: String::new(),
        features: vec!["PASSWORD".into()],
        connector: ConnectorKind::Simulated,
        connector_config: json!({}),
        wrapped_secrets: None,
        owner: None,
        password_policy_id: policy.id.clone(),
        delivery: DeliverySettings::default(),
        created: now,
        modified: now,
    };
    let (ldap, db) = (source("Cap-LDAP"), source("Cap-DB"));
    let account = |s: &Source, native: &str| Account {
        id: AccountRef::generate(),
        source_id: s.id.clone(),
        identity_id: abby.identity.id.clone(),
        native_id: NativeAccountId::parse(native).unwrap(),
        account_name: native.into(),
        attributes: Default::default(),
        disabled: false,
    };
    let group = PasswordSyncGroup {
        id: SyncGroupId::generate(),
        name: "Capture group".into(),
        password_policy_id: policy.id.clone().unwrap(),
        source_ids: vec![
            abby.account.source_id.clone(),
            ldap.id.clone(),
            db.id.clone(),
        ],
        created: now,
        modified: now,
    };
    store
        .apply(vec![
            WriteOp::UpsertSource(ldap.clone()),
            WriteOp::UpsertSource(db.clone()),
            WriteOp::UpsertAccount(account(&ldap, "uid=abby,ou=people,dc=example,dc=com")),
            WriteOp::UpsertAccount(account(&db, "abby")),
            WriteOp::UpsertSyncGroup(group.clone()),
        ])
        .await
        .unwrap();
    let (client, secret) = app
        .new_client(
            &["passbroker:password-capture:write"],
            &["client_credentials"],
        )
        .await;
    store
        .capture()
        .set_capture_sources(&client, std::slice::from_ref(&abby.account.source_id))
        .await
        .unwrap();
    let agent = app.token_for(&client, &secret).await;
    World {
        app,
        agent,
        client,
        group_id: group.id.to_string(),
        origin: abby.account,
        others: vec![ldap.id, db.id],
    }
}

impl World {
    async fn report_as(&self, token: &str, password: &str, agent_key: &str) -> (u16, Value) {
        let key: Value = self
            .app
            .http
            .get(self.app.url("/passbroker/v1/public-key"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body = json!({
            "sourceId": self.origin.source_id.to_string(),
            "nativeIdentity": self.origin.native_id.as_str(),
            "encryptedPassword": oaep(key["publicKey"].as_str().unwrap(), password),
            "encryption": "RSA-OAEP-256",
            "publicKeyId": key["publicKeyId"],
            "capturedAt": "2026-12-02T13:00:00Z",
            "idempotencyKey": agent_key,
        });
        let r = self.app.post_json(ROUTE, token, &body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn report(&self, password: &str, agent_key: &str) -> (u16, Value) {
        self.report_as(&self.agent, password, agent_key).await
    }

    async fn finished(&self, request_id: &str) -> Value {
        let token = self.app.token().await;
        self.app.wait_terminal(&token, request_id).await
    }

    async fn target_sources(&self, request_id: &str) -> Vec<SourceId> {
        let id = passbroker_core::RequestId::parse(request_id).unwrap();
        let (_, tasks) = self
            .app
            .state
            .store
            .request_with_tasks(&id)
            .await
            .unwrap()
            .unwrap();
        let mut ids: Vec<SourceId> = tasks.into_iter().map(|t| t.source_id).collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids
    }
}

fn sorted(mut ids: Vec<SourceId>) -> Vec<SourceId> {
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

#[tokio::test]
async fn capture_reaches_the_other_sources_never_the_origin_and_duplicates_collapse() {
    let w = world().await;
    let (status, body) = w.report("Captured-Pass-1", "dc1:change-1").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["disposition"], "QUEUED");
    let id = body["requestId"].as_str().unwrap().to_owned();
    let done = w.finished(&id).await;
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(w.target_sources(&id).await, sorted(w.others.clone()));
    assert!(!w.target_sources(&id).await.contains(&w.origin.source_id));

    // The same agent again (a retry), and another domain controller with its own key: the
    // same request.
    let (status, again) = w.report("Captured-Pass-1", "dc1:change-1").await;
    assert_eq!(
        (status, again["requestId"].as_str()),
        (202, Some(id.as_str()))
    );
    assert_eq!(again["disposition"], "DUPLICATE");
    let (status, other_dc) = w.report("Captured-Pass-1", "dc2:change-77").await;
    assert_eq!(
        (status, other_dc["requestId"].as_str()),
        (202, Some(id.as_str())),
        "{other_dc}"
    );
    assert_eq!(other_dc["disposition"], "DUPLICATE");

    // A different password is a new change.
    let (status, next) = w.report("Captured-Pass-2", "dc1:change-2").await;
    assert_eq!(status, 202);
    assert_ne!(next["requestId"].as_str(), Some(id.as_str()));
    assert_eq!(next["disposition"], "QUEUED");
    let events = w.app.audit_events("PASSWORD_CHANGE_REQUESTED").await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.source_id.as_deref() == Some(w.origin.source_id.as_str()))
            .count(),
        2,
        "two changes, two requests"
    );
}

#[tokio::test]
async fn capture_echo_of_passbrokers_own_change_is_dropped_and_audited() {
    let w = world().await;
    let token = w.app.token().await;
    // A change that starts elsewhere (set-password on Cap-LDAP) also sets My-AD, the origin.
    let info = w.app.query_info(&token, "Abby.Smith", "Cap-LDAP").await;
    let body = json!({
        "identityId": w.origin.identity_id.to_string(),
        "encryptedPassword": oaep(info["publicKey"].as_str().unwrap(), "Elsewhere-Pass-9"),
        "encryption": "RSA-OAEP-256",
        "publicKeyId": info["publicKeyId"],
        "accountId": "uid=abby,ou=people,dc=example,dc=com",
        "sourceId": w.others[0].to_string(),
    });
    let first = w.app.set_password(&token, &body).await;
    assert_eq!(w.finished(&first).await["state"], "FINISHED");

    // The agent on My-AD sees that change and reports it: an echo, dropped.
    let (status, echo) = w.report("Elsewhere-Pass-9", "dc1:echo").await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["disposition"], "ECHO");
    assert_eq!(echo["requestId"].as_str(), Some(first.as_str()));
    let dropped = w.app.audit_events("PASSWORD_CAPTURE_ECHO_DROPPED").await;
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].request_id.as_deref(), Some(first.as_str()));
    assert!(!dropped[0].detail.contains("Elsewhere-Pass-9"));

    // A password the user then changes at My-AD is not an echo.
    let (status, real) = w.report("Changed-At-AD-3", "dc1:real").await;
    assert_eq!(
        (status, real["disposition"].as_str()),
        (202, Some("QUEUED"))
    );
    assert_eq!(
        w.finished(real["requestId"].as_str().unwrap()).await["state"],
        "FINISHED"
    );

    // Both reports are events (ids and dispositions, never the password).
    let events = w.app.state.store.events();
    let echoes = events
        .events_after(0, Some("passbroker.password.capture.echo_dropped"), 10)
        .await
        .unwrap();
    assert_eq!(echoes.len(), 1, "{echoes:?}");
    assert_eq!(echoes[0].subject.as_deref(), Some(first.as_str()));
    let received = events
        .events_after(0, Some("passbroker.password.capture.received"), 10)
        .await
        .unwrap();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].subject.as_deref(), real["requestId"].as_str());
    for e in echoes.iter().chain(&received) {
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(data["accountId"], w.origin.id.to_string(), "{data}");
        assert_eq!(data["clientId"], w.client, "{data}");
        assert!(!e.data.contains("Elsewhere-Pass-9") && !e.data.contains("Changed-At-AD-3"));
    }
    let data: serde_json::Value = serde_json::from_str(&echoes[0].data).unwrap();
    assert_eq!(data["disposition"], "ECHO");
}

#[tokio::test]
async fn capture_policy_failure_is_held_by_default_and_propagated_when_the_group_says() {
    let w = world().await;
    // "short1" breaks the demo policy's minimum length of 8.
    let (status, held) = w.report("short1", "dc1:weak-1").await;
    assert_eq!(status, 202);
    let id = held["requestId"].as_str().unwrap().to_owned();
    let done = w.finished(&id).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    let errors = done["errors"].to_string();
    assert!(errors.contains("8"), "the failed rule is named: {errors}");
    let events = w.app.audit_events("PASSWORD_CAPTURE_HELD").await;
    assert_eq!(events.len(), 1);
    assert!(events[0].detail.contains("capturePolicyFailure = hold"));
    let log = w.app.audit_events("PASSWORD_CHANGE_TARGET_SUCCEEDED").await;
    assert!(
        log.iter()
            .all(|e| e.request_id.as_deref() != Some(id.as_str())),
        "nothing delivered"
    );

    // The group now propagates: the same kind of password goes on, and says why it is odd.
    let admin = crate::admin_helpers::admin_token(&w.app).await;
    let path = format!("/v3/password-sync-groups/{}", w.group_id);
    let mut group: Value = w.app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(group["capturePolicyFailure"], "hold");
    group["capturePolicyFailure"] = json!("propagate");
    let r = w
        .app
        .http
        .put(w.app.url(&path))
        .bearer_auth(&admin)
        .json(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["capturePolicyFailure"],
        "propagate"
    );
    let (_, sent) = w.report("short2", "dc1:weak-2").await;
    let id = sent["requestId"].as_str().unwrap().to_owned();
    let done = w.finished(&id).await;
    assert_eq!(done["state"], "FINISHED", "{done}");
    let errors = done["errors"].to_string();
    assert!(
        errors.contains("propagated anyway") && errors.contains("8"),
        "{errors}"
    );
    assert_eq!(w.target_sources(&id).await, sorted(w.others.clone()));
    let events = w
        .app
        .audit_events("PASSWORD_CAPTURE_PROPAGATED_DESPITE_POLICY")
        .await;
    assert_eq!(events.len(), 1);

    // An unknown mode is refused.
    group["capturePolicyFailure"] = json!("sometimes");
    let r = w
        .app
        .http
        .put(w.app.url(&path))
        .bearer_auth(&admin)
        .json(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn capture_refusals_name_the_problem() {
    let w = world().await;
    // An API client without the binding (even with every scope) may not report for My-AD.
    let all = w.app.token().await;
    let (status, body) = w.report_as(&all, "Captured-Pass-1", "k1").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("capture-source"), "{body}");
    // A client without the scope.
    let other = w
        .app
        .token_with_scopes(&["idn:password-change:manage"])
        .await;
    let (status, _) = w.report_as(&other, "Captured-Pass-1", "k1").await;
    assert_eq!(status, 403);
    // Missing fields, all named.
    let r = w.app.post_json(ROUTE, &w.agent, &json!({})).await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    for field in [
        "sourceId",
        "nativeIdentity",
        "encryptedPassword",
        "publicKeyId",
        "idempotencyKey",
    ] {
        assert!(text.contains(field), "{field} in {text}");
    }
    // An unknown account, a bad time, a ciphertext of the wrong length.
    let key: Value = w
        .app
        .http
        .get(w.app.url("/passbroker/v1/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let base = json!({
        "sourceId": w.origin.source_id.to_string(),
        "nativeIdentity": "CN=Nobody,DC=example,DC=com",
        "encryptedPassword": oaep(key["publicKey"].as_str().unwrap(), "x-Password-1"),
        "encryption": "RSA-OAEP-256",
        "publicKeyId": key["publicKeyId"],
        "idempotencyKey": "k2",
    });
    assert_eq!(w.app.post_json(ROUTE, &w.agent, &base).await.status(), 404);
    let mut bad = base.clone();
    bad["nativeIdentity"] = json!(w.origin.native_id.as_str());
    bad["capturedAt"] = json!("yesterday");
    assert_eq!(w.app.post_json(ROUTE, &w.agent, &bad).await.status(), 400);
    bad["capturedAt"] = json!("2026-12-02T13:00:00Z");
    bad["encryptedPassword"] = json!("AAAA");
    assert_eq!(w.app.post_json(ROUTE, &w.agent, &bad).await.status(), 400);
    bad["encryptedPassword"] = json!("not base64 !!");
    assert_eq!(w.app.post_json(ROUTE, &w.agent, &bad).await.status(), 400);
    // A payload that does not decrypt to a password is accepted like set-password's, and
    // fails in the worker with the generic message.
    bad["encryptedPassword"] = json!(crate::helpers::bad_padding_ciphertext(
        key["publicKey"].as_str().unwrap()
    ));
    bad["encryption"] = Value::Null;
    let r = w.app.post_json(ROUTE, &w.agent, &bad).await;
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    let done = w.finished(v["requestId"].as_str().unwrap()).await;
    assert_eq!(done["state"], "FAILED");
    assert!(
        done["errors"].to_string().contains("payload is invalid"),
        "{done}"
    );
}
