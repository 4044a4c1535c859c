//! `RecoveryStore` (reset codes, the outbound mail queue, authenticators, strong sessions, a
//! person's digit tokens), on both backends.

use crate::fixtures::identity;
use passbroker_core::time::Millis;
use passbroker_store::{DigitToken, OutboundMail, ResetCode, TotpFactor, WebSession, WriteOp};

crate::check! {
    async fn reset_codes(store: &dyn Store) {
        let abby = identity("abby");
        store
            .apply(vec![WriteOp::UpsertIdentity(abby.clone())])
            .await
            .unwrap();
        let r = store.recovery();
        let code = |id: &str, who: Option<&passbroker_core::IdentityId>, expires: i64| ResetCode {
            id_hash: id.to_owned(),
            identity_id: who.cloned(),
            user_hash: "u".into(),
            code_hash: vec![1, 2, 3],
            created: Millis(1_000),
            expires: Millis(expires),
            used: None,
            failed_attempts: 0,
        };
        r.insert_reset_code(&code("a", Some(&abby.id), 10_000))
            .await
            .unwrap();
        r.insert_reset_code(&code("unknown", None, 10_000))
            .await
            .unwrap();
        r.insert_reset_code(&code("old", None, 2_000))
            .await
            .unwrap();
        assert_eq!(
            r.get_reset_code("a").await.unwrap(),
            Some(code("a", Some(&abby.id), 10_000))
        );
        assert_eq!(
            r.get_reset_code("unknown")
                .await
                .unwrap()
                .unwrap()
                .identity_id,
            None
        );
        assert_eq!(r.get_reset_code("nope").await.unwrap(), None);
        // Failures count; at the limit the code cannot be used.
        for _ in 0..2 {
            r.record_reset_code_failure("unknown").await.unwrap();
        }
        assert_eq!(
            r.get_reset_code("unknown")
                .await
                .unwrap()
                .unwrap()
                .failed_attempts,
            2
        );
        assert!(!r
            .consume_reset_code("unknown", Millis(5_000), 2)
            .await
            .unwrap());
        // Single use, and not after expiry.
        assert!(!r.consume_reset_code("a", Millis(10_000), 5).await.unwrap());
        assert!(r.consume_reset_code("a", Millis(5_000), 5).await.unwrap());
        assert!(!r.consume_reset_code("a", Millis(5_001), 5).await.unwrap());
        assert_eq!(
            r.get_reset_code("a").await.unwrap().unwrap().used,
            Some(Millis(5_000))
        );
        assert_eq!(r.purge_reset_codes(Millis(3_000)).await.unwrap(), 1);
        assert_eq!(r.get_reset_code("old").await.unwrap(), None);
    }
}

crate::check! {
    async fn mail_queue(store: &dyn Store) {
        let r = store.recovery();
        for (id, due) in [("m1", 100), ("m2", 200), ("m3", 9_000)] {
            r.enqueue_mail(&OutboundMail {
                id: id.into(),
                wrapped: vec![9; 4],
                created: Millis(100),
                next_attempt_at: Millis(due),
                attempts: 0,
            })
            .await
            .unwrap();
        }
        assert_eq!(r.count_mail().await.unwrap(), 3);
        // Due ones only, oldest first, leased until 5 000.
        let claimed = r
            .claim_mail(Millis(1_000), Millis(5_000), 10)
            .await
            .unwrap();
        let ids: Vec<&str> = claimed.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2"]);
        assert_eq!(claimed[0].wrapped, vec![9; 4]);
        // Leased: nobody else takes them before the lease ends.
        assert!(r
            .claim_mail(Millis(1_001), Millis(6_000), 10)
            .await
            .unwrap()
            .is_empty());
        r.delete_mail("m1").await.unwrap();
        r.retry_mail("m2", 1, Millis(7_000), "connection refused")
            .await
            .unwrap();
        let again = r
            .claim_mail(Millis(9_500), Millis(20_000), 1)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id.as_str(), again[0].attempts), ("m2", 1));
        assert_eq!(r.count_mail().await.unwrap(), 2);
    }
}

