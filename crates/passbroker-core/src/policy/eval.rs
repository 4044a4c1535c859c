//! Checks a [`Password`] against a [`PasswordPolicy`] and reports every failed rule.
//!
//! Semantics (ISC's `PasswordPolicyV3Dto` meanings, made precise here):
//!
//! - **Lengths** count Unicode code points, never bytes or UTF-16 units: `"é"` precomposed is
//!   1, `"e\u{301}"` (e + combining acute) is 2, an emoji is 1 (a ZWJ family emoji is several).
//!   `minLength` ≤ 0 and `maxLength` ≤ 0 are off.
//! - **Classes** are judged per code point on the password exactly as typed: `minAlpha` counts
//!   [`char::is_alphabetic`] (letters of any script), `minLower` / `minUpper` count
//!   [`char::is_lowercase`] / [`char::is_uppercase`], `minNumeric` counts [`char::is_numeric`]
//!   (ASCII and other decimal digits, also `½`, `²`), `minSpecial` counts everything that is
//!   neither alphabetic nor numeric: space, punctuation, symbols, emoji and combining marks.
//!   Uncased letters (CJK, Arabic, …) count for `minAlpha` but are in none of the four
//!   `minCharacterTypes` classes (lower, upper, digit, special). Counts ≤ 0 are off.
//! - **`maxRepeatedChars`** (≤ 0 off; ISC uses -1): the longest run of one identical code point
//!   (case-sensitive: `"aA"` is no run) must be at most the value.
//! - **Containment rules** compare [`normalize`]d text: the password must not contain a
//!   dictionary word ([`Dictionary::matches`]; words under 3 code points are ignored), an identity
//!   or account attribute value of at least [`MIN_VALUE_CHARS`] code points (trimmed; shorter
//!   ones are ignored), or a word of the account id / name. Words are the runs of alphanumeric
//!   characters, so `"CN=Abby Smith,OU=Austin"` yields CN, Abby, Smith, OU, Austin; a word counts
//!   when it has at least `accountIdMinWordLength` / `accountNameMinWordLength` code points, or
//!   [`DEFAULT_MIN_WORD_LENGTH`] when that is ≤ 0 (ISC's -1: otherwise "CN" would reject every
//!   password containing "cn"). `useDictionary` without an uploaded dictionary checks nothing.
//! - **`historyDepth`** needs argon2 and is checked by the workers, not here.
//! - **`blockCommonPasswords`**: [`is_common_password`].
//! - **`nistProfile`** (NIST SP 800-63B-4): at least 15 code points (8 when the caller
//!   authenticated with MFA, [`PolicyContext::strong_auth`]); a `maxLength` below 64 is raised to
//!   64; the blocklist applies (common passwords, dictionary, identity values) whatever the
//!   `use*` flags say; and **no composition rules**: `minAlpha`, `minLower`, `minUpper`,
//!   `minNumeric`, `minSpecial` and `minCharacterTypes` are skipped. `maxRepeatedChars` and the
//!   account rules still apply. Because it relaxes `maxLength` and composition, switching the
//!   profile off can make a passing password fail; every other rule only ever adds failures.
//!
//! Messages name the rule and the required value, never the password or a matched value.

use super::dictionary::Dictionary;
use super::PasswordPolicy;
use crate::Password;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// NIST profile minimum length without MFA.
pub const NIST_MIN_LENGTH: i64 = 15;
/// NIST profile minimum length when the caller authenticated with MFA.
pub const NIST_MIN_LENGTH_STRONG_AUTH: i64 = 8;
/// Under the NIST profile a `maxLength` below this is raised to it.
pub const NIST_MAX_LENGTH_FLOOR: i64 = 64;
/// Account id / name words shorter than this are ignored when the policy says -1.
pub const DEFAULT_MIN_WORD_LENGTH: usize = 3;
/// Attribute values shorter than this (after normalisation) are ignored.
pub const MIN_VALUE_CHARS: usize = 3;

/// NFKC, then lowercase, for comparisons only: never apply it to the provisioned password.
///
/// Full Unicode case folding is approximated by [`str::to_lowercase`] plus its two commonest
/// differences: `ß` → `ss` and final `ς` → `σ`. The combining dot that lowercasing Turkish `İ`
/// leaves after `i` is dropped, so `"İstanbul"` compares equal to `"istanbul"`. Intermediate
/// buffers are zeroized; callers normalising a password should hold the result in `Zeroizing`.
pub fn normalize(s: &str) -> String {
    let nfkc: Zeroizing<String> = Zeroizing::new(s.nfkc().collect());
    let lower = Zeroizing::new(nfkc.to_lowercase());
    let mut folded: Zeroizing<String> = Zeroizing::new(String::with_capacity(lower.len()));
    let mut prev_i = false;
    for c in lower.chars() {
        match c {
            'ß' => folded.push_str("ss"),
            'ς' => folded.push('σ'),
            '\u{307}' if prev_i => {}
            _ => folded.push(c),
        }
        prev_i = c == 'i';
    }
    folded.nfkc().collect()
}

