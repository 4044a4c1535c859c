//! Wall-clock time for the pipeline and the API; tests move it forward.

use passbroker_core::time::Millis;
use std::sync::Arc;

/// Wall-clock time, swappable in tests.
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> Millis {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Millis(real.saturating_add(self.offset_ms.load(std::sync::atomic::Ordering::Relaxed)))
    }
    /// Moves this clock forward (tests of expiry and grace periods).
    pub fn advance(&self, ms: i64) {
        self.offset_ms
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}
