//! Fixed-window rate limiting.
//!
//! A key (an access token's `jti`, a client IP, a login name) may make `limit` requests per
//! window; the window starts at the key's first request. Over the limit the caller learns
//! how many whole seconds remain, for `Retry-After`.
//!
//! [`RateLimiter`] counts in this node's memory. The per-token limit goes through
//! [`RateLimitBackend`]: in memory on a single node (SQLite), or [`SharedRateLimiter`] in
//! the PostgreSQL database when several nodes share it, so a token's budget is the same
//! whichever node its requests reach.

use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_store::postgres::PostgresStore;
use passbroker_store::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;

/// The answer for one counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Limited { retry_after_secs: u64 },
}

/// Where a limit's counters live.
#[async_trait]
pub trait RateLimitBackend: Send + Sync {
    /// Counts one request on `key`.
    async fn hit(&self, key: &str, now: Millis) -> Result<Verdict, StoreError>;
    /// Forgets windows that ended before `now` (hourly upkeep).
    async fn purge(&self, now: Millis) -> Result<u64, StoreError>;
}

#[async_trait]
impl RateLimitBackend for RateLimiter {
    async fn hit(&self, key: &str, now: Millis) -> Result<Verdict, StoreError> {
        Ok(match self.check(key, now) {
            Ok(()) => Verdict::Allowed,
            Err(retry_after_secs) => Verdict::Limited { retry_after_secs },
        })
    }

    async fn purge(&self, now: Millis) -> Result<u64, StoreError> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let before = windows.len();
        windows.retain(|_, (start, _)| now.0 - *start < self.window_ms);
        Ok((before - windows.len()) as u64)
    }
}

/// Counters in the shared PostgreSQL database (an unlogged table; one upsert per request).
pub struct SharedRateLimiter {
    store: PostgresStore,
    /// Keeps this limiter's keys apart from other limits' in the shared table.
    prefix: &'static str,
    limit: u32,
    window_ms: i64,
}

impl SharedRateLimiter {
    pub fn new(store: PostgresStore, prefix: &'static str, limit: u32, window_secs: u64) -> Self {
        Self {
            store,
            prefix,
            limit,
            window_ms: window_ms(window_secs),
        }
    }
}

#[async_trait]
impl RateLimitBackend for SharedRateLimiter {
    async fn hit(&self, key: &str, now: Millis) -> Result<Verdict, StoreError> {
        let window = self
            .store
            .rate_limit_hit(&format!("{}:{key}", self.prefix), now, self.window_ms)
            .await?;
        if window.hits <= u64::from(self.limit) {
            return Ok(Verdict::Allowed);
        }
        // Another node's clock may run ahead of ours: never promise more than one window.
        let remaining_ms =
            (window.start.0.saturating_add(self.window_ms) - now.0).clamp(1, self.window_ms);
        Ok(Verdict::Limited {
            retry_after_secs: u64::try_from((remaining_ms + 999) / 1000).unwrap_or(1),
        })
    }

    async fn purge(&self, now: Millis) -> Result<u64, StoreError> {
        self.store
            .purge_rate_limits(Millis(now.0.saturating_sub(self.window_ms)))
            .await
    }
}

fn window_ms(window_secs: u64) -> i64 {
    i64::try_from(window_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

pub struct RateLimiter {
    limit: u32,
    window_ms: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window_secs: u64) -> Self {
        Self {
            limit,
            window_ms: window_ms(window_secs),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; `Err(retry_after_secs)` when over the limit.
    pub fn check(&self, key: &str, now: Millis) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            // Bound memory: forget windows that have ended.
            windows.retain(|_, (start, _)| now.0 - *start < self.window_ms);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now.0, 0));
        if now.0 - entry.0 >= self.window_ms {
            *entry = (now.0, 0);
        }
        if entry.1 >= self.limit {
            let remaining_ms = (entry.0 + self.window_ms - now.0).max(1);
            return Err(u64::try_from((remaining_ms + 999) / 1000).unwrap_or(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether the key is over the limit, without counting (for failure-only limits).
    pub fn is_blocked(&self, key: &str, now: Millis) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = windows.get(key)?;
        if now.0 - start < self.window_ms && *count >= self.limit {
            Some(u64::try_from((start + self.window_ms - now.0 + 999) / 1000).unwrap_or(1))
        } else {
            None
        }
    }

    pub fn reset(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_101st_request_waits_for_the_window() {
        let l = RateLimiter::new(100, 10);
        for n in 0..100 {
            assert!(l.check("t", Millis(n)).is_ok());
        }
        assert_eq!(l.check("t", Millis(2_500)), Err(8));
        assert!(l.check("other", Millis(2_500)).is_ok());
        assert!(
            l.check("t", Millis(10_000)).is_ok(),
            "a new window after the wait"
        );
    }

    #[tokio::test]
    async fn the_in_memory_backend_answers_like_check() {
        let l = RateLimiter::new(2, 10);
        let b: &dyn RateLimitBackend = &l;
        assert_eq!(b.hit("t", Millis(0)).await.unwrap(), Verdict::Allowed);
        assert_eq!(b.hit("t", Millis(1)).await.unwrap(), Verdict::Allowed);
        assert_eq!(
            b.hit("t", Millis(1_000)).await.unwrap(),
            Verdict::Limited {
                retry_after_secs: 9
            }
        );
        assert_eq!(b.purge(Millis(10_000)).await.unwrap(), 1);
        assert_eq!(b.hit("t", Millis(10_001)).await.unwrap(), Verdict::Allowed);
    }
}
