//! The store's conformance checks. Each `check!` is one test that runs on every backend: a
//! fresh SQLite file, and a fresh PostgreSQL database (skipped loudly when PostgreSQL is
//! missing, unless PASSBROKER_REQUIRE_SERVICES=1).

use crate::fixtures::{account, identity, request, source};
use passbroker_core::account::Account;
use passbroker_core::audit::AuditEvent;
use passbroker_core::client::PersonalAccessToken;
use passbroker_core::identity::{Identity, UserLevel};
use passbroker_core::keys::{KeyState, StoredRsaKey};
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::{PasswordChangeRequest, RequestState, TargetTask, TaskState};
use passbroker_core::source::Source;
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::*;
use passbroker_store::*;

pub(crate) async fn seed(store: &dyn Store) -> (Identity, Source, Account) {
    let i = identity("Abby.Smith");
    let s = source("My-AD");
    let a = account(&i, &s, "CN=Abby Smith,OU=Austin,DC=acme,DC=com");
    store
        .apply(vec![
            WriteOp::UpsertIdentity(i.clone()),
            WriteOp::UpsertSource(s.clone()),
            WriteOp::UpsertAccount(a.clone()),
        ])
        .await
        .expect("seed");
    (i, s, a)
}

crate::check! {
    async fn identities_round_trip(store: &dyn Store) {
        let i = identity("Abby.Smith");
        store
            .apply(vec![WriteOp::UpsertIdentity(i.clone())])
            .await
            .unwrap();
        assert_eq!(store.get_identity(&i.id).await.unwrap(), Some(i.clone()));
        assert_eq!(
            store.find_identity_by_login("abby.smith").await.unwrap(),
            Some(i.clone())
        );
        let mut changed = i.clone();
        changed.display_name = "Abby S.".into();
        changed.user_level = UserLevel::OrgAdmin;
        store
            .apply(vec![WriteOp::UpsertIdentity(changed.clone())])
            .await
            .unwrap();
        assert_eq!(store.get_identity(&i.id).await.unwrap(), Some(changed));
        let (list, n) = store.list_identities(Page::default()).await.unwrap();
        assert_eq!((list.len(), n), (1, 1));
        store
            .apply(vec![WriteOp::DeleteIdentity(i.id.clone())])
            .await
            .unwrap();
        assert_eq!(store.get_identity(&i.id).await.unwrap(), None);
    }
}

crate::check! {
    async fn login_names_are_unique_case_insensitively(store: &dyn Store) {
        store
            .apply(vec![WriteOp::UpsertIdentity(identity("Abby.Smith"))])
            .await
            .unwrap();
        let err = store
            .apply(vec![WriteOp::UpsertIdentity(identity("ABBY.SMITH"))])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(ref m) if m.contains("login name")),
            "{err}"
        );
    }
}

crate::check! {
    async fn apply_is_all_or_nothing(store: &dyn Store) {
        let a = identity("a.one");
        let b = identity("A.ONE");
        assert!(store
            .apply(vec![
                WriteOp::UpsertIdentity(a.clone()),
                WriteOp::UpsertIdentity(b)
            ])
            .await
            .is_err());
        assert_eq!(
            store.get_identity(&a.id).await.unwrap(),
            None,
            "a failed batch must leave nothing behind"
        );
    }
}

crate::check! {
    async fn sources_and_accounts(store: &dyn Store) {
        let (i, s, a) = seed(store).await;
        assert_eq!(store.get_source(&s.id).await.unwrap(), Some(s.clone()));
        assert_eq!(
            store
                .find_source_by_name("My-AD")
                .await
                .unwrap()
                .map(|x| x.id),
            Some(s.id.clone())
        );
        assert_eq!(
            store
                .find_account(&s.id, a.native_id.as_str())
                .await
                .unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store
                .accounts_of_identity(&i.id, Some(&s.id))
                .await
                .unwrap(),
            vec![a.clone()]
        );
        let dup = account(&i, &s, a.native_id.as_str());
        assert!(matches!(
            store.apply(vec![WriteOp::UpsertAccount(dup)]).await,
            Err(StoreError::Conflict(_))
        ));
        store
            .apply(vec![WriteOp::DeleteSource(s.id.clone())])
            .await
            .unwrap();
        assert_eq!(
            store.get_account(&a.id).await.unwrap(),
            None,
            "accounts go with their source"
        );
    }
}

