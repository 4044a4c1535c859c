//! The MariaDB connector against a throwaway mariadbd (see tests/fixtures).

mod fixtures;

use fixtures::*;
use passbroker_connectors::mariadb::account_targets;
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
const SVC_PW: &str = "Svc-Mdb-Secret-4";

fn connector(port: u16, password: &str) -> Arc<dyn Connector> {
    let config = json!({
        "host": "127.0.0.1", "port": port, "user": SVC_USER, "sslMode": "disabled",
        "connectTimeoutMs": 2000, "operationTimeoutMs": 5000,
    });
    build(
        ConnectorKind::Mariadb,
        &config,
        Some(&json!({"password": password})),
    )
    .expect("mariadb connector builds")
}

/// A service account with only CREATE USER, alice on two hosts, carol on one.
async fn setup(db: &Mariadb) {
    db.admin(&[
        &format!("CREATE USER '{SVC_USER}'@'127.0.0.1' IDENTIFIED BY '{SVC_PW}'"),
        &format!("GRANT CREATE USER ON *.* TO '{SVC_USER}'@'127.0.0.1'"),
        "CREATE USER 'alice'@'127.0.0.1' IDENTIFIED BY 'OldPassw0rd!'",
        "CREATE USER 'alice'@'localhost' IDENTIFIED BY 'OldPassw0rd!'",
        "CREATE USER 'carol'@'127.0.0.1' IDENTIFIED BY 'OldPassw0rd!'",
    ])
    .await;
}

/// Hardening finding 5: the check logs in as the user, for an account with one host
/// pattern; with several, one login cannot prove them all, so it is `Unsupported`.
#[tokio::test]
async fn hardening_mariadb_verify_password_logs_in_as_the_user() {
    let Some(db) = Mariadb::start().await else {
        return;
    };
    setup(&db).await;
    let c = connector(db.port, SVC_PW);
    let carol = account("carol", &[("hosts", "127.0.0.1")]);
    let new = "Verified-Passw0rd!5";
    assert_eq!(
        verify(c.as_ref(), &carol, new).await.unwrap(),
        Verification::NotCurrent
    );
    set(c.as_ref(), &carol, new).await.expect("ALTER USER");
    assert_eq!(
        verify(c.as_ref(), &carol, new).await.unwrap(),
        Verification::Current
    );
    assert_eq!(
        verify(c.as_ref(), &carol, "OldPassw0rd!").await.unwrap(),
        Verification::NotCurrent
    );
    let alice = account("alice", &[("hosts", "127.0.0.1,localhost")]);
    assert_eq!(
        verify(c.as_ref(), &alice, "OldPassw0rd!").await.unwrap(),
        Verification::Unsupported
    );
    let down = connector(1, SVC_PW);
    assert!(matches!(
        verify(down.as_ref(), &carol, new).await,
        Err(ConnectorError::Transient(_))
    ));
}

#[tokio::test]
async fn mariadb_alter_user_for_each_host_and_login_works() {
    let Some(db) = Mariadb::start().await else {
        return;
    };
    setup(&db).await;
    let c = connector(db.port, SVC_PW);
    // Quotes and backslashes exercise the literal escaping.
    let new = "N3w'Pass\\word\"!";
    let alice = account("alice", &[("hosts", "127.0.0.1, localhost")]);
    set(c.as_ref(), &alice, new)
        .await
        .expect("ALTER USER succeeds");
    assert!(
        db.can_login("alice", new).await,
        "TCP login (alice@127.0.0.1) with the new password"
    );
    assert!(
        db.can_login_socket("alice", new).await,
        "socket login (alice@localhost) with the new password"
    );
    assert!(
        !db.can_login("alice", "OldPassw0rd!").await,
        "old password refused"
    );
    assert!(
        !db.can_login_socket("alice", "OldPassw0rd!").await,
        "old password refused on localhost too"
    );

    // A native id of the form user@host.
    set(
        c.as_ref(),
        &account("carol@127.0.0.1", &[]),
        "Carol#Passw0rd",
    )
    .await
    .expect("user@host");
    assert!(db.can_login("carol", "Carol#Passw0rd").await);
    assert!(!db.can_login("carol", "OldPassw0rd!").await);
}

