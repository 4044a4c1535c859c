//! TOTP (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, one step of clock skew either way;
//! a step once accepted is never accepted again (the store keeps the last one). Secrets are
//! 160 random bits, shown once (base32 and an `otpauth://` QR code) and kept wrapped under the
//! master key. Recovery codes are 10 characters of base32, stored as SHA-256.

use hmac::{Hmac, Mac};
use passbroker_core::time::Millis;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps of clock skew accepted either way.
pub const SKEW: i64 = 1;
pub const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 8;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// HOTP (RFC 4226) of `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let code = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    code % 10u32.pow(DIGITS)
}

/// The step of a time.
pub fn step_of(now: Millis) -> i64 {
    now.0.div_euclid(1000).div_euclid(STEP_SECS)
}

/// The step within the skew window whose code is `code`, if any (every candidate is
/// computed, so the time taken does not depend on which one matched).
pub fn matching_step(secret: &[u8], code: &str, now: Millis) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let presented: u32 = code.parse().ok()?;
    let current = step_of(now);
    let mut found = None;
    for step in current - SKEW..=current + SKEW {
        let expected = hotp(secret, u64::try_from(step).unwrap_or(0));
        if passbroker_crypto::random::constant_time_eq(
            &expected.to_be_bytes(),
            &presented.to_be_bytes(),
        ) && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps scan.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// The QR code of `text` as an SVG document.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

/// A new recovery code: 10 base32 characters (50 bits).
pub fn recovery_code() -> String {
    let mut s = base32(&passbroker_crypto::random::random_bytes(7));
    s.truncate(10);
    s
}

/// What the store keeps of a recovery code (case and separators ignored).
pub fn recovery_code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let mut m = b"passbroker-totp-recovery\0".to_vec();
    m.extend_from_slice(normal.as_bytes());
    hex::encode(passbroker_crypto::random::sha256(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (8 digits there; the last 6 are ours).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, expected) in [
            (59i64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            let step = u64::try_from(t / STEP_SECS).unwrap();
            assert_eq!(hotp(secret, step), expected % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn codes_match_within_one_step_only() {
        let secret = b"12345678901234567890";
        let now = Millis(1_111_111_109_000);
        let step = step_of(now);
        let code = |s: i64| format!("{:06}", hotp(secret, u64::try_from(s).unwrap()));
        assert_eq!(matching_step(secret, &code(step), now), Some(step));
        assert_eq!(matching_step(secret, &code(step - 1), now), Some(step - 1));
        assert_eq!(matching_step(secret, &code(step + 1), now), Some(step + 1));
        assert_eq!(matching_step(secret, &code(step + 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(
            recovery_code_hash("abcd-efgh"),
            recovery_code_hash("ABCDEFGH")
        );
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg(&otpauth_uri(
            "passbroker",
            "Abby.Smith",
            b"12345678901234567890",
        ))
        .expect("svg");
        assert!(svg.contains("<svg"));
    }
}