crate::check! {
    /// The bulk import's look-ups and a write batch larger than one multi-row statement, with
    /// repeated ids (updates) and a bad row that must undo the whole batch.
    async fn bulk_lookups_and_batched_upserts(store: &dyn Store) {
        let s = source("Bulk-Src");
        let people: Vec<Identity> = (0..1203)
            .map(|n| identity(&format!("Bulk.User{n:04}")))
            .collect();
        let accounts: Vec<Account> = people
            .iter()
            .map(|i| account(i, &s, &format!("CN={},OU=Bulk", i.login_name.as_str())))
            .collect();
        let mut ops = vec![WriteOp::UpsertSource(s.clone())];
        ops.extend(people.iter().cloned().map(WriteOp::UpsertIdentity));
        // The same identity twice in one batch: the later row wins.
        let mut renamed = people[600].clone();
        renamed.display_name = "Renamed in the same batch".into();
        ops.push(WriteOp::UpsertIdentity(renamed.clone()));
        ops.extend(accounts.iter().cloned().map(WriteOp::UpsertAccount));
        store.apply(ops).await.unwrap();

        let (_, total) = store.list_identities(Page::default()).await.unwrap();
        assert_eq!(total, 1203);
        assert_eq!(
            store.get_identity(&renamed.id).await.unwrap(),
            Some(renamed.clone())
        );
        let wanted = vec![
            "bulk.user0007".to_owned(),
            "BULK.USER1202".to_owned(),
            "nobody".to_owned(),
        ];
        let mut found: Vec<String> = store
            .find_identities_by_login(&wanted)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.login_name.as_str().to_owned())
            .collect();
        found.sort();
        assert_eq!(found, vec!["Bulk.User0007", "Bulk.User1202"]);
        assert!(store
            .find_identities_by_login(&[])
            .await
            .unwrap()
            .is_empty());
        let by_id = store
            .get_identities(&[
                people[3].id.clone(),
                IdentityId::generate(),
                renamed.id.clone(),
            ])
            .await
            .unwrap();
        assert_eq!(by_id.len(), 2);
        assert!(by_id.contains(&people[3]) && by_id.contains(&renamed));
        let natives = vec![
            accounts[10].native_id.as_str().to_owned(),
            accounts[1202].native_id.as_str().to_owned(),
            "CN=nobody".to_owned(),
        ];
        let mut got = store.find_accounts(&s.id, &natives).await.unwrap();
        got.sort_by(|a, b| a.native_id.as_str().cmp(b.native_id.as_str()));
        assert_eq!(got, vec![accounts[10].clone(), accounts[1202].clone()]);
        let other = source("Other-Src");
        store
            .apply(vec![WriteOp::UpsertSource(other.clone())])
            .await
            .unwrap();
        assert!(store
            .find_accounts(&other.id, &natives)
            .await
            .unwrap()
            .is_empty());

        // A batch whose last row breaks a rule leaves none of its 700 earlier rows behind.
        let mut ops: Vec<WriteOp> = (0..700)
            .map(|n| WriteOp::UpsertIdentity(identity(&format!("Late.User{n}"))))
            .collect();
        ops.push(WriteOp::UpsertIdentity(identity("bulk.user0001")));
        assert!(matches!(
            store.apply(ops).await,
            Err(StoreError::Conflict(_))
        ));
        let (_, total) = store.list_identities(Page::default()).await.unwrap();
        assert_eq!(total, 1203, "a failed batch must leave nothing behind");
    }
}

