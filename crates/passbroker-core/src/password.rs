//! The plaintext password. It exists only after decryption and UTF-8 validation, lives in a
//! zeroizing buffer, and can never be printed: `Debug` redacts and there is no `Display`.

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// A decrypted, valid UTF-8 password. Dropping it overwrites its bytes.
pub struct Password(Zeroizing<String>);

/// The decrypted bytes were not UTF-8. Carries nothing of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

impl Password {
    /// Takes ownership of decrypted bytes; they are wiped whether or not they are UTF-8.
    pub fn from_utf8(mut bytes: Zeroizing<Vec<u8>>) -> Result<Self, NotUtf8> {
        let taken = std::mem::take(&mut *bytes);
        match String::from_utf8(taken) {
            Ok(s) => Ok(Password(Zeroizing::new(s))),
            Err(e) => {
                let mut raw = e.into_bytes();
                raw.zeroize();
                Err(NotUtf8)
            }
        }
    }

    /// For callers that already hold a zeroizing string (the CLI prompt, tests).
    pub fn new(secret: Zeroizing<String>) -> Self {
        Password(secret)
    }

    /// The exact text the user typed. Never normalise it before provisioning.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in Unicode code points (what policies count).
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Password::new(Zeroizing::new("hunter2-canary".to_owned()));
        assert_eq!(format!("{p:?}"), "Password([redacted])");
        assert_eq!(p.expose(), "hunter2-canary");
    }

    #[test]
    fn utf8_is_checked_and_counted_in_code_points() {
        let p = Password::from_utf8(Zeroizing::new("pässwörd€".as_bytes().to_vec())).unwrap();
        assert_eq!(p.char_count(), 9);
        assert!(Password::from_utf8(Zeroizing::new(vec![0xff, 0xfe])).is_err());
    }
}
