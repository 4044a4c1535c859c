//! `RecoveryStore`: reset codes, the outbound mail queue, authenticators, a person's digit
//! tokens.

use super::admin::digit_token_from_row;
use super::{args, first, parse, Dialect, Row, Sql, SqlStore, Transaction};
use crate::recovery::{OutboundMail, RecoveryStore, ResetCode, TotpFactor};
use crate::{DigitToken, StoreResult};
use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;

fn reset_code_from_row(r: &Row) -> StoreResult<ResetCode> {
    Ok(ResetCode {
        id_hash: r.text("id_hash")?,
        identity_id: r
            .opt_str("identity_id")?
            .map(|i| parse(IdentityId::parse(i), "reset code identity"))
            .transpose()?,
        user_hash: r.text("user_hash")?,
        code_hash: r.blob("code_hash")?,
        created: r.millis("created")?,
        expires: r.millis("expires")?,
        used: r.opt_millis("used")?,
        failed_attempts: u32::try_from(r.int("failed_attempts")?).unwrap_or(u32::MAX),
    })
}

fn mail_from_row(r: &Row) -> StoreResult<OutboundMail> {
    Ok(OutboundMail {
        id: r.text("id")?,
        wrapped: r.blob("wrapped")?,
        created: r.millis("created")?,
        next_attempt_at: r.millis("next_attempt_at")?,
        attempts: u32::try_from(r.int("attempts")?).unwrap_or(0),
    })
}

