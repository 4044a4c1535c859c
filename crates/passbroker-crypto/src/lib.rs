//! Cryptography for passbroker.
//!
//! Everything secret lives in zeroizing buffers and is redacted from `Debug`, `Display`
//! and error messages (product.md §8). The primitives come from OpenSSL (vendored, so
//! that RSA PKCS#1 v1.5 decryption does implicit rejection) and the `argon2` crate.
//!
//! - [`master_key`]: AES-256-GCM wrapping of secrets at rest under the operator's key.
//! - [`rsa_keys`]: the RSA key pairs whose public half ISC clients encrypt passwords to.
//! - [`password_hash`]: argon2id hashes of client secrets and personal access tokens.
//! - [`jwt`]: EdDSA-signed access tokens.
//! - [`random`]: OS randomness, tokens, constant-time comparison, SHA-256.

pub mod jwt;
pub mod master_key;
pub mod password_hash;
pub mod random;
pub mod rsa_keys;

pub use master_key::{MasterKey, WrapError};
pub use rsa_keys::{implicit_rejection_self_test, DecryptError, KeyBits, RsaKeyPair};
