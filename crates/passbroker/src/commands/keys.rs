//! `passbroker keys …` (the RSA key ring) and `passbroker master-key …`.

use super::state;
use clap::Subcommand;
use passbroker_server::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List the RSA keys and their states.
    List,
    /// Make a new active key; the old one decrypts for the grace period.
    Rotate,
    /// Destroy a non-active key's private half now.
    Retire { id: String },
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
