//! The store conformance suite against PostgreSQL: one throwaway cluster per test binary
//! (or the server named by PASSBROKER_TEST_POSTGRES_URL), a fresh database per test.
//! Select with `cargo test -p passbroker-store -- postgres_store`. Without PostgreSQL every
//! test says SKIP and passes, unless PASSBROKER_REQUIRE_SERVICES=1.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/postgres.rs"]
mod support;

use passbroker_core::time::Millis;
use passbroker_store::postgres::PostgresStore;
use passbroker_store::Store;

/// A migrated store on a new database, or None when PostgreSQL is missing (skipped loudly).
async fn fresh() -> Option<PostgresStore> {
    let url = support::fresh_database().await?;
    Some(
        PostgresStore::connect(&url, 4)
            .await
            .expect("connect to the test database"),
    )
}

/// PostgreSQL-specific checks: several pools on one database stand for several nodes.
mod postgres_store_nodes {
    use super::*;
    use crate::fixtures::{account, identity, request, source};
    use passbroker_core::audit::AuditEvent;
    use passbroker_core::keys::{KeyState, StoredRsaKey, StoredSigningKey};

    use passbroker_core::{AuditEventId, PolicyId, PublicKeyId};
    use passbroker_store::{
        CreateOutcome, CustomInstruction, DigitToken, StoreError, WebSession, WriteOp,
    };
    use std::collections::HashSet;
    use std::sync::Arc;

    /// Two stores (pools) on one new database, as two nodes see it.
    async fn two_nodes() -> Option<(String, PostgresStore, PostgresStore)> {
        let url = support::fresh_database().await?;
        let a = PostgresStore::connect(&url, 8).await.expect("node a");
        let b = PostgresStore::connect(&url, 8).await.expect("node b");
        Some((url, a, b))
    }

    async fn seed(
        store: &dyn Store,
    ) -> (
        passbroker_core::identity::Identity,
        passbroker_core::account::Account,
    ) {
        let i = identity("Abby.Smith");
        let s = source("My-AD");
        let a = account(&i, &s, "abby");
        store
            .apply(vec![
                WriteOp::UpsertIdentity(i.clone()),
                WriteOp::UpsertSource(s),
                WriteOp::UpsertAccount(a.clone()),
            ])
            .await
            .unwrap();
        (i, a)
    }

    #[tokio::test]
    async fn refuses_a_newer_schema() {
        let Some(url) = support::fresh_database().await else {
            return;
        };
        let store = PostgresStore::connect(&url, 2).await.unwrap();
        store.close().await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', TRUE, '\\x00', 0)")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = PostgresStore::connect(&url, 2).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew(_)), "{err}");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[tokio::test]
    async fn constraint_texts_match_sqlite() {
        let Some(store) = fresh().await else { return };
        let (i, a) = seed(&store).await;
        let conflict = |r: Result<(), StoreError>| match r {
            Err(StoreError::Conflict(m)) => m,
            other => panic!("expected a conflict, got {other:?}"),
        };
        let dup_source = source("My-AD");
        assert_eq!(
            conflict(store.apply(vec![WriteOp::UpsertSource(dup_source)]).await),
            "a source with this name already exists"
        );
        let mut dup_account = account(&i, &source("x"), "abby");
        dup_account.source_id = a.source_id.clone();
        assert_eq!(
            conflict(store.apply(vec![WriteOp::UpsertAccount(dup_account)]).await),
            "this source already has an account with this accountId"
        );
        assert_eq!(
            conflict(
                store
                    .apply(vec![WriteOp::UpsertIdentity(identity("ABBY.smith"))])
                    .await
            ),
            "an identity with this login name already exists"
        );
        let p = |name: &str| passbroker_core::policy::PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: name.into(),
            ..Default::default()
        };
        store
            .apply(vec![WriteOp::UpsertPolicy(p("P"))])
            .await
            .unwrap();
        assert_eq!(
            conflict(store.apply(vec![WriteOp::UpsertPolicy(p("P"))]).await),
            "a password policy with this name already exists"
        );
        let orphan = account(&identity("nobody.here"), &source("nowhere"), "n");
        assert_eq!(
            conflict(store.apply(vec![WriteOp::UpsertAccount(orphan)]).await),
            "it refers to something that does not exist, or something still refers to it"
        );
        let g = |name: &str, policy: &passbroker_core::policy::PasswordPolicy| {
            passbroker_core::sync_group::PasswordSyncGroup {
                id: passbroker_core::SyncGroupId::generate(),
                name: name.into(),
                password_policy_id: policy.id.clone().unwrap(),
                source_ids: vec![],
                created: Millis(1),
                modified: Millis(1),
            }
        };
        let policy = p("Q");
        store
            .apply(vec![
                WriteOp::UpsertPolicy(policy.clone()),
                WriteOp::UpsertSyncGroup(g("G", &policy)),
            ])
            .await
            .unwrap();
        assert_eq!(
            conflict(
                store
                    .apply(vec![WriteOp::UpsertSyncGroup(g("G", &policy))])
                    .await
            ),
            "a password sync group with this name already exists"
        );
        // A policy a sync group uses cannot go.
        assert!(conflict(
            store
                .apply(vec![WriteOp::DeletePolicy(policy.id.clone().unwrap())])
                .await
        )
        .contains("refers to"));
    }

