//! The LDAP connector in Active Directory mode against a throwaway Samba AD DC.
//! It needs root and the fixed ports 127.0.0.1:389/636, so it is a single test, in the
//! nextest group `samba` (one DC at a time; `.config/nextest.toml`).

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
use std::collections::HashSet;
use std::sync::Arc;

const ALICE_DN: &str = "CN=alice,CN=Users,DC=test,DC=local";
const OLD: &str = "Old#Passw0rd1";

fn unicode_pwd(p: &str) -> Vec<u8> {
    format!("\"{p}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn connector(samba: &SambaAd, bind_password: &str) -> Arc<dyn Connector> {
    let config = json!({
        "url": samba.ldaps_url, "bindDn": AD_ADMIN_DN, "mode": "activeDirectory",
        "caFile": samba.ca_file.display().to_string(),
    });
    build(
        ConnectorKind::Ldap,
        &config,
        Some(&json!({"bindPassword": bind_password})),
    )
    .expect("AD connector builds")
}

#[tokio::test]
async fn ldap_ad_samba_unicode_pwd_reset_policy_and_check() {
    let Some(samba) = SambaAd::start().await else {
        return;
    };
    let mut admin = samba.admin().await;
    let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
        (b"objectClass".to_vec(), HashSet::from([b"user".to_vec()])),
        (
            b"sAMAccountName".to_vec(),
            HashSet::from([b"alice".to_vec()]),
        ),
        (
            b"userPrincipalName".to_vec(),
            HashSet::from([b"alice@test.local".to_vec()]),
        ),
        (b"unicodePwd".to_vec(), HashSet::from([unicode_pwd(OLD)])),
        (
            b"userAccountControl".to_vec(),
            HashSet::from([b"512".to_vec()]),
        ),
    ];
    admin
        .add(ALICE_DN, attrs)
        .await
        .expect("add")
        .success()
        .expect("create alice");
    assert_eq!(samba.bind_rc(ALICE_DN, OLD).await, 0);

    let c = connector(&samba, AD_ADMIN_PW);
    let description = c.check().await.expect("check succeeds");
    assert!(description.contains("activeDirectory"), "{description}");

    let new = "N3w#Pässw0rd'\"";
    set(c.as_ref(), &account(ALICE_DN, &[]), new)
        .await
        .expect("unicodePwd reset succeeds");
    assert_eq!(
        samba.bind_rc(ALICE_DN, new).await,
        0,
        "bind with the new password"
    );
    assert_eq!(
        samba.bind_rc(ALICE_DN, OLD).await,
        49,
        "old password refused with 49"
    );
    // The check before repeating an interrupted attempt (a bind as alice; AD's sub-code 52e
    // is a wrong password).
    assert_eq!(
        verify(c.as_ref(), &account(ALICE_DN, &[]), new)
            .await
            .unwrap(),
        passbroker_connectors::Verification::Current
    );
    assert_eq!(
        verify(c.as_ref(), &account(ALICE_DN, &[]), OLD)
            .await
            .unwrap(),
        passbroker_connectors::Verification::NotCurrent
    );

    let short = "abc";
    let msg = expect_permanent(
        set(c.as_ref(), &account(ALICE_DN, &[]), short).await,
        &[short, AD_ADMIN_PW],
    );
    assert!(
        msg.contains("password policy") && msg.contains("too short"),
        "{msg}"
    );

    let pw = "Ghost#Passw0rd1";
    expect_permanent(
        set(
            c.as_ref(),
            &account("CN=ghost,CN=Users,DC=test,DC=local", &[]),
            pw,
        )
        .await,
        &[pw],
    );

    let wrong = "Wrong#Admin99";
    let err = connector(&samba, wrong)
        .check()
        .await
        .expect_err("wrong bind password");
    assert_no_secret(&err, &[wrong, AD_ADMIN_PW]);
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    let _ = admin.unbind().await;
}
