//! Values the store tests build: an identity, a source, an account.

#![allow(dead_code)]

use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, SourceId};
use std::collections::BTreeMap;

pub fn identity(login: &str) -> Identity {
    Identity {
        id: IdentityId::generate(),
        login_name: LoginName::parse(login).expect("valid login"),
        display_name: format!("{login} Display"),
        email: Some(format!("{login}@example.com")),
        attributes: BTreeMap::from([("department".to_owned(), "Sales".to_owned())]),
        user_level: UserLevel::User,
        active: true,
    }
}

pub fn source(name: &str) -> Source {
    Source {
        id: SourceId::generate(),
        name: SourceName::parse(name).expect("valid name"),
        description: "test source".into(),
        features: vec!["PASSWORD".into()],
        connector: ConnectorKind::Simulated,
        connector_config: serde_json::json!({"latencyMs": 0}),
        wrapped_secrets: Some(vec![1, 2, 3]),
        owner: None,
        password_policy_id: None,
        delivery: DeliverySettings::default(),
        created: Millis(1),
        modified: Millis(1),
    }
}

pub fn account(identity: &Identity, source: &Source, native: &str) -> Account {
    Account {
        id: AccountRef::generate(),
        source_id: source.id.clone(),
        identity_id: identity.id.clone(),
        native_id: NativeAccountId::parse(native).expect("valid native id"),
        account_name: native.to_owned(),
        attributes: BTreeMap::new(),
        disabled: false,
    }
}
