//! `passbroker backup FILE` and `passbroker restore FILE` for the SQLite store.
//!
//! A backup is taken while the server runs (`VACUUM INTO`: one consistent snapshot of the
//! live rows, so no erased ciphertext of an ended request). A restore checks the file (whole,
//! a passbroker schema this binary can migrate, and made under the configured master key)
//! before it touches anything, refuses while the database is open elsewhere, keeps the
//! database it replaces beside it, and brings the restored copy's schema up to date.
//! PostgreSQL is backed up with `pg_dump` (README, "Backup and restore").

use passbroker_server::config::{Config, Database};
use passbroker_server::pipeline::secrets::Secrets;
use passbroker_store::sqlite::backup::{self, BackupInfo};
use passbroker_store::sqlite::{Durability, SqliteStore};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn sqlite_path(config: &Config, what: &str) -> anyhow::Result<PathBuf> {
    match config.database() {
        Database::Sqlite { path } => Ok(path),
        Database::Postgres { .. } => anyhow::bail!(
            "the database is PostgreSQL: {what} it with pg_dump / pg_restore (see README, \"Backup and restore\")"
        ),
    }
}

/// A sibling of `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Creates `path` empty, readable by its owner only (a backup holds wrapped secrets).
fn create_private(path: &Path) -> anyhow::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(())
}

fn sync_file_and_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    let db = sqlite_path(config, "back up")?;
    if !db.is_file() {
        anyhow::bail!(
            "no database at {} (give --data-dir or PASSBROKER_DATA_DIR, or --config, as for serve)",
            db.display()
        );
    }
    if file.exists() {
        anyhow::bail!("{} exists; give a new file name", file.display());
    }
    let partial = sibling(file, ".partial");
    let _ = std::fs::remove_file(&partial);
    create_private(&partial)?;
    let taken = async {
        backup::backup(&db, &partial).await?;
        let info = backup::inspect(&partial).await?;
        sync_file_and_dir(&partial)?;
        anyhow::Ok(info)
    }
    .await;
    let info = match taken {
        Ok(info) => info,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("backing up {}", db.display())));
        }
    };
    std::fs::rename(&partial, file)?;
    sync_file_and_dir(file)?;
    println!(
        "backed up {} to {} (schema version {}, {} request(s) in flight)",
        db.display(),
        file.display(),
        info.schema_version,
        info.in_progress
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    let db = sqlite_path(config, "restore")?;
    if !file.is_file() {
        anyhow::bail!("no backup at {}", file.display());
    }
    let info: BackupInfo = backup::inspect(file)
        .await
        .map_err(|e| anyhow::anyhow!("{} cannot be restored: {e}", file.display()))?;
    let latest = passbroker_store::sqlite::latest_version();
    if info.schema_version > latest {
        anyhow::bail!(
            "{} has schema version {}; this passbroker knows up to {latest}: restore it with a newer passbroker",
            file.display(),
            info.schema_version
        );
    }
    let master_text = config.master_key_text()?;
    let master = passbroker_server::pipeline::secrets::load_master_key(
        master_text
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret),
        &config.data_dir,
        false,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    if backup::in_use(&db).await? {
        anyhow::bail!(
            "{} is in use (a running server or another command); stop passbroker first",
            db.display()
        );
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Work on a copy beside the database: check its key and migrate it there.
    let staged = sibling(&db, ".restoring");
    for leftover in [
        staged.clone(),
        sibling(&staged, "-wal"),
        sibling(&staged, "-shm"),
    ] {
        let _ = std::fs::remove_file(leftover);
    }
    create_private(&staged)?;
    let checked = async {
        std::fs::copy(file, &staged)?;
        let store = SqliteStore::open(&staged, Durability::Full).await?;
        let secrets = Secrets::new(master);
        let verdict = secrets.verify_existing(&store).await;
        store.close().await;
        verdict.map_err(|e| anyhow::anyhow!("refused: {e}"))?;
        sync_file_and_dir(&staged)?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = checked {
        for leftover in [
            staged.clone(),
            sibling(&staged, "-wal"),
            sibling(&staged, "-shm"),
        ] {
            let _ = std::fs::remove_file(leftover);
        }
        return Err(e.context(format!(
            "{} was not restored; nothing changed",
            file.display()
        )));
    }
    // Keep what is replaced (with its WAL, which may hold committed changes).
    let kept = if db.exists() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let kept = sibling(&db, &format!(".before-restore-{stamp}"));
        std::fs::rename(&db, &kept)?;
        for ext in ["-wal", "-shm"] {
            let from = sibling(&db, ext);
            if from.exists() {
                std::fs::rename(&from, sibling(&kept, ext))?;
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&staged, &db)?;
    sync_file_and_dir(&db)?;
    println!(
        "restored {} into {} (schema version {} → {latest}); {} request(s) in flight continue when the server starts",
        file.display(),
        db.display(),
        info.schema_version,
        info.in_progress
    );
    if let Some(kept) = kept {
        println!("the database it replaced is at {}", kept.display());
    }
    Ok(ExitCode::SUCCESS)
}
