//! `passbroker migrate`: brings the configured database's schema up to date, or with
//! `--from sqlite://PATH --to postgres://URL` copies a whole tenant from SQLite into a new
//! PostgreSQL database and prints the row counts per table (equal on both sides, or nothing
//! is committed).

use passbroker_server::config::{is_postgres_url, redact_url, Config, Database};
use passbroker_store::sqlite::{Durability, SqliteStore};
use std::path::PathBuf;
use std::process::ExitCode;

/// Migrates the configured database.
pub async fn schema(config: &Config) -> anyhow::Result<ExitCode> {
    let store = passbroker_server::app::open_store(config).await?;
    let version = match config.database() {
        Database::Sqlite { .. } => passbroker_store::sqlite::latest_version(),
        Database::Postgres { .. } => passbroker_store::postgres::latest_version(),
    };
    println!(
        "database {} is at schema version {version}",
        config.database_display()
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Copies the SQLite database `from` into the PostgreSQL database `to`. The PostgreSQL
/// password may be in the URL or in `database_password_file` / PASSBROKER_DATABASE_PASSWORD_FILE.
pub async fn copy(config: &Config, from: &str, to: &str) -> anyhow::Result<ExitCode> {
    let path = PathBuf::from(
        from.strip_prefix("sqlite://")
            .or_else(|| from.strip_prefix("sqlite:"))
            .ok_or_else(|| anyhow::anyhow!("--from must be a sqlite:// URL"))?,
    );
    if !path.is_file() {
        anyhow::bail!("--from: no SQLite database at {}", path.display());
    }
    if !is_postgres_url(to) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let source = SqliteStore::open(&path, Durability::Normal).await?;
    let target = match passbroker_server::app::connect_postgres(config, to, 4).await {
        Ok(t) => t,
        Err(e) => {
            source.close().await;
            return Err(e);
        }
    };
    println!("copying {} into {}", path.display(), redact_url(to));
    let result = passbroker_store::copy::sqlite_to_postgres(&source, &target).await;
    source.close().await;
    target.close().await;
    let counts = result?;
    let width = counts
        .iter()
        .map(|c| c.table.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!("{:width$}  {:>10}  {:>10}", "table", "sqlite", "postgres");
    for c in &counts {
        println!("{:width$}  {:>10}  {:>10}", c.table, c.source, c.target);
    }
    let rows: u64 = counts.iter().map(|c| c.target).sum();
    println!(
        "copied {rows} rows in {} tables; every count matches",
        counts.len()
    );
    println!("start the PostgreSQL nodes with the same master key as the SQLite node");
    Ok(ExitCode::SUCCESS)
}