crate::check! {
    /// `effective_policy` and `identity_source_accounts` (one statement on SQLite) give what the
    /// single look-ups give, in every case.
    async fn combined_lookups_match_the_single_ones(store: &dyn Store) {
        let policy = |name: &str, default_policy: bool, source_ids: Vec<SourceId>| PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: name.into(),
            default_policy,
            source_ids,
            min_length: name.len() as i64,
            date_created: Some(Millis(5)),
            ..PasswordPolicy::default()
        };
        let (own, grouped, plain) = (source("Own"), source("Grouped"), source("Plain"));
        store
            .apply(vec![
                WriteOp::UpsertSource(own.clone()),
                WriteOp::UpsertSource(grouped.clone()),
                WriteOp::UpsertSource(plain.clone()),
            ])
            .await
            .unwrap();
        let fresh = |s: &Source| {
            let id = s.id.clone();
            async move { store.get_source(&id).await.unwrap().unwrap() }
        };
        // No policy at all yet.
        assert_eq!(
            store.effective_policy(&fresh(&plain).await).await.unwrap(),
            None
        );
        let p_own = policy("Own policy", false, vec![own.id.clone()]);
        let p_group = policy("Group policy!", false, vec![grouped.id.clone()]);
        let p_default = policy("Default", true, vec![]);
        store
            .apply(vec![
                WriteOp::UpsertPolicy(p_own.clone()),
                WriteOp::UpsertPolicy(p_group.clone()),
                WriteOp::UpsertPolicy(p_default.clone()),
            ])
            .await
            .unwrap();
        let g = PasswordSyncGroup {
            id: SyncGroupId::generate(),
            name: "G".into(),
            password_policy_id: p_group.id.clone().unwrap(),
            source_ids: vec![grouped.id.clone()],
            created: Millis(1),
            modified: Millis(1),
        };
        store
            .apply(vec![WriteOp::UpsertSyncGroup(g)])
            .await
            .unwrap();
        for (s, want) in [(&own, &p_own), (&grouped, &p_group), (&plain, &p_default)] {
            let s = fresh(s).await;
            let got = store.effective_policy(&s).await.unwrap().expect("a policy");
            let view = store.password_info("Nobody", s.name.as_str()).await.unwrap();
            assert_eq!(view.policy.as_ref(), Some(&got), "password_info's policy, {}", s.name.as_str());
            assert_eq!(view.source.as_ref(), Some(&s));
            assert_eq!(got.id, want.id, "{}", s.name.as_str());
            assert_eq!(
                got,
                store
                    .get_policy(want.id.as_ref().unwrap())
                    .await
                    .unwrap()
                    .unwrap()
            );
            assert_eq!(got.min_length, want.min_length);
        }
        let got = store
            .effective_policy(&fresh(&own).await)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got.source_ids,
            vec![own.id.clone()],
            "with the sources that name it"
        );

        let abby = identity("Abby.Smith");
        let bob = identity("Bob.Jones");
        let a2 = account(&abby, &own, "uid=zeta");
        let mut a1 = account(&abby, &own, "uid=alpha");
        a1.disabled = true;
        let elsewhere = account(&abby, &plain, "uid=other");
        let bobs = account(&bob, &own, "uid=bob");
        store
            .apply(vec![
                WriteOp::UpsertIdentity(abby.clone()),
                WriteOp::UpsertIdentity(bob.clone()),
                WriteOp::UpsertAccount(a2.clone()),
                WriteOp::UpsertAccount(a1.clone()),
                WriteOp::UpsertAccount(elsewhere),
                WriteOp::UpsertAccount(bobs),
            ])
            .await
            .unwrap();
        let own_now = fresh(&own).await;
        assert_eq!(
            store
                .identity_source_accounts("ABBY.smith", "Own")
                .await
                .unwrap(),
            (Some(abby.clone()), Some(own_now.clone()), vec![a1, a2]),
            "by login name case-insensitively; accounts by native id, disabled ones too"
        );
        assert_eq!(
            store
                .identity_source_accounts("Nobody", "Own")
                .await
                .unwrap(),
            (None, Some(own_now), vec![])
        );
        assert_eq!(
            store
                .identity_source_accounts("Abby.Smith", "Nowhere")
                .await
                .unwrap(),
            (Some(abby.clone()), None, vec![])
        );
        assert_eq!(
            store
                .identity_source_accounts("Nobody", "Nowhere")
                .await
                .unwrap(),
            (None, None, vec![])
        );
        assert_eq!(
            store
                .identity_source_accounts("Abby.Smith", "Grouped")
                .await
                .unwrap(),
            (Some(abby), Some(fresh(&grouped).await), vec![])
        );
    }
}

crate::check! {
    async fn policies_follow_their_sources(store: &dyn Store) {
        let (_, s, _) = seed(store).await;
        let policy = PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: "Strict".into(),
            min_length: 12,
            default_policy: true,
            source_ids: vec![s.id.clone()],
            date_created: Some(Millis(5)),
            ..PasswordPolicy::default()
        };
        store
            .apply(vec![WriteOp::UpsertPolicy(policy.clone())])
            .await
            .unwrap();
        let got = store
            .get_policy(policy.id.as_ref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.min_length, 12);
        assert_eq!(got.source_ids, vec![s.id.clone()]);
        assert_eq!(
            store
                .get_source(&s.id)
                .await
                .unwrap()
                .unwrap()
                .password_policy_id,
            policy.id
        );
        assert_eq!(
            store.default_policy().await.unwrap().and_then(|p| p.id),
            policy.id
        );
        let other = PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: "Other".into(),
            default_policy: true,
            ..PasswordPolicy::default()
        };
        store
            .apply(vec![WriteOp::UpsertPolicy(other.clone())])
            .await
            .unwrap();
        assert_eq!(
            store.default_policy().await.unwrap().and_then(|p| p.id),
            other.id,
            "only one default"
        );
        let (all, n) = store.list_policies(Page::new(0, 1)).await.unwrap();
        assert_eq!((all.len(), n), (1, 2));
    }
}

