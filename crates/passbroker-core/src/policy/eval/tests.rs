use super::*;
use zeroize::Zeroizing;

pub(super) fn pw(s: &str) -> Password {
    Password::new(Zeroizing::new(s.to_owned()))
}

pub(super) fn rules(
    policy: &PasswordPolicy,
    password: &str,
    ctx: &PolicyContext<'_>,
) -> Vec<&'static str> {
    evaluate(policy, &pw(password), ctx)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

pub(super) fn check(policy: &PasswordPolicy, password: &str) -> Vec<&'static str> {
    rules(policy, password, &PolicyContext::empty())
}

pub(super) fn policy() -> PasswordPolicy {
    PasswordPolicy::default()
}

#[test]
fn default_policy_accepts_anything() {
    for p in ["", "a", "password", "😀", "e\u{301}"] {
        assert!(check(&policy(), p).is_empty());
    }
}

#[test]
fn normalize_nfkc_lowercase_and_folds() {
    assert_eq!(normalize("ＰａｓｓＷＯＲＤ"), "password");
    assert_eq!(normalize("e\u{301}"), "é");
    assert_eq!(normalize("Straße"), "strasse");
    assert_eq!(normalize("STRAẞE"), "strasse");
    assert_eq!(normalize("İstanbul"), "istanbul");
    assert_eq!(normalize("ΟΔΟΣ"), normalize("οδοσ"));
    assert_eq!(normalize("ﬁle"), "file");
    for s in ["Straße", "İSTANBUL", "ＡＢＣ", "😀x", "e\u{301}"] {
        assert_eq!(normalize(&normalize(s)), normalize(s));
    }
}

#[test]
fn min_length_counts_code_points() {
    let p = PasswordPolicy {
        min_length: 8,
        ..policy()
    };
    assert_eq!(check(&p, "abcdefg"), ["minLength"]);
    assert!(check(&p, "abcdefgh").is_empty());
    // 7 code points, 14 bytes: still too short.
    assert_eq!(check(&p, "ééééééé"), ["minLength"]);
    // "e\u{301}" is 2 code points: four of them make 8.
    assert!(check(&p, &"e\u{301}".repeat(4)).is_empty());
    assert_eq!(check(&p, &"😀".repeat(7)), ["minLength"]);
    assert!(check(&p, &"😀".repeat(8)).is_empty());
    let v = evaluate(&p, &pw("short"), &PolicyContext::empty());
    assert_eq!(
        v[0].message,
        "The password must be at least 8 characters long."
    );
}

#[test]
fn max_length_counts_code_points_and_zero_is_no_max() {
    let p = PasswordPolicy {
        max_length: 25,
        ..policy()
    };
    assert!(check(&p, &"é".repeat(25)).is_empty());
    assert_eq!(check(&p, &"é".repeat(26)), ["maxLength"]);
    assert!(check(&p, &"😀".repeat(25)).is_empty());
    assert!(check(
        &PasswordPolicy {
            max_length: 0,
            ..policy()
        },
        &"x".repeat(10_000)
    )
    .is_empty());
    let v = evaluate(&p, &pw(&"x".repeat(26)), &PolicyContext::empty());
    assert_eq!(
        v[0].message,
        "The password must be at most 25 characters long."
    );
}

#[test]
fn min_alpha_counts_letters_of_any_script() {
    let p = PasswordPolicy {
        min_alpha: 3,
        ..policy()
    };
    assert!(check(&p, "αβγ12").is_empty());
    assert!(check(&p, "日本語").is_empty());
    assert_eq!(check(&p, "ab123!"), ["minAlpha"]);
    assert_eq!(
        evaluate(&p, &pw("1"), &PolicyContext::empty())[0].message,
        "The password must contain at least 3 letters."
    );
}

