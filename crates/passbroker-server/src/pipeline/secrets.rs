//! The master key and everything wrapped under it.
//!
//! Each kind of wrapped secret uses its own AEAD associated data, so a wrapped RSA key can
//! never be unwrapped as, say, connector secrets. A wrapped check value in the store tells at
//! start-up whether the operator gave the master key this database was made with.

use passbroker_crypto::MasterKey;
use passbroker_store::{Store, WrappedKind};
use std::path::Path;
use zeroize::Zeroizing;

const CHECK_META_KEY: &str = "wrapped:master-key-check";
const CHECK_PLAINTEXT: &[u8] = b"passbroker master key check v1";

pub fn aad(kind: WrappedKind) -> &'static [u8] {
    match kind {
        WrappedKind::RsaKey => b"passbroker/rsa-private-key/v1",
        WrappedKind::SigningKey => b"passbroker/token-signing-key/v1",
        WrappedKind::SourceSecrets => b"passbroker/source-secrets/v1",
        WrappedKind::Meta => b"passbroker/meta/v1",
        WrappedKind::OutboundMail => b"passbroker/outbound-mail/v1",
        WrappedKind::TotpSecret => b"passbroker/totp-secret/v1",
        WrappedKind::EventSubscription => b"passbroker/event-subscription/v1",
    }
}

#[derive(Debug)]
pub struct Secrets {
    master: MasterKey,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the master key does not match the one this database was created with (given key id {0}); start with the original key, or rotate it with `passbroker master-key rotate`")]
    WrongMasterKey(String),
    #[error("{0}")]
    Other(String),
}

impl Secrets {
    pub fn new(master: MasterKey) -> Self {
        Self { master }
    }

    /// A 32-byte key for `label`, derived from the master key (HMAC-SHA256 keyed with the
    /// master key's text). Changes when the master key is rotated.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let key = self.master.to_base64();
        let mut out = Zeroizing::new([0u8; 32]);
        if let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) {
            mac.update(label.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    pub fn master_key_id(&self) -> String {
        self.master.key_id()
    }

    pub fn wrap(&self, kind: WrappedKind, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        self.master
            .wrap(plaintext, aad(kind))
            .map_err(|e| SecretsError::Other(e.to_string()))
    }

    pub fn unwrap(
        &self,
        kind: WrappedKind,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        self.master
            .unwrap(wrapped, aad(kind))
            .map_err(|_| SecretsError::WrongMasterKey(self.master.key_id()))
    }

    /// Wraps a source's connector secrets (JSON).
    pub fn wrap_json(&self, value: &serde_json::Value) -> Result<Vec<u8>, SecretsError> {
        let text = Zeroizing::new(value.to_string());
        self.wrap(WrappedKind::SourceSecrets, text.as_bytes())
    }

    pub fn unwrap_json(&self, wrapped: &[u8]) -> Result<serde_json::Value, SecretsError> {
        let bytes = self.unwrap(WrappedKind::SourceSecrets, wrapped)?;
        serde_json::from_slice(&bytes)
            .map_err(|_| SecretsError::Other("stored connector secrets are not JSON".into()))
    }

    /// On first use stores a check value; afterwards verifies the key matches it.
    pub async fn verify_against(&self, store: &dyn Store) -> Result<(), SecretsError> {
        match store
            .get_meta(CHECK_META_KEY)
            .await
            .map_err(|e| SecretsError::Other(e.to_string()))?
        {
            Some(wrapped) => {
                let plain = self.unwrap(WrappedKind::Meta, &wrapped)?;
                if plain.as_slice() != CHECK_PLAINTEXT {
                    return Err(SecretsError::WrongMasterKey(self.master.key_id()));
                }
                Ok(())
            }
            None => {
                let wrapped = self.wrap(WrappedKind::Meta, CHECK_PLAINTEXT)?;
                store
                    .set_meta(CHECK_META_KEY, &wrapped)
                    .await
                    .map_err(|e| SecretsError::Other(e.to_string()))
            }
        }
    }

    /// Verifies the key against the store's check value, which must be there (a restore
    /// refuses a database made under another key, or one that never had a key).
    pub async fn verify_existing(&self, store: &dyn Store) -> Result<(), SecretsError> {
        let wrapped = store
            .get_meta(CHECK_META_KEY)
            .await
            .map_err(|e| SecretsError::Other(e.to_string()))?
            .ok_or_else(|| {
                SecretsError::Other("it holds no master-key check (not a passbroker database that was ever started)".into())
            })?;
        let plain = self.unwrap(WrappedKind::Meta, &wrapped)?;
        if plain.as_slice() != CHECK_PLAINTEXT {
            return Err(SecretsError::WrongMasterKey(self.master.key_id()));
        }
        Ok(())
    }

    /// Re-wraps every secret in the store from this key to `new`, atomically.
    pub async fn rotate_to(
        &self,
        new: &MasterKey,
        store: &dyn Store,
    ) -> Result<usize, SecretsError> {
        let old = &self.master;
        let rewrap = move |kind: WrappedKind, wrapped: &[u8]| -> Result<Vec<u8>, String> {
            let plain = old
                .unwrap(wrapped, aad(kind))
                .map_err(|_| "cannot unwrap with the current master key".to_owned())?;
            new.wrap(&plain, aad(kind)).map_err(|e| e.to_string())
        };
        store
            .rewrap_all(&rewrap)
            .await
            .map_err(|e| SecretsError::Other(e.to_string()))
    }
}

/// Loads the master key from configuration, or in demo mode from (or into) the data dir.
pub fn load_master_key(
    given: Option<&str>,
    data_dir: &Path,
    demo: bool,
) -> Result<MasterKey, String> {
    if let Some(text) = given {
        return MasterKey::parse(text).map_err(|e| format!("key `master_key`: {e}"));
    }
    let path = data_dir.join("master.key");
    if path.exists() {
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        if !demo {
            tracing::warn!(path = %path.display(), "using the master key file in the data dir; for production give master_key_file outside the data dir");
        }
        return MasterKey::parse(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    if !demo {
        return Err("no master key: set PASSBROKER_MASTER_KEY or PASSBROKER_MASTER_KEY_FILE (generate one with `passbroker master-key generate`), or run with --demo".into());
    }
    let key = MasterKey::generate();
    write_private_file(&path, key.to_base64().as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "DEMO MODE: generated a master key next to the database. Anyone who can read the data dir can unwrap its secrets. Do not use this setup in production."
    );
    Ok(key)
}

/// Writes a file readable by its owner only.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
