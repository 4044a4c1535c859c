//! Admin subcommands (`tenant`, `clients`, `pats`, `keys`, `master-key`, `sources`,
//! `audit`). They open the store directly (the server may be running: SQLite's WAL
//! lets both work) and print results for people, or JSON with `--json` for scripts.

use clap::Subcommand;
use passbroker_server::config::Config;
use passbroker_server::http::state::AppState;
use passbroker_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

pub mod capture;
mod credentials;
mod keys;
mod sources_audit;

pub use credentials::{clients, pats, ClientsCommand, PatsCommand};
pub use keys::{keys, master_key, KeysCommand, MasterKeyCommand};
pub use sources_audit::{audit, sources, AuditCommand, SourcesCommand};

async fn state(config: Config) -> anyhow::Result<AppState> {
    let store: Arc<dyn Store> = passbroker_server::app::open_store(&config).await?;
    passbroker_server::app::build_state(config, store).await
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Apply a tenant file (YAML, TOML or JSON); idempotent, all or nothing.
    Apply { file: PathBuf },
    /// Print the tenant in the apply format (no secrets).
    Export {
        #[arg(long, default_value = "yaml")]
        format: String,
    },
    /// Import identities or accounts from a CSV or JSON file; all or nothing unless
    /// --skip-bad-rows, every bad row reported with its line.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Columns: name (or userName), displayName, emailAddress, userLevel, active; others are attributes.
    Identities {
        file: PathBuf,
        /// Import the good rows even when some are bad (the bad ones are listed).
        #[arg(long)]
        skip_bad_rows: bool,
    },
    /// Columns: userName (or identityId), sourceName (or sourceId), nativeIdentity, name, disabled; others are attributes.
    Accounts {
        file: PathBuf,
        #[arg(long)]
        skip_bad_rows: bool,
    },
}

async fn import(s: &AppState, cmd: &ImportCommand) -> anyhow::Result<ExitCode> {
    use passbroker_server::ops::import::ImportKind;
    let (kind, file, skip) = match cmd {
        ImportCommand::Identities {
            file,
            skip_bad_rows,
        } => (ImportKind::Identities, file, *skip_bad_rows),
        ImportCommand::Accounts {
            file,
            skip_bad_rows,
        } => (ImportKind::Accounts, file, *skip_bad_rows),
    };
    match passbroker_server::ops::import::import(s.store.as_ref(), kind, file, skip).await {
        Ok(report) => {
            for e in &report.skipped {
                eprintln!("  skipped {e}");
            }
            println!(
                "imported {} record(s) from {}; {} bad row(s) skipped",
                report.imported,
                file.display(),
                report.skipped.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{} was not imported (nothing changed):", file.display());
            for e in errors {
                eprintln!("  - {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn tenant(config: Config, cmd: &TenantCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    match cmd {
        TenantCommand::Import(c) => import(&s, c).await,
        TenantCommand::Apply { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let parsed =
                passbroker_server::ops::tenant::parse(file, &text).map_err(anyhow::Error::msg)?;
            match passbroker_server::ops::tenant::apply(
                s.store.as_ref(),
                &s.secrets,
                &s.config.data_dir,
                parsed,
                s.clock.now(),
            )
            .await
            {
                Ok(r) => {
                    println!(
                        "applied {}: {} created, {} updated, {} unchanged",
                        file.display(),
                        r.created,
                        r.updated,
                        r.unchanged
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{} was not applied (nothing changed):", file.display());
                    for e in errors {
                        eprintln!("  - {e}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        TenantCommand::Export { format } => {
            let t = passbroker_server::ops::tenant::export(s.store.as_ref()).await?;
            match format.as_str() {
                "yaml" => print!("{}", serde_yaml::to_string(&t)?),
                "json" => println!("{}", serde_json::to_string_pretty(&t)?),
                other => anyhow::bail!("--format: use yaml or json, not {other:?}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
