//! The LDAP connector against a throwaway OpenLDAP slapd (see tests/fixtures).

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

fn connector(
    url: &str,
    mode: &str,
    extra: serde_json::Value,
    bind_password: &str,
) -> Arc<dyn Connector> {
    let mut config = json!({"url": url, "bindDn": LDAP_SVC_DN, "mode": mode, "connectTimeoutMs": 2000, "operationTimeoutMs": 5000});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    build(
        ConnectorKind::Ldap,
        &config,
        Some(&json!({"bindPassword": bind_password})),
    )
    .expect("ldap connector builds")
}

#[tokio::test]
async fn ldap_password_modify_sets_password_and_old_one_fails() {
    let Some(slapd) = Slapd::start(false).await else {
        return;
    };
    let c = connector(&slapd.url, "passwordModify", json!({}), LDAP_SVC_PW);
    let new = "NewPassw0rd!2";
    set(c.as_ref(), &account(LDAP_ALICE_DN, &[]), new)
        .await
        .expect("password modify succeeds");
    assert_eq!(
        slapd.bind_rc(LDAP_ALICE_DN, new).await,
        0,
        "bind with the new password"
    );
    assert_eq!(
        slapd.bind_rc(LDAP_ALICE_DN, LDAP_OLD_PW).await,
        49,
        "old password is refused with 49"
    );
}

/// Hardening finding 5: before repeating an interrupted attempt the worker binds as the
/// account with the new password. The right password is `Current`, a wrong one
/// `NotCurrent`, an empty one is never tried (an unauthenticated bind would succeed).
#[tokio::test]
async fn hardening_ldap_verify_password_binds_as_the_account() {
    let Some(slapd) = Slapd::start(false).await else {
        return;
    };
    let c = connector(&slapd.url, "passwordModify", json!({}), LDAP_SVC_PW);
    let alice = account(LDAP_ALICE_DN, &[]);
    let new = "Verified-Passw0rd!3";
    assert_eq!(
        verify(c.as_ref(), &alice, new).await.unwrap(),
        Verification::NotCurrent,
        "not set yet"
    );
    set(c.as_ref(), &alice, new).await.expect("set");
    assert_eq!(
        verify(c.as_ref(), &alice, new).await.unwrap(),
        Verification::Current
    );
    assert_eq!(
        verify(c.as_ref(), &alice, LDAP_OLD_PW).await.unwrap(),
        Verification::NotCurrent,
        "the old password is no longer current"
    );
    assert_eq!(
        verify(c.as_ref(), &alice, "").await.unwrap(),
        Verification::Unsupported,
        "an empty password is never bound with"
    );
    assert_eq!(
        verify(
            c.as_ref(),
            &account("uid=ghost,ou=people,dc=example,dc=test", &[]),
            new
        )
        .await
        .unwrap(),
        Verification::NotCurrent,
        "an unknown account does not have it"
    );
    let down = connector(
        "ldap://127.0.0.1:1",
        "passwordModify",
        json!({}),
        LDAP_SVC_PW,
    );
    assert!(
        matches!(
            verify(down.as_ref(), &alice, new).await,
            Err(ConnectorError::Transient(_))
        ),
        "an unreachable directory cannot answer: transient"
    );
}

#[tokio::test]
async fn ldap_replace_mode_sets_password_and_old_one_fails() {
    let Some(slapd) = Slapd::start(false).await else {
        return;
    };
    let c = connector(&slapd.url, "replace", json!({}), LDAP_SVC_PW);
    let new = "Repl4ced!Pass";
    set(c.as_ref(), &account(LDAP_BOB_DN, &[]), new)
        .await
        .expect("userPassword replace succeeds");
    assert_eq!(slapd.bind_rc(LDAP_BOB_DN, new).await, 0);
    assert_eq!(slapd.bind_rc(LDAP_BOB_DN, LDAP_OLD_PW).await, 49);
}

