//! The open connections: the cap, and which connection to close to make room.

use super::Activity;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Connections beyond the cap that may be open while the ones they displaced close.
pub(super) const EVICTION_SLACK: usize = 32;

/// The open connections, for the cap and for choosing whom to close.
#[derive(Default)]
pub(super) struct Connections {
    next_id: AtomicU64,
    open: std::sync::Mutex<std::collections::HashMap<u64, Arc<Activity>>>,
    closed: Notify,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection if there is room, closing the longest-waiting connection
    /// without a request in flight to make room at the cap.
    pub(super) fn admit(self: &Arc<Self>, cap: usize) -> Admission {
        let mut open = self.lock();
        if open.len() >= cap {
            if open.len() >= cap.saturating_add(EVICTION_SLACK) {
                return Admission::Draining;
            }
            let victim = open
                .values()
                .filter(|a| !a.evicted.load(Ordering::Acquire))
                .filter_map(|a| a.waiting_since().map(|t| (t, a)))
                .min_by_key(|(t, _)| *t)
                .map(|(_, a)| a.clone());
            let Some(victim) = victim else {
                return Admission::Busy;
            };
            victim.evicted.store(true, Ordering::Release);
            victim.changed.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        open.insert(id, activity.clone());
        Admission::Admitted(Registered {
            id,
            activity,
            connections: self.clone(),
        })
    }

    /// Admits a new connection, waiting (briefly) for displaced ones to close when too many
    /// are still closing. `None`: every connection has a request in flight.
    pub(super) async fn admit_waiting(self: &Arc<Self>, cap: usize) -> Option<Registered> {
        let give_up = Instant::now() + Duration::from_secs(1);
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            match self.admit(cap) {
                Admission::Admitted(r) => return Some(r),
                Admission::Busy => return None,
                Admission::Draining => {
                    if tokio::time::timeout_at(give_up, closed).await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    pub(super) async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.lock().is_empty() {
                return;
            }
            closed.await;
        }
    }
}

pub(super) enum Admission {
    Admitted(Registered),
    /// At the cap, and every connection has a request in flight.
    Busy,
    /// At the cap, with too many displaced connections still closing.
    Draining,
}

/// A connection's place among the open ones, given up when dropped.
pub(super) struct Registered {
    id: u64,
    pub(super) activity: Arc<Activity>,
    connections: Arc<Connections>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
        self.connections.closed.notify_waiters();
    }
}
