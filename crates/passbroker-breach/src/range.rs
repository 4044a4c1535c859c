//! Ranges in the Pwned Passwords format: `SUFFIX:COUNT` lines joined by CRLF, suffixes in
//! upper case and ascending order; with padding, entries of count 0 with random suffixes are
//! mixed in until the response holds between 800 and 1,000 lines (as `Add-Padding: true`
//! does), so its size says nothing about the prefix.

use crate::HashKind;
use rand::Rng;

pub const PADDED_MIN_LINES: usize = 800;
pub const PADDED_MAX_LINES: usize = 1_000;

/// The body of a range response.
pub fn format(kind: HashKind, mut entries: Vec<(String, u32)>, padding: bool) -> String {
    if padding {
        let mut rng = rand::thread_rng();
        let target = rng.gen_range(PADDED_MIN_LINES..=PADDED_MAX_LINES);
        let suffix_len = kind.len() * 2 - 5;
        let known: std::collections::HashSet<String> =
            entries.iter().map(|(s, _)| s.clone()).collect();
        while entries.len() < target {
            let bytes: Vec<u8> = (0..kind.len()).map(|_| rng.gen()).collect();
            let mut hex = hex::encode_upper(bytes);
            hex.truncate(suffix_len);
            if !known.contains(&hex) {
                entries.push((hex, 0));
            }
        }
        entries.sort();
    }
    let lines: Vec<String> = entries
        .into_iter()
        .map(|(suffix, count)| format!("{suffix}:{count}"))
        .collect();
    lines.join("\r\n")
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