crate::check! {
    async fn sync_group_source_belongs_to_one_group(store: &dyn Store) {
        let s1 = source("One");
        let s2 = source("Two");
        let policy = PasswordPolicy {
            id: Some(PolicyId::generate()),
            name: "P".into(),
            ..PasswordPolicy::default()
        };
        store
            .apply(vec![
                WriteOp::UpsertSource(s1.clone()),
                WriteOp::UpsertSource(s2.clone()),
                WriteOp::UpsertPolicy(policy.clone()),
            ])
            .await
            .unwrap();
        let g = PasswordSyncGroup {
            id: SyncGroupId::generate(),
            name: "G".into(),
            password_policy_id: policy.id.clone().unwrap(),
            source_ids: vec![s1.id.clone(), s2.id.clone()],
            created: Millis(1),
            modified: Millis(1),
        };
        store
            .apply(vec![WriteOp::UpsertSyncGroup(g.clone())])
            .await
            .unwrap();
        assert_eq!(
            store.sync_group_of_source(&s2.id).await.unwrap(),
            Some(g.clone())
        );
        let g2 = PasswordSyncGroup {
            id: SyncGroupId::generate(),
            name: "G2".into(),
            ..g.clone()
        };
        let err = store
            .apply(vec![WriteOp::UpsertSyncGroup(g2)])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(ref m) if m.contains("at most one")),
            "{err}"
        );
    }
}

crate::check! {
    async fn requests_idempotency_window(store: &dyn Store) {
        let (i, _, a) = seed(store).await;
        let (r1, t1) = request(&i, &a, Some("k1"), 1_000);
        assert_eq!(
            store.create_request(&r1, &t1, Millis(0)).await.unwrap(),
            CreateOutcome::Created
        );
        let (r2, t2) = request(&i, &a, Some("k1"), 2_000);
        assert_eq!(
            store.create_request(&r2, &t2, Millis(500)).await.unwrap(),
            CreateOutcome::Existing(r1.id.clone())
        );
        assert_eq!(store.get_request(&r2.id).await.unwrap(), None);
        // Outside the window the key is free again.
        assert_eq!(
            store.create_request(&r2, &t2, Millis(1_500)).await.unwrap(),
            CreateOutcome::Created
        );
        assert_eq!(
            store.get_request(&r1.id).await.unwrap().unwrap().state,
            RequestState::InProgress
        );
        assert_eq!(store.tasks_of_request(&r2.id).await.unwrap(), t2);
        assert_eq!(store.count_in_progress().await.unwrap(), 2);
    }
}

crate::check! {
    async fn claim_leases_exclusively(store: &dyn Store) {
        let (i, _, a) = seed(store).await;
        let (r, t) = request(&i, &a, None, 1_000);
        store.create_request(&r, &t, Millis(0)).await.unwrap();
        assert!(
            store
                .claim_request("w1", Millis(999), 30_000)
                .await
                .unwrap()
                .is_none(),
            "not due yet"
        );
        let got = store
            .claim_request("w1", Millis(1_000), 30_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.id, r.id);
        assert!(
            store
                .claim_request("w2", Millis(2_000), 30_000)
                .await
                .unwrap()
                .is_none(),
            "leased"
        );
        assert!(store
            .renew_lease(&r.id, "w1", Millis(40_000))
            .await
            .unwrap());
        assert!(!store
            .renew_lease(&r.id, "w2", Millis(40_000))
            .await
            .unwrap());
        // After the lease runs out (a crashed worker), another worker takes it.
        let again = store
            .claim_request("w2", Millis(40_001), 30_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, r.id);
        store
            .release_request(&r.id, "w2", Millis(50_000))
            .await
            .unwrap();
        assert!(
            store
                .claim_request("w3", Millis(45_000), 30_000)
                .await
                .unwrap()
                .is_none(),
            "backoff respected"
        );
        assert!(store
            .claim_request("w3", Millis(50_000), 30_000)
            .await
            .unwrap()
            .is_some());
    }
}

