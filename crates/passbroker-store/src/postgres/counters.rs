//! Rate-limit windows shared by every node (an unlogged table).
//!
//! A key's window starts at its first hit and lasts `window_ms`, as in the server's
//! in-memory limiter, so both backends answer alike. One upsert counts a hit and returns the
//! window, atomically: concurrent hits on any node all count.

use super::{db, PostgresStore};
use crate::StoreResult;
use passbroker_core::time::Millis;

/// A key's current window after counting one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub start: Millis,
    /// Hits in this window, this one included.
    pub hits: u64,
}

impl PostgresStore {
    /// Counts one hit on `key` at `now` and returns its window (a new one when the previous
    /// ended at or before `now`).
    pub async fn rate_limit_hit(
        &self,
        key: &str,
        now: Millis,
        window_ms: i64,
    ) -> StoreResult<RateWindow> {
        let (start, hits): (i64, i64) = sqlx::query_as(
            "INSERT INTO rate_limit_windows AS w (key, window_start, hits) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
               window_start = CASE WHEN w.window_start <= $2 - $3 THEN $2 ELSE w.window_start END,
               hits = CASE WHEN w.window_start <= $2 - $3 THEN 1 ELSE w.hits + 1 END
             RETURNING window_start, hits",
        )
        .bind(key)
        .bind(now.0)
        .bind(window_ms.max(1))
        .fetch_one(&self.d.pool)
        .await
        .map_err(db)?;
        Ok(RateWindow {
            start: Millis(start),
            hits: u64::try_from(hits).unwrap_or(0),
        })
    }

    /// The window `key` is in at `now`, without counting a hit (`None`: no live window).
    pub async fn rate_limit_peek(
        &self,
        key: &str,
        now: Millis,
        window_ms: i64,
    ) -> StoreResult<Option<RateWindow>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT window_start, hits FROM rate_limit_windows WHERE key = $1 AND window_start > $2 - $3",
        )
        .bind(key)
        .bind(now.0)
        .bind(window_ms.max(1))
        .fetch_optional(&self.d.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|(start, hits)| RateWindow {
            start: Millis(start),
            hits: u64::try_from(hits).unwrap_or(0),
        }))
    }

    /// Forgets windows that started before `before`; returns how many.
    pub async fn purge_rate_limits(&self, before: Millis) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM rate_limit_windows WHERE window_start < $1")
            .bind(before.0)
            .execute(&self.d.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected())
    }
}
