//! The `passbroker` command: parses the command line and calls the library.

mod backup;
mod breach;
mod client;
mod commands;
mod health;
mod migrate;

use clap::{Parser, Subcommand};
use passbroker_server::config::{Config, Database, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the server and the bulk import allocate on one thread
/// and free on another all the time, which glibc's arenas handle poorly (a profile of a
/// million-row import spent a fifth of its time in malloc and free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `passbroker --version`: the release and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PASSBROKER_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "passbroker",
    version = VERSION,
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
    /// Copy the SQLite database to FILE while the server runs (a consistent snapshot).
    Backup {
        /// The backup file to write (must not exist).
        file: PathBuf,
    },
    /// Replace the SQLite database with a backup taken by `passbroker backup` (the server
    /// must be stopped; the backup must have been made under the configured master key).
    Restore {
        /// The backup file to restore.
        file: PathBuf,
    },
    /// Ask a running server whether it is ready (exit 0 when it is).
    Healthcheck {
        /// The server's base URL (default: the configuration's listen address, https with
        /// TLS; that probe of this machine's own server does not check the certificate
        /// unless --ca-file is given).
        #[arg(long, env = "PASSBROKER_URL")]
        url: Option<String>,
        /// Trust only this CA (PEM) for an https:// URL, e.g. the CA of `tls_cert_file`.
        #[arg(long, env = "PASSBROKER_CA_FILE")]
        ca_file: Option<PathBuf>,
        /// Keep asking for up to this many seconds until the server is ready (0: ask once).
        #[arg(long, default_value_t = 0)]
        wait: u64,
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
    /// Capture agents: report passwords changed at a directory (Samba AD DC, PAM) so they
    /// reach the rest of the sync group.
    #[command(subcommand)]
    Capture(commands::capture::CaptureCommand),
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

/// The configuration for a command that works on an existing database: a SQLite file that is
/// not there is an error (run from another directory, the default `./passbroker-data` would
/// otherwise be created empty, and the message would be about the master key).
fn existing_database(cli: &Cli) -> anyhow::Result<Config> {
    let config = load_config(cli, Overrides::default())?;
    if let Database::Sqlite { path } = config.database() {
        if !path.is_file() {
            anyhow::bail!(
                "no database at {}: run passbroker where `serve` ran, or give its data directory \
                 (--data-dir or PASSBROKER_DATA_DIR) or its configuration (--config); \
                 `passbroker migrate` creates a new, empty one",
                path.display()
            );
        }
    }
    Ok(config)
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
        Command::Healthcheck { url, ca_file, wait } => {
            // Without --url, the address comes from the configuration (as `serve` reads it).
            let (url, own) = match url {
                Some(u) => (u.clone(), false),
                None => (
                    health::url_from(&load_config(&cli, Overrides::default())?),
                    true,
                ),
            };
            let trust = match (ca_file, own) {
                (Some(ca), _) => health::Trust::CaFile(ca),
                (None, true) => health::Trust::OwnServer,
                (None, false) => health::Trust::System,
            };
            health::check(&url, trust, *wait).await
        }
        Command::SetPassword(args) => client::set_password(args).await,
        Command::Capture(c) => commands::capture::run(c).await,
        Command::Tenant(c) => {
            // Applying or importing a tenant may start a new database; reading one may not.
            let config = match c {
                commands::TenantCommand::Export { .. } => existing_database(&cli)?,
                _ => {
                    let config = load_config(&cli, Overrides::default())?;
                    if let Database::Sqlite { path } = config.database() {
                        if !path.is_file() {
                            eprintln!("no database at {}: creating a new one", path.display());
                        }
                    }
                    config
                }
            };
            commands::tenant(config, c).await
        }
        Command::Clients(c) => commands::clients(existing_database(&cli)?, c).await,
        Command::Backup { file } => {
            backup::backup(&load_config(&cli, Overrides::default())?, file).await
        }
        Command::Restore { file } => {
            backup::restore(&load_config(&cli, Overrides::default())?, file).await
        }
        Command::Pats(c) => commands::pats(existing_database(&cli)?, c).await,
        Command::Keys(c) => commands::keys(existing_database(&cli)?, c).await,
        Command::MasterKey(c) => {
            commands::master_key(load_config(&cli, Overrides::default()).ok(), c).await
        }
        Command::Sources(c) => commands::sources(existing_database(&cli)?, c).await,
        Command::Breach(c) => breach::breach(load_config(&cli, Overrides::default())?, c).await,
        Command::Audit(c) => commands::audit(existing_database(&cli)?, c).await,
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
