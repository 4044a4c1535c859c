//! The server's background tasks: queue events between nodes, the key ring's sync, the
//! breach corpus's refresh, erasing old ciphertexts' traces, housekeeping.

use super::*;

/// On a shared database: wakes this node's workers when any node queues a request, tells
/// this node's `Prefer: wait` callers when any node finishes one, and keeps the backlog count
/// (back-pressure) in step with the store rather than with this node's own accept/finish.
pub(super) async fn relay_queue_events(
    state: AppState,
    pg: PostgresStore,
    mut stop: watch::Receiver<bool>,
) {
    let resync = {
        let state = state.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(n) = state.store.count_in_progress().await {
                    state.backlog.resync(n);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    };
    loop {
        let connected = tokio::select! {
            e = pg.queue_events() => e,
            _ = stop.changed() => break,
        };
        // `None`: stopping; `Some(e)`: the subscription failed, try again shortly.
        let failure = match connected {
            Ok(mut events) => loop {
                // Only `stop` races the receive; the listener is dropped right after.
                let event = tokio::select! {
                    e = events.recv() => e,
                    _ = stop.changed() => break None,
                };
                match event {
                    Ok(QueueEvent::Queued) => state.work_available.notify_one(),
                    Ok(QueueEvent::Finished(id)) => {
                        let _ = state.finished.send(id);
                    }
                    Ok(QueueEvent::KeysChanged) => sync_key_ring(&state).await,
                    Err(e) => break Some(e),
                }
            },
            Err(e) => Some(e),
        };
        let Some(e) = failure else { break };
        tracing::warn!(error = %e, "queue events from other nodes interrupted; retrying");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    let _ = resync.await;
}

/// Keeps this node's RSA key ring in step with the store: a rotation or retirement made by
/// another node or by `passbroker keys` takes effect here within `key_sync_interval_secs`.
pub(super) async fn sync_keys(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.key_sync_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        sync_key_ring(&state).await;
    }
}

/// Picks up a re-imported breach corpus (`passbroker breach import` while serving).
pub(super) async fn refresh_breach(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(crate::pipeline::breach::REFRESH_EVERY) => {}
            _ = stop.changed() => return,
        }
        state.breach.refresh_logged().await;
    }
}

async fn sync_key_ring(state: &AppState) {
    match state.keys.sync().await {
        Ok(true) => tracing::info!(
            active = ?state.keys.active().map(|k| k.id.to_string()),
            "key ring changed in the store; reloaded"
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "checking the key ring failed"),
    }
}

/// Pushes ended requests' erased ciphertexts out of the store's write-ahead log: once at
/// start-up (a crash may have left old copies there, and nothing else would move them until
/// traffic ends another request), then within a few seconds of any request ending, and again
/// every few seconds for as long as a flush fails (readers kept the WAL busy), whatever the
/// traffic.
pub(super) async fn flush_erased(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut pending = true;
    let mut flushed = state.backlog.finished_total();
    loop {
        let finished = state.backlog.finished_total();
        if pending || finished != flushed {
            match state.store.flush_erased().await {
                Ok(()) => {
                    pending = false;
                    flushed = finished;
                }
                Err(e) => {
                    pending = true;
                    tracing::warn!(error = %e, "flushing erased data failed; will retry");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Hourly upkeep: key retirement and rotation, and forgetting ended rate-limit windows.
pub(super) async fn maintain(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        for limit in [
            &state.rate_limit,
            &state.client_rate_limit,
            &state.auth_failure_limit,
        ] {
            if let Err(e) = limit.purge(state.clock.now()).await {
                tracing::warn!(error = %e, "purging rate-limit windows failed");
            }
        }
        let now = state.clock.now();
        let idle_ms = state.config.session_idle_timeout_secs.saturating_mul(1000);
        if let Err(e) = state
            .store
            .purge_web_sessions(
                now,
                passbroker_core::time::Millis(now.0.saturating_sub(idle_ms)),
            )
            .await
        {
            tracing::warn!(error = %e, "purging ended page sessions failed");
        }
        match state.keys.maintain(state.clock.now()).await {
            Ok(done) => {
                for d in done {
                    tracing::info!(action = %d, "key maintenance");
                }
            }
            Err(e) => tracing::error!(error = %e, "key maintenance failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}