    #[tokio::test]
    async fn every_request_is_claimed_by_exactly_one_worker_across_nodes() {
        let Some((_, a, b)) = two_nodes().await else {
            return;
        };
        let (i, acc) = seed(&a).await;
        let mut ids = HashSet::new();
        for n in 0..60 {
            let (r, t) = request(&i, &acc, None, 1_000 + n);
            a.create_request(&r, &t, Millis(0)).await.unwrap();
            ids.insert(r.id);
        }
        let nodes = [Arc::new(a), Arc::new(b)];
        let mut workers = Vec::new();
        for w in 0..12 {
            let store = nodes[w % 2].clone();
            workers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(r) = store
                    .claim_request(&format!("w{w}"), Millis(100_000), 60_000)
                    .await
                    .unwrap()
                {
                    got.push(r.id);
                }
                got
            }));
        }
        let mut claimed = Vec::new();
        for w in workers {
            claimed.extend(w.await.unwrap());
        }
        assert_eq!(claimed.len(), 60, "each request once");
        assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), ids);
        // A dead node's lease runs out; the other node then takes its request.
        assert!(
            nodes[1]
                .claim_request("late", Millis(150_000), 60_000)
                .await
                .unwrap()
                .is_none(),
            "all leased"
        );
        assert!(
            nodes[1]
                .claim_request("late", Millis(160_001), 60_000)
                .await
                .unwrap()
                .is_some(),
            "taken after the lease"
        );
    }

    #[tokio::test]
    async fn idempotency_holds_across_nodes_under_concurrency() {
        let Some((_, a, b)) = two_nodes().await else {
            return;
        };
        let (i, acc) = seed(&a).await;
        let nodes = [Arc::new(a), Arc::new(b)];
        let mut posts = Vec::new();
        for n in 0..16 {
            let store = nodes[n % 2].clone();
            let (r, t) = request(&i, &acc, Some("same-key"), 5_000);
            posts.push(tokio::spawn(async move {
                (
                    r.id.clone(),
                    store.create_request(&r, &t, Millis(0)).await.unwrap(),
                )
            }));
        }
        let mut created = Vec::new();
        let mut existing = HashSet::new();
        for p in posts {
            match p.await.unwrap() {
                (id, CreateOutcome::Created) => created.push(id),
                (_, CreateOutcome::Existing(id)) => {
                    existing.insert(id);
                }
            }
        }
        assert_eq!(created.len(), 1, "one request for one key");
        assert_eq!(
            existing,
            HashSet::from([created[0].clone()]),
            "the others point at it"
        );
        assert_eq!(nodes[1].count_requests(None).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn rate_limit_windows_are_shared_and_start_at_the_first_hit() {
        let Some((_, a, b)) = two_nodes().await else {
            return;
        };
        for n in 1..=10u64 {
            let node = if n % 2 == 0 { &a } else { &b };
            let w = node
                .rate_limit_hit("jti-1", Millis(1_000 + n as i64), 10_000)
                .await
                .unwrap();
            assert_eq!((w.start, w.hits), (Millis(1_001), n), "hit {n}");
        }
        assert_eq!(
            a.rate_limit_hit("other", Millis(2_000), 10_000)
                .await
                .unwrap()
                .hits,
            1,
            "per key"
        );
        let w = b
            .rate_limit_hit("jti-1", Millis(11_001), 10_000)
            .await
            .unwrap();
        assert_eq!(
            (w.start, w.hits),
            (Millis(11_001), 1),
            "a new window once the old one ended"
        );
        // Concurrent hits all count.
        let (a, b) = (Arc::new(a), Arc::new(b));
        let mut hits = Vec::new();
        for n in 0..40 {
            let node = if n % 2 == 0 { a.clone() } else { b.clone() };
            hits.push(tokio::spawn(async move {
                node.rate_limit_hit("burst", Millis(50_000), 10_000)
                    .await
                    .unwrap()
                    .hits
            }));
        }
        let mut counts: Vec<u64> = Vec::new();
        for h in hits {
            counts.push(h.await.unwrap());
        }
        counts.sort_unstable();
        assert_eq!(counts, (1..=40).collect::<Vec<_>>());
        assert_eq!(
            a.purge_rate_limits(Millis(40_000)).await.unwrap(),
            2,
            "jti-1 and other"
        );
    }

    #[tokio::test]
    async fn rotations_on_two_nodes_at_once_leave_one_active_key() {
        let Some((_, a, b)) = two_nodes().await else {
            return;
        };
        let key = |n: i64| StoredRsaKey {
            id: PublicKeyId::generate(),
            bits: 2048,
            state: KeyState::Active,
            public_der: vec![1],
            wrapped_private: Some(vec![2]),
            created: Millis(n),
            deactivated: None,
            retired: None,
        };
        let (a, b) = (Arc::new(a), Arc::new(b));
        let mut jobs = Vec::new();
        for n in 0..10 {
            let node = if n % 2 == 0 { a.clone() } else { b.clone() };
            let k = key(n);
            jobs.push(tokio::spawn(async move {
                node.rotate_rsa_key(&k, Millis(100 + n)).await.unwrap()
            }));
        }
        for j in jobs {
            j.await.unwrap();
        }
        let keys = a.list_rsa_keys().await.unwrap();
        assert_eq!(keys.len(), 10);
        assert_eq!(
            keys.iter().filter(|k| k.state == KeyState::Active).count(),
            1
        );
    }

    #[tokio::test]
    async fn copy_from_sqlite_moves_everything() {
        let Some(url) = support::fresh_database().await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let lite = passbroker_store::sqlite::SqliteStore::open(
            &dir.path().join("p.db"),
            passbroker_store::sqlite::Durability::Normal,
        )
        .await
        .unwrap();
        let (i, acc) = seed(&lite).await;
        let (r, t) = request(&i, &acc, Some("k1"), 1_000);
        lite.create_request(&r, &t, Millis(0)).await.unwrap();
        lite.set_meta("wrapped:master-key-check", &[1, 2, 3])
            .await
            .unwrap();
        lite.insert_rsa_key(&StoredRsaKey {
            id: PublicKeyId::generate(),
            bits: 2048,
            state: KeyState::Active,
            public_der: vec![1, 2],
            wrapped_private: Some(vec![3, 4]),
            created: Millis(5),
            deactivated: None,
            retired: None,
        })
        .await
        .unwrap();
        lite.insert_signing_key(&StoredSigningKey {
            kid: "k".into(),
            state: KeyState::Active,
            public_raw: vec![9],
            wrapped_private: Some(vec![8]),
            created: Millis(6),
            deactivated: None,
        })
        .await
        .unwrap();
        for n in 0..3 {
            lite.push_history(&acc.id, &format!("h{n}"), 5, Millis(n))
                .await
                .unwrap();
        }
        let events: Vec<AuditEvent> = (0..1_200)
            .map(|n| AuditEvent {
                id: AuditEventId::generate(),
                at: Millis(n),
                actor: "system".into(),
                action: "A".into(),
                request_id: None,
                source_id: None,
                identity_id: None,
                outcome: "INFO".into(),
                detail: format!("event {n}"),
            })
            .collect();
        lite.append_audit(&events).await.unwrap();
        lite.insert_digit_token(&DigitToken {
            id: "t1".into(),
            identity_id: i.id.clone(),
            salt: vec![1],
            hash: vec![2],
            created: Millis(1),
            expires: Millis(10_000),
            used: None,
            failed_attempts: 1,
            created_by: "client:c".into(),
        })
        .await
        .unwrap();
        lite.put_custom_instruction(&CustomInstruction {
            page_id: "p".into(),
            locale: "fr".into(),
            content: "Bonjour".into(),
            modified: Millis(3),
        })
        .await
        .unwrap();
        lite.insert_web_session(&WebSession {
            id_hash: "h".into(),
            identity_id: i.id.clone(),
            created: Millis(1),
            last_seen: Millis(2),
            expires: Millis(10_000),
        })
        .await
        .unwrap();
        let mut off = i.clone();
        off.active = false;
        lite.apply(vec![
            WriteOp::UpsertIdentity(off.clone()),
            WriteOp::PutDictionary("password\nletmein".into()),
        ])
        .await
        .unwrap();

        let pg = PostgresStore::connect(&url, 4).await.unwrap();
        let counts = passbroker_store::copy::sqlite_to_postgres(&lite, &pg)
            .await
            .unwrap();
        let of = |t: &str| {
            counts
                .iter()
                .find(|c| c.table == t)
                .map(|c| (c.source, c.target))
        };
        assert_eq!(of("audit_events"), Some((1_200, 1_200)));
        assert_eq!(of("requests"), Some((1, 1)));
        assert_eq!(of("tasks"), Some((1, 1)));
        assert_eq!(of("password_history"), Some((3, 3)));
        assert_eq!(of("web_sessions"), Some((1, 1)));
        assert!(counts.iter().all(|c| c.source == c.target));
        // 23 tables, recovery's 5 (mail queue, reset codes, authenticators, recovery
        // codes, strong sessions), capture's 5 and events' 3 (outbox, subscriptions, dead
        // letters).
        assert_eq!(of("event_outbox"), Some((2, 2)), "the request's events");
        assert_eq!(counts.len(), 36, "every table: {counts:?}");

        assert_eq!(
            pg.get_identity(&i.id).await.unwrap(),
            Some(off),
            "booleans survive"
        );
        assert_eq!(
            pg.get_request(&r.id).await.unwrap(),
            lite.get_request(&r.id).await.unwrap(),
            "the request in flight, ciphertext and all"
        );
        assert_eq!(pg.tasks_of_request(&r.id).await.unwrap(), t);
        assert_eq!(
            pg.get_meta("wrapped:master-key-check").await.unwrap(),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            pg.list_rsa_keys().await.unwrap(),
            lite.list_rsa_keys().await.unwrap()
        );
        assert_eq!(
            pg.list_signing_keys().await.unwrap(),
            lite.list_signing_keys().await.unwrap()
        );
        assert_eq!(
            pg.live_digit_tokens(&i.id, Millis(5), 5).await.unwrap(),
            lite.live_digit_tokens(&i.id, Millis(5), 5).await.unwrap()
        );
        assert_eq!(
            pg.get_custom_instruction("p", "fr")
                .await
                .unwrap()
                .map(|c| c.content),
            Some("Bonjour".into())
        );
        assert_eq!(
            pg.get_dictionary().await.unwrap(),
            Some("password\nletmein".into())
        );
        let page = passbroker_store::Page::new(1_190, 250);
        assert_eq!(
            pg.list_audit(&Default::default(), page).await.unwrap(),
            lite.list_audit(&Default::default(), page).await.unwrap(),
            "audit in order"
        );
        // The idempotency key came along; sequences continue after the copied rows.
        let (r2, t2) = request(&i, &acc, Some("k1"), 2_000);
        assert_eq!(
            pg.create_request(&r2, &t2, Millis(0)).await.unwrap(),
            CreateOutcome::Existing(r.id.clone())
        );
        pg.push_history(&acc.id, "h3", 5, Millis(9)).await.unwrap();
        assert_eq!(
            pg.history(&acc.id, 10).await.unwrap(),
            vec!["h3", "h2", "h1", "h0"]
        );
        pg.append_audit(
            &events[..1]
                .iter()
                .map(|e| AuditEvent {
                    id: AuditEventId::generate(),
                    ..e.clone()
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        assert_eq!(
            pg.list_audit(&Default::default(), passbroker_store::Page::default())
                .await
                .unwrap()
                .1,
            1_201
        );

        let again = passbroker_store::copy::sqlite_to_postgres(&lite, &pg)
            .await
            .unwrap_err();
        assert!(again.to_string().contains("not empty"), "{again}");
    }
}
