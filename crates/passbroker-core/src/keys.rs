//! RSA keys the clients encrypt passwords with, and their life cycle.

use crate::time::Millis;
use crate::PublicKeyId;

/// `Active`: published and used. `DecryptOnly`: no longer published, still decrypts during
/// the grace period. `Retired`: private half destroyed; requests naming it are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    Active,
    DecryptOnly,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "ACTIVE",
            KeyState::DecryptOnly => "DECRYPT_ONLY",
            KeyState::Retired => "RETIRED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "DECRYPT_ONLY" => Some(Self::DecryptOnly),
            "RETIRED" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A stored RSA key. `wrapped_private` is the PKCS#8 DER wrapped under the master key, and
/// `None` once the key is retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRsaKey {
    pub id: PublicKeyId,
    pub bits: u32,
    pub state: KeyState,
    pub public_der: Vec<u8>,
    pub wrapped_private: Option<Vec<u8>>,
    pub created: Millis,
    /// When it stopped being active (start of the grace period).
    pub deactivated: Option<Millis>,
    pub retired: Option<Millis>,
}

/// A stored token-signing key (Ed25519). Same life cycle as RSA keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub state: KeyState,
    pub public_raw: Vec<u8>,
    pub wrapped_private: Option<Vec<u8>>,
    pub created: Millis,
    pub deactivated: Option<Millis>,
}