crate::check! {
    async fn authenticators_and_strong_sessions(store: &dyn Store) {
        let abby = identity("abby2");
        store
            .apply(vec![WriteOp::UpsertIdentity(abby.clone())])
            .await
            .unwrap();
        let r = store.recovery();
        assert_eq!(r.get_totp(&abby.id).await.unwrap(), None);
        let factor = TotpFactor {
            identity_id: abby.id.clone(),
            wrapped_secret: vec![7; 8],
            created: Millis(1),
            confirmed: None,
            last_step: 0,
        };
        r.put_totp(&factor, &["h1".into(), "h2".into()])
            .await
            .unwrap();
        assert_eq!(r.get_totp(&abby.id).await.unwrap(), Some(factor.clone()));
        // Unconfirmed: only a confirming step is accepted, once.
        assert!(!r.accept_totp_step(&abby.id, 10, None).await.unwrap());
        assert!(r
            .accept_totp_step(&abby.id, 10, Some(Millis(2)))
            .await
            .unwrap());
        assert!(!r
            .accept_totp_step(&abby.id, 11, Some(Millis(3)))
            .await
            .unwrap());
        let active = r.get_totp(&abby.id).await.unwrap().unwrap();
        assert_eq!((active.confirmed, active.last_step), (Some(Millis(2)), 10));
        // A step is used once; an earlier one never.
        assert!(!r.accept_totp_step(&abby.id, 10, None).await.unwrap());
        assert!(!r.accept_totp_step(&abby.id, 9, None).await.unwrap());
        assert!(r.accept_totp_step(&abby.id, 11, None).await.unwrap());
        // Recovery codes: once each.
        assert!(r
            .use_totp_recovery_code(&abby.id, "h1", Millis(5))
            .await
            .unwrap());
        assert!(!r
            .use_totp_recovery_code(&abby.id, "h1", Millis(6))
            .await
            .unwrap());
        assert!(!r
            .use_totp_recovery_code(&abby.id, "zz", Millis(6))
            .await
            .unwrap());
        // Replacing starts over, with new codes only.
        r.put_totp(&factor, &["h3".into()]).await.unwrap();
        assert_eq!(r.get_totp(&abby.id).await.unwrap().unwrap().confirmed, None);
        assert!(!r
            .use_totp_recovery_code(&abby.id, "h2", Millis(7))
            .await
            .unwrap());
        r.delete_totp(&abby.id).await.unwrap();
        assert_eq!(r.get_totp(&abby.id).await.unwrap(), None);

        store
            .insert_web_session(&WebSession {
                id_hash: "s1".into(),
                identity_id: abby.id.clone(),
                created: Millis(1),
                last_seen: Millis(1),
                expires: Millis(1_000_000),
            })
            .await
            .unwrap();
        assert_eq!(r.session_verified("s1").await.unwrap(), None);
        r.mark_session_verified("s1", Millis(50)).await.unwrap();
        r.mark_session_verified("s1", Millis(60)).await.unwrap();
        assert_eq!(r.session_verified("s1").await.unwrap(), Some(Millis(60)));
        // Ending the session ends its strength.
        store.delete_web_session("s1").await.unwrap();
        assert_eq!(r.session_verified("s1").await.unwrap(), None);

        for (id, created) in [("t1", 10), ("t2", 20)] {
            store
                .insert_digit_token(&DigitToken {
                    id: id.into(),
                    identity_id: abby.id.clone(),
                    salt: vec![1],
                    hash: vec![2],
                    created: Millis(created),
                    expires: Millis(1_000),
                    used: None,
                    failed_attempts: 0,
                    created_by: "identity:x".into(),
                })
                .await
                .unwrap();
        }
        let tokens = r.digit_tokens_of(&abby.id, 10).await.unwrap();
        let ids: Vec<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t2", "t1"], "newest first");
        assert_eq!(r.digit_tokens_of(&abby.id, 1).await.unwrap().len(), 1);
    }
}

crate::check! {
    /// A master-key rotation re-wraps authenticator secrets and queued mail with the rest.
    async fn rewrapped_with_the_master_key(store: &dyn Store) {
        let abby = identity("abby3");
        store
            .apply(vec![WriteOp::UpsertIdentity(abby.clone())])
            .await
            .unwrap();
        let r = store.recovery();
        r.put_totp(
            &TotpFactor {
                identity_id: abby.id.clone(),
                wrapped_secret: vec![1, 2, 3],
                created: Millis(1),
                confirmed: None,
                last_step: 0,
            },
            &[],
        )
        .await
        .unwrap();
        r.enqueue_mail(&OutboundMail {
            id: "mail".into(),
            wrapped: vec![4, 5, 6],
            created: Millis(1),
            next_attempt_at: Millis(1),
            attempts: 0,
        })
        .await
        .unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let rewrap = |kind: passbroker_store::WrappedKind, old: &[u8]| {
            seen.lock().unwrap().push(kind);
            Ok(old.iter().rev().copied().collect::<Vec<u8>>())
        };
        store.rewrap_all(&rewrap).await.unwrap();
        let kinds = seen.lock().unwrap().clone();
        assert!(kinds.contains(&passbroker_store::WrappedKind::TotpSecret));
        assert!(kinds.contains(&passbroker_store::WrappedKind::OutboundMail));
        assert_eq!(
            r.get_totp(&abby.id).await.unwrap().unwrap().wrapped_secret,
            vec![3, 2, 1]
        );
        let mail = r.claim_mail(Millis(2), Millis(3), 1).await.unwrap();
        assert_eq!(mail[0].wrapped, vec![6, 5, 4]);
    }
}
