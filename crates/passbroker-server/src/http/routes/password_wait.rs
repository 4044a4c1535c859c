//! `Prefer: wait=N` on set-password: how long the caller asked to wait, and the wait for
//! the request to end.

use crate::http::error::ApiResult;
use crate::http::state::AppState;
use axum::http::HeaderMap;
use passbroker_core::request::RequestState;
use passbroker_core::RequestId;
use std::time::Duration;

/// `Prefer: wait=N` (RFC 7240): how long the caller is willing to wait for the final state.
pub(super) fn prefer_wait(headers: &HeaderMap, max: u64) -> Option<u64> {
    let v = headers.get("prefer")?.to_str().ok()?;
    v.split(',')
        .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
        .map(|n| n.min(max))
}

/// Waits up to `secs` for request `id` to reach a terminal state (`Prefer: wait`).
pub(super) async fn wait_until_terminal(
    state: &AppState,
    id: &RequestId,
    secs: u64,
    finished_rx: &mut tokio::sync::broadcast::Receiver<RequestId>,
) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let current = state.store.get_request(id).await?.map(|r| r.state);
        if current.is_some_and(RequestState::is_terminal) {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, finished_rx.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            _ => return Ok(()),
        }
    }
}
