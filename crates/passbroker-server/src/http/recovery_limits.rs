//! Password recovery's shared state: the mailer and the limits on starting flows.
//!
//! Starting a "forgot password" flow sends mail, so starts are limited per (user, address)
//! and per user (mail bombing), besides the per-address budget every sign-in shares. Past a
//! limit the answer does not change: the flow is recorded as for an unknown user and no mail
//! is sent, so the limit says nothing about whether the user exists. Wrong codes are counted
//! by the same [`crate::http::ratelimit::GuessGuard`] as sign-in passwords (kind `reset-code`), and
//! each flow dies after [`MAX_CODE_FAILURES`] wrong codes.

use crate::http::ratelimit::RateLimiter;
use crate::pipeline::mail::Mailer;
use passbroker_core::time::Millis;

/// Wrong codes a flow survives.
pub const MAX_CODE_FAILURES: u32 = 5;
/// Digits of an emailed code.
pub const CODE_DIGITS: usize = 8;
/// Flows with mail per (user, address) per window.
const STARTS_PER_PAIR: u32 = 3;
/// Flows with mail per user from all addresses per window.
const STARTS_PER_USER: u32 = 10;
const START_WINDOW_SECS: u64 = 900;

pub struct Recovery {
    pub mailer: Mailer,
    pair: RateLimiter,
    user: RateLimiter,
}

impl Recovery {
    pub fn new(mailer: Mailer) -> Self {
        Self {
            mailer,
            pair: RateLimiter::new(STARTS_PER_PAIR, START_WINDOW_SECS),
            user: RateLimiter::new(STARTS_PER_USER, START_WINDOW_SECS),
        }
    }

    /// Counts a start with mail for (user, address); false when past either limit.
    pub fn may_send(&self, user: &str, address: &str, now: Millis) -> bool {
        let user = user.to_lowercase();
        if self
            .pair
            .is_blocked(&format!("{user}|{address}"), now)
            .is_some()
            || self.user.is_blocked(&user, now).is_some()
        {
            return false;
        }
        let _ = self.pair.check(&format!("{user}|{address}"), now);
        let _ = self.user.check(&user, now);
        true
    }
}
