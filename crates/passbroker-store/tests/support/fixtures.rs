//! Values the store tests build: an identity, a source, an account, a request.

#![allow(dead_code)]

use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::request::{
    Actor, Encryption, PasswordChangeRequest, RequestState, TargetTask, TaskState,
};
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, PublicKeyId, RequestId, SourceId, TaskId};
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

/// A request in progress for the account, with its one task.
pub fn request(
    identity: &Identity,
    account: &Account,
    key: Option<&str>,
    created: i64,
) -> (PasswordChangeRequest, Vec<TargetTask>) {
    let id = RequestId::generate();
    let req = PasswordChangeRequest {
        id: id.clone(),
        identity_id: identity.id.clone(),
        requested_by: Actor::Client("c1".into()),
        source_id: account.source_id.clone(),
        account_ref: account.id.clone(),
        public_key_id: PublicKeyId::generate(),
        encryption: Encryption::Pkcs1v15,
        ciphertext: Some(vec![7; 256]),
        state: RequestState::InProgress,
        errors: vec![],
        validated: false,
        created: Millis(created),
        deadline: Millis(created + 60_000),
        finished: None,
        next_attempt_at: Millis(created),
        idempotency_key: key.map(str::to_owned),
    };
    let task = TargetTask {
        id: TaskId::generate(),
        request_id: id,
        account_ref: account.id.clone(),
        source_id: account.source_id.clone(),
        state: TaskState::Pending,
        attempts: 0,
        next_attempt_at: Millis(created),
        error: None,
        finished: None,
        attempt_started: None,
    };
    (req, vec![task])
}
