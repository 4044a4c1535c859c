//! `passbroker clients …` and `passbroker pats …`: API clients and personal access tokens.

use super::state;
use clap::Subcommand;
use passbroker_core::client::parse_scopes;
use passbroker_server::config::Config;
use passbroker_store::WriteOp;
use std::process::ExitCode;

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
        /// A source (id or name) this client may report captured passwords for, as a
        /// capture agent with the scope passbroker:password-capture:write (repeatable).
        #[arg(long)]
        capture_source: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the API clients (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an API client; its tokens stop working at once.
    Delete { client_id: String },
}

pub async fn clients(config: Config, cmd: &ClientsCommand) -> anyhow::Result<ExitCode> {
    let s = state(config).await?;
    match cmd {
        ClientsCommand::Create {
            name,
            scopes,
            grant_types,
            redirect_uri,
            capture_source,
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
            let mut capture_sources = Vec::new();
            for s_ref in capture_source {
                let found = match passbroker_core::SourceId::parse(s_ref) {
                    Ok(id) => s.store.get_source(&id).await?,
                    Err(_) => s.store.find_source_by_name(s_ref).await?,
                };
                let source = found
                    .ok_or_else(|| anyhow::anyhow!("--capture-source: no source {s_ref:?}"))?;
                capture_sources.push(source.id);
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
            if !capture_sources.is_empty() {
                s.store
                    .capture()
                    .set_capture_sources(&client.client_id, &capture_sources)
                    .await?;
            }
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
    /// List personal access tokens (all, or one user's with --user).
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
