//! Password capture, the parts shared by the intake and the workers: the keyed MACs that
//! recognise a password without storing it (loop suppression, and collapsing the same change
//! reported by several domain controllers), and how a worker tells a captured change.
//!
//! A captured change is an ordinary request whose targets are the identity's accounts on the
//! *other* sources of the origin's sync group, and whose idempotency key is
//! [`CAPTURE_KEY_PREFIX`] followed by a MAC of (origin account, password): the same change
//! reported twice within the idempotency window is one request.

use crate::pipeline::secrets::Secrets;
use hmac::{Hmac, Mac};
use passbroker_core::request::PasswordChangeRequest;
use passbroker_core::{AccountRef, Password};

/// How long after passbroker set a password on an account an agent's report of that same
/// password on that account is recognised as the echo of passbroker's own write (a capture
/// agent reports within seconds; a spooled report arriving later is sent on once more, which
/// writes the password the targets already have).
pub const ECHO_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The idempotency-key prefix of captured changes.
pub const CAPTURE_KEY_PREFIX: &str = "cap:";

const MAC_LABEL: &str = "passbroker/password-capture-mac/v1";

fn mac(secrets: &Secrets, purpose: &[u8], account: &AccountRef, password: &Password) -> [u8; 32] {
    let key = secrets.derive(MAC_LABEL);
    let mut out = [0u8; 32];
    if let Ok(mut m) = Hmac::<sha2::Sha256>::new_from_slice(key.as_slice()) {
        m.update(purpose);
        m.update(&[0]);
        m.update(account.as_str().as_bytes());
        m.update(&[0]);
        m.update(password.expose().as_bytes());
        out.copy_from_slice(&m.finalize().into_bytes());
    }
    out
}

/// The MAC under which a password passbroker sets on `account` is remembered.
pub fn echo_mac(secrets: &Secrets, account: &AccountRef, password: &Password) -> [u8; 32] {
    mac(secrets, b"echo", account, password)
}

/// The idempotency key of a captured change: one per (origin account, password).
pub fn capture_key(secrets: &Secrets, origin: &AccountRef, password: &Password) -> String {
    format!(
        "{CAPTURE_KEY_PREFIX}{}",
        hex::encode(mac(secrets, b"capture", origin, password))
    )
}

/// The idempotency key of a captured change whose payload does not decrypt to a usable
/// password (the worker fails it with the generic payload error).
pub fn unusable_capture_key(origin: &AccountRef, ciphertext: &[u8]) -> String {
    let mut material = origin.as_str().as_bytes().to_vec();
    material.push(0);
    material.extend_from_slice(ciphertext);
    format!(
        "{CAPTURE_KEY_PREFIX}x{}",
        hex::encode(passbroker_crypto::random::sha256(&material))
    )
}

/// Whether a request is a captured change (its targets exclude the origin account).
pub fn is_capture(request: &PasswordChangeRequest) -> bool {
    request
        .idempotency_key
        .as_deref()
        .is_some_and(|k| k.starts_with(CAPTURE_KEY_PREFIX))
}

/// The notes a propagated change that failed the policy carries in its status.
pub fn propagated_note(rule: &str) -> String {
    format!("The captured password does not meet the sync group's password policy and was propagated anyway (capturePolicyFailure = propagate): {rule}")
}
