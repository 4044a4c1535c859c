//! Builds and caches the connector of each source, and provides the `builtin` connector
//! (the identity's own passbroker login), which needs the store.

use crate::pipeline::secrets::Secrets;
use async_trait::async_trait;
use passbroker_connectors::{Connector, ConnectorError, SetPasswordCall, Verification};
use passbroker_core::source::{ConnectorKind, Source};
use passbroker_core::time::Millis;
use passbroker_core::SourceId;
use passbroker_store::{Store, WriteOp};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// A built connector, the source version it was built from, and its concurrency limit.
type CachedConnector = (Millis, Arc<dyn Connector>, Arc<Semaphore>);

pub struct ConnectorRegistry {
    store: Arc<dyn Store>,
    secrets: Arc<Secrets>,
    /// Where the simulated connector's `logFile` lives.
    data_dir: PathBuf,
    /// Locked only to look up or insert, never while a connector is built.
    cache: Mutex<HashMap<SourceId, CachedConnector>>,
}

impl ConnectorRegistry {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<Secrets>, data_dir: PathBuf) -> Self {
        Self {
            store,
            secrets,
            data_dir,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The connector for a source and the semaphore that bounds concurrent calls to it.
    /// Building one may read files, so it happens on a blocking thread.
    pub async fn get(
        &self,
        source: &Source,
    ) -> Result<(Arc<dyn Connector>, Arc<Semaphore>), ConnectorError> {
        if let Some(hit) = self.cached(source) {
            return Ok(hit);
        }
        let connector = self.build(source).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Another task may have built the same version meanwhile: share its semaphore.
        if let Some((modified, c, s)) = cache.get(&source.id) {
            if *modified == source.modified {
                return Ok((c.clone(), s.clone()));
            }
        }
        let permits = usize::try_from(source.delivery.max_concurrency.max(1)).unwrap_or(1);
        let semaphore = Arc::new(Semaphore::new(permits));
        cache.insert(
            source.id.clone(),
            (source.modified, connector.clone(), semaphore.clone()),
        );
        Ok((connector, semaphore))
    }

    fn cached(&self, source: &Source) -> Option<(Arc<dyn Connector>, Arc<Semaphore>)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(&source.id) {
            Some((modified, c, s)) if *modified == source.modified => Some((c.clone(), s.clone())),
            _ => None,
        }
    }

    async fn build(&self, source: &Source) -> Result<Arc<dyn Connector>, ConnectorError> {
        if source.connector == ConnectorKind::Builtin {
            return Ok(Arc::new(BuiltinConnector {
                store: self.store.clone(),
            }));
        }
        let secrets = match &source.wrapped_secrets {
            Some(w) => Some(
                self.secrets
                    .unwrap_json(w)
                    .map_err(|e| ConnectorError::Config(e.to_string()))?,
            ),
            None => None,
        };
        passbroker_connectors::build(
            source.connector,
            &source.connector_config,
            secrets.as_ref(),
            &self.data_dir,
        )
        .await
    }
}

/// passbroker's own directory: the identity's login password, kept as an argon2id hash.
pub struct BuiltinConnector {
    store: Arc<dyn Store>,
}

#[async_trait]
impl Connector for BuiltinConnector {
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        let secret = zeroize::Zeroizing::new(call.password.expose().as_bytes().to_vec());
        let hash =
            tokio::task::spawn_blocking(move || passbroker_crypto::password_hash::hash(&secret))
                .await
                .map_err(|_| ConnectorError::Transient("the hashing task failed".into()))?
                .map_err(|_| ConnectorError::Transient("could not hash the password".into()))?;
        let now = Millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
                .unwrap_or(0),
        );
        self.store
            .apply(vec![WriteOp::SetBuiltinCredential {
                identity_id: call.account.identity_id.clone(),
                hash,
                now,
            }])
            .await
            .map_err(|e| {
                ConnectorError::Transient(format!("passbroker's directory is unavailable: {e}"))
            })
    }

    /// Checks the password against the stored argon2id hash (on a blocking thread): a match
    /// is `Current`, no credential or no match is `NotCurrent`.
    async fn verify_password(
        &self,
        call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        let stored = self
            .store
            .get_builtin_credential(&call.account.identity_id)
            .await
            .map_err(|e| {
                ConnectorError::Transient(format!("passbroker's directory is unavailable: {e}"))
            })?;
        let Some(hash) = stored else {
            return Ok(Verification::NotCurrent);
        };
        let secret = zeroize::Zeroizing::new(call.password.expose().as_bytes().to_vec());
        let matches = tokio::task::spawn_blocking(move || {
            passbroker_crypto::password_hash::verify(&secret, &hash)
        })
        .await
        .map_err(|_| ConnectorError::Transient("the hash check failed".into()))?;
        Ok(if matches {
            Verification::Current
        } else {
            Verification::NotCurrent
        })
    }

    async fn check(&self) -> Result<String, ConnectorError> {
        self.store
            .ping()
            .await
            .map_err(|e| ConnectorError::Transient(e.to_string()))?;
        Ok("passbroker's built-in directory is reachable".into())
    }
}
