//! Real targets end to end through the HTTP API: query-password-info → encrypt →
//! set-password → FINISHED, then a login to the target with the new password succeeds and
//! with the old one fails. The servers are the connector tests' fixtures (slapd, PostgreSQL,
//! MariaDB, scim2-server), started on 127.0.0.1 in temp dirs.

#[path = "../../../passbroker-connectors/tests/fixtures/mod.rs"]
mod fixtures;

use crate::helpers::*;
use fixtures::*;
use serde_json::{json, Value};

const PG_SVC: (&str, &str) = ("pbsvc", "Svc-Pg-Secret-3");
const MDB_SVC: (&str, &str) = ("pbsvc", "Svc-Mdb-Secret-4");
const OLD: &str = "OldPassw0rd!";

async fn apply_yaml(app: &TestApp, yaml: &str) {
    let file = passbroker_server::ops::tenant::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
    let s = &app.state;
    passbroker_server::ops::tenant::apply(
        s.store.as_ref(),
        &s.secrets,
        &s.config.data_dir,
        file,
        s.clock.now(),
    )
    .await
    .unwrap();
}

async fn change(app: &TestApp, token: &str, source: &str, password: &str) -> Value {
    let body = app.change_body(token, "Abby.Smith", source, password).await;
    let id = app.set_password(token, &body).await;
    app.wait_terminal(token, &id).await
}

