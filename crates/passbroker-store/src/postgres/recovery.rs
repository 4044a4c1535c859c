//! `RecoveryStore` for PostgreSQL: reset codes, the outbound mail queue, a person's digit
//! tokens.

use super::{db, PostgresStore};
use crate::recovery::{OutboundMail, RecoveryStore, ResetCode, TotpFactor};
use crate::sqlite::rows::parse;
use crate::{DigitToken, StoreResult};
use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;
use sqlx::postgres::PgRow;
use sqlx::Row;

fn reset_code_from_row(r: &PgRow) -> StoreResult<ResetCode> {
    let identity: Option<String> = r.get("identity_id");
    let used: Option<i64> = r.get("used");
    let failed: i64 = r.get("failed_attempts");
    Ok(ResetCode {
        id_hash: r.get("id_hash"),
        identity_id: identity
            .map(|i| parse(IdentityId::parse(&i), "reset code identity"))
            .transpose()?,
        user_hash: r.get("user_hash"),
        code_hash: r.get("code_hash"),
        created: Millis(r.get("created")),
        expires: Millis(r.get("expires")),
        used: used.map(Millis),
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
    })
}

fn mail_from_row(r: &PgRow) -> OutboundMail {
    let attempts: i64 = r.get("attempts");
    OutboundMail {
        id: r.get("id"),
        wrapped: r.get("wrapped"),
        created: Millis(r.get("created")),
        next_attempt_at: Millis(r.get("next_attempt_at")),
        attempts: u32::try_from(attempts).unwrap_or(0),
    }
}

fn digit_token_from_row(r: &PgRow) -> StoreResult<DigitToken> {
    let used: Option<i64> = r.get("used");
    let failed: i64 = r.get("failed_attempts");
    Ok(DigitToken {
        id: r.get("id"),
        identity_id: parse(
            IdentityId::parse(r.get("identity_id")),
            "digit token identity",
        )?,
        salt: r.get("salt"),
        hash: r.get("hash"),
        created: Millis(r.get("created")),
        expires: Millis(r.get("expires")),
        used: used.map(Millis),
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
        created_by: r.get("created_by"),
    })
}

