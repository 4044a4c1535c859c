//! Fixed-window rate limiting, in memory on this node.
//!
//! A key (an access token's `jti`, a client IP, a login name) may make `limit` requests per
//! window; the window starts at the key's first request. Over the limit the caller learns
//! how many whole seconds remain, for `Retry-After`.

use passbroker_core::time::Millis;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct RateLimiter {
    limit: u32,
    window_ms: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_ms: i64::try_from(window_secs).unwrap_or(i64::MAX / 1000) * 1000, windows: Mutex::new(HashMap::new()) }
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
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
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
        assert!(l.check("t", Millis(10_000)).is_ok(), "a new window after the wait");
    }
}
