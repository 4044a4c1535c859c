//! The NIST profile, and reporting: every failure at once, never the password.

use super::tests::{check, dictionary, policy, pw, rules};
use super::*;

#[test]
fn nist_profile_length_by_code_points_and_mfa() {
    let p = PasswordPolicy {
        nist_profile: true,
        ..policy()
    };
    assert_eq!(check(&p, &"é".repeat(14)), ["nistProfile"]);
    assert!(check(&p, &"é".repeat(15)).is_empty());
    let mfa = PolicyContext {
        strong_auth: true,
        ..PolicyContext::empty()
    };
    assert!(rules(&p, "zqxvbnmw", &mfa).is_empty());
    assert_eq!(rules(&p, "zqxvbnm", &mfa), ["nistProfile"]);
    // A stricter own minimum is reported under its own name.
    let longer = PasswordPolicy {
        min_length: 20,
        ..p.clone()
    };
    assert_eq!(check(&longer, &"x".repeat(16)), ["minLength"]);
    // maxLength below 64 is raised to 64.
    let capped = PasswordPolicy {
        max_length: 20,
        ..p
    };
    assert!(check(&capped, &"xy".repeat(32)).is_empty());
    assert_eq!(check(&capped, &"x".repeat(65)), ["maxLength"]);
}

#[test]
fn nist_profile_skips_composition_and_applies_the_blocklist() {
    let p = PasswordPolicy {
        nist_profile: true,
        min_alpha: 5,
        min_lower: 5,
        min_upper: 5,
        min_numeric: 5,
        min_special: 5,
        min_character_types: 4,
        ..policy()
    };
    assert!(check(&p, "1234 5678 9012 345").is_empty());
    assert_eq!(check(&p, "1qaz2wsx3edc4rfv"), ["nistProfile"]);
    let dict = dictionary();
    let ctx = PolicyContext {
        dictionary: Some(&dict),
        identity_values: vec!["Abby Smith"],
        ..PolicyContext::empty()
    };
    assert_eq!(rules(&p, "sommer in the alps", &ctx), ["nistProfile"]);
    assert_eq!(rules(&p, "hello abby smith!", &ctx), ["nistProfile"]);
    let both = PasswordPolicy {
        use_dictionary: true,
        ..p
    };
    assert_eq!(rules(&both, "sommer in the alps", &ctx), ["useDictionary"]);
}

fn strict() -> PasswordPolicy {
    PasswordPolicy {
        min_length: 20,
        min_alpha: 19,
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
        validate_against_account_name: true,
        block_common_passwords: true,
        ..policy()
    }
}

#[test]
fn every_failure_is_reported_at_once_in_order() {
    let dict = dictionary();
    let ctx = PolicyContext {
        dictionary: Some(&dict),
        identity_values: vec!["abby"],
        account_values: vec!["acme"],
        account_id: "CN=Abby Smith,OU=Acme",
        account_name: "Zzzz",
        strong_auth: false,
    };
    assert_eq!(
        rules(&strict(), "zzzzabbyacmesommer", &ctx),
        [
            "minLength",
            "minAlpha",
            "minUpper",
            "minNumeric",
            "minSpecial",
            "minCharacterTypes",
            "maxRepeatedChars",
            "useDictionary",
            "useIdentityAttributes",
            "useAccountAttributes",
            "validateAgainstAccountId",
            "validateAgainstAccountName",
        ]
    );
    assert_eq!(
        check(
            &PasswordPolicy {
                max_length: 5,
                ..strict()
            },
            "qwerty123"
        ),
        [
            "minLength",
            "maxLength",
            "minAlpha",
            "minUpper",
            "minSpecial",
            "minCharacterTypes",
            "blockCommonPasswords"
        ]
    );
}

#[test]
fn messages_never_contain_the_password() {
    let dict = dictionary();
    let ctx = PolicyContext {
        dictionary: Some(&dict),
        identity_values: vec!["abby"],
        account_values: vec!["acme"],
        account_id: "CN=Abby Smith,OU=Acme",
        account_name: "Zzzz",
        strong_auth: false,
    };
    let cases = [
        (strict(), "zzzzabbyacmesommer", 12),
        (
            PasswordPolicy {
                max_length: 5,
                ..strict()
            },
            "qwerty123",
            7,
        ),
    ];
    for (policy, canary, expected) in cases {
        let violations = evaluate(&policy, &pw(canary), &ctx);
        assert_eq!(violations.len(), expected);
        let chars: Vec<char> = canary.chars().collect();
        for v in &violations {
            let message = v.message.to_lowercase();
            assert!(!message.contains(canary));
            for window in chars.windows(4) {
                let part: String = window.iter().collect();
                assert!(
                    !message.contains(&part),
                    "{:?} contains a part of the password",
                    v.rule
                );
            }
        }
    }
}
