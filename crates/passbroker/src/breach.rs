//! `passbroker breach import PATH` and `passbroker breach status`: the breached-password
//! corpus an operator downloads (Pwned Passwords: one ordered `HASH:COUNT` file, or a
//! directory of range files), imported offline into `breach_dir`. A running server picks the
//! new index up within seconds; lookups in flight keep the old one.

use clap::Subcommand;
use passbroker_breach::{index_path, BreachIndex, HashKind};
use passbroker_server::config::Config;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BreachCommand {
    /// Import a corpus (an ordered file of HASH:COUNT lines, or a directory of range files
    /// XXXXX of SUFFIX:COUNT lines), replacing the index of its kind atomically.
    Import {
        path: PathBuf,
        /// sha1 or ntlm (default: told by the length of the hashes).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Show which indexes are in place and how many hashes each holds.
    Status,
}

/// Prints progress to standard error: a bar on a terminal, a line every 10 % otherwise.
fn progress_printer() -> impl FnMut(u64, u64, u64) {
    let started = Instant::now();
    let mut last = Instant::now() - Duration::from_secs(1);
    let mut last_tenth = 0;
    let terminal = std::io::stderr().is_terminal();
    move |done, total, records| {
        let share = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let percent = (share * 100.0).min(100.0);
        let mut err = std::io::stderr();
        if terminal {
            if last.elapsed() < Duration::from_millis(200) && done < total {
                return;
            }
            last = Instant::now();
            let filled = (share * 30.0) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {percent:5.1}%  {records} hashes  {:.0?}",
                "#".repeat(filled.min(30)),
                " ".repeat(30 - filled.min(30)),
                started.elapsed()
            );
            if done >= total {
                let _ = writeln!(err);
            }
        } else {
            let tenth = (percent / 10.0) as u64;
            if tenth > last_tenth || done >= total {
                last_tenth = tenth;
                let _ = writeln!(
                    err,
                    "{percent:.0}%  {records} hashes  {:.0?}",
                    started.elapsed()
                );
            }
        }
    }
}

pub async fn breach(config: Config, cmd: &BreachCommand) -> anyhow::Result<ExitCode> {
    let dir = config.breach_dir();
    match cmd {
        BreachCommand::Import { path, kind } => {
            let kind = match kind {
                Some(k) => Some(
                    HashKind::parse(k)
                        .ok_or_else(|| anyhow::anyhow!("--kind: use sha1 or ntlm, not {k:?}"))?,
                ),
                None => None,
            };
            let input = path.clone();
            let dest = dir.clone();
            let started = Instant::now();
            let report = tokio::task::spawn_blocking(move || {
                let mut progress = progress_printer();
                passbroker_breach::import(&input, &dest, kind, &mut progress)
            })
            .await??;
            println!(
                "imported {} {} hashes into {} in {:.1?}{}",
                report.records,
                report.kind.name(),
                report.index.display(),
                started.elapsed(),
                if report.missing_range_files > 0 {
                    format!(
                        " ({} range files were missing: their prefixes are empty)",
                        report.missing_range_files
                    )
                } else {
                    String::new()
                }
            );
        }
        BreachCommand::Status => {
            for kind in HashKind::ALL {
                let path = index_path(&dir, kind);
                match BreachIndex::open(&path) {
                    Ok(index) => println!(
                        "{}: {} hashes in {} ({} bytes)",
                        kind.name(),
                        index.records(),
                        path.display(),
                        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                    ),
                    Err(_) if !path.exists() => {
                        println!(
                            "{}: no index ({} does not exist)",
                            kind.name(),
                            path.display()
                        )
                    }
                    Err(e) => println!("{}: unusable: {e}", kind.name()),
                }
            }
            match &config.breach_upstream_url {
                Some(url) => println!(
                    "upstream: {url} (timeout {} ms, fails {})",
                    config.breach_upstream_timeout_ms, config.breach_upstream_failure
                ),
                None => println!("upstream: none"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
