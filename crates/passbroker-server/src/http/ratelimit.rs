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
    /// Whether `key` is over the limit, without counting it (failure-only limits count
    /// failures with [`RateLimitBackend::hit`] and ask this before doing costly work).
    async fn blocked(&self, key: &str, now: Millis) -> Result<Verdict, StoreError>;
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

    async fn blocked(&self, key: &str, now: Millis) -> Result<Verdict, StoreError> {
        Ok(match self.is_blocked(key, now) {
            None => Verdict::Allowed,
            Some(retry_after_secs) => Verdict::Limited { retry_after_secs },
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
        Ok(self.verdict(window.start, window.hits, u64::from(self.limit), now))
    }

    async fn blocked(&self, key: &str, now: Millis) -> Result<Verdict, StoreError> {
        let window = self
            .store
            .rate_limit_peek(&format!("{}:{key}", self.prefix), now, self.window_ms)
            .await?;
        Ok(match window {
            // `hits` requests were counted; one more is allowed while hits < limit.
            Some(w) => self.verdict(
                w.start,
                w.hits,
                u64::from(self.limit).saturating_sub(1),
                now,
            ),
            None => Verdict::Allowed,
        })
    }

    async fn purge(&self, now: Millis) -> Result<u64, StoreError> {
        self.store
            .purge_rate_limits(Millis(now.0.saturating_sub(self.window_ms)))
            .await
    }
}

impl SharedRateLimiter {
    fn verdict(&self, start: Millis, hits: u64, allowed: u64, now: Millis) -> Verdict {
        if hits <= allowed {
            return Verdict::Allowed;
        }
        // Another node's clock may run ahead of ours: never promise more than one window.
        let remaining_ms =
            (start.0.saturating_add(self.window_ms) - now.0).clamp(1, self.window_ms);
        Verdict::Limited {
            retry_after_secs: u64::try_from((remaining_ms + 999) / 1000).unwrap_or(1),
        }
    }
}

/// Windows one in-memory limiter keeps at most (a few tens of MB at worst).
const MAX_WINDOWS: usize = 200_000;

/// The rate-limit key of a client address: the address itself for IPv4, the /64 network for
/// IPv6 (one host usually holds a whole /64, so single addresses would be free to rotate).
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
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
        if windows.len() > MAX_WINDOWS {
            // Bound memory: forget windows that have ended; if a flood of distinct keys
            // keeps them all alive, keep only the keys that are over their limit (so nobody
            // escapes a limit by flooding), and past that forget everything.
            windows.retain(|_, (start, _)| now.0 - *start < self.window_ms);
            if windows.len() > MAX_WINDOWS / 2 {
                let limit = self.limit;
                windows.retain(|_, (_, count)| *count >= limit);
            }
            if windows.len() > MAX_WINDOWS / 2 {
                windows.clear();
            }
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

    /// Requests counted on `key` in its current window.
    pub fn count(&self, key: &str, now: Millis) -> u32 {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(key) {
            Some((start, count)) if now.0 - start < self.window_ms => *count,
            _ => 0,
        }
    }

    pub fn reset(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Failures a (user, address) pair may have before it waits while the user is braked.
pub const BRAKED_ATTEMPTS_PER_ADDRESS: u32 = 3;

/// Failed guesses of a secret presented for a named user (a sign-in password, a digit
/// token), counted so that an attacker cannot lock the user out from elsewhere:
/// - per (user, address): `per_pair` failures, then that address waits, for that user only;
/// - per address: five times as many failures for all users together;
/// - per user, from every address: past `brake` failures the user is braked, and then only
///   addresses that already failed [`BRAKED_ATTEMPTS_PER_ADDRESS`] times for them wait
///   (a distributed guesser slows to a few guesses per address; the user's own address,
///   which has not failed, still gets in).
///
/// Counters live in this node's memory (a window of `window_secs`).
pub struct GuessGuard {
    pair: RateLimiter,
    address: RateLimiter,
    user: RateLimiter,
}

impl GuessGuard {
    pub fn new(per_pair: u32, brake: u32, window_secs: u64) -> Self {
        Self {
            pair: RateLimiter::new(per_pair, window_secs),
            address: RateLimiter::new(per_pair.saturating_mul(5), window_secs),
            user: RateLimiter::new(brake, window_secs),
        }
    }

    fn keys(kind: &str, user: &str, ip: Option<std::net::IpAddr>) -> (String, String, String) {
        let user = user.to_lowercase();
        let address = ip.map_or_else(|| "local".to_owned(), address_key);
        (
            format!("{kind}:{user}|{address}"),
            format!("{kind}:{address}"),
            format!("{kind}:{user}"),
        )
    }

    /// `Some(retry_after_secs)` when this address must wait before guessing for this user.
    pub fn blocked(
        &self,
        kind: &str,
        user: &str,
        ip: Option<std::net::IpAddr>,
        now: Millis,
    ) -> Option<u64> {
        let (pair, address, user) = Self::keys(kind, user, ip);
        if let Some(wait) = self.pair.is_blocked(&pair, now) {
            return Some(wait);
        }
        if let Some(wait) = self.address.is_blocked(&address, now) {
            return Some(wait);
        }
        let braked = self.user.is_blocked(&user, now)?;
        (self.pair.count(&pair, now) >= BRAKED_ATTEMPTS_PER_ADDRESS).then_some(braked)
    }

    /// Counts a wrong guess.
    pub fn failed(&self, kind: &str, user: &str, ip: Option<std::net::IpAddr>, now: Millis) {
        let (pair, address, user) = Self::keys(kind, user, ip);
        let _ = self.pair.check(&pair, now);
        let _ = self.address.check(&address, now);
        let _ = self.user.check(&user, now);
    }

    /// A right guess clears this address's count for the user.
    pub fn succeeded(&self, kind: &str, user: &str, ip: Option<std::net::IpAddr>) {
        let (pair, _, _) = Self::keys(kind, user, ip);
        self.pair.reset(&pair);
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

    fn ip(s: &str) -> Option<std::net::IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn hardening_guesses_from_one_address_do_not_lock_out_another() {
        let g = GuessGuard::new(10, 50, 900);
        for _ in 0..10 {
            g.failed("login", "Abby", ip("10.0.0.9"), Millis(0));
        }
        assert!(g
            .blocked("login", "abby", ip("10.0.0.9"), Millis(1))
            .is_some());
        assert_eq!(g.blocked("login", "abby", ip("10.0.0.7"), Millis(1)), None);
        assert_eq!(g.blocked("login", "other", ip("10.0.0.9"), Millis(1)), None);
    }

    #[test]
    fn hardening_the_user_brake_slows_a_distributed_guesser_but_not_the_user() {
        let g = GuessGuard::new(10, 50, 900);
        for n in 0..50u8 {
            g.failed("login", "abby", ip(&format!("10.0.1.{n}")), Millis(0));
        }
        // Not braked per address yet (one failure each) …
        assert_eq!(g.blocked("login", "abby", ip("10.0.1.1"), Millis(1)), None);
        for _ in 0..2 {
            g.failed("login", "abby", ip("10.0.1.1"), Millis(1));
        }
        // … but an address with 3 failures waits while the user is braked, long before 10.
        assert!(g
            .blocked("login", "abby", ip("10.0.1.1"), Millis(2))
            .is_some());
        // The user's own address, which never failed, still gets in.
        assert_eq!(g.blocked("login", "abby", ip("192.0.2.1"), Millis(2)), None);
    }

    #[test]
    fn hardening_ipv6_addresses_count_per_64() {
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_key("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
        assert_ne!(
            address_key("2001:db8:1:2::1".parse().unwrap()),
            address_key("2001:db8:1:3::1".parse().unwrap())
        );
    }
}
