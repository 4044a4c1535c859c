//! The `policies` strings of query-password-info, in ISC's style: `"passwordMinLength is 8"`.
//!
//! One string per constraint the policy sets, in the order [`super::eval::evaluate`] checks
//! them; rules that are off produce nothing. The strings describe what is enforced:
//!
//! - Under the NIST profile the minimum length is at least 15 (a caller with MFA needs only 8,
//!   but the describing caller is unknown, so the stricter value is shown), a maximum below 64 is
//!   shown as 64, and the composition rules (`passwordMinAlpha` … `passwordMinCharType`), which
//!   the profile skips, are not listed.
//! - `passwordValidateAgainstAccountId` / `…AccountName` carry the minimum word length, or
//!   `true` when the policy leaves it at -1 (words of 3 or more code points then count).
//! - Beyond ISC: `passwordHistory is N`, `passwordBlockCommon is true`,
//!   `passwordNistProfile is true`.

use super::eval::{limit, max_length, min_length};
use super::PasswordPolicy;

/// The `policies` strings for `policy`.
pub fn describe(policy: &PasswordPolicy) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((n, _)) = min_length(policy, false) {
        out.push(format!("passwordMinLength is {n}"));
    }
    if let Some(n) = max_length(policy) {
        out.push(format!("passwordMaxLength is {n}"));
    }
    if !policy.nist_profile {
        for (name, value) in [
            ("passwordMinAlpha", policy.min_alpha),
            ("passwordMinLower", policy.min_lower),
            ("passwordMinUpper", policy.min_upper),
            ("passwordMinNumeric", policy.min_numeric),
            ("passwordMinSpecial", policy.min_special),
            ("passwordMinCharType", policy.min_character_types),
        ] {
            if let Some(n) = limit(value) {
                out.push(format!("{name} is {n}"));
            }
        }
    }
    if let Some(n) = limit(policy.max_repeated_chars) {
        out.push(format!("passwordRepeatedChar is {n}"));
    }
    for (name, on) in [
        ("passwordDictionary", policy.use_dictionary),
        ("passwordIdentityAttributes", policy.use_identity_attributes),
        ("passwordAccountAttributes", policy.use_account_attributes),
    ] {
        if on {
            out.push(format!("{name} is true"));
        }
    }
    for (name, on, min_word) in [
        (
            "passwordValidateAgainstAccountId",
            policy.validate_against_account_id,
            policy.account_id_min_word_length,
        ),
        (
            "passwordValidateAgainstAccountName",
            policy.validate_against_account_name,
            policy.account_name_min_word_length,
        ),
    ] {
        if on {
            match limit(min_word) {
                Some(n) => out.push(format!("{name} is {n}")),
                None => out.push(format!("{name} is true")),
            }
        }
    }
    if let Some(n) = limit(policy.history_depth) {
        out.push(format!("passwordHistory is {n}"));
    }
    if policy.block_common_passwords {
        out.push("passwordBlockCommon is true".to_owned());
    }
    if policy.checks_breaches() {
        out.push(format!(
            "passwordBlockBreached is {}",
            policy.breached_min_count.max(1)
        ));
    }
    if policy.nist_profile {
        out.push("passwordNistProfile is true".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isc_example() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 8,
            max_length: 25,
            min_alpha: 1,
            min_lower: 1,
            min_upper: 1,
            min_numeric: 1,
            min_special: 1,
            min_character_types: 3,
            max_repeated_chars: 3,
            use_dictionary: true,
            use_identity_attributes: true,
            use_account_attributes: true,
            validate_against_account_id: true,
            account_id_min_word_length: 4,
            validate_against_account_name: true,
            ..PasswordPolicy::default()
        }
    }

    #[test]
    fn default_policy_describes_nothing() {
        assert!(describe(&PasswordPolicy::default()).is_empty());
    }

    #[test]
    fn every_isc_rule_in_isc_style() {
        assert_eq!(
            describe(&isc_example()),
            [
                "passwordMinLength is 8",
                "passwordMaxLength is 25",
                "passwordMinAlpha is 1",
                "passwordMinLower is 1",
                "passwordMinUpper is 1",
                "passwordMinNumeric is 1",
                "passwordMinSpecial is 1",
                "passwordMinCharType is 3",
                "passwordRepeatedChar is 3",
                "passwordDictionary is true",
                "passwordIdentityAttributes is true",
                "passwordAccountAttributes is true",
                "passwordValidateAgainstAccountId is 4",
                "passwordValidateAgainstAccountName is true",
            ]
        );
    }

    #[test]
    fn off_values_produce_nothing() {
        let policy = PasswordPolicy {
            min_length: 0,
            max_length: 0,
            min_upper: 0,
            min_character_types: -1,
            max_repeated_chars: -1,
            history_depth: 0,
            account_id_min_word_length: 4,
            validate_against_account_id: false,
            ..PasswordPolicy::default()
        };
        assert!(describe(&policy).is_empty());
    }

    #[test]
    fn beyond_isc_rules() {
        let policy = PasswordPolicy {
            history_depth: 5,
            block_common_passwords: true,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            describe(&policy),
            ["passwordHistory is 5", "passwordBlockCommon is true"]
        );
    }

    #[test]
    fn nist_profile_shows_enforced_lengths_and_no_composition() {
        let policy = PasswordPolicy {
            nist_profile: true,
            ..isc_example()
        };
        let strings = describe(&policy);
        assert_eq!(strings[0], "passwordMinLength is 15");
        assert_eq!(strings[1], "passwordMaxLength is 64");
        assert!(strings
            .iter()
            .all(|s| !s.starts_with("passwordMin") || s.starts_with("passwordMinLength")));
        assert_eq!(
            strings.last().map(String::as_str),
            Some("passwordNistProfile is true")
        );
        assert!(strings.contains(&"passwordRepeatedChar is 3".to_owned()));

        let longer = PasswordPolicy {
            min_length: 20,
            max_length: 100,
            ..policy
        };
        let strings = describe(&longer);
        assert_eq!(
            strings[..2],
            ["passwordMinLength is 20", "passwordMaxLength is 100"]
        );
    }
}
