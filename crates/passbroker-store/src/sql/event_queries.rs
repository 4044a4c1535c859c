//! `EventStore`: the outbox's readers, webhook subscriptions, their cursors and leases, and
//! dead letters.

use super::outbox::{push, Event};
use super::{args, detached, first, Dialect, Kind, Row, SqlStore, Transaction};
use crate::event_store::{DeadLetter, EventStore, OutboxEvent, Subscription};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use passbroker_core::time::Millis;

fn event_from_row(r: &Row) -> StoreResult<OutboxEvent> {
    Ok(OutboxEvent {
        seq: r.int("seq")?,
        id: r.text("id")?,
        kind: r.text("type")?,
        subject: r.opt_text("subject")?,
        time: r.millis("time")?,
        data: r.text("data")?,
    })
}

fn subscription_from_row(r: &Row) -> StoreResult<Subscription> {
    Ok(Subscription {
        id: r.text("id")?,
        name: r.text("name")?,
        trigger_id: r.text("trigger_id")?,
        config: r.text("config")?,
        filter: r.opt_text("filter")?,
        enabled: r.bool("enabled")?,
        wrapped_secrets: r.blob("wrapped_secrets")?,
        created: r.millis("created")?,
        modified: r.millis("modified")?,
        last_seq: r.int("last_seq")?,
        attempts: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: r.millis("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
    })
}

/// A dead letter keeps a copy of its event as JSON (the outbox may have purged it).
fn event_json(e: &OutboxEvent) -> String {
    serde_json::json!({
        "seq": e.seq, "id": e.id, "type": e.kind, "subject": e.subject,
        "time": e.time.0, "data": e.data,
    })
    .to_string()
}

fn event_from_json(text: &str) -> StoreResult<OutboxEvent> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| super::corrupt("dead letter event"))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let bad = || super::corrupt("dead letter event");
    Ok(OutboxEvent {
        seq: v.get("seq").and_then(|x| x.as_i64()).ok_or_else(bad)?,
        id: s("id").ok_or_else(bad)?,
        kind: s("type").ok_or_else(bad)?,
        subject: s("subject"),
        time: Millis(v.get("time").and_then(|x| x.as_i64()).ok_or_else(bad)?),
        data: s("data").ok_or_else(bad)?,
    })
}

fn dead_letter_from_row(r: &Row) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        subscription_id: r.text("subscription_id")?,
        event: event_from_json(r.str("event")?)?,
        attempts: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        error: r.opt_text("error")?,
        dead_at: r.millis("dead_at")?,
        replay: r.bool("replay")?,
    })
}

/// The condition that keeps a reader behind every transaction still running: on
/// PostgreSQL, sequence numbers are taken at insert and transactions commit in any order;
/// SQLite's one writer commits in sequence order.
fn visible(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "",
        Kind::Postgres => " AND tx_id < pg_snapshot_xmin(pg_current_snapshot())",
    }
}

const LEASED: &str = "id = $1 AND lease_owner = $2";

#[async_trait]
impl<D: Dialect> EventStore for SqlStore<D> {
    fn written(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.events.clone()
    }

    async fn push_event(
        &self,
        kind: &str,
        subject: Option<&str>,
        data: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let data: serde_json::Value = serde_json::from_str(data)
            .map_err(|e| StoreError::Conflict(format!("event data is not JSON: {e}")))?;
        let (d, kind, subject) = (self.d.clone(), kind.to_owned(), subject.map(str::to_owned));
        detached(async move {
            let mut tx = d.begin().await?;
            let event = Event {
                kind: &kind,
                subject: subject.as_deref(),
                data,
                time: now,
            };
            push(&mut tx, &event).await?;
            tx.commit().await
        })
        .await?;
        self.events_written();
        Ok(())
    }

    async fn events_after(
        &self,
        after_seq: i64,
        kind: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let sql = format!(
            "SELECT seq, id, type, subject, time, data FROM event_outbox
             WHERE seq > $1 AND ($2 = '' OR type = $2){} ORDER BY seq LIMIT $3",
            visible(D::KIND)
        );
        let rows = self
            .d
            .fetch(&sql, args![after_seq, kind.unwrap_or(""), limit])
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn purge_events(&self, before: Millis) -> StoreResult<u64> {
        let events = self
            .d
            .exec("DELETE FROM event_outbox WHERE time < $1", args![before])
            .await?;
        let letters = self
            .d
            .exec(
                "DELETE FROM event_dead_letters WHERE dead_at < $1",
                args![before],
            )
            .await?;
        Ok(events + letters)
    }

    async fn create_subscription(&self, s: &Subscription) -> StoreResult<()> {
        self.d
            .exec(
                "INSERT INTO event_subscriptions (id, name, trigger_id, config, filter, enabled,
                   wrapped_secrets, created, modified, last_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                   (SELECT COALESCE(MAX(seq), 0) FROM event_outbox))",
                args![
                    &s.id,
                    &s.name,
                    &s.trigger_id,
                    &s.config,
                    &s.filter,
                    s.enabled,
                    &s.wrapped_secrets,
                    s.created,
                    s.modified
                ],
            )
            .await?;
        Ok(())
    }

    async fn get_subscription(&self, id: &str) -> StoreResult<Option<Subscription>> {
        let rows = self
            .d
            .fetch("SELECT * FROM event_subscriptions WHERE id = $1", args![id])
            .await?;
        first(rows).as_ref().map(subscription_from_row).transpose()
    }

