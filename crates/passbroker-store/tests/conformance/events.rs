//! `EventStore` (the outbox, subscriptions, their cursors and leases, dead letters), on both
//! backends: every change that reports an event writes it in its own transaction, once.

use crate::fixtures::request;
use passbroker_core::request::{RequestState, TaskState};
use passbroker_core::time::Millis;
use passbroker_store::event_store::types;
use passbroker_store::Subscription;

fn subscription(id: &str) -> Subscription {
    Subscription {
        id: id.into(),
        name: "SIEM".into(),
        trigger_id: "passbroker:all".into(),
        config: "{}".into(),
        filter: None,
        enabled: true,
        wrapped_secrets: vec![1, 2, 3],
        created: Millis(1),
        modified: Millis(1),
        last_seq: 0,
        attempts: 0,
        next_attempt_at: Millis(0),
        last_error: None,
    }
}

crate::check! {
    async fn events_outbox_reports_a_request_once_in_order(store: &dyn Store) {
        let (i, _, a) = crate::checks::seed(store).await;
        let (r, mut tasks) = request(&i, &a, None, 1_000);
        store.create_request(&r, &tasks, Millis(0)).await.unwrap();
        tasks[0].state = TaskState::Succeeded;
        tasks[0].finished = Some(Millis(2_000));
        store.update_task(&tasks[0]).await.unwrap();
        // Stored again (a repeated write after an unknown outcome) reports nothing twice.
        store.update_task(&tasks[0]).await.unwrap();
        store
            .finish_request(&r.id, RequestState::Finished, &[], Millis(3_000))
            .await
            .unwrap();
        store
            .finish_request(&r.id, RequestState::Finished, &[], Millis(3_001))
            .await
            .unwrap();
        let events = store.events().events_after(0, None, 100).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [types::CHANGE_ACCEPTED, types::TARGET_SUCCEEDED, types::CHANGE_FINISHED]
        );
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(events.iter().all(|e| e.subject.as_deref() == Some(r.id.as_str())));
        assert_eq!(events[1].time, Millis(2_000));
        // Ids and outcomes, never the ciphertext.
        assert!(events.iter().all(|e| !e.data.contains("ciphertext") && !e.data.contains("[7,7")));
        let only = store
            .events()
            .events_after(events[0].seq, Some(types::CHANGE_FINISHED), 100)
            .await
            .unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(store.events().purge_events(Millis(2_500)).await.unwrap(), 2);
        assert_eq!(store.events().events_after(0, None, 100).await.unwrap().len(), 1);
    }
}

crate::check! {
    async fn events_failed_request_reports_rules_and_a_breach(store: &dyn Store) {
        let (i, _, a) = crate::checks::seed(store).await;
        let (r, tasks) = request(&i, &a, None, 1_000);
        store.create_request(&r, &tasks, Millis(0)).await.unwrap();
        let errors = vec![format!("{}; choose another.", passbroker_store::event_store::BREACH_MESSAGE_PREFIX)];
        store
            .finish_request(&r.id, RequestState::Failed, &errors, Millis(3_000))
            .await
            .unwrap();
        let events = store.events().events_after(0, None, 100).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [types::CHANGE_ACCEPTED, types::CHANGE_FAILED, types::POLICY_REJECTED, types::BREACHED_REFUSED]
        );
        assert!(events[1].data.contains("choose another"));
    }
}

crate::check! {
    async fn events_subscription_cursor_lease_dead_letters_and_replay(store: &dyn Store) {
        let ev = store.events();
        ev.push_event("passbroker.test.before", None, "{}", Millis(1)).await.unwrap();
        ev.create_subscription(&subscription("s1")).await.unwrap();
        let s = ev.get_subscription("s1").await.unwrap().unwrap();
        // A new subscription starts after the newest event.
        assert!(ev.events_after(s.last_seq, None, 10).await.unwrap().is_empty());
        ev.push_event("passbroker.test.one", Some("r1"), r#"{"n":1}"#, Millis(2)).await.unwrap();
        ev.push_event("passbroker.test.two", Some("r1"), r#"{"n":2}"#, Millis(3)).await.unwrap();
        let batch = ev.events_after(s.last_seq, None, 10).await.unwrap();
        assert_eq!(batch.len(), 2);
        // One node at a time.
        assert!(ev.lease_subscription("s1", "a", Millis(10), Millis(100)).await.unwrap());
        assert!(!ev.lease_subscription("s1", "b", Millis(50), Millis(150)).await.unwrap());
        assert!(!ev.advance_subscription("s1", "b", batch[0].seq).await.unwrap());
        assert!(ev.retry_subscription("s1", "a", 1, Millis(60), "HTTP 500").await.unwrap());
        let s = ev.get_subscription("s1").await.unwrap().unwrap();
        assert_eq!((s.attempts, s.next_attempt_at, s.last_error.as_deref()), (1, Millis(60), Some("HTTP 500")));
        assert!(ev.dead_letter("s1", "a", &batch[0], 2, "HTTP 500", Millis(70)).await.unwrap());
        assert!(ev.advance_subscription("s1", "a", batch[1].seq).await.unwrap());
        // The cursor never moves back.
        assert!(!ev.advance_subscription("s1", "a", batch[0].seq).await.unwrap());
        let s = ev.get_subscription("s1").await.unwrap().unwrap();
        assert_eq!((s.last_seq, s.attempts), (batch[1].seq, 0));
        // The lease runs out; another node takes over.
        assert!(ev.lease_subscription("s1", "b", Millis(100), Millis(200)).await.unwrap());
        let dead = ev.dead_letters("s1", 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].event, batch[0]);
        assert!(ev.replays_due("s1", 10).await.unwrap().is_empty());
        assert_eq!(ev.replay_dead_letters("s1", None).await.unwrap(), 1);
        assert_eq!(ev.replays_due("s1", 10).await.unwrap().len(), 1);
        ev.replay_failed("s1", batch[0].seq, "still down").await.unwrap();
        assert!(ev.replays_due("s1", 10).await.unwrap().is_empty());
        assert_eq!(ev.replay_dead_letters("s1", Some(batch[0].seq)).await.unwrap(), 1);
        ev.delete_dead_letter("s1", batch[0].seq).await.unwrap();
        assert!(ev.dead_letters("s1", 10).await.unwrap().is_empty());
        let mut changed = s.clone();
        changed.name = "SIEM 2".into();
        assert!(ev.update_subscription(&changed).await.unwrap());
        assert_eq!(ev.list_subscriptions().await.unwrap()[0].name, "SIEM 2");
        assert!(ev.delete_subscription("s1").await.unwrap());
        assert!(!ev.delete_subscription("s1").await.unwrap());
    }
}
