//! Access tokens: EdDSA-signed JWTs whose signing keys live in the store (wrapped), so every
//! node can verify what any node issued. `/oauth/jwks` publishes the public halves.

use crate::pipeline::secrets::Secrets;
use passbroker_core::identity::UserLevel;
use passbroker_core::keys::{KeyState, StoredSigningKey};
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;
use passbroker_crypto::jwt::{self, JwtError, SigningKey, VerifyingKey};
use passbroker_store::{Store, WrappedKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// How many verified tokens [`TokenService`] remembers (see [`VerifiedTokens`]).
const VERIFIED_TOKENS_MAX: usize = 20_000;

/// The leeway on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: i64 = 5;

/// Tokens whose signature, issuer and audience were verified, by the SHA-256 of their text,
/// with their claims. A client sends the same token with every request until it expires, and
/// an Ed25519 verification (~80 µs here) costs more than the rest of a read request: the
/// HTTP benchmark found it capping every authenticated route near 15k requests/s.
///
/// Only the exact token text hits: any other byte string (another signature, a changed
/// payload) hashes differently and is verified in full. A hit still checks `exp` against
/// the clock, and revocation (PATs, deactivated users) is checked per request after this,
/// as before. Reloading the signing keys empties the map, so a key that stops verifying
/// takes its tokens with it. Bounded: when full, expired entries go, then everything.
#[derive(Default)]
struct VerifiedTokens {
    map: Mutex<HashMap<[u8; 32], TokenClaims>>,
}

impl VerifiedTokens {
    fn get(&self, digest: &[u8; 32]) -> Option<TokenClaims> {
        self.map.lock().ok()?.get(digest).cloned()
    }

    fn put(&self, digest: [u8; 32], claims: TokenClaims, now_secs: i64) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= VERIFIED_TOKENS_MAX {
            map.retain(|_, c| now_secs.saturating_sub(LEEWAY_SECS) < c.expires);
            if map.len() >= VERIFIED_TOKENS_MAX {
                map.clear();
            }
        }
        map.insert(digest, claims);
    }

    fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}

/// How long a signing key signs before a new one takes over.
const SIGNING_KEY_ROTATE_MS: i64 = 7 * 86_400_000;

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An API client (`client_credentials`, no user).
    Client { client_id: String },
    /// A user: through a personal access token (`pat_id`) or a login (authorization code).
    User {
        identity_id: IdentityId,
        user_name: String,
        level: UserLevel,
        client_id: String,
        pat_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub subject: Subject,
    pub scopes: Vec<String>,
    pub jti: String,
    pub expires: i64,
}

