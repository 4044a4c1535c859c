//! Queue events between nodes, over PostgreSQL's LISTEN/NOTIFY.
//!
//! A new request notifies `passbroker_queued` (idle workers on every node wake at once
//! instead of at their next poll), and a request that ends notifies `passbroker_finished`
//! with its id (a `Prefer: wait` on any node returns as soon as any node's worker finished
//! it); a change to the RSA key ring notifies `passbroker_keys` (every node reloads it). Both are sent by the statement that does the work, so they are delivered when it
//! commits. Notifications are hints: workers still poll, waiters still read the store.

use super::{db, PostgresStore};
use crate::StoreResult;
use passbroker_core::RequestId;
use sqlx::postgres::{PgListener, PgPoolOptions};

pub(crate) use crate::sql::requests::{FINISHED, QUEUED};

pub(crate) use crate::sql::keys::KEYS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// A request was queued (on any node).
    Queued,
    /// A request reached a terminal state (on any node).
    Finished(RequestId),
    /// The RSA key ring changed (a rotation or retirement, by any node or the CLI).
    KeysChanged,
}

/// A subscription to [`QueueEvent`]s; holds one connection while it lives.
pub struct QueueEvents {
    listener: PgListener,
}

impl PostgresStore {
    /// Subscribes to the queue events of every node, on a connection of its own (outside
    /// the pool, so it never takes a slot requests need).
    pub async fn queue_events(&self) -> StoreResult<QueueEvents> {
        let options = (*self.d.pool.connect_options()).clone();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await.map_err(db)?;
        listener
            .listen_all([QUEUED, FINISHED, KEYS])
            .await
            .map_err(db)?;
        Ok(QueueEvents { listener })
    }
}

impl QueueEvents {
    /// The next event. Reconnects by itself when the connection drops (events sent
    /// meanwhile are lost); an error means the pool closed or cannot reconnect.
    pub async fn recv(&mut self) -> StoreResult<QueueEvent> {
        loop {
            let n = self.listener.recv().await.map_err(db)?;
            match n.channel() {
                QUEUED => return Ok(QueueEvent::Queued),
                KEYS => return Ok(QueueEvent::KeysChanged),
                FINISHED => {
                    if let Ok(id) = RequestId::parse(n.payload()) {
                        return Ok(QueueEvent::Finished(id));
                    }
                }
                _ => {}
            }
        }
    }
}
