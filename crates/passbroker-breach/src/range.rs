//! Ranges in the Pwned Passwords format: `SUFFIX:COUNT` lines joined by CRLF, suffixes in
//! upper case and ascending order; with padding, entries of count 0 with random suffixes are
//! mixed in until the response holds between 800 and 1,000 lines (as `Add-Padding: true`
//! does), so its size says nothing about the prefix.
//!
//! Padding lines come from a pool of random suffixes made once per process and kept sorted:
//! each response takes a window of a random length from a random place in it and merges it
//! with the real entries. What padding hides is the size of the answer (which differs with
//! every response); the padded suffixes themselves are meaningless either way, so drawing
//! them fresh for every response (a thousand random draws and a sort each time) would only
//! cost time.

use crate::HashKind;
use rand::Rng;
use std::sync::OnceLock;

pub const PADDED_MIN_LINES: usize = 800;
pub const PADDED_MAX_LINES: usize = 1_000;
/// Random suffixes per hash kind in the padding pool.
const POOL: usize = 8_192;

/// The sorted padding pool of a kind: upper-case hex suffixes.
fn pool(kind: HashKind) -> &'static [String] {
    static SHA1: OnceLock<Vec<String>> = OnceLock::new();
    static NTLM: OnceLock<Vec<String>> = OnceLock::new();
    let cell = match kind {
        HashKind::Sha1 => &SHA1,
        HashKind::Ntlm => &NTLM,
    };
    cell.get_or_init(|| {
        let mut rng = rand::thread_rng();
        let len = kind.len() * 2 - 5;
        let mut suffixes: Vec<String> = (0..POOL)
            .map(|_| {
                let bytes: Vec<u8> = (0..kind.len()).map(|_| rng.gen()).collect();
                let mut hex = hex::encode_upper(bytes);
                hex.truncate(len);
                hex
            })
            .collect();
        suffixes.sort_unstable();
        suffixes.dedup();
        suffixes
    })
}

/// The body of a range response; `entries` in ascending suffix order (as the index gives
/// them).
pub fn format(kind: HashKind, entries: Vec<(String, u32)>, padding: bool) -> String {
    let padding_lines: &[String] = if padding && entries.len() < PADDED_MAX_LINES {
        let mut rng = rand::thread_rng();
        let target = rng.gen_range(PADDED_MIN_LINES..=PADDED_MAX_LINES);
        let pool = pool(kind);
        let n = target.saturating_sub(entries.len()).min(pool.len());
        let start = rng.gen_range(0..=pool.len() - n);
        &pool[start..start + n]
    } else {
        &[]
    };
    let line_len = kind.len() * 2 - 5 + 12;
    let mut out = String::with_capacity((entries.len() + padding_lines.len()) * line_len);
    let push = |out: &mut String, suffix: &str, count: u32| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(suffix);
        out.push(':');
        out.push_str(&count.to_string());
    };
    // Merge the two sorted lists.
    let mut pad = padding_lines.iter().peekable();
    for (suffix, count) in &entries {
        while let Some(p) = pad.next_if(|p| p.as_str() < suffix.as_str()) {
            push(&mut out, p, 0);
        }
        // A padding suffix equal to a real one (one chance in 2^100 or more) is dropped.
        let _ = pad.next_if(|p| p.as_str() == suffix.as_str());
        push(&mut out, suffix, *count);
    }
    for p in pad {
        push(&mut out, p, 0);
    }
    out
}

/// Parses a range body (the upstream's answer); lines that are not `SUFFIX:COUNT` are
/// skipped. Returns the count for `suffix` (upper-case hex), if present with a count above 0.
pub fn find(body: &str, suffix: &str) -> Option<u32> {
    body.lines().find_map(|line| {
        let (s, c) = line.trim().split_once(':')?;
        if s.eq_ignore_ascii_case(suffix) {
            c.trim().parse::<u32>().ok().filter(|c| *c > 0)
        } else {
            None
        }
    })
}