crate::check! {
    /// The "attempt started" mark: written only by the lease holder, read back by whoever
    /// claims the request next (a crashed worker's successor), cleared by `update_task`.
    async fn attempt_marks_need_the_lease_and_survive_a_crash(store: &dyn Store) {
        let (i, _, a) = seed(store).await;
        let (r, mut t) = request(&i, &a, None, 1_000);
        store.create_request(&r, &t, Millis(0)).await.unwrap();
        t[0].attempts = 1;
        t[0].attempt_started = Some(Millis(1_500));
        assert!(
            !store.start_attempt(&t[0], "w1").await.unwrap(),
            "no lease, no mark"
        );
        assert_eq!(store.tasks_of_request(&r.id).await.unwrap()[0].attempts, 0);
        store
            .claim_request("w1", Millis(1_000), 2_000)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !store.start_attempt(&t[0], "w2").await.unwrap(),
            "another owner's lease"
        );
        assert!(store.start_attempt(&t[0], "w1").await.unwrap());
        // w1 dies; w2 claims after the lease and sees the mark, with the attempt counted.
        let again = store
            .claim_request("w2", Millis(3_001), 2_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, r.id);
        let tasks = store.tasks_of_request(&r.id).await.unwrap();
        assert_eq!(tasks, t, "mark and attempts read back");
        assert_eq!(
            store.request_with_tasks(&r.id).await.unwrap().unwrap().1,
            t,
            "the combined look-up reads the mark too"
        );
        assert!(
            !store.start_attempt(&t[0], "w1").await.unwrap(),
            "the old owner lost the lease"
        );
        // Recording the outcome clears it.
        t[0].attempt_started = None;
        t[0].state = TaskState::Succeeded;
        t[0].finished = Some(Millis(3_500));
        store.update_task(&t[0]).await.unwrap();
        assert_eq!(store.tasks_of_request(&r.id).await.unwrap(), t);
        store
            .finish_request(&r.id, RequestState::Finished, &[], Millis(3_600))
            .await
            .unwrap();
        assert!(
            !store.start_attempt(&t[0], "w2").await.unwrap(),
            "an ended request takes no attempt"
        );
    }
}

crate::check! {
    async fn finish_erases_ciphertext(store: &dyn Store) {
        let (i, _, a) = seed(store).await;
        let (r, mut t) = request(&i, &a, None, 1_000);
        store.create_request(&r, &t, Millis(0)).await.unwrap();
        store.mark_validated(&r.id).await.unwrap();
        t[0].state = TaskState::Failed;
        t[0].attempts = 3;
        t[0].error = Some("My-AD: refused".into());
        t[0].finished = Some(Millis(3_000));
        store.update_task(&t[0]).await.unwrap();
        store
            .finish_request(&r.id, RequestState::Failed, &["x".into()], Millis(3_000))
            .await
            .unwrap();
        let done = store.get_request(&r.id).await.unwrap().unwrap();
        assert_eq!(done.state, RequestState::Failed);
        assert_eq!(done.ciphertext, None);
        assert!(done.validated);
        assert_eq!(done.errors, vec!["x".to_owned()]);
        assert_eq!(done.finished, Some(Millis(3_000)));
        assert_eq!(store.tasks_of_request(&r.id).await.unwrap(), t);
        assert_eq!(
            store.request_with_tasks(&r.id).await.unwrap(),
            Some((done.clone(), t.clone())),
            "the combined look-up gives the same request and tasks"
        );
        assert_eq!(
            store
                .request_with_tasks(&RequestId::generate())
                .await
                .unwrap(),
            None
        );
        // Several tasks come back in their order, pending ones with no error or end.
        let (r2, mut t2) = request(&i, &a, None, 2_000);
        let mut second = t2[0].clone();
        second.id = TaskId::generate();
        second.next_attempt_at = Millis(2_500);
        t2.push(second);
        store.create_request(&r2, &t2, Millis(0)).await.unwrap();
        let (got, tasks) = store.request_with_tasks(&r2.id).await.unwrap().unwrap();
        assert_eq!((got.id, tasks), (r2.id.clone(), t2));
        store
            .finish_request(&r2.id, RequestState::Finished, &[], Millis(3_000))
            .await
            .unwrap();
        assert!(
            store
                .claim_request("w", Millis(10_000), 1)
                .await
                .unwrap()
                .is_none(),
            "finished requests are not claimed"
        );
        assert_eq!(
            store
                .count_requests(Some(RequestState::Failed))
                .await
                .unwrap(),
            1
        );
    }
}

