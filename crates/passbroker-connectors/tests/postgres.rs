//! The PostgreSQL connector against a throwaway PostgreSQL (see tests/fixtures).

mod fixtures;

use fixtures::*;
use passbroker_connectors::{Connector, ConnectorError, Verification};

/// Builds on this thread (these tests may block); no setting here names a data-dir file.
fn build(
    kind: ConnectorKind,
    config: &serde_json::Value,
    secrets: Option<&serde_json::Value>,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    passbroker_connectors::build_blocking(kind, config, secrets, std::path::Path::new("."))
}
use passbroker_core::source::ConnectorKind;
use serde_json::json;
use std::sync::Arc;

const SVC_USER: &str = "passbroker";
const SVC_PW: &str = "Svc-Pg-Secret-3";

fn connector(port: u16, user: &str, password: &str) -> Arc<dyn Connector> {
    let config = json!({
        "host": "127.0.0.1", "port": port, "user": user, "sslMode": "disable",
        "connectTimeoutMs": 2000, "operationTimeoutMs": 5000,
    });
    build(
        ConnectorKind::Postgres,
        &config,
        Some(&json!({"password": password})),
    )
    .expect("postgres connector builds")
}

/// A non-superuser service role with CREATEROLE, and two target roles.
async fn setup(pg: &Postgres) {
    pg.admin(&format!(
        "CREATE ROLE {SVC_USER} LOGIN CREATEROLE PASSWORD '{SVC_PW}';
         CREATE ROLE alice LOGIN PASSWORD 'OldPassw0rd!';
         CREATE ROLE \"Mixed \"\"Quote\"\" Role\" LOGIN PASSWORD 'OldPassw0rd!';"
    ))
    .await;
}

/// Hardening finding 5: the check logs in as the role. Only a session is `Current`; a role
/// that may not log in settles nothing (an error, so the worker writes).
#[tokio::test]
async fn hardening_postgres_verify_password_logs_in_as_the_role() {
    let Some(pg) = Postgres::start().await else {
        return;
    };
    setup(&pg).await;
    pg.admin("CREATE ROLE quiet NOLOGIN PASSWORD 'OldPassw0rd!';")
        .await;
    let c = connector(pg.port, SVC_USER, SVC_PW);
    let alice = account("alice", &[]);
    let new = "Verified-Passw0rd!4";
    assert_eq!(
        verify(c.as_ref(), &alice, new).await.unwrap(),
        Verification::NotCurrent
    );
    set(c.as_ref(), &alice, new).await.expect("ALTER ROLE");
    assert_eq!(
        verify(c.as_ref(), &alice, new).await.unwrap(),
        Verification::Current
    );
    assert_eq!(
        verify(c.as_ref(), &alice, "OldPassw0rd!").await.unwrap(),
        Verification::NotCurrent
    );
    let err = verify(c.as_ref(), &account("quiet", &[]), "OldPassw0rd!")
        .await
        .expect_err("a NOLOGIN role cannot prove its password");
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    assert_no_secret(&err, &["OldPassw0rd!", SVC_PW]);
    let down = connector(1, SVC_USER, SVC_PW);
    assert!(matches!(
        verify(down.as_ref(), &alice, new).await,
        Err(ConnectorError::Transient(_))
    ));
}

#[tokio::test]
async fn postgres_alter_role_sets_scram_verifier_and_login_works() {
    let Some(pg) = Postgres::start().await else {
        return;
    };
    setup(&pg).await;
    let c = connector(pg.port, SVC_USER, SVC_PW);
    let new = "N3w'Pass\\word\"!";
    set(c.as_ref(), &account("alice", &[]), new)
        .await
        .expect("ALTER ROLE succeeds");
    assert!(
        pg.can_login("alice", new).await,
        "login with the new password"
    );
    assert!(
        !pg.can_login("alice", "OldPassw0rd!").await,
        "old password refused"
    );

    let stored = pg
        .admin_query_string("SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'")
        .await;
    assert!(
        stored.starts_with("SCRAM-SHA-256$4096:"),
        "stored as a SCRAM verifier"
    );
    // log_statement=all: the server saw the ALTER ROLE, but never the cleartext.
    let log = pg.log();
    assert!(
        log.contains("ALTER ROLE \"alice\" PASSWORD 'SCRAM-SHA-256$"),
        "statement logged with verifier"
    );
    assert!(
        !log.contains(new),
        "the cleartext password never reached the server"
    );

    // Role names are quoted identifiers, taken literally.
    let role = "Mixed \"Quote\" Role";
    set(c.as_ref(), &account(role, &[]), "Quoted#Role1")
        .await
        .expect("quoted role");
    assert!(pg.can_login(role, "Quoted#Role1").await);
}

