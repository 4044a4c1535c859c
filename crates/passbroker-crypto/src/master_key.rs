//! The operator's master key and AES-256-GCM wrapping of secrets at rest
//! (RSA private keys, connector credentials, signing keys).
//!
//! Wrapped format: `0x01 (version) || 12-byte random nonce || ciphertext || 16-byte tag`.
//! The version byte is also fed to GCM as additional data ahead of the caller's `aad`,
//! so it cannot be changed without the tag failing. Callers should pass an `aad` that
//! names what is wrapped (e.g. `b"rsa-key:<publicKeyId>"`) so a blob cannot be moved
//! to another row and still decrypt.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use openssl::symm::{Cipher, Crypter, Mode};
use zeroize::Zeroizing;

use crate::random::{random_bytes, sha256};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Errors of master-key handling. None of them carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("invalid master key: {0}")]
    InvalidKey(String),
    /// Wrong key, wrong context (aad), truncated or tampered data: deliberately one
    /// undistinguished error.
    #[error("cannot unwrap: wrong master key, wrong context or corrupted data")]
    Unwrap,
    #[error("master key crypto error: {0}")]
    Crypto(String),
}

/// A 256-bit AES key, zeroized on drop and never printed.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey([redacted], id={})", self.key_id())
    }
}

const ACCEPTED_FORMS: &str =
    "expected 32 bytes as standard base64 (44 characters) or as hex (64 characters)";

