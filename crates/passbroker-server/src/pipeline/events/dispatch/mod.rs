//! The dispatcher: one task per node delivers the outbox to every enabled subscription.
//!
//! A subscription is a cursor over the outbox (`last_seq`). Its events go out one at a time,
//! oldest first, so each request's events arrive in order; the cursor moves only when the
//! receiver answered 2xx (or the filter left the event out). A failed attempt is retried
//! after an exponential backoff with jitter; after `events_max_attempts` the event becomes a
//! dead letter and the cursor moves on. One node at a time delivers a subscription (a lease
//! in the store), so several nodes send each event once per subscription. A crash between
//! delivery and the cursor's move sends the event again, with the same `webhook-id`.

mod target;

use super::trigger;
use crate::metrics::Metrics;
use crate::pipeline::clock::Clock;
use crate::pipeline::secrets::Secrets;
use futures::StreamExt;
use passbroker_core::time::Millis;
use passbroker_store::{OutboxEvent, Store, Subscription};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use target::Delivery;
use tokio::sync::watch;

/// Events read per subscription per round.
const BATCH: u32 = 200;
/// Deliveries of one subscription in flight at once (each of a different request).
const IN_FLIGHT: usize = 16;
/// Longest retry delay.
const MAX_BACKOFF_MS: u64 = 300_000;

/// The settings the dispatcher reads from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_attempts: u32,
    pub timeout: Duration,
    pub backoff_ms: u64,
    pub poll: Duration,
    pub retention_secs: i64,
    pub source: String,
}

impl Settings {
    pub fn from_config(c: &crate::config::Config) -> Self {
        Settings {
            max_attempts: c.events_max_attempts.max(1),
            timeout: Duration::from_secs(c.events_timeout_secs.max(1)),
            backoff_ms: c.events_backoff_ms.max(1),
            poll: Duration::from_millis(c.events_poll_interval_ms.max(10)),
            retention_secs: c.events_retention_secs,
            source: c.events_source.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    secrets: Arc<Secrets>,
    metrics: Arc<Metrics>,
    clock: Clock,
    settings: Settings,
    owner: String,
    client: reqwest::Client,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<Secrets>,
        metrics: Arc<Metrics>,
        clock: Clock,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("passbroker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher {
            store,
            secrets,
            metrics,
            clock,
            settings,
            owner: format!("events-{}", passbroker_core::ids::new_isc_id()),
            client,
        })
    }

