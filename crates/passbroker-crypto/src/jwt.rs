//! Compact JWS access tokens signed with EdDSA (Ed25519).
//!
//! Only `alg: "EdDSA"` is accepted, so the classic JWT confusions (`none`, HS256 with
//! the public key as HMAC secret) cannot happen. Keys are selected by `kid`, so keys
//! can be rotated: old tokens verify with the retired key until they expire.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

/// Tokens longer than this are refused before any decoding or allocation.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
const ALG: &str = "EdDSA";
const SIG_LEN: usize = 64;

/// Display texts follow ISC's 401 bodies. None contains a token or key.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JwtError {
    #[error("JWT validation failed: token is malformed")]
    Malformed,
    #[error("JWT validation failed: algorithm {0} is not supported")]
    UnsupportedAlg(String),
    #[error("JWT validation failed: signing key is unknown")]
    UnknownKey,
    #[error("JWT validation failed: signature is invalid")]
    BadSignature,
    #[error("JWT validation failed: JWT is expired")]
    Expired,
    #[error("JWT validation failed: JWT is not yet valid")]
    NotYetValid,
    #[error("JWT validation failed: issuer is invalid")]
    WrongIssuer,
    #[error("JWT validation failed: audience is invalid")]
    WrongAudience,
    #[error("JWT crypto error: {0}")]
    Crypto(String),
}

fn crypto(e: openssl::error::ErrorStack) -> JwtError {
    JwtError::Crypto(e.to_string())
}

/// An Ed25519 private key with its key id.
pub struct SigningKey {
    pub kid: String,
    key: PKey<Private>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(kid={}, [redacted])", self.kid)
    }
}

impl SigningKey {
    /// New random key; `kid` is 16 random hex characters.
    pub fn generate() -> Result<SigningKey, JwtError> {
        let key = PKey::generate_ed25519().map_err(crypto)?;
        Ok(SigningKey {
            kid: hex::encode(crate::random::random_bytes(8)),
            key,
        })
    }

    /// From the 32-byte raw private key (as stored, wrapped under the master key).
    pub fn from_raw_private(kid: String, raw32: &[u8]) -> Result<SigningKey, JwtError> {
        if raw32.len() != 32 {
            return Err(JwtError::Crypto(
                "Ed25519 private key must be 32 bytes".into(),
            ));
        }
        let key = PKey::private_key_from_raw_bytes(raw32, Id::ED25519).map_err(crypto)?;
        Ok(SigningKey { kid, key })
    }

    pub fn raw_private(&self) -> Result<Zeroizing<Vec<u8>>, JwtError> {
        self.key
            .raw_private_key()
            .map(Zeroizing::new)
            .map_err(crypto)
    }

    pub fn raw_public(&self) -> Result<Vec<u8>, JwtError> {
        self.key.raw_public_key().map_err(crypto)
    }

    /// The matching public key (same `kid`), for `verify` and the JWKS document.
    pub fn verifying_key(&self) -> Result<VerifyingKey, JwtError> {
        VerifyingKey::from_raw_public(self.kid.clone(), &self.raw_public()?)
    }

    /// Signs `claims` (normally a JSON object) into a compact JWS with header
    /// `{"alg":"EdDSA","typ":"JWT","kid":...}`.
    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        let header = json!({"alg": ALG, "typ": "JWT", "kid": self.kid});
        let header = serde_json::to_vec(&header).map_err(|e| JwtError::Crypto(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| JwtError::Crypto(e.to_string()))?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        // Ed25519 is "pure" EdDSA: it hashes internally, hence no digest here.
        let sig = Signer::new_without_digest(&self.key)
            .and_then(|mut s| s.sign_oneshot_to_vec(token.as_bytes()))
            .map_err(crypto)?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(token)
    }
}

/// An Ed25519 public key with its key id.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    key: PKey<Public>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey(kid={})", self.kid)
    }
}

impl VerifyingKey {
    pub fn from_raw_public(kid: String, raw32: &[u8]) -> Result<VerifyingKey, JwtError> {
        if raw32.len() != 32 {
            return Err(JwtError::Crypto(
                "Ed25519 public key must be 32 bytes".into(),
            ));
        }
        let key = PKey::public_key_from_raw_bytes(raw32, Id::ED25519).map_err(crypto)?;
        Ok(VerifyingKey { kid, key })
    }

    /// RFC 8037 JWK for the JWKS endpoint.
    pub fn jwk(&self) -> Value {
        let x = self
            .key
            .raw_public_key()
            .map(|raw| URL_SAFE_NO_PAD.encode(raw))
            .unwrap_or_default();
        json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "use": "sig", "alg": ALG})
    }
}

fn decode_json_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

/// An attacker-chosen `alg` goes into an error message (and maybe a log): keep it
/// short and printable.
fn sanitize(s: &str) -> String {
    s.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        // NumericDate may be fractional; flooring is conservative for exp by < 1 s.
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(JwtError::Malformed),
        Some(_) => Err(JwtError::Malformed),
    }
}

/// Verifies signature with the key whose kid matches the header (alg must be exactly
/// "EdDSA"; "none" and anything else refused), then checks exp (with `leeway_secs`),
/// nbf/iat not in the future beyond leeway, iss == expected_issuer, aud contains
/// expected_audience. `exp` is required: a token that never expires is refused as
/// malformed. Returns the claims object.
pub fn verify(
    token: &str,
    keys: &[VerifyingKey],
    now_unix: i64,
    expected_issuer: &str,
    expected_audience: &str,
    leeway_secs: i64,
) -> Result<Value, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = decode_json_object(h)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALG => {}
        Some(Value::String(alg)) => return Err(JwtError::UnsupportedAlg(sanitize(alg))),
        _ => return Err(JwtError::Malformed),
    }
    // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
    if header.contains_key("crit") {
        return Err(JwtError::Malformed);
    }
    let key = match header.get("kid") {
        Some(Value::String(kid)) => keys.iter().find(|k| &k.kid == kid),
        _ => None,
    }
    .ok_or(JwtError::UnknownKey)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    if sig.len() != SIG_LEN {
        return Err(JwtError::BadSignature);
    }
    let signing_input = &token[..h.len() + 1 + p.len()];
    let valid = Verifier::new_without_digest(&key.key)
        .and_then(|mut v| v.verify_oneshot(&sig, signing_input.as_bytes()))
        .unwrap_or(false);
    if !valid {
        return Err(JwtError::BadSignature);
    }

    // Only signed content from here on.
    let claims = decode_json_object(p)?;
    let exp = numeric_claim(&claims, "exp")?.ok_or(JwtError::Malformed)?;
    if now_unix.saturating_sub(leeway_secs) >= exp {
        return Err(JwtError::Expired);
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = numeric_claim(&claims, name)? {
            if t > now_unix.saturating_add(leeway_secs) {
                return Err(JwtError::NotYetValid);
            }
        }
    }
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected_issuer => {}
        _ => return Err(JwtError::WrongIssuer),
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected_audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected_audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::WrongAudience);
    }
    Ok(Value::Object(claims))
}