    async fn list_subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        let rows = self
            .d
            .fetch(
                "SELECT * FROM event_subscriptions ORDER BY created, id",
                &[],
            )
            .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn update_subscription(&self, s: &Subscription) -> StoreResult<bool> {
        let n = self
            .d
            .exec(
                "UPDATE event_subscriptions SET name = $2, trigger_id = $3, config = $4, filter = $5,
                   enabled = $6, wrapped_secrets = $7, modified = $8 WHERE id = $1",
                args![
                    &s.id,
                    &s.name,
                    &s.trigger_id,
                    &s.config,
                    &s.filter,
                    s.enabled,
                    &s.wrapped_secrets,
                    s.modified
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_subscription(&self, id: &str) -> StoreResult<bool> {
        let d = self.d.clone();
        let id = id.to_owned();
        detached(async move {
            let mut tx = d.begin().await?;
            tx.exec(
                "DELETE FROM event_dead_letters WHERE subscription_id = $1",
                args![&id],
            )
            .await?;
            let n = tx
                .exec("DELETE FROM event_subscriptions WHERE id = $1", args![&id])
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
        .await
    }

    async fn lease_subscription(
        &self,
        id: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        let n = self
            .d
            .exec(
                "UPDATE event_subscriptions SET lease_owner = $2, lease_until = $4
                 WHERE id = $1 AND (lease_owner = $2 OR lease_until <= $3)",
                args![id, owner, now, until],
            )
            .await?;
        Ok(n == 1)
    }

    async fn release_subscription(&self, id: &str, owner: &str) -> StoreResult<()> {
        self.d
            .exec(
                &format!(
                    "UPDATE event_subscriptions SET lease_owner = NULL, lease_until = 0 WHERE {LEASED}"
                ),
                args![id, owner],
            )
            .await?;
        Ok(())
    }

    async fn advance_subscription(&self, id: &str, owner: &str, seq: i64) -> StoreResult<bool> {
        let n = self
            .d
            .exec(
                &format!(
                    "UPDATE event_subscriptions SET last_seq = $3, attempts = 0, next_attempt_at = 0,
                       last_error = NULL WHERE {LEASED} AND last_seq < $3"
                ),
                args![id, owner, seq],
            )
            .await?;
        Ok(n == 1)
    }

    async fn retry_subscription(
        &self,
        id: &str,
        owner: &str,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> StoreResult<bool> {
        let n = self
            .d
            .exec(
                &format!(
                    "UPDATE event_subscriptions SET attempts = $3, next_attempt_at = $4, last_error = $5
                     WHERE {LEASED}"
                ),
                args![id, owner, attempts, next_attempt_at, error],
            )
            .await?;
        Ok(n == 1)
    }

    async fn dead_letter(
        &self,
        id: &str,
        owner: &str,
        event: &OutboxEvent,
        attempts: u32,
        error: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let d = self.d.clone();
        let (id, owner, error) = (id.to_owned(), owner.to_owned(), error.to_owned());
        let (seq, json) = (event.seq, event_json(event));
        detached(async move {
            let mut tx = d.begin().await?;
            let n = tx
                .exec(
                    &format!(
                        "UPDATE event_subscriptions SET last_seq = $3, attempts = 0, next_attempt_at = 0,
                           last_error = NULL WHERE {LEASED} AND last_seq < $3"
                    ),
                    args![&id, &owner, seq],
                )
                .await?;
            if n == 0 {
                return Ok(false);
            }
            tx.exec(
                "INSERT INTO event_dead_letters (subscription_id, seq, event, attempts, error, dead_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![&id, seq, json, attempts, &error, now],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn dead_letters(&self, id: &str, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        let rows = self
            .d
            .fetch(
                "SELECT * FROM event_dead_letters WHERE subscription_id = $1 ORDER BY seq LIMIT $2",
                args![id, limit],
            )
            .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn replay_dead_letters(&self, id: &str, seq: Option<i64>) -> StoreResult<u64> {
        let n = self
            .d
            .exec(
                "UPDATE event_dead_letters SET replay = TRUE
                 WHERE subscription_id = $1 AND ($2 < 0 OR seq = $2)",
                args![id, seq.unwrap_or(-1)],
            )
            .await?;
        if n > 0 {
            self.events_written();
        }
        Ok(n)
    }

    async fn replays_due(&self, id: &str, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        let rows = self
            .d
            .fetch(
                "SELECT * FROM event_dead_letters WHERE subscription_id = $1 AND replay = TRUE
                 ORDER BY seq LIMIT $2",
                args![id, limit],
            )
            .await?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn delete_dead_letter(&self, id: &str, seq: i64) -> StoreResult<()> {
        self.d
            .exec(
                "DELETE FROM event_dead_letters WHERE subscription_id = $1 AND seq = $2",
                args![id, seq],
            )
            .await?;
        Ok(())
    }

    async fn replay_failed(&self, id: &str, seq: i64, error: &str) -> StoreResult<()> {
        self.d
            .exec(
                "UPDATE event_dead_letters SET replay = FALSE, error = $3, attempts = attempts + 1
                 WHERE subscription_id = $1 AND seq = $2",
                args![id, seq, error],
            )
            .await?;
        Ok(())
    }
}
