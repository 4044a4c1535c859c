//! Randomness and small helpers shared by the other modules and by the server.
//!
//! All randomness comes straight from the operating system (`OsRng`): tokens and
//! salts are long-lived secrets, so we do not want a user-space PRNG state that could
//! be duplicated by a fork or leaked in a core dump.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

/// `n` bytes from the OS random number generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    buf
}

/// `n_bytes` random bytes as URL-safe base64 without padding (safe in URLs, headers
/// and file names without escaping).
pub fn random_token(n_bytes: usize) -> String {
    let bytes = zeroize::Zeroizing::new(random_bytes(n_bytes));
    URL_SAFE_NO_PAD.encode(bytes.as_slice())
}

/// `len` uniformly distributed decimal digits.
///
/// Uses rejection sampling: bytes >= 250 are discarded, because 256 is not a multiple
/// of 10 and `byte % 10` would otherwise favour the digits 0..=5.
pub fn random_digits(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        // Ask for a little more than needed: about 2% of the bytes are rejected.
        let chunk = random_bytes(len - out.len() + 8);
        for b in chunk {
            if out.len() == len {
                break;
            }
            if b < 250 {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    out
}

/// Constant-time equality (for secrets compared against user input). Slices of
/// different lengths compare unequal; the length itself is not treated as secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// SHA-256 digest.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_has_requested_length_and_varies() {
        assert_eq!(random_bytes(0).len(), 0);
        assert_eq!(random_bytes(33).len(), 33);
        assert_ne!(random_bytes(32), random_bytes(32));
    }

    #[test]
    fn random_token_is_url_safe_without_padding() {
        let t = random_token(32);
        assert_eq!(t.len(), 43);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&t).map(|v| v.len()), Ok(32));
    }

    #[test]
    fn random_digits_length_and_only_digits() {
        for len in [0usize, 1, 6, 8, 100, 1000] {
            let d = random_digits(len);
            assert_eq!(d.len(), len);
            assert!(d.bytes().all(|b| b.is_ascii_digit()), "{d}");
        }
        // Every digit shows up in a long sample (each is missing with p ≈ 0.9^5000).
        let d = random_digits(5000);
        for digit in b'0'..=b'9' {
            assert!(d.as_bytes().contains(&digit));
        }
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
