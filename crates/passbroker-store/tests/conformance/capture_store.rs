//! `CaptureStore` (agents' sources, sync groups' capture setting, echoes, agents' keys, the
//! notes of propagated changes), on both backends.

use crate::checks::seed;
use crate::fixtures::{request, source};
use passbroker_core::client::ApiClient;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::{PolicyId, RequestId, SyncGroupId};
use passbroker_store::{CapturePolicyFailure, WriteOp};

crate::check! {
    async fn capture_store_round_trips(store: &dyn Store) {
        let (identity, origin, account) = seed(store).await;
        let other = source("Corp-LDAP");
        let policy = PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: "P".into(),
            ..PasswordPolicy::default()
        };
        let group = PasswordSyncGroup {
            id: SyncGroupId::generate(),
            name: "G".into(),
            password_policy_id: policy.id.clone().unwrap(),
            source_ids: vec![origin.id.clone(), other.id.clone()],
            created: Millis(1),
            modified: Millis(1),
        };
        let client = ApiClient {
            client_id: "agent-1".into(),
            name: "agent".into(),
            secret_hash: None,
            scopes: vec!["passbroker:password-capture:write".into()],
            grant_types: vec!["client_credentials".into()],
            redirect_uris: vec![],
            created: Millis(1),
            disabled: false,
        };
        store
            .apply(vec![
                WriteOp::UpsertSource(other.clone()),
                WriteOp::UpsertPolicy(policy),
                WriteOp::UpsertSyncGroup(group.clone()),
                WriteOp::UpsertClient(client),
            ])
            .await
            .unwrap();
        let c = store.capture();

        // Bindings: replaced as a whole; a source is an origin while some client is bound.
        assert!(c.capture_sources("agent-1").await.unwrap().is_empty());
        assert!(!c.is_capture_origin(&origin.id).await.unwrap());
        c.set_capture_sources("agent-1", &[origin.id.clone(), other.id.clone()]).await.unwrap();
        c.set_capture_sources("agent-1", std::slice::from_ref(&origin.id)).await.unwrap();
        assert_eq!(c.capture_sources("agent-1").await.unwrap(), vec![origin.id.clone()]);
        assert!(c.is_capture_origin(&origin.id).await.unwrap());
        assert!(!c.is_capture_origin(&other.id).await.unwrap());

        // The group's setting: hold until set, then what was set.
        assert_eq!(c.capture_policy_failure(&group.id).await.unwrap(), CapturePolicyFailure::Hold);
        c.set_capture_policy_failure(&group.id, CapturePolicyFailure::Propagate).await.unwrap();
        assert_eq!(c.capture_policy_failure(&group.id).await.unwrap(), CapturePolicyFailure::Propagate);

        // Echoes: found within the window, for that account and MAC only; old ones purged.
        let r1 = RequestId::generate();
        let r2 = RequestId::generate();
        c.record_echo(&account.id, &[1, 2, 3], &r1, Millis(1_000), Millis(0)).await.unwrap();
        assert_eq!(c.find_echo(&account.id, &[1, 2, 3], Millis(500)).await.unwrap(), Some(r1.clone()));
        assert_eq!(c.find_echo(&account.id, &[1, 2, 4], Millis(500)).await.unwrap(), None);
        assert_eq!(c.find_echo(&account.id, &[1, 2, 3], Millis(1_001)).await.unwrap(), None);
        c.record_echo(&account.id, &[1, 2, 3], &r2, Millis(2_000), Millis(1_500)).await.unwrap();
        assert_eq!(c.find_echo(&account.id, &[1, 2, 3], Millis(0)).await.unwrap(), Some(r2.clone()));

        // Agents' keys: per client, within the window.
        let report = |agent_key, request, disposition| passbroker_store::CaptureReport {
            client_id: "agent-1",
            agent_key,
            request,
            account: &account.id,
            source: &origin.id,
            identity: &identity.id,
            disposition,
        };
        c.record_capture_report(&report("dc1:7", &r1, "QUEUED"), Millis(1_000), Millis(0)).await.unwrap();
        assert_eq!(c.find_capture_report("agent-1", "dc1:7", Millis(0)).await.unwrap(), Some(r1.clone()));
        assert_eq!(c.find_capture_report("agent-2", "dc1:7", Millis(0)).await.unwrap(), None);
        assert_eq!(c.find_capture_report("agent-1", "dc1:7", Millis(1_001)).await.unwrap(), None);
        // Each report and each echo is an event, in the same transaction.
        c.record_capture_echo(&report("dc2:8", &r2, "ECHO"), Millis(1_100)).await.unwrap();
        let events = store.events().events_after(0, None, 100).await.unwrap();
        let kinds: Vec<(&str, Option<&str>)> =
            events.iter().map(|e| (e.kind.as_str(), e.subject.as_deref())).collect();
        assert_eq!(
            kinds,
            vec![
                ("passbroker.password.capture.received", Some(r1.as_str())),
                ("passbroker.password.capture.echo_dropped", Some(r2.as_str())),
            ]
        );

        // A propagated change's notes live with its request.
        let (req, tasks) = request(&identity, &account, None, 10);
        store.create_request(&req, &tasks, Millis(0)).await.unwrap();
        assert!(c.capture_notes(&req.id).await.unwrap().is_empty());
        let notes = vec!["rule one".to_owned(), "rule \"two\"".to_owned()];
        c.set_capture_notes(&req.id, &notes).await.unwrap();
        assert_eq!(c.capture_notes(&req.id).await.unwrap(), notes);
    }
}