#[tokio::test]
async fn ldap_postgres_mariadb_scim_change_through_the_api() {
    let (Some(slapd), Some(pg), Some(mdb), Some(scim)) = (
        Slapd::start(false).await,
        Postgres::start().await,
        Mariadb::start().await,
        Scim::start().await,
    ) else {
        return;
    };
    pg.admin(&format!(
        "CREATE ROLE {} LOGIN CREATEROLE PASSWORD '{}'; CREATE ROLE abby LOGIN PASSWORD '{OLD}';",
        PG_SVC.0, PG_SVC.1
    ))
    .await;
    mdb.admin(&[
        &format!(
            "CREATE USER '{}'@'127.0.0.1' IDENTIFIED BY '{}'",
            MDB_SVC.0, MDB_SVC.1
        ),
        &format!("GRANT CREATE USER ON *.* TO '{}'@'127.0.0.1'", MDB_SVC.0),
        &format!("CREATE USER 'abby'@'127.0.0.1' IDENTIFIED BY '{OLD}'"),
    ])
    .await;
    let scim_id = scim.create_user("abby", OLD).await;
    let app = spawn_app().await;
    apply_yaml(
        &app,
        &format!(
            r#"
sources:
  - name: Corp-LDAP
    features: [PASSWORD]
    connector: ldap
    config: {{ url: "{ldap}", bindDn: "{svc_dn}", mode: passwordModify }}
    secrets: {{ bindPassword: "{svc_pw}" }}
    delivery: {{ maxAttempts: 2, timeoutMs: 5000 }}
  - name: Reports-DB
    features: [PASSWORD]
    connector: postgres
    config: {{ host: 127.0.0.1, port: {pg_port}, user: {pg_user}, sslMode: disable }}
    secrets: {{ password: "{pg_pw}" }}
  - name: Shop-DB
    features: [PASSWORD]
    connector: mariadb
    config: {{ host: 127.0.0.1, port: {mdb_port}, user: {mdb_user}, sslMode: disabled }}
    secrets: {{ password: "{mdb_pw}" }}
  - name: SaaS
    features: [PASSWORD]
    connector: scim
    config: {{ baseUrl: "{scim_url}", auth: bearer }}
    secrets: {{ token: "{scim_token}" }}
accounts:
  - {{ identity: Abby.Smith, source: Corp-LDAP, accountId: "{alice_dn}", accountName: alice }}
  - {{ identity: Abby.Smith, source: Reports-DB, accountId: abby }}
  - {{ identity: Abby.Smith, source: Shop-DB, accountId: abby@127.0.0.1 }}
  - {{ identity: Abby.Smith, source: SaaS, accountId: "{scim_id}", accountName: abby }}
"#,
            ldap = slapd.url,
            svc_dn = LDAP_SVC_DN,
            svc_pw = LDAP_SVC_PW,
            alice_dn = LDAP_ALICE_DN,
            pg_port = pg.port,
            pg_user = PG_SVC.0,
            pg_pw = PG_SVC.1,
            mdb_port = mdb.port,
            mdb_user = MDB_SVC.0,
            mdb_pw = MDB_SVC.1,
            scim_url = scim.base_url,
            scim_token = SCIM_TOKEN,
        ),
    )
    .await;
    let token = app.token().await;
    let new = "Fresh-Passw0rd-1";
    for source in ["Corp-LDAP", "Reports-DB", "Shop-DB", "SaaS"] {
        let status = change(&app, &token, source, new).await;
        assert_eq!(status["state"], "FINISHED", "{source}: {status}");
    }
    assert_eq!(
        slapd.bind_rc(LDAP_ALICE_DN, new).await,
        0,
        "LDAP bind with the new password"
    );
    assert_eq!(
        slapd.bind_rc(LDAP_ALICE_DN, OLD).await,
        49,
        "LDAP bind with the old password fails"
    );
    assert!(pg.can_login("abby", new).await && !pg.can_login("abby", OLD).await);
    assert!(mdb.can_login("abby", new).await && !mdb.can_login("abby", OLD).await);
    assert!(scim.password_matches("abby", new).await && !scim.password_matches("abby", OLD).await);

    // The target's own policy refuses a password from its history: FAILED, with its reason,
    // after one attempt.
    let status = change(&app, &token, "Corp-LDAP", OLD).await;
    assert_eq!(status["state"], "FAILED", "{status}");
    let errors = status["errors"].to_string();
    assert!(
        errors.contains("Corp-LDAP") && errors.to_lowercase().contains("history"),
        "{errors}"
    );
    assert!(
        !errors.contains("attempts"),
        "a refusal is not retried: {errors}"
    );

    // One sync group across three of them: one set-password changes all three.
    apply_yaml(&app, "policies:\n  - name: Group\n    minLength: 10\nsyncGroups:\n  - name: Everything\n    policy: Group\n    sources: [Reports-DB, Shop-DB, SaaS]\n").await;
    let together = "Together-Passw0rd-2";
    let status = change(&app, &token, "Shop-DB", together).await;
    assert_eq!(status["state"], "FINISHED", "{status}");
    assert_eq!(status["sourceIds"].as_array().unwrap().len(), 3);
    assert!(
        pg.can_login("abby", together).await,
        "postgres changed through the group"
    );
    assert!(mdb.can_login("abby", together).await, "mariadb changed");
    assert!(
        scim.password_matches("abby", together).await,
        "scim changed"
    );
    // The group's policy (≥ 10) governs: a 9-character password fails for every member.
    let status = change(&app, &token, "SaaS", "Short-P1x").await;
    assert_eq!(status["state"], "FAILED");
    assert_eq!(status["sourceIds"].as_array().unwrap().len(), 3);
    assert!(pg.can_login("abby", together).await, "nothing changed");
}

#[tokio::test]
async fn a_target_that_is_down_fails_after_the_retries_with_a_reason() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let port = dead_port();
    apply_yaml(
        &app,
        &format!("sources:\n  - name: Gone-DB\n    features: [PASSWORD]\n    connector: postgres\n    config: {{ host: 127.0.0.1, port: {port}, user: x, sslMode: disable, connectTimeoutMs: 500 }}\n    secrets: {{ password: y }}\n    delivery: {{ maxAttempts: 2 }}\naccounts:\n  - {{ identity: Abby.Smith, source: Gone-DB, accountId: abby }}\n"),
    )
    .await;
    let token = app.token().await;
    let id = app
        .set_password(
            &token,
            &app.change_body(&token, "Abby.Smith", "Gone-DB", "Corr3ct-Horse")
                .await,
        )
        .await;
    let worker = passbroker_server::pipeline::worker::Worker::new(app.state.clone(), "w");
    worker.try_run_once().await.unwrap();
    app.state.clock.advance(1_000);
    worker.try_run_once().await.unwrap();
    let status: Value = app
        .get(&format!("/v3/password-change-status/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "FAILED", "{status}");
    let errors = status["errors"].to_string();
    assert!(
        errors.contains("Gone-DB") && errors.contains("gave up after 2 attempts"),
        "{errors}"
    );
    let _ = json!(null);
}