/// What a check may use besides the policy and the password.
#[derive(Debug, Clone, Default)]
pub struct PolicyContext<'a> {
    /// The org's password dictionary, if one was uploaded.
    pub dictionary: Option<&'a Dictionary>,
    /// Identity login name, display name, email, attribute values.
    pub identity_values: Vec<&'a str>,
    /// Account attribute values.
    pub account_values: Vec<&'a str>,
    /// Native account id, e.g. `"CN=Abby Smith,OU=Austin,DC=acme,DC=com"`.
    pub account_id: &'a str,
    pub account_name: &'a str,
    /// The caller authenticated with MFA (NIST profile: minimum 8 instead of 15).
    pub strong_auth: bool,
}

impl<'a> PolicyContext<'a> {
    /// No dictionary, no attribute values, no account, no MFA.
    pub fn empty() -> PolicyContext<'static> {
        PolicyContext::default()
    }
}

/// One failed rule: `rule` is the ISC field name (`"minLength"`, `"useDictionary"`, …) or, beyond
/// ISC, `"blockCommonPasswords"` / `"nistProfile"`; `message` is a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
}

/// A positive limit, or `None` when the value switches the rule off (≤ 0).
pub(crate) fn limit(value: i64) -> Option<usize> {
    (value >= 1).then(|| usize::try_from(value).unwrap_or(usize::MAX))
}

/// The effective minimum length and the rule that sets it (the NIST floor wins when higher).
pub(crate) fn min_length(
    policy: &PasswordPolicy,
    strong_auth: bool,
) -> Option<(usize, &'static str)> {
    let own = limit(policy.min_length);
    if !policy.nist_profile {
        return own.map(|n| (n, "minLength"));
    }
    let floor = limit(if strong_auth {
        NIST_MIN_LENGTH_STRONG_AUTH
    } else {
        NIST_MIN_LENGTH
    });
    match (own, floor) {
        (Some(n), Some(f)) if n >= f => Some((n, "minLength")),
        (_, Some(f)) => Some((f, "nistProfile")),
        (own, None) => own.map(|n| (n, "minLength")),
    }
}

/// The effective maximum length (raised to 64 under the NIST profile).
pub(crate) fn max_length(policy: &PasswordPolicy) -> Option<usize> {
    let own = limit(policy.max_length)?;
    if policy.nist_profile {
        Some(own.max(limit(NIST_MAX_LENGTH_FLOOR).unwrap_or(own)))
    } else {
        Some(own)
    }
}

/// `"1 uppercase letter"`, `"2 uppercase letters"`.
fn count_of(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

#[derive(Default)]
struct Counts {
    chars: usize,
    alpha: usize,
    lower: usize,
    upper: usize,
    numeric: usize,
    special: usize,
    longest_run: usize,
}

fn count(password: &str) -> Counts {
    let mut c = Counts::default();
    let mut run = 0;
    let mut prev = None;
    for ch in password.chars() {
        c.chars += 1;
        c.alpha += usize::from(ch.is_alphabetic());
        c.lower += usize::from(ch.is_lowercase());
        c.upper += usize::from(ch.is_uppercase());
        c.numeric += usize::from(ch.is_numeric());
        c.special += usize::from(!ch.is_alphabetic() && !ch.is_numeric());
        run = if prev == Some(ch) { run + 1 } else { 1 };
        c.longest_run = c.longest_run.max(run);
        prev = Some(ch);
    }
    c
}

/// True when `haystack` contains one of `values` (trimmed, normalised, ≥ 3 code points).
fn contains_value(haystack: &str, values: &[&str]) -> bool {
    values.iter().any(|v| {
        let n = normalize(v.trim());
        n.chars().count() >= MIN_VALUE_CHARS && haystack.contains(n.as_str())
    })
}

/// True when `haystack` contains a word of `source` with at least `min_word` code points.
fn contains_word(haystack: &str, source: &str, min_word: i64) -> bool {
    let min = limit(min_word).unwrap_or(DEFAULT_MIN_WORD_LENGTH);
    let source = normalize(source);
    source
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| !w.is_empty() && w.chars().count() >= min && haystack.contains(w))
}

/// Every failed rule, in a stable order (length, composition, repetition, dictionary, identity,
/// account attributes, account id, account name, common passwords); none is skipped after the
/// first failure. See the module documentation for the exact meaning of each rule.
pub fn evaluate(
    policy: &PasswordPolicy,
    password: &Password,
    ctx: &PolicyContext<'_>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut fail = |rule: &'static str, message: String| out.push(Violation { rule, message });
    shape_rules(policy, password, ctx.strong_auth, &mut fail);
    content_rules(policy, password, ctx, &mut fail);
    out
}

