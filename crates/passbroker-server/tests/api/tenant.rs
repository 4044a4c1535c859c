//! Declarative tenant files: idempotent, all-or-nothing, errors that name entry and field.

use crate::helpers::*;
use passbroker_server::ops::tenant::{apply, export, parse};

const FILE: &str = r#"
policies:
  - name: Strict
    minLength: 12
    minUpper: 1
identities:
  - userName: Jane.Doe
    displayName: Jane Doe
    email: jane@example.com
    userLevel: ORG_ADMIN
    attributes: { department: IT }
sources:
  - name: Corp-LDAP
    features: [PASSWORD]
    connector: simulated
    config: { latencyMs: 1 }
    secrets: { note: "kept wrapped" }
    policy: Strict
    owner: Jane.Doe
  - name: Warehouse
    features: [PASSWORD]
    connector: simulated
accounts:
  - identity: Jane.Doe
    source: Corp-LDAP
    accountId: uid=jane,ou=people,dc=example,dc=com
    accountName: jane
  - identity: Jane.Doe
    source: Warehouse
    accountId: jane
syncGroups:
  - name: Corp
    policy: Strict
    sources: [Corp-LDAP, Warehouse]
"#;

#[tokio::test]
async fn applying_the_same_file_twice_changes_nothing() {
    let app = spawn_app().await;
    let s = &app.state;
    let file = parse(std::path::Path::new("t.yaml"), FILE).unwrap();
    let first = apply(
        s.store.as_ref(),
        &s.secrets,
        &s.config.data_dir,
        file,
        s.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(first.created, 7, "{first:?}");
    let snapshot = serde_json::to_string(&export(s.store.as_ref()).await.unwrap()).unwrap();
    s.clock.advance(5_000);
    let file = parse(std::path::Path::new("t.yaml"), FILE).unwrap();
    let second = apply(
        s.store.as_ref(),
        &s.secrets,
        &s.config.data_dir,
        file,
        s.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        (second.created, second.updated, second.unchanged),
        (0, 0, 7)
    );
    assert_eq!(
        serde_json::to_string(&export(s.store.as_ref()).await.unwrap()).unwrap(),
        snapshot
    );
    let source = s
        .store
        .find_source_by_name("Corp-LDAP")
        .await
        .unwrap()
        .unwrap();
    let wrapped = source.wrapped_secrets.clone().unwrap();
    assert!(
        !String::from_utf8_lossy(&wrapped).contains("kept wrapped"),
        "connector secrets are wrapped at rest"
    );
    assert!(
        !snapshot.contains("kept wrapped"),
        "export leaves secrets out"
    );
    assert!(s
        .store
        .sync_group_of_source(&source.id)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_bad_file_names_entry_and_field_and_changes_nothing() {
    let app = spawn_app().await;
    let s = &app.state;
    let before = serde_json::to_string(&export(s.store.as_ref()).await.unwrap()).unwrap();
    let bad = FILE
        .replace("email: jane@example.com", "email: not-an-email")
        .replace(
            "source: Warehouse\n    accountId: jane",
            "source: Nowhere\n    accountId: jane",
        );
    let file = parse(std::path::Path::new("t.yaml"), &bad).unwrap();
    let errors = apply(
        s.store.as_ref(),
        &s.secrets,
        &s.config.data_dir,
        file,
        s.clock.now(),
    )
    .await
    .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("identities[0]") && e.contains("email")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("accounts[1]") && e.contains("source") && e.contains("Nowhere")),
        "{errors:?}"
    );
    assert_eq!(
        serde_json::to_string(&export(s.store.as_ref()).await.unwrap()).unwrap(),
        before,
        "nothing changed"
    );
    let unknown_field = parse(
        std::path::Path::new("t.yaml"),
        "identities:\n  - userName: x\n    colour: red\n",
    )
    .unwrap_err();
    assert!(unknown_field.contains("colour"), "{unknown_field}");
}