impl MasterKey {
    /// A fresh random key from the OS RNG.
    pub fn generate() -> MasterKey {
        let bytes = Zeroizing::new(random_bytes(KEY_LEN));
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes);
        MasterKey(key)
    }

    /// Exactly 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, WrapError> {
        if bytes.len() != KEY_LEN {
            return Err(WrapError::InvalidKey(format!(
                "{ACCEPTED_FORMS}; got {} bytes",
                bytes.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(MasterKey(key))
    }

    /// Parses the operator's text form (env var or file content). Surrounding
    /// whitespace (a trailing newline in a file) is ignored. The error never echoes
    /// the input: it may be a real key with a typo.
    pub fn parse(text: &str) -> Result<MasterKey, WrapError> {
        let t = text.trim();
        let decoded = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else if t.len() == 44 {
            STANDARD.decode(t).ok()
        } else {
            None
        };
        match decoded.map(Zeroizing::new) {
            Some(bytes) if bytes.len() == KEY_LEN => MasterKey::from_bytes(&bytes),
            Some(bytes) => Err(WrapError::InvalidKey(format!(
                "{ACCEPTED_FORMS}; the value decodes to {} bytes",
                bytes.len()
            ))),
            None => Err(WrapError::InvalidKey(format!(
                "{ACCEPTED_FORMS}; the value ({} characters) is neither",
                t.chars().count()
            ))),
        }
    }

    /// Standard base64 (44 characters), the form `parse` accepts; for showing a newly
    /// generated key to the operator once.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_slice()))
    }

    /// Public identifier of the key: first 16 hex chars of
    /// SHA-256("passbroker-master-key-id" || key). Stored next to wrapped data so a
    /// wrong master key is reported as such instead of as corruption. The domain
    /// prefix keeps it from being equal to any other hash of the key.
    pub fn key_id(&self) -> String {
        let mut input = Zeroizing::new(Vec::with_capacity(24 + KEY_LEN));
        input.extend_from_slice(b"passbroker-master-key-id");
        input.extend_from_slice(self.0.as_slice());
        let digest = sha256(&input);
        hex::encode(&digest[..8])
    }

    /// Encrypts `plaintext`, binding it to `aad`.
    pub fn wrap(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, WrapError> {
        let crypto = |e: openssl::error::ErrorStack| WrapError::Crypto(e.to_string());
        let nonce = random_bytes(NONCE_LEN);
        let mut c = Crypter::new(
            Cipher::aes_256_gcm(),
            Mode::Encrypt,
            self.0.as_slice(),
            Some(&nonce),
        )
        .map_err(crypto)?;
        c.aad_update(&[VERSION]).map_err(crypto)?;
        c.aad_update(aad).map_err(crypto)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let start = out.len();
        // GCM is a stream mode; OpenSSL still wants room for one block.
        out.resize(start + plaintext.len() + 16, 0);
        let mut n = c.update(plaintext, &mut out[start..]).map_err(crypto)?;
        n += c.finalize(&mut out[start + n..]).map_err(crypto)?;
        out.truncate(start + n);
        let mut tag = [0u8; TAG_LEN];
        c.get_tag(&mut tag).map_err(crypto)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts what `wrap` produced with the same key and `aad`.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        if wrapped.len() < 1 + NONCE_LEN + TAG_LEN || wrapped[0] != VERSION {
            return Err(WrapError::Unwrap);
        }
        let nonce = &wrapped[1..1 + NONCE_LEN];
        let (ct, tag) = wrapped[1 + NONCE_LEN..].split_at(wrapped.len() - 1 - NONCE_LEN - TAG_LEN);
        let unwrap = |_| WrapError::Unwrap;
        let mut c = Crypter::new(
            Cipher::aes_256_gcm(),
            Mode::Decrypt,
            self.0.as_slice(),
            Some(nonce),
        )
        .map_err(|e| WrapError::Crypto(e.to_string()))?;
        c.aad_update(&[VERSION]).map_err(unwrap)?;
        c.aad_update(aad).map_err(unwrap)?;
        c.set_tag(tag).map_err(unwrap)?;
        // Decrypted bytes are written before the tag is checked: keep them in a
        // zeroizing buffer so a failed unwrap leaves nothing behind either.
        let mut out = Zeroizing::new(vec![0u8; ct.len() + 16]);
        let mut n = c.update(ct, &mut out).map_err(unwrap)?;
        n += c.finalize(&mut out[n..]).map_err(unwrap)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip_and_format() {
        let k = MasterKey::generate();
        for pt in [&b""[..], b"x", &[7u8; 1000][..]] {
            let w = k.wrap(pt, b"ctx").unwrap();
            assert_eq!(w.len(), 1 + 12 + pt.len() + 16);
            assert_eq!(w[0], 1);
            assert_eq!(k.unwrap(&w, b"ctx").unwrap().as_slice(), pt);
        }
        // Random nonce: same input, different output.
        assert_ne!(k.wrap(b"s", b"").unwrap(), k.wrap(b"s", b"").unwrap());
    }

    #[test]
    fn wrong_key_aad_or_any_flipped_bit_fails() {
        let k = MasterKey::generate();
        let w = k.wrap(b"secret data", b"row-1").unwrap();
        let other = MasterKey::generate();
        assert!(matches!(other.unwrap(&w, b"row-1"), Err(WrapError::Unwrap)));
        assert!(matches!(k.unwrap(&w, b"row-2"), Err(WrapError::Unwrap)));
        assert!(matches!(k.unwrap(&w, b""), Err(WrapError::Unwrap)));
        for i in 0..w.len() * 8 {
            let mut t = w.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert!(
                matches!(k.unwrap(&t, b"row-1"), Err(WrapError::Unwrap)),
                "bit {i}"
            );
        }
        assert!(matches!(
            k.unwrap(&w[..20], b"row-1"),
            Err(WrapError::Unwrap)
        ));
        assert!(matches!(k.unwrap(&[], b"row-1"), Err(WrapError::Unwrap)));
    }

    #[test]
    fn parse_base64_and_hex() {
        let k = MasterKey::generate();
        let b64 = k.to_base64();
        assert_eq!(b64.len(), 44);
        let k2 = MasterKey::parse(&format!("  {}\n", b64.as_str())).unwrap();
        assert_eq!(k2.key_id(), k.key_id());
        let raw: Vec<u8> = (0u8..32).collect();
        let from_hex = MasterKey::parse(&hex::encode(&raw)).unwrap();
        let from_upper_hex = MasterKey::parse(&hex::encode_upper(&raw)).unwrap();
        let from_raw = MasterKey::from_bytes(&raw).unwrap();
        assert_eq!(from_hex.key_id(), from_raw.key_id());
        assert_eq!(from_upper_hex.key_id(), from_raw.key_id());
        assert_eq!(from_raw.key_id().len(), 16);
        assert_ne!(from_raw.key_id(), k.key_id());
        // A blob wrapped under one form unwraps under the other.
        let w = from_hex.wrap(b"p", b"a").unwrap();
        assert_eq!(from_raw.unwrap(&w, b"a").unwrap().as_slice(), b"p");
    }

    #[test]
    fn parse_rejects_31_bytes_without_echoing_input() {
        let raw = [0xA5u8; 31];
        for text in [
            STANDARD.encode(raw),
            hex::encode(raw),
            "not a key".to_string(),
        ] {
            let err = MasterKey::parse(&text).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, WrapError::InvalidKey(_)));
            assert!(!msg.contains(&text), "{msg}");
            assert!(!format!("{err:?}").contains(&text));
            assert!(msg.contains("base64") && msg.contains("hex"), "{msg}");
        }
        assert!(MasterKey::from_bytes(&raw).is_err());
    }

    #[test]
    fn debug_redacts() {
        let k = MasterKey::from_bytes(&[0x41; 32]).unwrap();
        let d = format!("{k:?}");
        assert_eq!(d, format!("MasterKey([redacted], id={})", k.key_id()));
        assert!(!d.contains(STANDARD.encode([0x41u8; 32]).as_str()));
    }
}