crate::check! {
    async fn audit_pages_in_order(store: &dyn Store) {
        let events: Vec<AuditEvent> = (0..5)
            .map(|n| AuditEvent {
                id: AuditEventId::generate(),
                at: Millis(n),
                actor: "system".into(),
                action: if n % 2 == 0 { "A".into() } else { "B".into() },
                request_id: Some(format!("r{n}")),
                source_id: None,
                identity_id: None,
                outcome: "INFO".into(),
                detail: format!("event {n}"),
            })
            .collect();
        store.append_audit(&events).await.unwrap();
        let (page, total) = store
            .list_audit(&AuditFilter::default(), Page::new(1, 2))
            .await
            .unwrap();
        assert_eq!(total, 5);
        assert_eq!(page, events[1..3].to_vec());
        let (only_a, n) = store
            .list_audit(
                &AuditFilter {
                    action: Some("A".into()),
                    ..Default::default()
                },
                Page::default(),
            )
            .await
            .unwrap();
        assert_eq!((only_a.len(), n), (3, 3));
    }
}

fn rsa_key(state: KeyState, created: i64) -> StoredRsaKey {
    StoredRsaKey {
        id: PublicKeyId::generate(),
        bits: 2048,
        state,
        public_der: vec![1, 2, 3],
        wrapped_private: Some(vec![9; 40]),
        created: Millis(created),
        deactivated: None,
        retired: None,
    }
}

crate::check! {
    async fn rsa_rotation_keeps_one_active(store: &dyn Store) {
        let k1 = rsa_key(KeyState::Active, 1);
        store.insert_rsa_key(&k1).await.unwrap();
        let k2 = rsa_key(KeyState::Active, 2);
        store.rotate_rsa_key(&k2, Millis(10)).await.unwrap();
        let keys = store.list_rsa_keys().await.unwrap();
        assert_eq!(
            keys.iter().filter(|k| k.state == KeyState::Active).count(),
            1
        );
        let old = store.get_rsa_key(&k1.id).await.unwrap().unwrap();
        assert_eq!(
            (old.state, old.deactivated),
            (KeyState::DecryptOnly, Some(Millis(10)))
        );
        let retired = StoredRsaKey {
            state: KeyState::Retired,
            wrapped_private: None,
            retired: Some(Millis(20)),
            ..old
        };
        store.update_rsa_key(&retired).await.unwrap();
        assert_eq!(store.get_rsa_key(&k1.id).await.unwrap(), Some(retired));
    }
}

crate::check! {
    async fn rewrap_is_atomic(store: &dyn Store) {
        store
            .insert_rsa_key(&rsa_key(KeyState::Active, 1))
            .await
            .unwrap();
        store
            .insert_rsa_key(&rsa_key(KeyState::DecryptOnly, 0))
            .await
            .unwrap();
        let (_, s, _) = seed(store).await;
        store.set_meta("wrapped:check", &[5, 5]).await.unwrap();
        // A failure on any item changes nothing.
        let failing = |kind: WrappedKind, _: &[u8]| {
            if kind == WrappedKind::SourceSecrets {
                Err("boom".to_owned())
            } else {
                Ok(vec![0])
            }
        };
        assert!(store.rewrap_all(&failing).await.is_err());
        assert!(store
            .list_rsa_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.wrapped_private == Some(vec![9; 40])));
        let n = store
            .rewrap_all(&|_, old: &[u8]| Ok(old.iter().map(|b| b ^ 0xff).collect()))
            .await
            .unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            store
                .get_source(&s.id)
                .await
                .unwrap()
                .unwrap()
                .wrapped_secrets,
            Some(vec![0xfe, 0xfd, 0xfc])
        );
        assert_eq!(
            store.get_meta("wrapped:check").await.unwrap(),
            Some(vec![0xfa, 0xfa])
        );
    }
}

