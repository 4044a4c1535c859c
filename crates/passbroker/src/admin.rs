//! Admin subcommands. They open the store directly (the server may be running: SQLite's WAL
//! lets both work) and print results for people, or JSON with `--json` for scripts.

use clap::Subcommand;
use passbroker_core::client::parse_scopes;
use passbroker_server::config::Config;
use passbroker_server::http::state::AppState;
use passbroker_store::{AuditFilter, Page, Store, WriteOp};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

async fn state(config: Config) -> anyhow::Result<AppState> {
    let store: Arc<dyn Store> = Arc::new(passbroker_server::app::open_store(&config).await?);
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

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Create an API client; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// Space- or comma-separated scopes.
        #[arg(long, default_value = "sp:scopes:all")]
        scopes: String,
        /// Grant types, comma-separated (client_credentials, authorization_code, refresh_token).
        #[arg(long, default_value = "client_credentials")]
        grant_types: String,
        /// Allowed redirect URIs for authorization_code (repeatable).
        #[arg(long)]
        redirect_uri: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Delete {
        client_id: String,
    },
}

pub async fn clients(config: Config, cmd: &ClientsCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    match cmd {
        ClientsCommand::Create {
            name,
            scopes,
            grant_types,
            redirect_uri,
            json,
        } => {
            let scopes = parse_scopes(scopes)
                .map_err(|bad| anyhow::anyhow!("--scopes: unknown scope {bad:?}"))?;
            let grants: Vec<String> = grant_types
                .split(',')
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect();
            if let Some(g) = grants.iter().find(|g| {
                !["client_credentials", "authorization_code", "refresh_token"].contains(&g.as_str())
            }) {
                anyhow::bail!("--grant-types: unknown grant type {g:?}");
            }
            let (client, secret) = passbroker_server::ops::credentials::new_client(
                name,
                scopes,
                grants,
                redirect_uri.clone(),
                s.clock.now(),
            )
            .map_err(anyhow::Error::msg)?;
            s.store
                .apply(vec![WriteOp::UpsertClient(client.clone())])
                .await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({ "clientId": client.client_id, "clientSecret": secret.as_str(), "name": client.name, "scopes": client.scopes })
                );
            } else {
                println!(
                    "client id:     {}\nclient secret: {}\n(the secret is shown only now)",
                    client.client_id,
                    secret.as_str()
                );
            }
        }
        ClientsCommand::List { json } => {
            let list = s.store.list_clients().await?;
            if *json {
                let v: Vec<_> = list.iter().map(|c| serde_json::json!({"clientId": c.client_id, "name": c.name, "scopes": c.scopes, "grantTypes": c.grant_types})).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for c in list {
                    println!("{}  {}  [{}]", c.client_id, c.name, c.scopes.join(" "));
                }
            }
        }
        ClientsCommand::Delete { client_id } => {
            if !s.store.delete_client(client_id).await? {
                anyhow::bail!("no client {client_id}");
            }
            println!("deleted client {client_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum PatsCommand {
    /// Create a personal access token for a user; its secret is printed once.
    Create {
        /// The owner's login name.
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "sp:scopes:all")]
        scopes: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token; tokens already issued from it stop working at once.
    Revoke { id: String },
}

pub async fn pats(config: Config, cmd: &PatsCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    match cmd {
        PatsCommand::Create {
            user,
            name,
            scopes,
            json,
        } => {
            let identity = s
                .store
                .find_identity_by_login(user)
                .await?
                .ok_or_else(|| anyhow::anyhow!("--user: no identity {user:?}"))?;
            let scopes = parse_scopes(scopes)
                .map_err(|bad| anyhow::anyhow!("--scopes: unknown scope {bad:?}"))?;
            let (pat, secret) = passbroker_server::ops::credentials::new_pat(
                &identity.id,
                name,
                scopes,
                s.clock.now(),
            )
            .map_err(anyhow::Error::msg)?;
            s.store.insert_pat(&pat).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({ "clientId": pat.id, "clientSecret": secret.as_str(), "name": pat.name, "owner": user })
                );
            } else {
                println!(
                    "PAT client id:     {}\nPAT client secret: {}\n(the secret is shown only now)",
                    pat.id,
                    secret.as_str()
                );
            }
        }
        PatsCommand::List { user } => {
            let owner = match user {
                Some(u) => Some(
                    s.store
                        .find_identity_by_login(u)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("--user: no identity {u:?}"))?
                        .id,
                ),
                None => None,
            };
            for p in s.store.list_pats(owner.as_ref()).await? {
                println!(
                    "{}  {}  owner={}  {}",
                    p.id,
                    p.name,
                    p.owner,
                    if p.revoked { "REVOKED" } else { "active" }
                );
            }
        }
        PatsCommand::Revoke { id } => {
            if !s.store.revoke_pat(id).await? {
                anyhow::bail!("no active personal access token {id}");
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum KeysCommand {
    List,
    /// Make a new active key; the old one decrypts for the grace period.
    Rotate,
    /// Destroy a non-active key's private half now.
    Retire {
        id: String,
    },
}

pub async fn keys(config: Config, cmd: &KeysCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    match cmd {
        KeysCommand::List => {
            for k in s.store.list_rsa_keys().await? {
                println!(
                    "{}  RSA-{}  {}  created {}",
                    k.id,
                    k.bits,
                    k.state.as_str(),
                    passbroker_server::http::routes::rfc3339(k.created)
                );
            }
        }
        KeysCommand::Rotate => {
            let id = s
                .keys
                .rotate(s.clock.now())
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "new active key {id}; the previous key decrypts for {} more seconds",
                s.config.key_grace_period_secs
            );
        }
        KeysCommand::Retire { id } => {
            let id = passbroker_core::PublicKeyId::parse(id)?;
            s.keys
                .retire(&id, s.clock.now())
                .await
                .map_err(anyhow::Error::msg)?;
            println!("retired key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random master key (base64).
    Generate,
    /// Re-wrap every secret under a new master key, atomically. The new key is read from
    /// the file; the current one from the configuration.
    Rotate {
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

pub async fn master_key(
    config: Option<Config>,
    cmd: &MasterKeyCommand,
) -> anyhow::Result<ExitCode> {
    match cmd {
        MasterKeyCommand::Generate => {
            println!(
                "{}",
                passbroker_crypto::MasterKey::generate()
                    .to_base64()
                    .as_str()
            );
        }
        MasterKeyCommand::Rotate { new_key_file } => {
            let config = config
                .ok_or_else(|| anyhow::anyhow!("the configuration is invalid; fix it first"))?;
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(new_key_file)?);
            let new = passbroker_crypto::MasterKey::parse(&text)
                .map_err(|e| anyhow::anyhow!("--new-key-file: {e}"))?;
            let demo_key_file = config.master_key.is_none() && config.master_key_file.is_none();
            let data_dir = config.data_dir.clone();
            let s = state(config).await?;
            let n = s.secrets.rotate_to(&new, s.store.as_ref()).await?;
            if demo_key_file {
                passbroker_server::pipeline::secrets::write_private_file(
                    &data_dir.join("master.key"),
                    new.to_base64().as_bytes(),
                )
                .map_err(anyhow::Error::msg)?;
            }
            println!("re-wrapped {n} secrets under master key {}; start passbroker with the new key from now on", new.key_id());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum SourcesCommand {
    List,
    /// Connect to a source's target and authenticate, and say how it went.
    Check {
        name: String,
    },
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
