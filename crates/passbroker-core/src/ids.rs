//! Identifiers. ISC ids are 32 lowercase hex characters; each kind of id is its own type so
//! an `IdentityId` can never be passed where a `SourceId` is expected.

use crate::DomainError;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;

/// True when `s` is exactly 32 lowercase hex characters.
pub fn is_isc_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random 32-hex id (128 bits from the OS RNG).
pub fn new_isc_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A fresh 32-hex id that sorts by creation time: 48 bits of Unix milliseconds, then 80 bits
/// from the OS RNG (a UUIDv7's layout without its version bits). New rows land at the end of
/// the id indexes instead of at random pages, which keeps bulk inserts fast (a random-id
/// import of a million identities into SQLite took 4x as long). Ids are names, not secrets:
/// tokens and codes use [`new_isc_id`] or the crypto crate's randomness.
/// The random part comes from the thread's CSPRNG (ChaCha, seeded from the OS).
/// Within one process ids are also strictly increasing: one made in the same millisecond as
/// the previous one (whose random part may have been larger) follows it, so lists ordered by
/// (creation time, id) keep the order things were made in (ULID's monotonic rule).
pub fn new_time_ordered_id() -> String {
    static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    // The thread's CSPRNG (seeded from the OS): a getrandom call per id showed in profiles.
    rand::thread_rng().fill_bytes(&mut bytes[6..]);
    let mut candidate = u128::from_be_bytes(bytes);
    {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if candidate <= *last {
            let step = u128::from(rand::thread_rng().next_u32() >> 16) + 1;
            candidate = last.saturating_add(step);
        }
        *last = candidate;
    }
    hex::encode(candidate.to_be_bytes())
}

macro_rules! isc_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new id (time-ordered, 80 random bits; see [`new_time_ordered_id`]).
            pub fn generate() -> Self {
                Self(new_time_ordered_id())
            }
            /// Parses a 32-character lowercase hex id.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                if is_isc_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(DomainError::new(
                        $field,
                        format!("must be 32 lowercase hexadecimal characters, got {} characters", s.chars().count()),
                    ))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }
    };
}

isc_id!(
    /// An identity (a person or service) in the tenant.
    IdentityId, "identityId");
isc_id!(
    /// A source: a system passwords are set on.
    SourceId, "sourceId");
isc_id!(
    /// passbroker's own id of an account (not the native `accountId`).
    AccountRef, "id");
isc_id!(
    /// A password change request.
    RequestId, "requestId");
isc_id!(
    /// One target account's part of a request.
    TaskId, "taskId");
isc_id!(
    /// A password policy.
    PolicyId, "passwordPolicyId");
isc_id!(
    /// A password sync group.
    SyncGroupId, "syncGroupId");
isc_id!(
    /// A personal access token's id (also its OAuth client id).
    PatId, "patId");
isc_id!(
    /// An audit event.
    AuditEventId, "auditEventId");

/// The id of an RSA key published by query-password-info. Opaque to clients; passbroker makes
/// them look like ISC's (base64 of a UUID string), but accepts any 1–128 visible ASCII chars.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKeyId(String);

impl PublicKeyId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::new(
                "publicKeyId",
                "must be 1 to 128 printable ASCII characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    /// A new id in ISC's style: base64 of a random UUID string.
    pub fn generate() -> Self {
        let h = new_time_ordered_id();
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        Self(base64_std(uuid.as_bytes()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PublicKeyId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}
impl From<PublicKeyId> for String {
    fn from(id: PublicKeyId) -> String {
        id.0
    }
}
impl fmt::Display for PublicKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API client id (OAuth `client_id`): 32 lowercase hex like ISC's.
pub type ClientId = PatId;

/// Standard base64 with padding; small enough to keep the domain free of a base64 dependency.
fn base64_std(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isc_ids_are_32_lowercase_hex() {
        let id = IdentityId::generate();
        assert!(is_isc_id(id.as_str()));
        assert!(IdentityId::parse("8a807d4c73c545510173c545f0a002ff").is_ok());
        assert!(IdentityId::parse("8A807D4C73C545510173C545F0A002FF").is_err());
        assert!(IdentityId::parse("../etc/passwd").is_err());
        assert!(IdentityId::parse("").is_err());
        let err = SourceId::parse("x").unwrap_err();
        assert_eq!(err.field, "sourceId");
    }

    #[test]
    fn ids_made_in_one_millisecond_keep_the_order_they_were_made_in() {
        let ids: Vec<String> = (0..20_000).map(|_| new_time_ordered_id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing within the process"
        );
    }

    #[test]
    fn generated_ids_sort_by_creation_time_and_stay_unique() {
        let first = IdentityId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let ids: Vec<IdentityId> = (0..1000).map(|_| IdentityId::generate()).collect();
        assert!(
            ids.iter().all(|id| id > &first),
            "later ids sort after earlier ones"
        );
        let distinct: std::collections::HashSet<&IdentityId> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let stamped = u64::from_str_radix(&ids[0].as_str()[..12], 16).unwrap();
        assert!(
            now - stamped < 60_000,
            "the first 48 bits are the creation time"
        );
    }

    #[test]
    fn public_key_ids_look_like_isc() {
        let id = PublicKeyId::generate();
        assert_eq!(id.as_str().len(), 48);
        assert!(PublicKeyId::parse("YWQ2NjQ4MTItZjY0NC00MWExLWFjMjktOGNmMzU3Y2VlNjk2").is_ok());
        assert!(PublicKeyId::parse("has space").is_err());
        assert_eq!(base64_std(b"ad"), "YWQ=");
        assert_eq!(base64_std(b"a"), "YQ==");
    }
}
