//! The worker without the HTTP server: a `WorkerContext` built by hand over a SQLite store,
//! stepped with `try_run_once`.

use crate::helpers::encrypt_pkcs1;
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::request::{
    Actor, Encryption, PasswordChangeRequest, RequestState, TargetTask, TaskState,
};
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, RequestId, SourceId, TaskId};
use passbroker_crypto::KeyBits;
use passbroker_server::config::Config;
use passbroker_server::metrics::Metrics;
use passbroker_server::pipeline::breach::Breach;
use passbroker_server::pipeline::clock::Clock;
use passbroker_server::pipeline::connectors::ConnectorRegistry;
use passbroker_server::pipeline::intake::Backlog;
use passbroker_server::pipeline::keyring::KeyRing;
use passbroker_server::pipeline::secrets::Secrets;
use passbroker_server::pipeline::worker::{Outcome, Worker, WorkerContext, PAYLOAD_INVALID};
use passbroker_store::sqlite::{Durability, SqliteStore};
use passbroker_store::{Store, WriteOp};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Bench {
    cx: WorkerContext,
    source: Source,
    account: Account,
    _dir: tempfile::TempDir,
}

/// A store with one identity, one simulated source and its account, and the parts a
/// worker needs; no HTTP server, no application.
async fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("pb.db"), Durability::Normal)
            .await
            .unwrap(),
    );
    let secrets = Arc::new(Secrets::new(passbroker_crypto::MasterKey::generate()));
    let clock = Clock::default();
    let keys = Arc::new(KeyRing::new(
        store.clone(),
        secrets.clone(),
        KeyBits::B2048,
        3600,
        90,
    ));
    keys.init(clock.now()).await.unwrap();
    let now = clock.now();
    let identity = Identity {
        id: IdentityId::generate(),
        login_name: LoginName::parse("worker.step").unwrap(),
        display_name: "Worker Step".into(),
        email: None,
        attributes: BTreeMap::new(),
        user_level: UserLevel::User,
        active: true,
    };
    let source = Source {
        id: SourceId::generate(),
        name: SourceName::parse("Stepped").unwrap(),
        description: String::new(),
        features: vec!["PASSWORD".into()],
        connector: ConnectorKind::Simulated,
        connector_config: serde_json::json!({}),
        wrapped_secrets: None,
        owner: None,
        password_policy_id: None,
        delivery: DeliverySettings::default(),
        created: now,
        modified: now,
    };
    let account = Account {
        id: AccountRef::generate(),
        source_id: source.id.clone(),
        identity_id: identity.id.clone(),
        native_id: NativeAccountId::parse("cn=worker.step").unwrap(),
        account_name: "worker.step".into(),
        attributes: BTreeMap::new(),
        disabled: false,
    };
    store
        .apply(vec![
            WriteOp::UpsertIdentity(identity),
            WriteOp::UpsertSource(source.clone()),
            WriteOp::UpsertAccount(account.clone()),
        ])
        .await
        .unwrap();
    let (finished, _) = tokio::sync::broadcast::channel(16);
    let cx = WorkerContext {
        connectors: Arc::new(ConnectorRegistry::new(
            store.clone(),
            secrets,
            dir.path().to_path_buf(),
        )),
        breach: Arc::new(Breach::new(&Config::default())),
        metrics: Arc::new(Metrics::default()),
        clock,
        lease_ms: 30_000,
        backlog: Arc::new(Backlog::new(0)),
        finished,
        work_available: Arc::new(tokio::sync::Notify::new()),
        keys,
        store,
    };
    Bench {
        cx,
        source,
        account,
        _dir: dir,
    }
}

/// Queues a change of the bench account's password to `ciphertext`.
async fn queue(b: &Bench, ciphertext: Vec<u8>) -> RequestId {
    let now = b.cx.clock.now();
    let key = b.cx.keys.active().unwrap();
    let request = PasswordChangeRequest {
        id: RequestId::generate(),
        identity_id: b.account.identity_id.clone(),
        requested_by: Actor::System,
        source_id: b.source.id.clone(),
        account_ref: b.account.id.clone(),
        public_key_id: key.id,
        encryption: Encryption::Pkcs1v15,
        ciphertext: Some(ciphertext),
        state: RequestState::InProgress,
        errors: Vec::new(),
        validated: false,
        created: now,
        deadline: now.plus_millis(60_000),
        finished: None,
        next_attempt_at: now,
        idempotency_key: None,
    };
    let task = TargetTask {
        id: TaskId::generate(),
        request_id: request.id.clone(),
        account_ref: b.account.id.clone(),
        source_id: b.source.id.clone(),
        state: TaskState::Pending,
        attempts: 0,
        next_attempt_at: now,
        error: None,
        finished: None,
        attempt_started: None,
    };
    b.cx.store
        .create_request(&request, &[task], Millis(0))
        .await
        .unwrap();
    request.id
}

fn pkcs1(b: &Bench, password: &str) -> Vec<u8> {
    use base64::Engine;
    let key = b.cx.keys.active().unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(encrypt_pkcs1(&key.public_key_base64, password.as_bytes()))
        .unwrap()
}

#[tokio::test]
async fn worker_step_without_http_delivers_a_queued_change() {
    let b = bench().await;
    let worker = Worker::new(b.cx.clone(), "step");
    assert_eq!(worker.try_run_once().await.unwrap(), Outcome::Idle);

    let id = queue(&b, pkcs1(&b, "Stepped-without-HTTP-42")).await;
    let mut finished = b.cx.finished.subscribe();
    assert_eq!(
        worker.try_run_once().await.unwrap(),
        Outcome::Finished(id.clone(), RequestState::Finished)
    );
    assert_eq!(finished.try_recv().unwrap(), id);
    let (request, tasks) = b.cx.store.request_with_tasks(&id).await.unwrap().unwrap();
    assert_eq!(request.state, RequestState::Finished);
    assert!(request.ciphertext.is_none(), "the ciphertext is erased");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, TaskState::Succeeded);
    assert_eq!(tasks[0].attempts, 1);
    assert_eq!(worker.try_run_once().await.unwrap(), Outcome::Idle);
}

#[tokio::test]
async fn worker_step_without_http_refuses_an_unusable_payload() {
    let b = bench().await;
    let worker = Worker::new(b.cx.clone(), "step");
    let id = queue(&b, pkcs1(&b, "control\u{7}char")).await;
    assert_eq!(
        worker.try_run_once().await.unwrap(),
        Outcome::Finished(id.clone(), RequestState::Failed)
    );
    let request = b.cx.store.get_request(&id).await.unwrap().unwrap();
    assert_eq!(request.errors, vec![PAYLOAD_INVALID.to_owned()]);
    let tasks = b.cx.store.tasks_of_request(&id).await.unwrap();
    assert_eq!(tasks[0].state, TaskState::Failed);
}