#[async_trait]
impl<D: Dialect> RecoveryStore for SqlStore<D> {
    async fn insert_reset_code(&self, c: &ResetCode) -> StoreResult<()> {
        self.d
            .exec(
                "INSERT INTO reset_codes (id_hash, identity_id, user_hash, code_hash, created, expires, used, failed_attempts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                args![
                    &c.id_hash,
                    c.identity_id.as_ref().map(|i| i.as_str()),
                    &c.user_hash,
                    &c.code_hash,
                    c.created,
                    c.expires,
                    c.used,
                    c.failed_attempts
                ],
            )
            .await?;
        Ok(())
    }

    async fn get_reset_code(&self, id_hash: &str) -> StoreResult<Option<ResetCode>> {
        let rows = self
            .d
            .fetch(
                "SELECT * FROM reset_codes WHERE id_hash = $1",
                args![id_hash],
            )
            .await?;
        first(rows).as_ref().map(reset_code_from_row).transpose()
    }

    async fn record_reset_code_failure(&self, id_hash: &str) -> StoreResult<()> {
        self.d
            .exec(
                "UPDATE reset_codes SET failed_attempts = failed_attempts + 1 WHERE id_hash = $1",
                args![id_hash],
            )
            .await?;
        Ok(())
    }

    async fn consume_reset_code(
        &self,
        id_hash: &str,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<bool> {
        let n = self
            .d
            .exec(
                "UPDATE reset_codes SET used = $2
                 WHERE id_hash = $1 AND used IS NULL AND expires > $2 AND failed_attempts < $3",
                args![id_hash, now, max_failures],
            )
            .await?;
        Ok(n == 1)
    }

    async fn purge_reset_codes(&self, before: Millis) -> StoreResult<u64> {
        self.d
            .exec("DELETE FROM reset_codes WHERE expires < $1", args![before])
            .await
    }

    async fn enqueue_mail(&self, m: &OutboundMail) -> StoreResult<()> {
        self.d
            .exec(
                "INSERT INTO outbound_mail (id, wrapped, created, next_attempt_at, attempts)
                 VALUES ($1, $2, $3, $4, $5)",
                args![&m.id, &m.wrapped, m.created, m.next_attempt_at, m.attempts],
            )
            .await?;
        Ok(())
    }

    async fn claim_mail(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> StoreResult<Vec<OutboundMail>> {
        let sql = format!(
            "UPDATE outbound_mail SET next_attempt_at = $2
             WHERE id IN (SELECT id FROM outbound_mail WHERE next_attempt_at <= $1
                          ORDER BY next_attempt_at, id LIMIT $3{})
             RETURNING id, wrapped, created, next_attempt_at, attempts",
            Sql::skip_locked(D::KIND)
        );
        let rows = self.d.fetch(&sql, args![now, lease_until, limit]).await?;
        rows.iter().map(mail_from_row).collect()
    }

    async fn delete_mail(&self, id: &str) -> StoreResult<()> {
        self.d
            .exec("DELETE FROM outbound_mail WHERE id = $1", args![id])
            .await?;
        Ok(())
    }

    async fn retry_mail(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> StoreResult<()> {
        self.d
            .exec(
                "UPDATE outbound_mail SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1",
                args![id, attempts, next_attempt_at, error],
            )
            .await?;
        Ok(())
    }

    async fn count_mail(&self) -> StoreResult<u64> {
        let rows = self
            .d
            .fetch("SELECT COUNT(*) FROM outbound_mail", &[])
            .await?;
        first(rows).map_or(Ok(0), |r| r.count())
    }

    async fn digit_tokens_of(
        &self,
        identity_id: &IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<DigitToken>> {
        let rows = self
            .d
            .fetch(
                "SELECT * FROM digit_tokens WHERE identity_id = $1 ORDER BY created DESC, id LIMIT $2",
                args![identity_id.as_str(), limit],
            )
            .await?;
        rows.iter().map(digit_token_from_row).collect()
    }

    async fn put_totp(&self, f: &TotpFactor, recovery_code_hashes: &[String]) -> StoreResult<()> {
        let mut tx = self.d.begin().await?;
        tx.exec(
            "DELETE FROM totp_recovery_codes WHERE identity_id = $1",
            args![f.identity_id.as_str()],
        )
        .await?;
        tx.exec(
            "INSERT INTO totp_factors (identity_id, wrapped_secret, created, confirmed, last_step)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (identity_id) DO UPDATE SET wrapped_secret = excluded.wrapped_secret,
                 created = excluded.created, confirmed = excluded.confirmed, last_step = excluded.last_step",
            args![
                f.identity_id.as_str(),
                &f.wrapped_secret,
                f.created,
                f.confirmed,
                f.last_step
            ],
        )
        .await?;
        for h in recovery_code_hashes {
            tx.exec(
                "INSERT INTO totp_recovery_codes (identity_id, code_hash) VALUES ($1, $2)",
                args![f.identity_id.as_str(), h],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn get_totp(&self, identity_id: &IdentityId) -> StoreResult<Option<TotpFactor>> {
        let rows = self
            .d
            .fetch(
                "SELECT * FROM totp_factors WHERE identity_id = $1",
                args![identity_id.as_str()],
            )
            .await?;
        first(rows)
            .map(|r| {
                Ok(TotpFactor {
                    identity_id: identity_id.clone(),
                    wrapped_secret: r.blob("wrapped_secret")?,
                    created: r.millis("created")?,
                    confirmed: r.opt_millis("confirmed")?,
                    last_step: r.int("last_step")?,
                })
            })
            .transpose()
    }

    async fn accept_totp_step(
        &self,
        identity_id: &IdentityId,
        step: i64,
        confirm: Option<Millis>,
    ) -> StoreResult<bool> {
        let n = match confirm {
            Some(now) => {
                self.d
                    .exec(
                        "UPDATE totp_factors SET last_step = $2, confirmed = $3
                         WHERE identity_id = $1 AND confirmed IS NULL AND last_step < $2",
                        args![identity_id.as_str(), step, now],
                    )
                    .await?
            }
            None => {
                self.d
                    .exec(
                        "UPDATE totp_factors SET last_step = $2
                         WHERE identity_id = $1 AND confirmed IS NOT NULL AND last_step < $2",
                        args![identity_id.as_str(), step],
                    )
                    .await?
            }
        };
        Ok(n == 1)
    }

    async fn use_totp_recovery_code(
        &self,
        identity_id: &IdentityId,
        code_hash: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let n = self
            .d
            .exec(
                "UPDATE totp_recovery_codes SET used = $3
                 WHERE identity_id = $1 AND code_hash = $2 AND used IS NULL",
                args![identity_id.as_str(), code_hash, now],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_totp(&self, identity_id: &IdentityId) -> StoreResult<()> {
        let mut tx = self.d.begin().await?;
        for table in ["totp_recovery_codes", "totp_factors"] {
            tx.exec(
                &format!("DELETE FROM {table} WHERE identity_id = $1"),
                args![identity_id.as_str()],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn mark_session_verified(&self, id_hash: &str, now: Millis) -> StoreResult<()> {
        self.d
            .exec(
                "INSERT INTO web_session_factors (id_hash, verified) VALUES ($1, $2)
                 ON CONFLICT (id_hash) DO UPDATE SET verified = excluded.verified",
                args![id_hash, now],
            )
            .await?;
        Ok(())
    }

    async fn session_verified(&self, id_hash: &str) -> StoreResult<Option<Millis>> {
        let rows = self
            .d
            .fetch(
                "SELECT verified FROM web_session_factors WHERE id_hash = $1",
                args![id_hash],
            )
            .await?;
        first(rows).map(|r| r.millis("verified")).transpose()
    }
}