#[tokio::test]
async fn ldap_ppolicy_refusals_are_permanent_and_readable() {
    let Some(slapd) = Slapd::start(false).await else {
        return;
    };
    for mode in ["passwordModify", "replace"] {
        let c = connector(&slapd.url, mode, json!({}), LDAP_SVC_PW);
        let dn = if mode == "replace" {
            LDAP_BOB_DN
        } else {
            LDAP_ALICE_DN
        };
        let acct = account(dn, &[]);

        let short = "sh0rt";
        let msg = expect_permanent(set(c.as_ref(), &acct, short).await, &[short, LDAP_SVC_PW]);
        assert!(msg.contains("too short"), "{mode}: {msg}");

        // Move off the initial password, then try to go back to it: it is in the history.
        set(c.as_ref(), &acct, "Fresh#Passw0rd1")
            .await
            .expect("a valid change");
        let msg = expect_permanent(
            set(c.as_ref(), &acct, LDAP_OLD_PW).await,
            &[LDAP_OLD_PW, LDAP_SVC_PW],
        );
        assert!(msg.contains("history"), "{mode}: {msg}");
        assert_eq!(
            slapd.bind_rc(dn, "Fresh#Passw0rd1").await,
            0,
            "{mode}: refused changes left the password alone"
        );
    }
}

#[tokio::test]
async fn ldap_unknown_account_and_bad_dn_are_permanent() {
    let Some(slapd) = Slapd::start(false).await else {
        return;
    };
    let c = connector(&slapd.url, "passwordModify", json!({}), LDAP_SVC_PW);
    let pw = "Whatever#12345";
    let msg = expect_permanent(
        set(
            c.as_ref(),
            &account("uid=nobody,ou=people,dc=example,dc=test", &[]),
            pw,
        )
        .await,
        &[pw],
    );
    assert!(msg.contains("does not exist"), "{msg}");
    let c = connector(&slapd.url, "replace", json!({}), LDAP_SVC_PW);
    let msg = expect_permanent(set(c.as_ref(), &account("not a dn", &[]), pw).await, &[pw]);
    assert!(msg.contains("DN"), "{msg}");
}

#[tokio::test]
async fn ldap_wrong_service_password_is_permanent_and_check_says_so() {
    let Some(slapd) = Slapd::start(false).await else {
        return;
    };
    let good = connector(&slapd.url, "passwordModify", json!({}), LDAP_SVC_PW);
    let description = good.check().await.expect("check succeeds");
    assert!(
        description.contains(LDAP_SVC_DN) && description.contains("127.0.0.1"),
        "{description}"
    );
    assert!(!description.contains('\n'), "one line: {description}");
    assert!(description.contains("RFC 3062"), "{description}");

    let wrong_bind = "Wrong-Bind-Secret";
    let bad = connector(&slapd.url, "passwordModify", json!({}), wrong_bind);
    let err = bad
        .check()
        .await
        .expect_err("check with a wrong bind password fails");
    assert_no_secret(&err, &[wrong_bind, LDAP_SVC_PW]);
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    assert!(err.to_string().contains("invalid credentials"), "{err}");

    let pw = "Another#Passw0rd";
    let msg = expect_permanent(
        set(bad.as_ref(), &account(LDAP_ALICE_DN, &[]), pw).await,
        &[pw, wrong_bind],
    );
    assert!(msg.contains("bindPassword"), "{msg}");
    assert_eq!(
        slapd.bind_rc(LDAP_ALICE_DN, LDAP_OLD_PW).await,
        0,
        "nothing changed"
    );
}

