//! The RSA key ring: exactly one active key (published by query-password-info), earlier keys
//! decrypt-only for a grace period, then retired (private half destroyed).
//!
//! Keys live in the store, wrapped under the master key, so every node sees the same ring.
//! This node caches the unwrapped keys. It reloads from the store when it meets an id it does
//! not know (another node rotated), when the store announces a change (PostgreSQL), and when
//! its periodic [`KeyRing::sync`] finds the ring changed (every `key_sync_interval_secs`), so
//! a rotation is published, and a retired key refused, by every node within that time.

use crate::pipeline::pipeline_error::{PipelineError, PipelineResult};
use crate::pipeline::secrets::Secrets;
use passbroker_core::keys::{KeyState, StoredRsaKey};
use passbroker_core::time::Millis;
use passbroker_core::PublicKeyId;
use passbroker_crypto::{KeyBits, RsaKeyPair};
use passbroker_store::{Store, WrappedKind};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
pub struct ActiveKey {
    pub id: PublicKeyId,
    pub public_key_base64: String,
    pub pair: Arc<RsaKeyPair>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookupError {
    Unknown,
    Retired,
    /// The store or unwrapping failed; not the caller's fault.
    Internal(String),
}

#[derive(Default)]
struct Ring {
    active: Option<ActiveKey>,
    decryptable: HashMap<PublicKeyId, (Arc<RsaKeyPair>, Option<Millis>)>,
    retired: std::collections::HashSet<PublicKeyId>,
}

/// What the ring was built from: each key's id, state and deactivation time (a rotation or
/// retirement changes it). Compared by [`KeyRing::sync`].
type Fingerprint = Vec<(PublicKeyId, &'static str, Option<i64>, bool)>;

fn fingerprint(keys: &[StoredRsaKey]) -> Fingerprint {
    keys.iter()
        .map(|k| {
            (
                k.id.clone(),
                k.state.as_str(),
                k.deactivated.map(|d| d.0),
                k.wrapped_private.is_some(),
            )
        })
        .collect()
}

pub struct KeyRing {
    store: Arc<dyn Store>,
    secrets: Arc<Secrets>,
    ring: RwLock<Ring>,
    built_from: std::sync::Mutex<Fingerprint>,
    bits: KeyBits,
    grace_ms: i64,
    rotate_after_ms: i64,
}

fn lock_err<T>(_: T) -> PipelineError {
    PipelineError::internal("key ring lock poisoned")
}

impl KeyRing {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<Secrets>,
        bits: KeyBits,
        grace_secs: i64,
        rotate_after_days: i64,
    ) -> Self {
        Self {
            store,
            secrets,
            ring: RwLock::new(Ring::default()),
            built_from: std::sync::Mutex::new(Vec::new()),
            bits,
            grace_ms: grace_secs.saturating_mul(1000),
            rotate_after_ms: rotate_after_days.saturating_mul(86_400_000),
        }
    }

    /// Loads the ring; creates the first key when there is none.
    pub async fn init(&self, now: Millis) -> PipelineResult<()> {
        self.reload().await?;
        if self.ring.read().map_err(lock_err)?.active.is_none() {
            self.rotate(now).await?;
        }
        Ok(())
    }

    /// Rebuilds the cache from the store.
    pub async fn reload(&self) -> PipelineResult<()> {
        let keys = self.store.list_rsa_keys().await?;
        self.rebuild(&keys)
    }

    /// Compares the ring with the store and rebuilds it when a key was added, rotated out
    /// or retired anywhere (another node, the CLI). Cheap when nothing changed: one read of
    /// a table of a few rows, no unwrapping. Returns whether the ring changed.
    pub async fn sync(&self) -> PipelineResult<bool> {
        let keys = self.store.list_rsa_keys().await?;
        let unchanged = *self.built_from.lock().map_err(lock_err)? == fingerprint(&keys);
        if unchanged {
            return Ok(false);
        }
        self.rebuild(&keys)?;
        Ok(true)
    }

    fn rebuild(&self, keys: &[StoredRsaKey]) -> PipelineResult<()> {
        let mut ring = Ring::default();
        for k in keys {
            match (k.state, &k.wrapped_private) {
                (KeyState::Retired, _) | (_, None) => {
                    ring.retired.insert(k.id.clone());
                }
                (state, Some(wrapped)) => {
                    let der = self
                        .secrets
                        .unwrap(WrappedKind::RsaKey, wrapped)
                        .map_err(PipelineError::internal)?;
                    let pair = Arc::new(RsaKeyPair::from_pkcs8_der(&der).map_err(|e| {
                        PipelineError::Internal(format!("stored key {}: {e}", k.id))
                    })?);
                    if state == KeyState::Active {
                        let public_key_base64 =
                            pair.public_key_base64().map_err(PipelineError::internal)?;
                        ring.active = Some(ActiveKey {
                            id: k.id.clone(),
                            public_key_base64,
                            pair: pair.clone(),
                        });
                    }
                    ring.decryptable.insert(k.id.clone(), (pair, k.deactivated));
                }
            }
        }
        *self.ring.write().map_err(lock_err)? = ring;
        *self.built_from.lock().map_err(lock_err)? = fingerprint(keys);
        Ok(())
    }

    /// The master key's holder (password capture derives its MAC key from it).
    pub fn secrets(&self) -> &Arc<Secrets> {
        &self.secrets
    }

    pub fn active(&self) -> Option<ActiveKey> {
        self.ring.read().ok().and_then(|r| r.active.clone())
    }

    /// The key for a `publicKeyId` a client sent, if it may still decrypt at `now`.
    pub async fn decryption_key(
        &self,
        id: &PublicKeyId,
        now: Millis,
    ) -> Result<Arc<RsaKeyPair>, KeyLookupError> {
        if let Some(result) = self.lookup_cached(id, now) {
            return result;
        }
        // Another node may have rotated: look again in the store.
        self.reload()
            .await
            .map_err(|e| KeyLookupError::Internal(e.to_string()))?;
        self.lookup_cached(id, now)
            .unwrap_or(Err(KeyLookupError::Unknown))
    }

    fn lookup_cached(
        &self,
        id: &PublicKeyId,
        now: Millis,
    ) -> Option<Result<Arc<RsaKeyPair>, KeyLookupError>> {
        let ring = self.ring.read().ok()?;
        if ring.retired.contains(id) {
            return Some(Err(KeyLookupError::Retired));
        }
        let (pair, deactivated) = ring.decryptable.get(id)?;
        match deactivated {
            Some(d) if now.0 > d.0.saturating_add(self.grace_ms) => {
                Some(Err(KeyLookupError::Retired))
            }
            _ => Some(Ok(pair.clone())),
        }
    }

    /// Makes a new active key; the previous one becomes decrypt-only.
    pub async fn rotate(&self, now: Millis) -> PipelineResult<PublicKeyId> {
        let bits = self.bits;
        let pair = tokio::task::spawn_blocking(move || RsaKeyPair::generate(bits))
            .await?
            .map_err(PipelineError::internal)?;
        let der = pair.to_pkcs8_der().map_err(PipelineError::internal)?;
        let stored = StoredRsaKey {
            id: PublicKeyId::generate(),
            bits: pair.bits(),
            state: KeyState::Active,
            public_der: pair.public_spki_der().map_err(PipelineError::internal)?,
            wrapped_private: Some(
                self.secrets
                    .wrap(WrappedKind::RsaKey, &der)
                    .map_err(PipelineError::internal)?,
            ),
            created: now,
            deactivated: None,
            retired: None,
        };
        self.store.rotate_rsa_key(&stored, now).await?;
        self.reload().await?;
        Ok(stored.id)
    }

    /// Destroys a key's private half. Refuses the active key (rotate first).
    pub async fn retire(&self, id: &PublicKeyId, now: Millis) -> PipelineResult<()> {
        let Some(mut key) = self.store.get_rsa_key(id).await? else {
            return Err(PipelineError::InvalidInput(format!("no key with id {id}")));
        };
        if key.state == KeyState::Active {
            return Err(PipelineError::InvalidInput(format!(
                "key {id} is the active key; run `passbroker keys rotate` first"
            )));
        }
        key.state = KeyState::Retired;
        key.wrapped_private = None;
        key.retired = Some(now);
        self.store.update_rsa_key(&key).await?;
        self.reload().await
    }

    /// Periodic upkeep: retire decrypt-only keys past the grace period and rotate an active
    /// key older than the configured age. Returns what it did, for the log.
    pub async fn maintain(&self, now: Millis) -> PipelineResult<Vec<String>> {
        let mut done = Vec::new();
        for k in self.store.list_rsa_keys().await? {
            if k.state == KeyState::DecryptOnly
                && k.deactivated
                    .is_some_and(|d| now.0 > d.0.saturating_add(self.grace_ms))
            {
                self.retire(&k.id, now).await?;
                done.push(format!("retired key {}", k.id));
            }
            if k.state == KeyState::Active
                && self.rotate_after_ms > 0
                && now.0 > k.created.0.saturating_add(self.rotate_after_ms)
            {
                let new = self.rotate(now).await?;
                done.push(format!("rotated key {} to {new}", k.id));
            }
        }
        Ok(done)
    }
}