/// Length, character classes and repetition.
fn shape_rules(
    policy: &PasswordPolicy,
    password: &Password,
    strong_auth: bool,
    fail: &mut dyn FnMut(&'static str, String),
) {
    let c = count(password.expose());

    if let Some((n, rule)) = min_length(policy, strong_auth) {
        if c.chars < n {
            fail(
                rule,
                format!(
                    "The password must be at least {} long.",
                    count_of(n, "character", "characters")
                ),
            );
        }
    }
    if let Some(n) = max_length(policy) {
        if c.chars > n {
            fail(
                "maxLength",
                format!(
                    "The password must be at most {} long.",
                    count_of(n, "character", "characters")
                ),
            );
        }
    }
    if !policy.nist_profile {
        class_rules(policy, &c, fail);
    }
    if let Some(n) = limit(policy.max_repeated_chars) {
        if c.longest_run > n {
            fail(
                "maxRepeatedChars",
                format!(
                    "The password must not repeat the same character more than {} in a row.",
                    count_of(n, "time", "times")
                ),
            );
        }
    }
}

/// The character-class minimums and the count of character types (not under the NIST
/// profile).
fn class_rules(policy: &PasswordPolicy, c: &Counts, fail: &mut dyn FnMut(&'static str, String)) {
    let classes: [(&'static str, i64, usize, &str, &str); 5] = [
        ("minAlpha", policy.min_alpha, c.alpha, "letter", "letters"),
        (
            "minLower",
            policy.min_lower,
            c.lower,
            "lowercase letter",
            "lowercase letters",
        ),
        (
            "minUpper",
            policy.min_upper,
            c.upper,
            "uppercase letter",
            "uppercase letters",
        ),
        (
            "minNumeric",
            policy.min_numeric,
            c.numeric,
            "digit",
            "digits",
        ),
        (
            "minSpecial",
            policy.min_special,
            c.special,
            "special character (not a letter or digit)",
            "special characters (not letters or digits)",
        ),
    ];
    for (rule, value, have, singular, plural) in classes {
        if let Some(n) = limit(value) {
            if have < n {
                fail(
                    rule,
                    format!(
                        "The password must contain at least {}.",
                        count_of(n, singular, plural)
                    ),
                );
            }
        }
    }
    if let Some(n) = limit(policy.min_character_types) {
        let types = [c.lower, c.upper, c.numeric, c.special]
            .iter()
            .filter(|k| **k > 0)
            .count();
        if types < n {
            fail(
                "minCharacterTypes",
                format!(
                    "The password must contain at least {n} of these 4 character types: \
                     lowercase letters, uppercase letters, digits, special characters."
                ),
            );
        }
    }
}

/// What the password must not contain: dictionary words, identity and account values, the
/// account's id and name, common passwords.
fn content_rules(
    policy: &PasswordPolicy,
    password: &Password,
    ctx: &PolicyContext<'_>,
    fail: &mut dyn FnMut(&'static str, String),
) {
    let normalized = Zeroizing::new(normalize(password.expose()));
    let dictionary_rule = if policy.use_dictionary {
        Some("useDictionary")
    } else {
        policy.nist_profile.then_some("nistProfile")
    };
    if let (Some(rule), Some(dictionary)) = (dictionary_rule, ctx.dictionary) {
        if dictionary.matches(&normalized) {
            fail(
                rule,
                "The password must not contain a word from the password dictionary.".to_owned(),
            );
        }
    }
    let identity_rule = if policy.use_identity_attributes {
        Some("useIdentityAttributes")
    } else {
        policy.nist_profile.then_some("nistProfile")
    };
    if let Some(rule) = identity_rule {
        if contains_value(&normalized, &ctx.identity_values) {
            fail(
                rule,
                "The password must not contain an identity attribute value.".to_owned(),
            );
        }
    }
    if policy.use_account_attributes && contains_value(&normalized, &ctx.account_values) {
        fail(
            "useAccountAttributes",
            "The password must not contain an account attribute value.".to_owned(),
        );
    }
    if policy.validate_against_account_id
        && contains_word(
            &normalized,
            ctx.account_id,
            policy.account_id_min_word_length,
        )
    {
        fail(
            "validateAgainstAccountId",
            "The password must not contain words from the account ID.".to_owned(),
        );
    }
    if policy.validate_against_account_name
        && contains_word(
            &normalized,
            ctx.account_name,
            policy.account_name_min_word_length,
        )
    {
        fail(
            "validateAgainstAccountName",
            "The password must not contain words from the account name.".to_owned(),
        );
    }
    let common_rule = if policy.block_common_passwords {
        Some("blockCommonPasswords")
    } else {
        policy.nist_profile.then_some("nistProfile")
    };
    if let Some(rule) = common_rule {
        if is_common_password(password) {
            fail(
                rule,
                "The password must not be a commonly used or breached password.".to_owned(),
            );
        }
    }
}

/// True when the password, normalised, equals an entry of the built-in list of common
/// passwords ([`super::common_passwords`]).
pub fn is_common_password(password: &Password) -> bool {
    let normalized = Zeroizing::new(normalize(password.expose()));
    super::common_passwords::contains(normalized.as_str())
}

#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod tests;
