//! The workers' batched writes, on both backends: a claim of several requests with their
//! tasks, the start of a step's attempts under the lease, and a step's record (tasks, audit
//! events, the request released or ended) in one transaction.

use crate::fixtures::request;
use passbroker_core::audit::AuditEvent;
use passbroker_core::request::{RequestState, TaskState};
use passbroker_core::time::Millis;
use passbroker_core::AuditEventId;
use passbroker_store::event_store::types;
use passbroker_store::{StepEnd, StepRecord};

fn audit(action: &str, request: &str) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::generate(),
        at: Millis(2_000),
        actor: "system".into(),
        action: action.into(),
        request_id: Some(request.into()),
        source_id: None,
        identity_id: None,
        outcome: "SUCCESS".into(),
        detail: "step".into(),
    }
}

crate::check! {
    /// A batch claim leases the oldest due requests (at most `limit`), each with its tasks,
    /// and no request twice; a second claimer gets the rest.
    async fn steps_claim_a_batch_with_tasks(store: &dyn Store) {
        let (i, _, a) = crate::checks::seed(store).await;
        let mut made = Vec::new();
        for n in 0..5 {
            let (r, t) = request(&i, &a, None, 1_000 + n);
            store.create_request(&r, &t, Millis(0)).await.unwrap();
            made.push((r, t));
        }
        let first = store.claim_requests("w1", Millis(5_000), 30_000, 3).await.unwrap();
        let ids: Vec<_> = first.iter().map(|c| c.request.id.clone()).collect();
        let oldest: Vec<_> = made[..3].iter().map(|(r, _)| r.id.clone()).collect();
        assert_eq!(ids, oldest, "the oldest due, in order");
        for c in &first {
            let (_, t) = made.iter().find(|(r, _)| r.id == c.request.id).unwrap();
            assert_eq!(&c.tasks, t, "each with its own tasks");
        }
        let rest = store.claim_requests("w2", Millis(5_000), 30_000, 10).await.unwrap();
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|c| !ids.contains(&c.request.id)));
        assert!(store.claim_requests("w3", Millis(5_000), 30_000, 10).await.unwrap().is_empty());
    }
}

crate::check! {
    /// Starting attempts needs the lease; it stores the marks and the policy's pass.
    async fn steps_start_needs_the_lease(store: &dyn Store) {
        let (i, _, a) = crate::checks::seed(store).await;
        let (r, mut t) = request(&i, &a, None, 1_000);
        store.create_request(&r, &t, Millis(0)).await.unwrap();
        t[0].attempts = 1;
        t[0].attempt_started = Some(Millis(1_500));
        assert!(!store.start_attempts(&r.id, "w1", true, &t).await.unwrap(), "no lease yet");
        let claimed = store.claim_requests("w1", Millis(1_000), 2_000, 8).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(!store.start_attempts(&r.id, "w2", true, &t).await.unwrap(), "not the holder");
        let (req, tasks) = store.request_with_tasks(&r.id).await.unwrap().unwrap();
        assert!(!req.validated && tasks[0].attempts == 0, "a refused start writes nothing");
        assert!(store.start_attempts(&r.id, "w1", true, &t).await.unwrap());
        let (req, tasks) = store.request_with_tasks(&r.id).await.unwrap().unwrap();
        assert!(req.validated);
        assert_eq!(tasks, t);
    }
}

crate::check! {
    /// A step's record: a retried task and a release, then an ended task and the request's
    /// end with audit, events once, and the ciphertext erased.
    async fn steps_record_release_then_finish(store: &dyn Store) {
        let (i, _, a) = crate::checks::seed(store).await;
        let (r, mut t) = request(&i, &a, None, 1_000);
        store.create_request(&r, &t, Millis(0)).await.unwrap();
        store.claim_requests("w1", Millis(1_000), 30_000, 8).await.unwrap();
        t[0].attempts = 1;
        t[0].next_attempt_at = Millis(9_000);
        t[0].error = Some("My-AD: timed out (attempt 1, will retry)".into());
        let release = StepRecord {
            request_id: r.id.clone(),
            owner: "w1".into(),
            tasks: t.clone(),
            audit: vec![],
            end: StepEnd::Release { next_attempt_at: Millis(9_000) },
        };
        store.record_step(release).await.unwrap();
        assert!(store.claim_requests("w2", Millis(8_999), 30_000, 8).await.unwrap().is_empty());
        let again = store.claim_requests("w2", Millis(9_000), 30_000, 8).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].tasks, t, "the retry was stored");
        t[0].state = TaskState::Succeeded;
        t[0].attempts = 2;
        t[0].error = None;
        t[0].finished = Some(Millis(9_500));
        let finish = StepRecord {
            request_id: r.id.clone(),
            owner: "w2".into(),
            tasks: t.clone(),
            audit: vec![audit("PASSWORD_CHANGE_TARGET_SUCCEEDED", r.id.as_str()), audit("PASSWORD_CHANGE_FINISHED", r.id.as_str())],
            end: StepEnd::Finish { state: RequestState::Finished, errors: vec![], now: Millis(9_600) },
        };
        store.record_step(finish.clone()).await.unwrap();
        // Recorded again (a retried write) ends nothing twice.
        store.record_step(StepRecord { audit: vec![], ..finish }).await.unwrap();
        let (req, tasks) = store.request_with_tasks(&r.id).await.unwrap().unwrap();
        assert_eq!(req.state, RequestState::Finished);
        assert_eq!(req.ciphertext, None);
        assert_eq!(tasks, t);
        let events = store.events().events_after(0, None, 100).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, [types::CHANGE_ACCEPTED, types::TARGET_SUCCEEDED, types::CHANGE_FINISHED]);
        let filter = passbroker_store::AuditFilter {
            request_id: Some(r.id.to_string()),
            ..Default::default()
        };
        let (audit, _) = store.list_audit(&filter, passbroker_store::Page::default()).await.unwrap();
        let mut actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        actions.sort_unstable();
        assert_eq!(actions, ["PASSWORD_CHANGE_FINISHED", "PASSWORD_CHANGE_TARGET_SUCCEEDED"]);
    }
}