#[async_trait]
impl RecoveryStore for PostgresStore {
    async fn insert_reset_code(&self, c: &ResetCode) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO reset_codes (id_hash, identity_id, user_hash, code_hash, created, expires, used, failed_attempts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.id_hash)
        .bind(c.identity_id.as_ref().map(|i| i.as_str().to_owned()))
        .bind(&c.user_hash)
        .bind(&c.code_hash)
        .bind(c.created.0)
        .bind(c.expires.0)
        .bind(c.used.map(|m| m.0))
        .bind(i64::from(c.failed_attempts))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_reset_code(&self, id_hash: &str) -> StoreResult<Option<ResetCode>> {
        let row = sqlx::query("SELECT * FROM reset_codes WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(reset_code_from_row).transpose()
    }

    async fn record_reset_code_failure(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE reset_codes SET failed_attempts = failed_attempts + 1 WHERE id_hash = $1",
        )
        .bind(id_hash)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn consume_reset_code(
        &self,
        id_hash: &str,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE reset_codes SET used = $2
             WHERE id_hash = $1 AND used IS NULL AND expires > $2 AND failed_attempts < $3",
        )
        .bind(id_hash)
        .bind(now.0)
        .bind(i64::from(max_failures))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_reset_codes(&self, before: Millis) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM reset_codes WHERE expires < $1")
            .bind(before.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn enqueue_mail(&self, m: &OutboundMail) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbound_mail (id, wrapped, created, next_attempt_at, attempts)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&m.id)
        .bind(&m.wrapped)
        .bind(m.created.0)
        .bind(m.next_attempt_at.0)
        .bind(i64::from(m.attempts))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn claim_mail(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> StoreResult<Vec<OutboundMail>> {
        let rows = sqlx::query(
            "UPDATE outbound_mail SET next_attempt_at = $2
             WHERE id IN (SELECT id FROM outbound_mail WHERE next_attempt_at <= $1
                          ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, wrapped, created, next_attempt_at, attempts",
        )
        .bind(now.0)
        .bind(lease_until.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(mail_from_row).collect())
    }

    async fn delete_mail(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbound_mail WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn retry_mail(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbound_mail SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(i64::from(attempts))
        .bind(next_attempt_at.0)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn count_mail(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbound_mail")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn digit_tokens_of(
        &self,
        identity_id: &IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<DigitToken>> {
        let rows = sqlx::query(
            "SELECT * FROM digit_tokens WHERE identity_id = $1 ORDER BY created DESC, id LIMIT $2",
        )
        .bind(identity_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(digit_token_from_row).collect()
    }

    async fn put_totp(&self, f: &TotpFactor, recovery_code_hashes: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM totp_recovery_codes WHERE identity_id = $1")
            .bind(f.identity_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO totp_factors (identity_id, wrapped_secret, created, confirmed, last_step)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (identity_id) DO UPDATE SET wrapped_secret = excluded.wrapped_secret,
                 created = excluded.created, confirmed = excluded.confirmed, last_step = excluded.last_step",
        )
        .bind(f.identity_id.as_str())
        .bind(&f.wrapped_secret)
        .bind(f.created.0)
        .bind(f.confirmed.map(|m| m.0))
        .bind(f.last_step)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        for h in recovery_code_hashes {
            sqlx::query("INSERT INTO totp_recovery_codes (identity_id, code_hash) VALUES ($1, $2)")
                .bind(f.identity_id.as_str())
                .bind(h)
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn get_totp(&self, identity_id: &IdentityId) -> StoreResult<Option<TotpFactor>> {
        let row = sqlx::query("SELECT * FROM totp_factors WHERE identity_id = $1")
            .bind(identity_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(|r| {
            let confirmed: Option<i64> = r.get("confirmed");
            TotpFactor {
                identity_id: identity_id.clone(),
                wrapped_secret: r.get("wrapped_secret"),
                created: Millis(r.get("created")),
                confirmed: confirmed.map(Millis),
                last_step: r.get("last_step"),
            }
        }))
    }

    async fn accept_totp_step(
        &self,
        identity_id: &IdentityId,
        step: i64,
        confirm: Option<Millis>,
    ) -> StoreResult<bool> {
        let done = match confirm {
            Some(now) => sqlx::query(
                "UPDATE totp_factors SET last_step = $2, confirmed = $3
                 WHERE identity_id = $1 AND confirmed IS NULL AND last_step < $2",
            )
            .bind(identity_id.as_str())
            .bind(step)
            .bind(now.0)
            .execute(&self.pool)
            .await
            .map_err(db)?,
            None => sqlx::query(
                "UPDATE totp_factors SET last_step = $2
                 WHERE identity_id = $1 AND confirmed IS NOT NULL AND last_step < $2",
            )
            .bind(identity_id.as_str())
            .bind(step)
            .execute(&self.pool)
            .await
            .map_err(db)?,
        };
        Ok(done.rows_affected() == 1)
    }

    async fn use_totp_recovery_code(
        &self,
        identity_id: &IdentityId,
        code_hash: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE totp_recovery_codes SET used = $3
             WHERE identity_id = $1 AND code_hash = $2 AND used IS NULL",
        )
        .bind(identity_id.as_str())
        .bind(code_hash)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_totp(&self, identity_id: &IdentityId) -> StoreResult<()> {
        for table in ["totp_recovery_codes", "totp_factors"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE identity_id = $1"))
                .bind(identity_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn mark_session_verified(&self, id_hash: &str, now: Millis) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO web_session_factors (id_hash, verified) VALUES ($1, $2)
             ON CONFLICT (id_hash) DO UPDATE SET verified = excluded.verified",
        )
        .bind(id_hash)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn session_verified(&self, id_hash: &str) -> StoreResult<Option<Millis>> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT verified FROM web_session_factors WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        Ok(v.map(Millis))
    }
}
