//! The built-in list of common passwords, for `blockCommonPasswords`, the NIST profile's
//! blocklist ([`super::eval::is_common_password`]), and the breach rule of deployments without
//! a breach corpus.
//!
//! The list is zxcvbn's password frequency list (30,000 entries, MIT licence: see
//! `common_passwords.txt` and `common_passwords.LICENSE` beside this file), embedded in the
//! binary. Entries are normalised (NFKC, lowercase), so a password matches when its
//! normalised form equals one exactly: the check is case-insensitive, and `Password1` is caught
//! through `password1`.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("common_passwords.txt");

/// The entries of the list, in frequency order (comment lines skipped).
pub fn entries() -> impl Iterator<Item = &'static str> {
    LIST.lines()
        .filter(|l| !l.is_empty() && !l.starts_with("# "))
}

/// Whether a normalised password is on the list (a hash set, built once).
pub fn contains(normalized: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| entries().collect()).contains(normalized)
}

#[cfg(test)]
mod tests {
    use super::entries;
    use crate::policy::eval::normalize;
    use std::collections::HashSet;

    #[test]
    fn entries_are_normalised_and_unique() {
        let mut seen = HashSet::new();
        for entry in entries() {
            assert_eq!(normalize(entry), entry, "entry {entry:?} is not normalised");
            assert!(seen.insert(entry), "duplicate entry {entry:?}");
        }
        assert_eq!(seen.len(), 30_000);
    }
}