crate::check! {
    async fn auth_codes_are_single_use(store: &dyn Store) {
        let i = identity("u1");
        store
            .apply(vec![WriteOp::UpsertIdentity(i.clone())])
            .await
            .unwrap();
        let code = AuthCode {
            code_hash: "h1".into(),
            client_id: "c".into(),
            identity_id: i.id.clone(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: "abc".into(),
            scopes: vec!["sp:scopes:all".into()],
            expires: Millis(100),
        };
        store.insert_auth_code(&code).await.unwrap();
        assert_eq!(store.take_auth_code("h1").await.unwrap(), Some(code));
        assert_eq!(store.take_auth_code("h1").await.unwrap(), None);
        assert_eq!(store.take_auth_code("nope").await.unwrap(), None);
    }
}

crate::check! {
    async fn web_sessions_expire_and_end(store: &dyn Store) {
        let i = identity("u1");
        store
            .apply(vec![WriteOp::UpsertIdentity(i.clone())])
            .await
            .unwrap();
        let session = |hash: &str, last_seen: i64, expires: i64| WebSession {
            id_hash: hash.into(),
            identity_id: i.id.clone(),
            created: Millis(100),
            last_seen: Millis(last_seen),
            expires: Millis(expires),
        };
        let s1 = session("h1", 100, 10_000);
        store.insert_web_session(&s1).await.unwrap();
        assert_eq!(store.get_web_session("h1").await.unwrap(), Some(s1.clone()));
        assert_eq!(store.get_web_session("nope").await.unwrap(), None);
        assert!(
            store.insert_web_session(&s1).await.is_err(),
            "a hash is unique"
        );
        store.touch_web_session("h1", Millis(500)).await.unwrap();
        // A late touch never moves last_seen backwards.
        store.touch_web_session("h1", Millis(400)).await.unwrap();
        assert_eq!(
            store
                .get_web_session("h1")
                .await
                .unwrap()
                .unwrap()
                .last_seen,
            Millis(500)
        );
        store
            .insert_web_session(&session("h2", 100, 1_000))
            .await
            .unwrap();
        store
            .insert_web_session(&session("h3", 50, 10_000))
            .await
            .unwrap();
        // h2 ended (absolute), h3 idle since 50; h1 was used at 500.
        assert_eq!(
            store
                .purge_web_sessions(Millis(2_000), Millis(60))
                .await
                .unwrap(),
            2
        );
        assert!(store.get_web_session("h2").await.unwrap().is_none());
        assert!(store.get_web_session("h3").await.unwrap().is_none());
        assert!(store.delete_web_session("h1").await.unwrap());
        assert!(!store.delete_web_session("h1").await.unwrap());
        assert_eq!(store.get_web_session("h1").await.unwrap(), None);
        // Deleting the identity ends its sessions.
        store
            .insert_web_session(&session("h4", 100, 10_000))
            .await
            .unwrap();
        store
            .apply(vec![WriteOp::DeleteIdentity(i.id.clone())])
            .await
            .unwrap();
        assert_eq!(store.get_web_session("h4").await.unwrap(), None);
    }
}

crate::check! {
    async fn last_change_of_account_is_the_latest(store: &dyn Store) {
        let (i, _, a) = seed(store).await;
        assert_eq!(store.last_change_of_account(&a.id).await.unwrap(), None);
        let (r1, t1) = request(&i, &a, None, 1_000);
        store.create_request(&r1, &t1, Millis(0)).await.unwrap();
        let (r2, t2) = request(&i, &a, None, 2_000);
        store.create_request(&r2, &t2, Millis(0)).await.unwrap();
        let mut done = t2[0].clone();
        done.state = TaskState::Failed;
        done.attempts = 1;
        done.error = Some("My-AD: refused".into());
        done.finished = Some(Millis(2_500));
        store.update_task(&done).await.unwrap();
        let last = store.last_change_of_account(&a.id).await.unwrap().unwrap();
        assert_eq!(last.task, done);
        assert_eq!(last.requested, Millis(2_000));
    }
}

crate::check! {
    async fn refresh_tokens_rotate(store: &dyn Store) {
        let i = identity("u2");
        let t = RefreshToken {
            token_hash: "t1".into(),
            client_id: "c".into(),
            identity_id: i.id.clone(),
            scopes: vec![],
            expires: Millis(100),
        };
        store.insert_refresh_token(&t).await.unwrap();
        assert_eq!(
            store.take_refresh_token("t1", Millis(200)).await.unwrap(),
            None,
            "expired"
        );
        let t2 = RefreshToken {
            token_hash: "t2".into(),
            expires: Millis(1_000),
            ..t
        };
        store.insert_refresh_token(&t2).await.unwrap();
        assert_eq!(
            store.take_refresh_token("t2", Millis(200)).await.unwrap(),
            Some(t2)
        );
        assert_eq!(
            store.take_refresh_token("t2", Millis(200)).await.unwrap(),
            None,
            "used once"
        );
    }
}

crate::check! {
    async fn history_keeps_depth(store: &dyn Store) {
        let (_, _, a) = seed(store).await;
        for n in 0..5 {
            store
                .push_history(&a.id, &format!("h{n}"), 3, Millis(n))
                .await
                .unwrap();
        }
        assert_eq!(
            store.history(&a.id, 10).await.unwrap(),
            vec!["h4", "h3", "h2"]
        );
        assert_eq!(store.history(&a.id, 1).await.unwrap(), vec!["h4"]);
    }
}

crate::check! {
    async fn pats_revoke(store: &dyn Store) {
        let i = identity("owner");
        store
            .apply(vec![WriteOp::UpsertIdentity(i.clone())])
            .await
            .unwrap();
        let pat = PersonalAccessToken {
            id: "0123456789abcdef0123456789abcdef".into(),
            name: "laptop".into(),
            owner: i.id.clone(),
            secret_hash: "$argon2id$...".into(),
            scopes: vec!["sp:scopes:all".into()],
            created: Millis(1),
            last_used: None,
            revoked: false,
        };
        store.insert_pat(&pat).await.unwrap();
        store.touch_pat(&pat.id, Millis(9)).await.unwrap();
        assert_eq!(
            store.get_pat(&pat.id).await.unwrap().unwrap().last_used,
            Some(Millis(9))
        );
        assert_eq!(store.list_pats(Some(&i.id)).await.unwrap().len(), 1);
        assert!(store.revoke_pat(&pat.id).await.unwrap());
        assert!(!store.revoke_pat(&pat.id).await.unwrap());
        assert!(store.get_pat(&pat.id).await.unwrap().unwrap().revoked);
    }
}

crate::check! {
    /// Requests submitted at the same time commit as a group: every caller gets its own
    /// outcome (a repeated idempotency key the first request's id), a request that breaks a
    /// rule (a duplicate id) fails alone, and each created request's audit event is written
    /// with it, once.
    async fn requests_submitted_together_commit_as_a_group(store: &dyn Store) {
        let (i, _s, a) = seed(store).await;
        let (first, first_tasks) = request(&i, &a, None, 1_000);
        let event = |id: &RequestId| {
            AuditEvent {
                id: AuditEventId::generate(),
                at: Millis(1_000),
                actor: "client:c1".into(),
                action: "PASSWORD_CHANGE_REQUESTED".into(),
                request_id: Some(id.to_string()),
                source_id: None,
                identity_id: None,
                outcome: "INFO".into(),
                detail: "requested".into(),
            }
        };
        assert_eq!(
            store
                .create_request_audited(&first, &first_tasks, Millis(0), &event(&first.id))
                .await
                .unwrap(),
            CreateOutcome::Created
        );
        let mut batch: Vec<(PasswordChangeRequest, Vec<TargetTask>)> = (0..40)
            .map(|n| request(&i, &a, Some(&format!("key-{}", n % 20)), 2_000))
            .collect();
        // The same id as `first`: this one must fail, and only this one.
        let (mut clash, clash_tasks) = request(&i, &a, None, 2_000);
        clash.id = first.id.clone();
        batch.push((clash, clash_tasks));
        let outcomes = futures::future::join_all(batch.iter().map(|(r, t)| {
            let e = event(&r.id);
            async move { store.create_request_audited(r, t, Millis(0), &e).await }
        }))
        .await;
        let (last, rest) = outcomes.split_last().unwrap();
        assert!(matches!(last, Err(StoreError::Conflict(_))), "{last:?}");
        let created: Vec<&RequestId> = batch
            .iter()
            .zip(rest)
            .filter(|(_, o)| matches!(o, Ok(CreateOutcome::Created)))
            .map(|((r, _), _)| &r.id)
            .collect();
        assert_eq!(created.len(), 20, "one request per idempotency key");
        for ((r, _), o) in batch.iter().zip(rest) {
            match o {
                Ok(CreateOutcome::Created) => {}
                Ok(CreateOutcome::Existing(id)) => {
                    let original = batch
                        .iter()
                        .find(|(x, _)| &x.id == id)
                        .expect("the existing request is one of the batch");
                    assert_eq!(original.0.idempotency_key, r.idempotency_key);
                }
                Err(e) => panic!("{e}"),
            }
        }
        let (events, total) = store
            .list_audit(&AuditFilter::default(), Page { offset: 0, limit: 100 })
            .await
            .unwrap();
        assert_eq!(total, 21, "one event per created request: {events:?}");
        for id in created {
            assert_eq!(
                events
                    .iter()
                    .filter(|e| e.request_id.as_deref() == Some(id.as_str()))
                    .count(),
                1
            );
            assert!(store.get_request(id).await.unwrap().is_some());
        }
    }
}
