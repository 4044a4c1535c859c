//! The store conformance suite: every check runs on every backend (SQLite, and PostgreSQL
//! when it is installed). A check is a `check!` in `checks.rs` or `admin.rs`; there is no list
//! to keep.

#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/postgres.rs"]
mod postgres_support;

mod admin;
mod capture_store;
mod checks;
mod events;
mod recovery_store;
mod steps;

use passbroker_store::postgres::PostgresStore;
use passbroker_store::sqlite::{Durability, SqliteStore};
use passbroker_store::Store;

/// A fresh, migrated store of each backend that is available.
async fn backends() -> Vec<Box<dyn Store>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("passbroker.db");
    // Keep the directory for the life of the process; tests are short.
    std::mem::forget(dir);
    let sqlite = SqliteStore::open(&path, Durability::Normal)
        .await
        .expect("open sqlite");
    let mut stores: Vec<Box<dyn Store>> = vec![Box::new(sqlite)];
    if let Some(url) = postgres_support::fresh_database().await {
        let pg = PostgresStore::connect(&url, 4)
            .await
            .expect("connect to the test database");
        stores.push(Box::new(pg));
    }
    stores
}

/// `check! { async fn name(store: &dyn Store) { … } }`: a test that runs the body on every
/// backend from [`backends`].
macro_rules! check {
    ($(#[$meta:meta])* async fn $name:ident($store:ident: &dyn Store) $body:block) => {
        $(#[$meta])*
        #[tokio::test]
        async fn $name() {
            async fn run($store: &dyn passbroker_store::Store) $body
            for store in crate::backends().await {
                run(store.as_ref()).await;
            }
        }
    };
}
pub(crate) use check;