#[tokio::test]
async fn ldap_server_down_is_transient() {
    let url = format!("ldap://127.0.0.1:{}", dead_port());
    let c = connector(&url, "passwordModify", json!({}), LDAP_SVC_PW);
    let pw = "Unreachable#Pass1";
    let msg = expect_transient(
        set(c.as_ref(), &account(LDAP_ALICE_DN, &[]), pw).await,
        &[pw, LDAP_SVC_PW],
    );
    assert!(msg.contains("connection refused"), "{msg}");
    let err = c.check().await.expect_err("check fails");
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn ldap_ldaps_and_starttls_verify_the_server_with_ca_file() {
    let Some(slapd) = Slapd::start(true).await else {
        return;
    };
    let (Some(ldaps), Some(ca)) = (slapd.ldaps_url.clone(), slapd.ca_file.clone()) else {
        panic!("TLS fixture")
    };
    let ca = ca.display().to_string();

    let c = connector(&ldaps, "passwordModify", json!({"caFile": ca}), LDAP_SVC_PW);
    c.check().await.expect("check over LDAPS");
    set(c.as_ref(), &account(LDAP_ALICE_DN, &[]), "Ldaps#Passw0rd1")
        .await
        .expect("change over LDAPS");
    assert_eq!(slapd.bind_rc(LDAP_ALICE_DN, "Ldaps#Passw0rd1").await, 0);

    let c = connector(
        &slapd.url,
        "replace",
        json!({"caFile": ca, "startTls": true}),
        LDAP_SVC_PW,
    );
    let description = c.check().await.expect("check over StartTLS");
    assert!(description.contains("StartTLS"), "{description}");
    set(c.as_ref(), &account(LDAP_BOB_DN, &[]), "StartTls#Passw0rd2")
        .await
        .expect("change over StartTLS");
    assert_eq!(slapd.bind_rc(LDAP_BOB_DN, "StartTls#Passw0rd2").await, 0);

    // Without the CA the server's certificate is not trusted: a permanent TLS error.
    let c = connector(&ldaps, "passwordModify", json!({}), LDAP_SVC_PW);
    let pw = "Untrusted#Pass3";
    let msg = expect_permanent(
        set(c.as_ref(), &account(LDAP_ALICE_DN, &[]), pw).await,
        &[pw, LDAP_SVC_PW],
    );
    assert!(msg.contains("TLS"), "{msg}");
}

#[test]
fn ldap_config_errors_name_the_field() {
    let secrets = json!({"bindPassword": "x-secret-x"});
    let cfg = |c: serde_json::Value| build(ConnectorKind::Ldap, &c, Some(&secrets));
    expect_config_error(cfg(json!({"bindDn": "cn=x"})), "url");
    expect_config_error(cfg(json!({"url": "ldap://h"})), "bindDn");
    expect_config_error(
        cfg(json!({"url": "ldap://h", "bindDn": "cn=x", "bindPw": "no"})),
        "bindPw",
    );
    expect_config_error(cfg(json!({"url": "http://h", "bindDn": "cn=x"})), "url");
    expect_config_error(
        cfg(json!({"url": "ldap://h", "bindDn": "cn=x", "mode": "activeDirectory"})),
        "mode",
    );
    expect_config_error(
        cfg(json!({"url": "ldaps://h", "bindDn": "cn=x", "startTls": true})),
        "startTls",
    );
    expect_config_error(
        cfg(json!({"url": "ldap://h", "bindDn": "cn=x", "mode": "magic"})),
        "mode",
    );
    expect_config_error(
        cfg(json!({"url": "ldap://h", "bindDn": "cn=x", "connectTimeoutMs": 0})),
        "connectTimeoutMs",
    );
    expect_config_error(
        cfg(json!({"url": "ldap://h", "bindDn": "cn=x", "operationTimeoutMs": "10"})),
        "operationTimeoutMs",
    );
    expect_config_error(
        cfg(json!({"url": "ldap://h", "bindDn": "cn=x", "caFile": "/nonexistent/ca.pem"})),
        "caFile",
    );
    let missing = build(
        ConnectorKind::Ldap,
        &json!({"url": "ldap://h", "bindDn": "cn=x"}),
        None,
    );
    expect_config_error(missing, "bindPassword");
    let wrong = build(
        ConnectorKind::Ldap,
        &json!({"url": "ldap://h", "bindDn": "cn=x"}),
        Some(&json!({"token": "t-secret"})),
    );
    let msg = expect_config_error(wrong, "token");
    assert!(!msg.contains("t-secret"), "{msg}");
    assert!(cfg(
        json!({"url": "ldaps://dc.example:636", "bindDn": "cn=x", "mode": "activeDirectory"})
    )
    .is_ok());
}
