//! The breached-password corpus (Have I Been Pwned's Pwned Passwords, or any list in its
//! format), checked offline.
//!
//! - [`HashKind`]: SHA-1 (the corpus's main form) or NTLM (MD4 of UTF-16LE), and the hash of
//!   a password in each.
//! - [`import`]: streams the downloader's output (one ordered `HASH:COUNT` file, or a
//!   directory of 1,048,576 range files `XXXXX` of `SUFFIX:COUNT` lines) into an index file.
//! - [`BreachIndex`]: the index file. Records are sorted; a table of 2^20 + 1 offsets (the
//!   first five hex digits, as the range API splits the corpus) points at each prefix's
//!   records, so a lookup is one table read in memory and one positional read of about two
//!   kilobytes (about 95 records per prefix at a billion hashes). The table (8 MiB) is the
//!   only thing held in memory; records stay on disk and in the page cache.
//! - [`range`]: a prefix's records in the Pwned Passwords range format, with padding.

mod import;
mod index;
pub mod range;

pub use import::{import, index_path, ImportReport, Progress};
pub use index::{BreachIndex, IndexWriter};

/// The number of prefixes: five hex digits.
pub const PREFIXES: usize = 1 << 20;

/// Which hash a corpus holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    Sha1,
    Ntlm,
}

impl HashKind {
    pub const ALL: [HashKind; 2] = [HashKind::Sha1, HashKind::Ntlm];

    /// Bytes in one hash.
    #[allow(clippy::len_without_is_empty)] // a hash kind is never empty
    pub fn len(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
            HashKind::Ntlm => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Ntlm => "ntlm",
        }
    }

    pub fn parse(s: &str) -> Option<HashKind> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Some(HashKind::Sha1),
            "ntlm" => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            HashKind::Sha1 => 1,
            HashKind::Ntlm => 2,
        }
    }

    fn from_code(c: u8) -> Option<HashKind> {
        match c {
            1 => Some(HashKind::Sha1),
            2 => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    /// The hash of a password as the corpus stores it (of its exact UTF-8 bytes; NTLM of its
    /// UTF-16LE code units).
    pub fn hash(self, password: &str) -> Vec<u8> {
        use sha1::Digest;
        match self {
            HashKind::Sha1 => sha1::Sha1::digest(password.as_bytes()).to_vec(),
            HashKind::Ntlm => {
                let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
                md4::Md4::digest(&utf16).to_vec()
            }
        }
    }
}

/// The prefix (first five hex digits, 20 bits) of a hash.
pub fn prefix_of(hash: &[u8]) -> usize {
    match hash {
        [a, b, c, ..] => (usize::from(*a) << 12) | (usize::from(*b) << 4) | (usize::from(*c) >> 4),
        _ => 0,
    }
}

/// Parses five hex digits (either case) into a prefix.
pub fn parse_prefix(s: &str) -> Option<usize> {
    if s.len() != 5 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    usize::from_str_radix(s, 16).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum BreachError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The input is not in the corpus format; says where and why.
    #[error("{0}")]
    Format(String),
}
