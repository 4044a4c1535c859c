//! argon2id hashes (PHC strings) for OAuth client secrets and personal access tokens.
//!
//! Parameters follow OWASP's password storage cheat sheet: m = 19 MiB, t = 2, p = 1.
//! `verify` honours the parameters stored in the PHC string, so they can be raised
//! later without invalidating existing hashes.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::random::random_bytes;

const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Upper bound on the memory cost `verify` will accept from a stored hash, so that a
/// corrupted or planted row cannot make one verification allocate gigabytes.
const MAX_M_COST_KIB: u32 = 262_144;

fn hasher() -> Result<Argon2<'static>, String> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// argon2id hash of `secret` with a fresh 16-byte random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). The error never contains the secret.
pub fn hash(secret: &[u8]) -> Result<String, String> {
    let salt =
        SaltString::encode_b64(&random_bytes(16)).map_err(|e| format!("argon2 salt: {e}"))?;
    hasher()?
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2 hashing failed: {e}"))
}

/// True if `secret` matches the argon2id PHC string `phc`. The comparison of the
/// digests is constant-time inside the argon2 crate. A malformed string, another
/// algorithm or absurd parameters give `false`.
pub fn verify(secret: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    match Params::try_from(&parsed) {
        Ok(p) if p.m_cost() <= MAX_M_COST_KIB => {}
        _ => return false,
    }
    // `Argon2::default()` is only the verifier shell: algorithm, version and
    // parameters are taken from the PHC string.
    Argon2::default().verify_password(secret, &parsed).is_ok()
}

/// Performs one full verification against a fixed hash with the current parameters,
/// so that "unknown client id" takes as long as "wrong secret".
pub fn dummy_verify(secret: &[u8]) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    // Computed once (the first unknown-user request pays one extra hash) rather than
    // embedded, so it always uses exactly the parameters `hash` uses.
    let dummy = DUMMY.get_or_init(|| hash(b"passbroker dummy secret").ok());
    if let Some(phc) = dummy {
        std::hint::black_box(verify(secret, phc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash(b"s3cret client secret").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("s3cret"));
        assert!(verify(b"s3cret client secret", &h));
        assert!(!verify(b"s3cret client secreT", &h));
        assert!(!verify(b"", &h));
        // Random salt: same secret, different hashes, both valid.
        let h2 = hash(b"s3cret client secret").unwrap();
        assert_ne!(h, h2);
        assert!(verify(b"s3cret client secret", &h2));
    }

    #[test]
    fn malformed_or_foreign_phc_is_false() {
        for bad in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$!!!",
            "$2b$12$abcdefghijklmnopqrstuuJ0x7Jd4gZc6o3HqTyYpuFMZsuXj0kq",
        ] {
            assert!(!verify(b"x", bad), "{bad}");
        }
        // A valid argon2i (not id) hash of the same secret is refused.
        let salt = SaltString::encode_b64(&[1u8; 16]).unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"x", &salt)
            .unwrap()
            .to_string();
        assert!(!verify(b"x", &argon2i));
        // Memory cost beyond the cap is refused without running the hash.
        let huge = "$argon2id$v=19$m=4000000,t=2,p=1$c2FsdHNhbHRzYWx0$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify(b"x", huge));
    }

    #[test]
    fn dummy_verify_takes_about_as_long_as_verify() {
        let h = hash(b"abc").unwrap();
        dummy_verify(b"warm up");
        let t0 = std::time::Instant::now();
        assert!(!verify(b"abd", &h));
        let real = t0.elapsed();
        let t1 = std::time::Instant::now();
        dummy_verify(b"abd");
        let dummy = t1.elapsed();
        // Loose bounds: only catches a dummy that does no work at all.
        assert!(dummy * 5 > real, "dummy {dummy:?} vs real {real:?}");
    }
}
