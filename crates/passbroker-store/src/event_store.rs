//! Storage for events: the outbox (every event is written in the transaction of the change
//! it reports), webhook subscriptions with their delivery cursor, and dead letters. A trait
//! of its own ([`EventStore`], reached through [`crate::Store::events`]).
//!
//! Events carry ids and outcomes, never a password, a ciphertext or a secret.

use crate::StoreResult;
use async_trait::async_trait;
use passbroker_core::time::Millis;

/// The event types (CloudEvents `type`), each also a trigger (see the server's catalogue).
pub mod types {
    pub const CHANGE_ACCEPTED: &str = "passbroker.password.change.accepted";
    pub const TARGET_SUCCEEDED: &str = "passbroker.password.change.target.succeeded";
    pub const TARGET_FAILED: &str = "passbroker.password.change.target.failed";
    pub const CHANGE_FINISHED: &str = "passbroker.password.change.finished";
    pub const CHANGE_FAILED: &str = "passbroker.password.change.failed";
    pub const POLICY_REJECTED: &str = "passbroker.password.policy.rejected";
    pub const BREACHED_REFUSED: &str = "passbroker.password.breached.refused";
    pub const DIGIT_TOKEN_ISSUED: &str = "passbroker.digit_token.issued";
    pub const DIGIT_TOKEN_REDEEMED: &str = "passbroker.digit_token.redeemed";
    pub const KEY_ROTATED: &str = "passbroker.key.rotated";
    pub const CAPTURE_RECEIVED: &str = "passbroker.password.capture.received";
    pub const CAPTURE_ECHO_DROPPED: &str = "passbroker.password.capture.echo_dropped";

    /// Every type the store writes.
    pub const ALL: &[&str] = &[
        CHANGE_ACCEPTED,
        TARGET_SUCCEEDED,
        TARGET_FAILED,
        CHANGE_FINISHED,
        CHANGE_FAILED,
        POLICY_REJECTED,
        BREACHED_REFUSED,
        DIGIT_TOKEN_ISSUED,
        DIGIT_TOKEN_REDEEMED,
        KEY_ROTATED,
        CAPTURE_RECEIVED,
        CAPTURE_ECHO_DROPPED,
    ];
}

/// How the breached-password rule's message starts (the worker writes it; a failed request
/// whose errors hold one also reports [`types::BREACHED_REFUSED`]).
pub const BREACH_MESSAGE_PREFIX: &str = "The password appears in known data breaches";

/// One event of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Position in the outbox: only grows, in commit order as readers see it.
    pub seq: i64,
    /// A unique id (the CloudEvents `id` and the `webhook-id`).
    pub id: String,
    pub kind: String,
    /// What the event is about: the request id for password changes.
    pub subject: Option<String>,
    /// When the change committed (its transaction's clock).
    pub time: Millis,
    /// The event's `data`, JSON.
    pub data: String,
}

/// A webhook subscription. `config` is ISC's shape without secrets (JSON); `wrapped_secrets`
/// holds the signing secrets and the receiver's credentials under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub name: String,
    pub trigger_id: String,
    pub config: String,
    pub filter: Option<String>,
    pub enabled: bool,
    pub wrapped_secrets: Vec<u8>,
    pub created: Millis,
    pub modified: Millis,
    /// The delivery state (read-only for updates).
    pub last_seq: i64,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
}

/// An event a subscription gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub subscription_id: String,
    pub event: OutboxEvent,
    pub attempts: u32,
    pub error: Option<String>,
    pub dead_at: Millis,
    /// An operator asked for it to be sent again.
    pub replay: bool,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Notified after this process commits events (the dispatcher waits on it; other
    /// nodes' events are found by polling).
    fn written(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// Appends an event outside any other change (the store's own changes push theirs in
    /// their transactions).
    async fn push_event(
        &self,
        kind: &str,
        subject: Option<&str>,
        data: &str,
        now: Millis,
    ) -> StoreResult<()>;
    /// Events after `after_seq` (of one type, or all), oldest first, at most `limit`; only
    /// events whose transaction every reader can already see, so none commits behind them.
    async fn events_after(
        &self,
        after_seq: i64,
        kind: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// Deletes events, and dead letters, older than `before`; returns how many.
    async fn purge_events(&self, before: Millis) -> StoreResult<u64>;

    /// Inserts a subscription; its cursor starts after the newest event (it receives what
    /// happens from now on).
    async fn create_subscription(&self, s: &Subscription) -> StoreResult<()>;
    async fn get_subscription(&self, id: &str) -> StoreResult<Option<Subscription>>;
    async fn list_subscriptions(&self) -> StoreResult<Vec<Subscription>>;
    /// Replaces name, trigger, config, filter, enabled, secrets and `modified`; the delivery
    /// state stays. False when there is no such subscription.
    async fn update_subscription(&self, s: &Subscription) -> StoreResult<bool>;
    async fn delete_subscription(&self, id: &str) -> StoreResult<bool>;

    /// Takes (or renews) the right to deliver a subscription's events until `until`: true
    /// when `owner` holds it. One node at a time delivers a subscription.
    async fn lease_subscription(
        &self,
        id: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool>;
    /// Gives the lease back (a stopping node).
    async fn release_subscription(&self, id: &str, owner: &str) -> StoreResult<()>;
    /// Moves the cursor to `seq` (delivered or filtered out) and clears the retry state,
    /// if `owner` still holds the lease.
    async fn advance_subscription(&self, id: &str, owner: &str, seq: i64) -> StoreResult<bool>;
    /// Records a failed attempt at the event after the cursor.
    async fn retry_subscription(
        &self,
        id: &str,
        owner: &str,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> StoreResult<bool>;
    /// Gives up on `event`: stores it as a dead letter and moves the cursor past it, in one
    /// transaction, if `owner` still holds the lease.
    async fn dead_letter(
        &self,
        id: &str,
        owner: &str,
        event: &OutboxEvent,
        attempts: u32,
        error: &str,
        now: Millis,
    ) -> StoreResult<bool>;
    /// The subscription's dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, id: &str, limit: u32) -> StoreResult<Vec<DeadLetter>>;
    /// Marks dead letters for replay (all of the subscription's, or the one of event `seq`);
    /// returns how many.
    async fn replay_dead_letters(&self, id: &str, seq: Option<i64>) -> StoreResult<u64>;
    /// Dead letters marked for replay, oldest first.
    async fn replays_due(&self, id: &str, limit: u32) -> StoreResult<Vec<DeadLetter>>;
    /// A replayed letter was delivered: deletes it.
    async fn delete_dead_letter(&self, id: &str, seq: i64) -> StoreResult<()>;
    /// A replay failed: the letter stays dead (unmarked) with the new error.
    async fn replay_failed(&self, id: &str, seq: i64, error: &str) -> StoreResult<()>;
}
