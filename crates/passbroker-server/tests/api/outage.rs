//! The store away on SQLite (`cargo test --test api -- outage`): a database file another
//! process holds locked makes every write wait for SQLite's busy timeout and then answer 503
//! with ISC's error shape, a cause and a `Retry-After`; nothing is accepted half-way, and the
//! same call succeeds once the lock is gone. (PostgreSQL stopping with requests in flight is
//! `two_node::two_node_outage_*`.)

use crate::helpers::*;
use serde_json::Value;
use sqlx::{Connection, Executor};
use std::time::Duration;

#[tokio::test]
async fn outage_sqlite_locked_database_answers_503_with_retry_after_then_recovers() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "L0cked-Out-For-Now")
        .await;
    let before = app.state.store.count_requests(None).await.unwrap();

    // Another process takes the write lock and keeps it.
    let file = app.data_dir.path().join("passbroker.db");
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    holder.execute("BEGIN IMMEDIATE").await.unwrap();

    let started = std::time::Instant::now();
    let r = app.post_json("/v3/set-password", &token, &body).await;
    assert_eq!(
        r.status(),
        503,
        "a locked database is unavailable, not a fault"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "answered after the busy timeout"
    );
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!((1..=60).contains(&retry_after));
    let v: Value = r.json().await.expect("ISC's error shape");
    assert_eq!(v["detailCode"], "503 Service Unavailable", "{v}");
    assert!(v["trackingId"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        v["causes"][0]["text"]
            .as_str()
            .is_some_and(|c| c.contains("unavailable")),
        "a cause: {v}"
    );
    assert!(
        !v.to_string().to_lowercase().contains("locked"),
        "no internals in the body: {v}"
    );

    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await.unwrap();
    assert_eq!(
        app.state.store.count_requests(None).await.unwrap(),
        before,
        "nothing was accepted"
    );
    let id = app.set_password(&token, &body).await;
    assert_eq!(app.wait_terminal(&token, &id).await["state"], "FINISHED");
    app.stop().await;
}