#[tokio::test]
async fn mariadb_refusals_are_permanent_and_check_works() {
    let Some(db) = Mariadb::start().await else {
        return;
    };
    setup(&db).await;
    let c = connector(db.port, SVC_PW);
    let description = c.check().await.expect("check succeeds");
    assert!(
        description.contains("MariaDB") && description.contains("passbroker@127.0.0.1"),
        "{description}"
    );
    assert!(!description.contains('\n'), "{description}");

    let pw = "Some#Passw0rd1";
    // alice exists for 127.0.0.1 and localhost, not for '%'.
    let msg = expect_permanent(
        set(c.as_ref(), &account("alice", &[]), pw).await,
        &[pw, SVC_PW],
    );
    assert!(
        msg.contains("'alice'@'%'") && msg.contains("does not exist"),
        "{msg}"
    );
    // The second host fails after the first succeeded: say so.
    let msg = expect_permanent(
        set(
            c.as_ref(),
            &account("carol", &[("hosts", "127.0.0.1,10.9.9.9")]),
            pw,
        )
        .await,
        &[pw, SVC_PW],
    );
    assert!(msg.contains("1 of 2 hosts"), "{msg}");

    let wrong = "Wrong-Mdb-Secret";
    let bad = connector(db.port, wrong);
    let err = bad
        .check()
        .await
        .expect_err("check with a wrong password fails");
    assert_no_secret(&err, &[wrong, SVC_PW]);
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    assert!(
        err.to_string().contains("refused the service account"),
        "{err}"
    );
    expect_permanent(
        set(
            bad.as_ref(),
            &account("alice", &[("hosts", "127.0.0.1")]),
            pw,
        )
        .await,
        &[pw, wrong],
    );
    assert!(
        db.can_login("alice", "OldPassw0rd!").await,
        "nothing changed"
    );

    // The server's password validation refuses: readable and permanent.
    db.admin(&["INSTALL SONAME 'simple_password_check'"]).await;
    let weak = "weakpassword";
    let msg = expect_permanent(
        set(
            c.as_ref(),
            &account("alice", &[("hosts", "127.0.0.1")]),
            weak,
        )
        .await,
        &[weak, SVC_PW],
    );
    assert!(msg.contains("password validation policy"), "{msg}");
}

#[tokio::test]
async fn mariadb_server_down_is_transient() {
    let c = connector(dead_port(), SVC_PW);
    let pw = "Unreachable#Pass1";
    let msg = expect_transient(
        set(c.as_ref(), &account("alice", &[]), pw).await,
        &[pw, SVC_PW],
    );
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(c.check().await.expect_err("check fails").is_transient());
}

#[test]
fn mariadb_account_mapping() {
    let pairs = |a| account_targets(&a).unwrap_or_default();
    assert_eq!(
        pairs(account("bob", &[])),
        vec![("bob".to_owned(), "%".to_owned())]
    );
    assert_eq!(
        pairs(account("bob@10.0.0.%", &[])),
        vec![("bob".to_owned(), "10.0.0.%".to_owned())]
    );
    assert_eq!(
        pairs(account("bob@corp", &[("hosts", "%, localhost")])),
        vec![
            ("bob@corp".to_owned(), "%".to_owned()),
            ("bob@corp".to_owned(), "localhost".to_owned())
        ]
    );
    assert!(account_targets(&account("bob", &[("hosts", " , ")])).is_err());
}

#[test]
fn mariadb_config_errors_name_the_field() {
    let secrets = json!({"password": "mdb-secret-x"});
    let cfg = |c: serde_json::Value| build(ConnectorKind::Mariadb, &c, Some(&secrets));
    expect_config_error(cfg(json!({"user": "u"})), "host");
    expect_config_error(cfg(json!({"host": "h"})), "user");
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "port": "3306"})),
        "port",
    );
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "sslMode": "require"})),
        "sslMode",
    );
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "hosts": "%"})),
        "hosts",
    );
    expect_config_error(
        cfg(json!({"host": "h", "user": "u", "connectTimeoutMs": 700000})),
        "connectTimeoutMs",
    );
    expect_config_error(
        build(
            ConnectorKind::Mariadb,
            &json!({"host": "h", "user": "u"}),
            None,
        ),
        "password",
    );
    assert!(cfg(json!({"host": "h", "user": "u", "sslMode": "verifyIdentity"})).is_ok());
}