#[test]
fn min_lower_and_upper_are_unicode_aware() {
    let lower = PasswordPolicy {
        min_lower: 2,
        ..policy()
    };
    assert!(check(&lower, "ßé").is_empty());
    assert_eq!(check(&lower, "ßÉ"), ["minLower"]);
    let upper = PasswordPolicy {
        min_upper: 1,
        ..policy()
    };
    assert!(check(&upper, "İstanbul").is_empty());
    assert!(check(&upper, "Ω").is_empty());
    assert_eq!(check(&upper, "istanbul 日本"), ["minUpper"]);
    let v = evaluate(&upper, &pw("abc"), &PolicyContext::empty());
    assert_eq!(
        v[0].message,
        "The password must contain at least 1 uppercase letter."
    );
}

#[test]
fn min_numeric_counts_decimal_digits_of_any_script() {
    let p = PasswordPolicy {
        min_numeric: 2,
        ..policy()
    };
    assert!(check(&p, "a12").is_empty());
    assert!(check(&p, "a٣٤").is_empty()); // Arabic-Indic digits
    assert_eq!(check(&p, "a1b"), ["minNumeric"]);
}

#[test]
fn min_special_counts_everything_else() {
    let p = PasswordPolicy {
        min_special: 3,
        ..policy()
    };
    assert!(check(&p, "a b!😀").is_empty());
    // A combining mark is neither letter nor digit.
    assert!(check(&p, "e\u{301}e\u{301}e\u{301}").is_empty());
    assert_eq!(check(&p, "ab!?"), ["minSpecial"]);
    assert_eq!(check(&p, "é1é2"), ["minSpecial"]);
}

#[test]
fn min_character_types_counts_the_four_classes() {
    let p = PasswordPolicy {
        min_character_types: 3,
        ..policy()
    };
    assert!(check(&p, "aB1").is_empty());
    assert!(check(&p, "a1!").is_empty());
    assert_eq!(check(&p, "aB"), ["minCharacterTypes"]);
    // Uncased letters are in none of the four classes.
    assert_eq!(check(&p, "日本1!"), ["minCharacterTypes"]);
    assert!(check(
        &PasswordPolicy {
            min_character_types: -1,
            ..policy()
        },
        "a"
    )
    .is_empty());
}

#[test]
fn max_repeated_chars_is_the_longest_run() {
    let p = PasswordPolicy {
        max_repeated_chars: 3,
        ..policy()
    };
    assert!(check(&p, "aaabaaa").is_empty());
    assert_eq!(check(&p, "baaaa"), ["maxRepeatedChars"]);
    assert!(check(&p, "aAaAaA").is_empty());
    assert_eq!(check(&p, &"😀".repeat(4)), ["maxRepeatedChars"]);
    let v = evaluate(&p, &pw("aaaa"), &PolicyContext::empty());
    assert_eq!(
        v[0].message,
        "The password must not repeat the same character more than 3 times in a row."
    );
}

pub(super) fn dictionary() -> Dictionary {
    match Dictionary::parse("locale=en_US\nSommer\nstraße\nab\n".as_bytes()) {
        Ok(d) => d,
        Err(e) => panic!("test dictionary: {e:?}"),
    }
}

#[test]
fn dictionary_matches_normalized_substrings() {
    let dict = dictionary();
    let ctx = PolicyContext {
        dictionary: Some(&dict),
        ..PolicyContext::empty()
    };
    let p = PasswordPolicy {
        use_dictionary: true,
        ..policy()
    };
    assert_eq!(rules(&p, "xxSOMMER99", &ctx), ["useDictionary"]);
    assert_eq!(rules(&p, "ＳＯＭＭＥＲ", &ctx), ["useDictionary"]);
    assert_eq!(rules(&p, "STRASSE1", &ctx), ["useDictionary"]);
    assert!(rules(&p, "Somme-r", &ctx).is_empty());
    // Two-letter words are never matched.
    assert!(rules(&p, "abab", &ctx).is_empty());
    // No dictionary uploaded: nothing to check.
    assert!(check(&p, "sommer").is_empty());
    let v = evaluate(&p, &pw("sommer"), &ctx);
    assert_eq!(
        v[0].message,
        "The password must not contain a word from the password dictionary."
    );
}

