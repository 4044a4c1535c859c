//! `passbroker sources …` and `passbroker audit …`.

use super::state;
use clap::Subcommand;
use passbroker_server::config::Config;
use passbroker_store::{AuditFilter, Page};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum SourcesCommand {
    /// List the sources.
    List,
    /// Connect to a source's target and authenticate, and say how it went.
    Check { name: String },
}

pub async fn sources(config: Config, cmd: &SourcesCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    match cmd {
        SourcesCommand::List => {
            let (list, _) = s.store.list_sources(Page::all()).await?;
            for src in list {
                println!(
                    "{}  {}  {}  [{}]",
                    src.id,
                    src.name.as_str(),
                    src.connector.as_str(),
                    src.features.join(",")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::Check { name } => {
            let src = s
                .store
                .find_source_by_name(name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no source named {name:?}"))?;
            let (connector, _) = s
                .connectors
                .get(&src)
                .await
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            match tokio::time::timeout(
                std::time::Duration::from_millis(src.delivery.timeout_ms.max(1000)),
                connector.check(),
            )
            .await
            {
                Ok(Ok(msg)) => {
                    println!("OK   {name}: {msg}");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(Err(e)) => {
                    println!(
                        "FAIL {name}: {e}{}",
                        if e.is_transient() {
                            " (transient: the target may be down)"
                        } else {
                            ""
                        }
                    );
                    Ok(ExitCode::FAILURE)
                }
                Err(_) => {
                    println!(
                        "FAIL {name}: no answer within {} ms",
                        src.delivery.timeout_ms
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List audit events (all, or one request's with --request-id), a page at a time.
    List {
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
}

pub async fn audit(config: Config, cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    let AuditCommand::List {
        request_id,
        limit,
        offset,
    } = cmd;
    let filter = AuditFilter {
        request_id: request_id.clone(),
        ..AuditFilter::default()
    };
    let (events, total) = s
        .store
        .list_audit(&filter, Page::new(*offset, *limit))
        .await?;
    for e in &events {
        println!(
            "{}  {:<36} {:<8} {}  {}",
            passbroker_server::http::routes::rfc3339(e.at),
            e.action,
            e.outcome,
            e.actor,
            e.detail
        );
    }
    println!("({} of {total})", events.len());
    Ok(ExitCode::SUCCESS)
}
