//! Conformance checks of the admin APIs' storage: digit tokens, custom password
//! instructions, filtered lists.

use crate::checks::seed;
use crate::fixtures::{account, identity, source};
use passbroker_core::identity::Identity;
use passbroker_core::time::Millis;
use passbroker_store::*;

fn digit_token(identity: &Identity, id: &str, created: i64, expires: i64) -> DigitToken {
    DigitToken {
        id: id.into(),
        identity_id: identity.id.clone(),
        salt: vec![1; 16],
        hash: vec![2; 32],
        created: Millis(created),
        expires: Millis(expires),
        used: None,
        failed_attempts: 0,
        created_by: "client:c1".into(),
    }
}

crate::check! {
    async fn digit_tokens_are_single_use_and_expire(store: &dyn Store) {
        let i = identity("token.user");
        store
            .apply(vec![WriteOp::UpsertIdentity(i.clone())])
            .await
            .unwrap();
        let t1 = digit_token(&i, "t1", 10, 1_000);
        let t2 = digit_token(&i, "t2", 20, 2_000);
        store.insert_digit_token(&t1).await.unwrap();
        store.insert_digit_token(&t2).await.unwrap();
        let live = store
            .live_digit_tokens(&i.id, Millis(500), 5)
            .await
            .unwrap();
        assert_eq!(live, vec![t2.clone(), t1.clone()], "newest first");
        assert!(store.consume_digit_token("t2", Millis(600)).await.unwrap());
        assert!(
            !store.consume_digit_token("t2", Millis(601)).await.unwrap(),
            "single use"
        );
        assert_eq!(
            store
                .live_digit_tokens(&i.id, Millis(700), 5)
                .await
                .unwrap(),
            vec![t1.clone()]
        );
        assert!(
            !store
                .consume_digit_token("t1", Millis(1_000))
                .await
                .unwrap(),
            "expired at its expiry time"
        );
        assert!(store
            .live_digit_tokens(&i.id, Millis(1_000), 5)
            .await
            .unwrap()
            .is_empty());
        let t3 = digit_token(&i, "t3", 30, 5_000);
        store.insert_digit_token(&t3).await.unwrap();
        for _ in 0..3 {
            store
                .record_digit_token_failure(&i.id, Millis(40))
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .live_digit_tokens(&i.id, Millis(50), 4)
                .await
                .unwrap()
                .len(),
            2,
            "t1 and t3"
        );
        assert!(
            store
                .live_digit_tokens(&i.id, Millis(50), 3)
                .await
                .unwrap()
                .is_empty(),
            "too many failures"
        );
        assert_eq!(store.purge_digit_tokens(Millis(2_500)).await.unwrap(), 2);
        store
            .apply(vec![WriteOp::DeleteIdentity(i.id.clone())])
            .await
            .unwrap();
        assert!(
            !store.consume_digit_token("t3", Millis(60)).await.unwrap(),
            "tokens go with their identity"
        );
    }
}

crate::check! {
    async fn custom_instructions_round_trip(store: &dyn Store) {
        let c = CustomInstruction {
            page_id: "mfa:select".into(),
            locale: "default".into(),
            content: "Pick one".into(),
            modified: Millis(1),
        };
        store.put_custom_instruction(&c).await.unwrap();
        assert_eq!(
            store
                .get_custom_instruction("mfa:select", "default")
                .await
                .unwrap(),
            Some(c.clone())
        );
        assert_eq!(
            store
                .get_custom_instruction("mfa:select", "fr")
                .await
                .unwrap(),
            None
        );
        let changed = CustomInstruction {
            content: "Choose".into(),
            modified: Millis(2),
            ..c
        };
        store.put_custom_instruction(&changed).await.unwrap();
        assert_eq!(
            store
                .get_custom_instruction("mfa:select", "default")
                .await
                .unwrap(),
            Some(changed)
        );
        assert!(store
            .delete_custom_instruction("mfa:select", "default")
            .await
            .unwrap());
        assert!(!store
            .delete_custom_instruction("mfa:select", "default")
            .await
            .unwrap());
    }
}

crate::check! {
    async fn searches_filter_and_page(store: &dyn Store) {
        let (i, s, a) = seed(store).await;
        let j = identity("Bob.Jones");
        let k = identity("Bobby.Tables");
        let s2 = source("Warehouse");
        let b = account(&j, &s, "bob");
        store
            .apply(vec![
                WriteOp::UpsertIdentity(j.clone()),
                WriteOp::UpsertIdentity(k.clone()),
                WriteOp::UpsertSource(s2.clone()),
                WriteOp::UpsertAccount(b.clone()),
            ])
            .await
            .unwrap();
        let by_name = IdentityFilter {
            name: Some(Match::Eq("abby.smith".into())),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_identities(&by_name, Page::default())
                .await
                .unwrap(),
            (vec![i.clone()], 1)
        );
        let prefix = IdentityFilter {
            name: Some(Match::StartsWith("bob".into())),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_identities(&prefix, Page::new(1, 1))
                .await
                .unwrap(),
            (vec![k.clone()], 2)
        );
        let literal = IdentityFilter {
            name: Some(Match::StartsWith("b%".into())),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_identities(&literal, Page::default())
                .await
                .unwrap()
                .1,
            0,
            "no wildcards"
        );
        let ids = IdentityFilter {
            id: Some(Match::In(vec![i.id.to_string(), k.id.to_string()])),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_identities(&ids, Page::default())
                .await
                .unwrap()
                .1,
            2
        );
        let of_bob = AccountFilter {
            identity_id: Some(Match::Eq(j.id.to_string())),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_accounts(&of_bob, Page::default())
                .await
                .unwrap(),
            (vec![b.clone()], 1)
        );
        let on_s = AccountFilter {
            source_id: Some(Match::Eq(s.id.to_string())),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_accounts(&on_s, Page::default())
                .await
                .unwrap()
                .1,
            2
        );
        let native = AccountFilter {
            native_id: Some(Match::Eq(a.native_id.as_str().into())),
            ..Default::default()
        };
        assert_eq!(
            store
                .search_accounts(&native, Page::default())
                .await
                .unwrap()
                .0,
            vec![a]
        );
        let wh = SourceFilter {
            name: Some(Match::Eq("Warehouse".into())),
            ..Default::default()
        };
        assert_eq!(
            store.search_sources(&wh, Page::default()).await.unwrap(),
            (vec![s2], 1)
        );
        assert_eq!(
            store
                .search_sources(&SourceFilter::default(), Page::new(0, 1))
                .await
                .unwrap()
                .1,
            2
        );
    }
}