    /// How long this node holds a subscription between renewals: two delivery timeouts
    /// and three seconds (renewed at half; a crashed node's subscriptions wait that long).
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.timeout.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_mul(2)
            .saturating_add(3_000)
    }

    /// Delivers until `stop`: after every commit of this node that wrote events, and every
    /// `events_poll_interval_ms` (other nodes' events, due retries).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let written = self.store.events().written();
        let mut last_purge = 0i64;
        loop {
            let now = self.clock.now().0;
            if now - last_purge > 60_000 {
                last_purge = now;
                let before =
                    Millis(now.saturating_sub(self.settings.retention_secs.saturating_mul(1000)));
                if let Err(e) = self.store.events().purge_events(before).await {
                    tracing::warn!(error = %e, "purging old events failed");
                }
            }
            let busy = self.round().await;
            if *stop.borrow() {
                break;
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = written.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = stop.changed() => break,
            }
        }
        if let Ok(subs) = self.store.events().list_subscriptions().await {
            for s in subs {
                let _ = self
                    .store
                    .events()
                    .release_subscription(&s.id, &self.owner)
                    .await;
            }
        }
    }

    /// One pass over the subscriptions, each on a task of its own (a slow receiver delays
    /// only its own subscription). True when a full batch suggests more is waiting.
    pub async fn round(&self) -> bool {
        let subs = match self.store.events().list_subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading event subscriptions failed; will retry");
                return false;
            }
        };
        let rounds = subs.into_iter().filter(|s| s.enabled).map(|s| {
            let me = self.clone();
            tokio::spawn(async move { me.serve(s).await })
        });
        let mut busy = false;
        for r in futures::future::join_all(rounds).await {
            busy |= r.unwrap_or(false);
        }
        busy
    }

    /// Delivers what is due for one subscription, if this node may.
    async fn serve(&self, sub: Subscription) -> bool {
        let events = self.store.events();
        let now = self.clock.now();
        let until = Millis(now.0.saturating_add(self.lease_ms()));
        match events
            .lease_subscription(&sub.id, &self.owner, now, until)
            .await
        {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(subscription = %sub.id, error = %e, "leasing a subscription failed");
                return false;
            }
        }
        let leased_at = std::time::Instant::now();
        let Some(delivery) = self.prepare(&sub) else {
            return false;
        };
        self.replays(&sub, &delivery).await;
        if sub.next_attempt_at > now {
            return false;
        }
        let kind = trigger(&sub.trigger_id).and_then(|t| t.event_type);
        let batch = match events.events_after(sub.last_seq, kind, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(subscription = %sub.id, error = %e, "reading the outbox failed");
                return false;
            }
        };
        let full = batch.len() == BATCH as usize;
        self.deliver_batch(&sub, &delivery, batch, leased_at).await && full
    }

    /// Sends a batch. Events of different requests (subjects) go out concurrently, each
    /// request's in order, one at a time; the cursor then moves past the longest prefix of
    /// the batch that was acknowledged (or filtered out). The first failure stops new sends;
    /// events after it that were acknowledged are sent again later under the same
    /// `webhook-id` (at least once). While the event after the cursor is being retried, only
    /// it is sent. True when more may be due at once.
    async fn deliver_batch(
        &self,
        sub: &Subscription,
        delivery: &Delivery,
        batch: Vec<OutboxEvent>,
        leased_at: std::time::Instant,
    ) -> bool {
        let Some(head) = batch.first() else {
            return false;
        };
        if sub.attempts > 0 {
            return match self.attempt(delivery, head).await {
                Ok(()) => self.record(
                    self.store
                        .events()
                        .advance_subscription(&sub.id, &self.owner, head.seq)
                        .await,
                ),
                Err(error) => self.failed(sub, head, sub.attempts + 1, &error).await,
            };
        }
        let mut groups: Vec<Vec<OutboxEvent>> = Vec::new();
        let mut by_subject: HashMap<Option<&str>, usize> = HashMap::new();
        for e in &batch {
            let g = *by_subject.entry(e.subject.as_deref()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(e.clone());
        }
        let stop = AtomicBool::new(false);
        let outcomes: Vec<(i64, Result<(), String>)> = futures::stream::iter(groups)
            .map(|group| {
                let stop = &stop;
                async move {
                    let mut out = Vec::with_capacity(group.len());
                    for e in group {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let r = self.attempt(delivery, &e).await;
                        let failed = r.is_err();
                        out.push((e.seq, r));
                        if failed {
                            stop.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    out
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .concat();
        let done: HashSet<i64> = outcomes
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(seq, _)| *seq)
            .collect();
        let prefix = batch.iter().take_while(|e| done.contains(&e.seq)).count();
        if prefix > 0 {
            let last = batch[prefix - 1].seq;
            let moved = self
                .store
                .events()
                .advance_subscription(&sub.id, &self.owner, last)
                .await;
            if !self.record(moved) {
                return false;
            }
        }
        let Some(next) = batch.get(prefix) else {
            return true;
        };
        let error = outcomes
            .iter()
            .filter_map(|(seq, r)| r.as_ref().err().map(|e| (*seq, e)))
            .min_by_key(|(seq, _)| *seq)
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| "stopped after another event failed".into());
        if leased_at.elapsed().as_millis() as i64 > self.lease_ms() {
            return false;
        }
        self.failed(sub, next, 1, &error).await
    }

    /// One attempt at an event: `Ok` when acknowledged or left out by the filter.
    async fn attempt(&self, delivery: &Delivery, event: &OutboxEvent) -> Result<(), String> {
        let wanted = delivery
            .filter
            .as_ref()
            .is_none_or(|f| serde_json::from_str(&event.data).is_ok_and(|d| f.matches(&d)));
        if !wanted {
            return Ok(());
        }
        match self.send(delivery, event).await {
            Ok(()) => {
                self.delivered(event);
                Ok(())
            }
            Err(e) => {
                self.metrics.event_failed();
                Err(e)
            }
        }
    }

    /// Records the `attempts`-th failure of the event after the cursor: a retry after the
    /// backoff, or, at `events_max_attempts`, a dead letter (the cursor moves past it). True
    /// when delivery may go on at once.
    async fn failed(
        &self,
        sub: &Subscription,
        event: &OutboxEvent,
        attempts: u32,
        error: &str,
    ) -> bool {
        let events = self.store.events();
        if attempts >= self.settings.max_attempts {
            tracing::warn!(subscription = %sub.id, event = %event.id, attempts, error = %error, "event dead-lettered");
            self.metrics.event_dead_lettered();
            let dead = events
                .dead_letter(
                    &sub.id,
                    &self.owner,
                    event,
                    attempts,
                    error,
                    self.clock.now(),
                )
                .await;
            return self.record(dead);
        }
        tracing::info!(subscription = %sub.id, event = %event.id, attempts, error = %error, "event delivery failed; will retry");
        let next = self.backoff(attempts);
        let _ = self.record(
            events
                .retry_subscription(&sub.id, &self.owner, attempts, next, error)
                .await,
        );
        false
    }

    /// Logs a store error; true when the write happened under this node's lease.
    fn record(&self, r: passbroker_store::StoreResult<bool>) -> bool {
        match r {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "recording an event delivery failed; it will be sent again");
                false
            }
        }
    }

    fn delivered(&self, event: &OutboxEvent) {
        let lag = self.clock.now().0.saturating_sub(event.time.0).max(0);
        self.metrics
            .event_delivered(Duration::from_millis(u64::try_from(lag).unwrap_or(0)));
    }

    /// `events_backoff_ms · 2^(attempts-1)`, at most five minutes, plus up to a quarter more
    /// at random (receivers that come back are not hit by every sender at once).
    fn backoff(&self, attempts: u32) -> Millis {
        let base = self
            .settings
            .backoff_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
            .min(MAX_BACKOFF_MS);
        let jitter = u64::from(rand::random::<u16>()) * (base / 4) / u64::from(u16::MAX);
        let delay = i64::try_from(base + jitter).unwrap_or(i64::MAX);
        Millis(self.clock.now().0.saturating_add(delay))
    }

    /// Dead letters an operator asked to replay: one attempt each.
    async fn replays(&self, sub: &Subscription, delivery: &Delivery) {
        let events = self.store.events();
        let Ok(due) = events.replays_due(&sub.id, BATCH).await else {
            return;
        };
        for letter in due {
            let r = match self.send(delivery, &letter.event).await {
                Ok(()) => {
                    self.delivered(&letter.event);
                    events.delete_dead_letter(&sub.id, letter.event.seq).await
                }
                Err(error) => {
                    self.metrics.event_failed();
                    events
                        .replay_failed(&sub.id, letter.event.seq, &error)
                        .await
                }
            };
            if let Err(e) = r {
                tracing::warn!(subscription = %sub.id, error = %e, "recording a replay failed");
            }
        }
    }
}