#[test]
fn identity_and_account_values() {
    let ctx = PolicyContext {
        identity_values: vec!["abby.smith", "Abby Smith", "", "Al"],
        account_values: vec!["  Müller ", "7"],
        ..PolicyContext::empty()
    };
    let p = PasswordPolicy {
        use_identity_attributes: true,
        use_account_attributes: true,
        ..policy()
    };
    assert_eq!(rules(&p, "X-ABBY.SMITH-1", &ctx), ["useIdentityAttributes"]);
    assert_eq!(rules(&p, "ifamüller", &ctx), ["useAccountAttributes"]);
    assert_eq!(rules(&p, "MU\u{308}LLER", &ctx), ["useAccountAttributes"]);
    // Values under 3 code points, and empty ones, are ignored.
    assert!(rules(&p, "Alice77", &ctx).is_empty());
    let v = evaluate(&p, &pw("abby smith"), &ctx);
    assert_eq!(
        v[0].message,
        "The password must not contain an identity attribute value."
    );
    assert!(!v[0].message.to_lowercase().contains("abby"));
    let off = PasswordPolicy::default();
    assert!(rules(&off, "abby.smith müller", &ctx).is_empty());
}

#[test]
fn account_id_words_from_a_dn() {
    let ctx = PolicyContext {
        account_id: "CN=Abby Smith,OU=Austin,DC=acme,DC=com",
        ..PolicyContext::empty()
    };
    let any = PasswordPolicy {
        validate_against_account_id: true,
        ..policy()
    };
    assert_eq!(rules(&any, "GoAustin!", &ctx), ["validateAgainstAccountId"]);
    assert_eq!(rules(&any, "xcomx", &ctx), ["validateAgainstAccountId"]);
    // With -1 two-letter words (CN, OU, DC) don't count.
    assert!(rules(&any, "cn-ou-dc", &ctx).is_empty());
    let four = PasswordPolicy {
        account_id_min_word_length: 4,
        ..any.clone()
    };
    assert_eq!(rules(&four, "abby", &ctx), ["validateAgainstAccountId"]);
    assert!(rules(&four, "acme", &ctx).len() == 1);
    assert!(rules(&four, "comcom", &ctx).is_empty());
    let six = PasswordPolicy {
        account_id_min_word_length: 6,
        ..any
    };
    assert_eq!(rules(&six, "austin", &ctx), ["validateAgainstAccountId"]);
    assert!(rules(&six, "smith", &ctx).is_empty());
}

#[test]
fn account_name_words() {
    let ctx = PolicyContext {
        account_name: "abby.smith",
        ..PolicyContext::empty()
    };
    let p = PasswordPolicy {
        validate_against_account_name: true,
        account_name_min_word_length: 5,
        ..policy()
    };
    assert_eq!(rules(&p, "SMITH2024", &ctx), ["validateAgainstAccountName"]);
    assert!(rules(&p, "abby2024", &ctx).is_empty());
    let v = evaluate(&p, &pw("smith"), &ctx);
    assert_eq!(
        v[0].message,
        "The password must not contain words from the account name."
    );
}

#[test]
fn common_passwords_are_blocked_case_insensitively() {
    assert!(is_common_password(&pw("Password1")));
    assert!(is_common_password(&pw("ＱＷＥＲＴＹ")));
    assert!(!is_common_password(&pw("correct horse battery")));
    let p = PasswordPolicy {
        block_common_passwords: true,
        ..policy()
    };
    assert_eq!(check(&p, "iloveyou"), ["blockCommonPasswords"]);
    assert!(check(&p, "iloveyou but not that much").is_empty());
}
