//! Admission control for new requests: the backlog in progress and the recent drain rate
//! decide whether a new request could finish before its deadline (else the API answers 429).

use passbroker_core::time::Millis;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Backlog accounting for back-pressure: in-progress count and recent drain rate.
pub struct Backlog {
    in_progress: AtomicI64,
    finishes: Mutex<VecDeque<i64>>,
    /// Requests this node ended since it started (drives the erased-data flush).
    finished_total: std::sync::atomic::AtomicU64,
}

impl Backlog {
    const MIN_CAPACITY: i64 = 10_000;
    const RATE_WINDOW_MS: i64 = 30_000;

    pub fn new(in_progress: u64) -> Self {
        Self {
            in_progress: AtomicI64::new(i64::try_from(in_progress).unwrap_or(0)),
            finishes: Mutex::new(VecDeque::new()),
            finished_total: std::sync::atomic::AtomicU64::new(0),
        }
    }
    pub fn on_accept(&self) {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
    }
    pub fn on_finish(&self, now: Millis) {
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        self.finished_total.fetch_add(1, Ordering::Relaxed);
        let mut f = self.finishes.lock().unwrap_or_else(|e| e.into_inner());
        f.push_back(now.0);
        while f.front().is_some_and(|t| now.0 - t > Self::RATE_WINDOW_MS) {
            f.pop_front();
        }
    }
    /// Sets the in-progress count from the store: with several nodes, requests this node
    /// accepted may be finished by another node's workers (and the other way round).
    pub fn resync(&self, in_progress: u64) {
        self.in_progress.store(
            i64::try_from(in_progress).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }
    pub fn finished_total(&self) -> u64 {
        self.finished_total.load(Ordering::Relaxed)
    }
    pub fn in_progress(&self) -> i64 {
        self.in_progress.load(Ordering::Relaxed).max(0)
    }
    /// Completions per second over the last 30 s.
    pub fn drain_rate(&self, now: Millis) -> f64 {
        let f = self.finishes.lock().unwrap_or_else(|e| e.into_inner());
        let n = f
            .iter()
            .filter(|t| now.0 - **t <= Self::RATE_WINDOW_MS)
            .count();
        n as f64 / (Self::RATE_WINDOW_MS as f64 / 1000.0)
    }
    /// `Err(retry_after_secs)` when the backlog could not drain before new work's deadline.
    pub fn admit(&self, now: Millis, deadline_secs: i64) -> Result<(), u64> {
        let rate = self.drain_rate(now);
        let capacity = ((rate * deadline_secs as f64 * 0.8) as i64).max(Self::MIN_CAPACITY);
        let backlog = self.in_progress();
        if backlog < capacity {
            return Ok(());
        }
        let excess = (backlog - capacity + 1) as f64;
        Err((excess / rate.max(1.0)).ceil().clamp(1.0, 3600.0) as u64)
    }
}
