//! The `passbroker` command: parses the command line and calls the library.

mod breach;
mod client;
mod commands;
mod migrate;

use clap::{Parser, Subcommand};
use passbroker_server::config::{Config, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the server and the bulk import allocate on one thread
/// and free on another all the time, which glibc's arenas handle poorly (a profile of a
/// million-row import spent a fifth of its time in malloc and free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "passbroker",
    version,
    about = "Self-hosted password management that speaks SailPoint ISC's Password Management API"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "PASSBROKER_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for the database and generated files.
    #[arg(long, global = true, env = "PASSBROKER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service and its workers.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, env = "PASSBROKER_LISTEN")]
        listen: Option<String>,
        /// Seed the demo tenant (and generate a master key if none is given).
        #[arg(long, env = "PASSBROKER_DEMO")]
        demo: bool,
        /// Log format: text or json.
        #[arg(long, env = "PASSBROKER_LOG_FORMAT")]
        log_format: Option<String>,
    },
    /// Create or upgrade the database schema, then exit. With --from and --to, copy a
    /// SQLite tenant (everything, requests in flight included) into a new PostgreSQL database.
    Migrate {
        /// The SQLite database to copy: sqlite://PATH.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The empty PostgreSQL database to copy into: postgres://USER@HOST:PORT/DB.
        #[arg(long, requires = "from")]
        to: Option<String>,
    },
    /// Ask a running server whether it is ready (exit 0 when it is).
    Healthcheck {
        #[arg(long, env = "PASSBROKER_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Declarative tenant files.
    #[command(subcommand)]
    Tenant(commands::TenantCommand),
    /// OAuth API clients (client_credentials).
    #[command(subcommand)]
    Clients(commands::ClientsCommand),
    /// Personal access tokens.
    #[command(subcommand)]
    Pats(commands::PatsCommand),
    /// The RSA keys clients encrypt passwords with.
    #[command(subcommand)]
    Keys(commands::KeysCommand),
    /// The master key that wraps secrets at rest.
    #[command(subcommand, name = "master-key")]
    MasterKey(commands::MasterKeyCommand),
    /// Sources (systems passwords are set on).
    #[command(subcommand)]
    Sources(commands::SourcesCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(commands::AuditCommand),
    /// The breached-password corpus (Pwned Passwords), imported offline.
    #[command(subcommand)]
    Breach(breach::BreachCommand),
    /// Change a password through a passbroker (or ISC) server, from this terminal.
    SetPassword(client::SetPasswordArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, overrides: Overrides) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        ..overrides
    };
    Ok(Config::load(cli.config.as_deref(), &env, &overrides)?)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve {
            listen,
            demo,
            log_format,
        } => {
            let config = load_config(
                &cli,
                Overrides {
                    listen: listen.clone(),
                    demo: *demo,
                    log_format: log_format.clone(),
                    ..Overrides::default()
                },
            )?;
            passbroker_server::telemetry::init(config.log_format(), &config.log_level);
            let app = passbroker_server::app::Application::build(config).await?;
            app.run_until(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { from, to } => {
            let config = load_config(&cli, Overrides::default())?;
            match (from, to) {
                (Some(from), Some(to)) => migrate::copy(&config, from, to).await,
                _ => migrate::schema(&config).await,
            }
        }
        Command::Healthcheck { url } => {
            let ready = format!("{}/health/ready", url.trim_end_matches('/'));
            match reqwest::Client::new()
                .get(&ready)
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    println!("ready");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(r) => {
                    println!("not ready: HTTP {}", r.status());
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    println!("not reachable: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::SetPassword(args) => client::set_password(args).await,
        Command::Tenant(c) => commands::tenant(load_config(&cli, Overrides::default())?, c).await,
        Command::Clients(c) => commands::clients(load_config(&cli, Overrides::default())?, c).await,
        Command::Pats(c) => commands::pats(load_config(&cli, Overrides::default())?, c).await,
        Command::Keys(c) => commands::keys(load_config(&cli, Overrides::default())?, c).await,
        Command::MasterKey(c) => {
            commands::master_key(load_config(&cli, Overrides::default()).ok(), c).await
        }
        Command::Sources(c) => commands::sources(load_config(&cli, Overrides::default())?, c).await,
        Command::Breach(c) => breach::breach(load_config(&cli, Overrides::default())?, c).await,
        Command::Audit(c) => commands::audit(load_config(&cli, Overrides::default())?, c).await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight work");
}