pub struct TokenService {
    store: Arc<dyn Store>,
    secrets: Arc<Secrets>,
    issuer: String,
    audience: String,
    lifetime_secs: i64,
    signer: RwLock<Option<Arc<SigningKey>>>,
    verifiers: RwLock<Vec<VerifyingKey>>,
    verified: VerifiedTokens,
    /// When a token naming an unknown `kid` last made this node reload its keys: forged
    /// tokens with made-up key ids must not buy a store query each.
    last_unknown_kid_reload: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Reloads caused by unknown key ids happen at most this often.
const UNKNOWN_KID_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl TokenService {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<Secrets>,
        issuer: String,
        audience: String,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            store,
            secrets,
            issuer,
            audience,
            lifetime_secs,
            signer: RwLock::new(None),
            verifiers: RwLock::new(Vec::new()),
            verified: VerifiedTokens::default(),
            last_unknown_kid_reload: std::sync::Mutex::new(None),
        }
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// Loads keys; creates the first signing key, and rotates an old one.
    pub async fn init(&self, now: Millis) -> Result<(), String> {
        self.reload().await?;
        let keys = self
            .store
            .list_signing_keys()
            .await
            .map_err(|e| e.to_string())?;
        let active = keys.iter().find(|k| k.state == KeyState::Active);
        if active.is_none_or(|k| now.0 > k.created.0.saturating_add(SIGNING_KEY_ROTATE_MS)) {
            self.rotate(now).await?;
        }
        // Keys that stopped signing longer ago than two token lifetimes verify nothing.
        for mut k in keys {
            let expired = k
                .deactivated
                .is_some_and(|d| now.0 > d.0.saturating_add(2 * self.lifetime_secs * 1000));
            if k.state == KeyState::DecryptOnly && expired {
                k.state = KeyState::Retired;
                k.wrapped_private = None;
                self.store
                    .update_signing_key(&k)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        self.reload().await
    }

    async fn rotate(&self, now: Millis) -> Result<(), String> {
        let key = SigningKey::generate().map_err(|e| e.to_string())?;
        for mut old in self
            .store
            .list_signing_keys()
            .await
            .map_err(|e| e.to_string())?
        {
            if old.state == KeyState::Active {
                old.state = KeyState::DecryptOnly;
                old.deactivated = Some(now);
                self.store
                    .update_signing_key(&old)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let raw = key.raw_private().map_err(|e| e.to_string())?;
        let stored = StoredSigningKey {
            kid: key.kid.clone(),
            state: KeyState::Active,
            public_raw: key.raw_public().map_err(|e| e.to_string())?,
            wrapped_private: Some(
                self.secrets
                    .wrap(WrappedKind::SigningKey, &raw)
                    .map_err(|e| e.to_string())?,
            ),
            created: now,
            deactivated: None,
        };
        self.store
            .insert_signing_key(&stored)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn reload(&self) -> Result<(), String> {
        let keys = self
            .store
            .list_signing_keys()
            .await
            .map_err(|e| e.to_string())?;
        let mut verifiers = Vec::new();
        let mut signer = None;
        for k in keys.iter().filter(|k| k.state != KeyState::Retired) {
            verifiers.push(
                VerifyingKey::from_raw_public(k.kid.clone(), &k.public_raw)
                    .map_err(|e| e.to_string())?,
            );
            if k.state == KeyState::Active {
                if let Some(wrapped) = &k.wrapped_private {
                    let raw = self
                        .secrets
                        .unwrap(WrappedKind::SigningKey, wrapped)
                        .map_err(|e| e.to_string())?;
                    signer = Some(Arc::new(
                        SigningKey::from_raw_private(k.kid.clone(), &raw)
                            .map_err(|e| e.to_string())?,
                    ));
                }
            }
        }
        *self.verifiers.write().map_err(|_| "lock")? = verifiers;
        *self.signer.write().map_err(|_| "lock")? = signer;
        self.verified.clear();
        Ok(())
    }

    /// Issues an access token; returns it with its claims.
    pub fn issue(
        &self,
        subject: Subject,
        scopes: Vec<String>,
        now: Millis,
    ) -> Result<(String, TokenClaims), String> {
        let signer = self
            .signer
            .read()
            .map_err(|_| "lock")?
            .clone()
            .ok_or("no signing key")?;
        let iat = now.0 / 1000;
        let exp = iat + self.lifetime_secs;
        let jti = passbroker_crypto::random::random_token(16);
        let mut claims = json!({
            "iss": self.issuer, "aud": self.audience, "iat": iat, "nbf": iat, "exp": exp, "jti": jti,
            "scope": scopes.join(" "),
        });
        match &subject {
            Subject::Client { client_id } => {
                claims["sub"] = json!(client_id);
                claims["kind"] = json!("client");
                claims["client_id"] = json!(client_id);
            }
            Subject::User {
                identity_id,
                user_name,
                level,
                client_id,
                pat_id,
            } => {
                claims["sub"] = json!(identity_id.as_str());
                claims["kind"] = json!("user");
                claims["client_id"] = json!(client_id);
                claims["identity_id"] = json!(identity_id.as_str());
                claims["user_name"] = json!(user_name);
                claims["authorities"] = json!([level.as_str()]);
                if let Some(p) = pat_id {
                    claims["pat_id"] = json!(p);
                }
            }
        }
        let token = signer.sign(&claims).map_err(|e| e.to_string())?;
        Ok((
            token,
            TokenClaims {
                subject,
                scopes,
                jti,
                expires: exp,
            },
        ))
    }

    /// Verifies a bearer token. Unknown `kid`s trigger one reload (another node rotated).
    pub async fn verify(&self, token: &str, now: Millis) -> Result<TokenClaims, JwtError> {
        let now_secs = now.0 / 1000;
        let digest = passbroker_crypto::random::sha256(token.as_bytes());
        if let Some(claims) = self.verified.get(&digest) {
            if now_secs.saturating_sub(LEEWAY_SECS) >= claims.expires {
                return Err(JwtError::Expired);
            }
            return Ok(claims);
        }
        let claims = self.verify_fully(token, now).await?;
        self.verified.put(digest, claims.clone(), now_secs);
        Ok(claims)
    }

    async fn verify_fully(&self, token: &str, now: Millis) -> Result<TokenClaims, JwtError> {
        let first = self.verify_with_loaded_keys(token, now);
        let value = match first {
            Err(JwtError::UnknownKey) => {
                if !self.may_reload_for_unknown_kid() {
                    return Err(JwtError::UnknownKey);
                }
                self.reload().await.map_err(JwtError::Crypto)?;
                self.verify_with_loaded_keys(token, now)?
            }
            other => other?,
        };
        parse_claims(&value).ok_or(JwtError::Malformed)
    }

    /// Whether a token with an unknown `kid` may make this node look in the store again.
    fn may_reload_for_unknown_kid(&self) -> bool {
        let mut last = self
            .last_unknown_kid_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < UNKNOWN_KID_RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Whether `token` was verified before and is remembered: checking it again costs no
    /// signature check (used to let known-good tokens through an address's failure limit).
    pub fn is_remembered(&self, token: &str) -> bool {
        let digest = passbroker_crypto::random::sha256(token.as_bytes());
        self.verified.get(&digest).is_some()
    }

    fn verify_with_loaded_keys(&self, token: &str, now: Millis) -> Result<Value, JwtError> {
        let verifiers = self
            .verifiers
            .read()
            .map_err(|_| JwtError::Crypto("lock".into()))?;
        jwt::verify(
            token,
            &verifiers,
            now.0 / 1000,
            &self.issuer,
            &self.audience,
            LEEWAY_SECS,
        )
    }

    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .verifiers
            .read()
            .map(|v| v.iter().map(VerifyingKey::jwk).collect())
            .unwrap_or_default();
        json!({ "keys": keys })
    }
}

fn parse_claims(v: &Value) -> Option<TokenClaims> {
    let scopes = v["scope"]
        .as_str()?
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let client_id = v["client_id"].as_str()?.to_owned();
    let subject = match v["kind"].as_str()? {
        "client" => Subject::Client { client_id },
        "user" => Subject::User {
            identity_id: IdentityId::parse(v["identity_id"].as_str()?).ok()?,
            user_name: v["user_name"].as_str()?.to_owned(),
            level: UserLevel::parse(v["authorities"].get(0)?.as_str()?).ok()?,
            client_id,
            pat_id: v["pat_id"].as_str().map(str::to_owned),
        },
        _ => return None,
    };
    Some(TokenClaims {
        subject,
        scopes,
        jti: v["jti"].as_str()?.to_owned(),
        expires: v["exp"].as_i64()?,
    })
}
