//! SQLite-specific store checks (the shared suite is `tests/conformance`).

use passbroker_store::sqlite::{Durability, SqliteStore};

#[tokio::test]
async fn sqlite_store_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path, passbroker_store::sqlite::Durability::Normal)
        .await
        .unwrap();
    store.close().await;
    // Pretend a newer passbroker applied migration 9999.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (9999, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = SqliteStore::open(&path, Durability::Normal)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}
