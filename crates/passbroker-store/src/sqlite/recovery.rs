//! `RecoveryStore` for SQLite: reset codes, the outbound mail queue, a person's digit
//! tokens.

use super::rows::parse;
use super::{db, SqliteStore};
use crate::recovery::{OutboundMail, RecoveryStore, ResetCode};
use crate::{DigitToken, StoreResult};
use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn reset_code_from_row(r: &SqliteRow) -> StoreResult<ResetCode> {
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

fn mail_from_row(r: &SqliteRow) -> OutboundMail {
    let attempts: i64 = r.get("attempts");
    OutboundMail {
        id: r.get("id"),
        wrapped: r.get("wrapped"),
        created: Millis(r.get("created")),
        next_attempt_at: Millis(r.get("next_attempt_at")),
        attempts: u32::try_from(attempts).unwrap_or(0),
    }
}

fn digit_token_from_row(r: &SqliteRow) -> StoreResult<DigitToken> {
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
impl RecoveryStore for SqliteStore {
    async fn insert_reset_code(&self, c: &ResetCode) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO reset_codes (id_hash, identity_id, user_hash, code_hash, created, expires, used, failed_attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        let row = sqlx::query("SELECT * FROM reset_codes WHERE id_hash = ?1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(reset_code_from_row).transpose()
    }

    async fn record_reset_code_failure(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE reset_codes SET failed_attempts = failed_attempts + 1 WHERE id_hash = ?1",
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
            "UPDATE reset_codes SET used = ?2
             WHERE id_hash = ?1 AND used IS NULL AND expires > ?2 AND failed_attempts < ?3",
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
        let done = sqlx::query("DELETE FROM reset_codes WHERE expires < ?1")
            .bind(before.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn enqueue_mail(&self, m: &OutboundMail) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbound_mail (id, wrapped, created, next_attempt_at, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5)",
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
            "UPDATE outbound_mail SET next_attempt_at = ?2
             WHERE id IN (SELECT id FROM outbound_mail WHERE next_attempt_at <= ?1
                          ORDER BY next_attempt_at, id LIMIT ?3)
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
        sqlx::query("DELETE FROM outbound_mail WHERE id = ?1")
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
            "UPDATE outbound_mail SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
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
            "SELECT * FROM digit_tokens WHERE identity_id = ?1 ORDER BY created DESC, id LIMIT ?2",
        )
        .bind(identity_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(digit_token_from_row).collect()
    }
}
