//! The SCIM connector against a throwaway scim2-server (see tests/fixtures), plus a tiny
//! canned HTTP responder for server errors.

mod fixtures;

use fixtures::*;
use passbroker_connectors::{Connector, ConnectorError};

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
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn connector(base_url: &str, token: &str) -> Arc<dyn Connector> {
    let config = json!({"baseUrl": base_url, "connectTimeoutMs": 2000, "operationTimeoutMs": 5000});
    build(ConnectorKind::Scim, &config, Some(&json!({"token": token})))
        .expect("scim connector builds")
}

#[tokio::test]
async fn scim_patch_sets_password_proven_by_filter() {
    let Some(scim) = Scim::start().await else {
        return;
    };
    let id = scim.create_user("alice", "OldPassw0rd!").await;
    let c = connector(&scim.base_url, SCIM_TOKEN);
    let new = "N3w \"quoted\" Pässword!";
    set(c.as_ref(), &account(&id, &[]), new)
        .await
        .expect("PATCH succeeds");
    assert!(
        scim.password_matches("alice", new).await,
        "the server holds the new password"
    );
    assert!(
        !scim.password_matches("alice", "OldPassw0rd!").await,
        "and no longer the old one"
    );
}

#[tokio::test]
async fn scim_refusals_are_permanent_with_the_scim_detail() {
    let Some(scim) = Scim::start().await else {
        return;
    };
    let id = scim.create_user("bob", "OldPassw0rd!").await;
    let c = connector(&scim.base_url, SCIM_TOKEN);

    // PRECIS (RFC 8265 OpaqueString) refuses control characters: HTTP 400 invalidValue.
    let bad = "bell\u{7}Passw0rd";
    let msg = expect_permanent(
        set(c.as_ref(), &account(&id, &[]), bad).await,
        &[bad, SCIM_TOKEN],
    );
    assert!(
        msg.contains("HTTP 400") && msg.contains("invalidValue") && !msg.contains("x07"),
        "{msg}"
    );
    assert!(
        scim.password_matches("bob", "OldPassw0rd!").await,
        "refused change left the password alone"
    );

    let pw = "Some#Passw0rd1";
    let msg = expect_permanent(
        set(c.as_ref(), &account("no-such-user", &[]), pw).await,
        &[pw, SCIM_TOKEN],
    );
    assert!(
        msg.contains("HTTP 404") && msg.contains("not found"),
        "{msg}"
    );
}

#[tokio::test]
async fn scim_check_succeeds_and_fails_with_a_wrong_token() {
    let Some(scim) = Scim::start().await else {
        return;
    };
    let description = connector(&scim.base_url, SCIM_TOKEN)
        .check()
        .await
        .expect("check succeeds");
    assert!(
        description.contains("authenticated") && description.contains("changePassword supported"),
        "{description}"
    );
    assert!(
        !description.contains(SCIM_TOKEN) && !description.contains('\n'),
        "{description}"
    );

    let wrong = "wrong-bearer-token-value";
    let bad = connector(&scim.base_url, wrong);
    let err = bad
        .check()
        .await
        .expect_err("a wrong token fails the check");
    assert_no_secret(&err, &[wrong, SCIM_TOKEN]);
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    assert!(err.to_string().contains("HTTP 401"), "{err}");

    let id = scim.create_user("carol", "OldPassw0rd!").await;
    let pw = "Carol#Passw0rd1";
    let msg = expect_permanent(
        set(bad.as_ref(), &account(&id, &[]), pw).await,
        &[pw, wrong],
    );
    assert!(msg.contains("service credentials"), "{msg}");
}

#[tokio::test]
async fn scim_server_down_is_transient() {
    let c = connector(&format!("http://127.0.0.1:{}", dead_port()), SCIM_TOKEN);
    let pw = "Unreachable#Pass1";
    let msg = expect_transient(
        set(c.as_ref(), &account("some-id", &[]), pw).await,
        &[pw, SCIM_TOKEN],
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert!(c.check().await.expect_err("check fails").is_transient());
}

/// Answers every request on a fresh port with one canned HTTP response.
async fn canned(status_line: &'static str, body: &'static str, delay_ms: u64) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(500),
                    sock.read(&mut buf),
                )
                .await;
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                let response = format!(
                    "HTTP/1.1 {status_line}\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn scim_5xx_and_timeouts_are_transient_4xx_permanent() {
    let pw = "Canned#Passw0rd1";
    let acct = account("u1", &[]);
    let port = canned(
        "503 Service Unavailable",
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"503","detail":"maintenance"}"#,
        0,
    )
    .await;
    let msg = expect_transient(
        set(
            connector(&format!("http://127.0.0.1:{port}"), SCIM_TOKEN).as_ref(),
            &acct,
            pw,
        )
        .await,
        &[pw],
    );
    assert!(
        msg.contains("HTTP 503") && msg.contains("maintenance"),
        "{msg}"
    );

    // A target that echoes the password in its detail: the connector withholds the detail.
    let port = canned(
        "400 Bad Request",
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidValue","detail":"password 'Canned#Passw0rd1' is too weak"}"#,
        0,
    )
    .await;
    let msg = expect_permanent(
        set(
            connector(&format!("http://127.0.0.1:{port}"), SCIM_TOKEN).as_ref(),
            &acct,
            pw,
        )
        .await,
        &[pw],
    );
    assert!(
        msg.contains("withheld") && msg.contains("invalidValue"),
        "{msg}"
    );

    // Slower than the operation timeout: transient.
    let port = canned("204 No Content", "", 3_000).await;
    let config = json!({"baseUrl": format!("http://127.0.0.1:{port}"), "operationTimeoutMs": 300});
    let slow = build(
        ConnectorKind::Scim,
        &config,
        Some(&json!({"token": SCIM_TOKEN})),
    )
    .expect("builds");
    let msg = expect_transient(set(slow.as_ref(), &acct, pw).await, &[pw]);
    assert!(msg.contains("300 ms"), "{msg}");
}

#[test]
fn scim_config_errors_name_the_field() {
    let secrets = json!({"token": "scim-secret-x"});
    let cfg = |c: serde_json::Value| build(ConnectorKind::Scim, &c, Some(&secrets));
    expect_config_error(cfg(json!({})), "baseUrl");
    expect_config_error(cfg(json!({"baseUrl": "not a url"})), "baseUrl");
    expect_config_error(
        cfg(json!({"baseUrl": "http://idp.example/scim"})),
        "baseUrl",
    );
    expect_config_error(
        cfg(json!({"baseUrl": "https://user:pw@idp.example/scim"})),
        "baseUrl",
    );
    expect_config_error(
        cfg(json!({"baseUrl": "https://idp.example", "auth": "digest"})),
        "auth",
    );
    expect_config_error(
        cfg(json!({"baseUrl": "https://idp.example", "url": "x"})),
        "url",
    );
    expect_config_error(
        cfg(json!({"baseUrl": "https://idp.example", "auth": "basic"})),
        "username",
    );
    let basic = json!({"baseUrl": "https://idp.example", "auth": "basic", "username": "svc"});
    let msg = expect_config_error(build(ConnectorKind::Scim, &basic, Some(&secrets)), "token");
    assert!(!msg.contains("scim-secret-x"), "{msg}");
    assert!(build(ConnectorKind::Scim, &basic, Some(&json!({"password": "p"}))).is_ok());
    expect_config_error(
        build(
            ConnectorKind::Scim,
            &json!({"baseUrl": "https://idp.example"}),
            None,
        ),
        "token",
    );
}
