//! The store conformance suite against SQLite (a fresh file database per test).

use passbroker_store::sqlite::{Durability, SqliteStore};

async fn fresh() -> SqliteStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("passbroker.db");
    // Keep the directory for the life of the process; tests are short.
    std::mem::forget(dir);
    SqliteStore::open(&path, Durability::Normal)
        .await
        .expect("open sqlite")
}

mod sqlite_store {
    use super::fresh;
    passbroker_store::conformance_tests!(fresh());
}

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