#[tokio::test]
async fn postgres_refusals_are_permanent_and_check_reports_the_service_account() {
    let Some(pg) = Postgres::start().await else {
        return;
    };
    setup(&pg).await;
    pg.admin("CREATE ROLE weak LOGIN PASSWORD 'Weak-Secret-1'; CREATE ROLE boss SUPERUSER LOGIN PASSWORD 'Boss-Secret-1';")
        .await;
    let c = connector(pg.port, SVC_USER, SVC_PW);
    let description = c.check().await.expect("check succeeds");
    assert!(
        description.contains("PostgreSQL") && description.contains(SVC_USER),
        "{description}"
    );
    assert!(
        description.contains("CREATEROLE") && !description.contains('\n'),
        "{description}"
    );

    let pw = "Some#Passw0rd";
    let msg = expect_permanent(
        set(c.as_ref(), &account("ghost", &[]), pw).await,
        &[pw, SVC_PW],
    );
    assert!(msg.contains("does not exist"), "{msg}");

    // A CREATEROLE role may not change a superuser's password.
    let msg = expect_permanent(
        set(c.as_ref(), &account("boss", &[]), pw).await,
        &[pw, SVC_PW],
    );
    assert!(msg.contains("may not change"), "{msg}");
    assert!(pg.can_login("boss", "Boss-Secret-1").await);

    let msg = expect_permanent(
        set(c.as_ref(), &account(&"r".repeat(64), &[]), pw).await,
        &[pw],
    );
    assert!(msg.contains("63 bytes"), "{msg}");

    let wrong = "Wrong-Pg-Secret";
    let bad = connector(pg.port, SVC_USER, wrong);
    let err = bad
        .check()
        .await
        .expect_err("check with a wrong password fails");
    assert_no_secret(&err, &[wrong, SVC_PW]);
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    assert!(err.to_string().contains("password"), "{err}");
    expect_permanent(
        set(bad.as_ref(), &account("alice", &[]), pw).await,
        &[pw, wrong],
    );
    assert!(
        pg.can_login("alice", "OldPassw0rd!").await,
        "nothing changed"
    );

    // A role without CREATEROLE fails the check with a clear message.
    let weak = connector(pg.port, "weak", "Weak-Secret-1");
    let err = weak.check().await.expect_err("weak service account");
    assert!(err.to_string().contains("CREATEROLE"), "{err}");
}

#[tokio::test]
async fn postgres_server_down_is_transient() {
    let c = connector(dead_port(), SVC_USER, SVC_PW);
    let pw = "Unreachable#Pass1";
    let msg = expect_transient(
        set(c.as_ref(), &account("alice", &[]), pw).await,
        &[pw, SVC_PW],
    );
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(c.check().await.expect_err("check fails").is_transient());
}

#[test]
fn postgres_config_errors_name_the_field() {
    let secrets = json!({"password": "pg-secret-x"});
    let cfg = |c: serde_json::Value| build(ConnectorKind::Postgres, &c, Some(&secrets));
    expect_config_error(cfg(json!({"user": "u"})), "host");
    expect_config_error(cfg(json!({"host": "h"})), "user");
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "port": 70000})),
        "port",
    );
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "sslMode": "sometimes"})),
        "sslMode",
    );
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "dbname": "x"})),
        "dbname",
    );
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "operationTimeoutMs": 0})),
        "operationTimeoutMs",
    );
    expect_config_error(
        build(
            ConnectorKind::Postgres,
            &json!({"host": "h", "user": "u"}),
            None,
        ),
        "password",
    );
    assert!(cfg(json!({"host": "h", "user": "u", "sslMode": "verify-full"})).is_ok());
}
