//! Liveness, readiness and metrics.

use crate::http::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "UP" }))
}

/// Ready when the store answers and an active key is loaded.
pub async fn ready(State(state): State<AppState>) -> Response {
    let store_ok = state.store.ping().await.is_ok();
    let keys_ok = state.keys.active().is_some();
    let status = if store_ok && keys_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "UP" } else { "DOWN" },
        "checks": { "store": if store_ok { "UP" } else { "DOWN" }, "keys": if keys_ok { "UP" } else { "DOWN" } },
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    state.metrics.set_gauge(
        "passbroker_queue_in_progress",
        state.backlog.in_progress() as f64,
    );
    state.metrics.set_gauge(
        "passbroker_queue_drain_per_second",
        state.backlog.drain_rate(now),
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
