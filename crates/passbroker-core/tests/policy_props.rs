//! Property tests for password-policy evaluation and the dictionary file format.

use passbroker_core::policy::dictionary::Dictionary;
use passbroker_core::policy::eval::{evaluate, PolicyContext};
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::Password;
use proptest::prelude::*;
use zeroize::Zeroizing;

fn pw(s: &str) -> Password {
    Password::new(Zeroizing::new(s.to_owned()))
}

/// A value in -1..=100, mostly small so that generated policies often pass.
fn value() -> impl Strategy<Value = i64> {
    prop_oneof![3 => -1i64..=4, 1 => -1i64..=100]
}

fn policy() -> impl Strategy<Value = PasswordPolicy> {
    (
        prop::collection::vec(value(), 13),
        prop::collection::vec(any::<bool>(), 8),
    )
        .prop_map(|(v, b)| PasswordPolicy {
            min_length: v[0],
            max_length: v[1],
            min_alpha: v[2],
            min_lower: v[3],
            min_upper: v[4],
            min_numeric: v[5],
            min_special: v[6],
            min_character_types: v[7],
            max_repeated_chars: v[8],
            account_id_min_word_length: v[9],
            account_name_min_word_length: v[10],
            history_depth: v[11],
            password_expiration: v[12],
            use_dictionary: b[0],
            use_identity_attributes: b[1],
            use_account_attributes: b[2],
            validate_against_account_id: b[3],
            validate_against_account_name: b[4],
            block_common_passwords: b[5],
            nist_profile: b[6],
            default_policy: b[7],
            ..PasswordPolicy::default()
        })
}

/// Everything a context borrows from, owned.
#[derive(Debug, Clone)]
struct Ctx {
    dictionary: Dictionary,
    identity: Vec<String>,
    account: Vec<String>,
    account_id: String,
    account_name: String,
    strong_auth: bool,
}

impl Ctx {
    fn get(&self) -> PolicyContext<'_> {
        PolicyContext {
            dictionary: Some(&self.dictionary),
            identity_values: self.identity.iter().map(String::as_str).collect(),
            account_values: self.account.iter().map(String::as_str).collect(),
            account_id: &self.account_id,
            account_name: &self.account_name,
            strong_auth: self.strong_auth,
        }
    }
}

fn ctx() -> impl Strategy<Value = Ctx> {
    (
        prop::collection::vec("[a-zA-Zß0-9İ]{1,6}", 0..5),
        prop::collection::vec("\\PC{0,8}", 0..4),
        prop::collection::vec("\\PC{0,8}", 0..4),
        "\\PC{0,30}",
        "\\PC{0,20}",
        any::<bool>(),
    )
        .prop_map(
            |(words, identity, account, account_id, account_name, strong_auth)| Ctx {
                dictionary: Dictionary::parse(words.join("\n").as_bytes()).unwrap_or_default(),
                identity,
                account,
                account_id,
                account_name,
                strong_auth,
            },
        )
}

fn password() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,40}", "[a-zA-Z0-9!ß]{0,24}", any::<String>()]
}

/// Each way of switching one rule off (all but `nistProfile`, which replaces rules rather than
/// adding one: it lifts `maxLength` to 64 and drops the composition rules).
fn switch_off(policy: &PasswordPolicy, rule: usize) -> PasswordPolicy {
    let mut p = policy.clone();
    match rule {
        0 => p.min_length = 0,
        1 => p.max_length = 0,
        2 => p.min_alpha = 0,
        3 => p.min_lower = 0,
        4 => p.min_upper = 0,
        5 => p.min_numeric = 0,
        6 => p.min_special = 0,
        7 => p.min_character_types = -1,
        8 => p.max_repeated_chars = -1,
        9 => p.use_dictionary = false,
        10 => p.use_identity_attributes = false,
        11 => p.use_account_attributes = false,
        12 => p.validate_against_account_id = false,
        13 => p.validate_against_account_name = false,
        14 => p.block_common_passwords = false,
        _ => p.history_depth = 0,
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluate_never_panics(policy in policy(), password in password(), ctx in ctx()) {
        let violations = evaluate(&policy, &pw(&password), &ctx.get());
        for v in violations {
            prop_assert!(!v.rule.is_empty());
            prop_assert!(v.message.starts_with("The password must"));
        }
        let _ = evaluate(&policy, &pw(&password), &PolicyContext::empty());
    }

    #[test]
    fn switching_a_rule_off_never_adds_failures(policy in policy(), password in password(), ctx in ctx()) {
        let before = evaluate(&policy, &pw(&password), &ctx.get());
        for rule in 0..=15 {
            let after = evaluate(&switch_off(&policy, rule), &pw(&password), &ctx.get());
            prop_assert!(after.len() <= before.len(), "rule {} added failures: {:?} -> {:?}", rule, before, after);
            if before.is_empty() {
                prop_assert!(after.is_empty());
            }
        }
    }

    #[test]
    fn messages_never_contain_the_password(
        policy in policy(),
        password in "\\PC{6,40}",
        ctx in ctx(),
        cut in 0usize..6,
    ) {
        // Put parts of the password into the context so containment rules fire too.
        let part: String = password.chars().skip(cut).take(4).collect();
        let mut ctx = ctx;
        ctx.identity.push(part.clone());
        ctx.account.push(part.clone());
        ctx.account_id.push_str(&format!(",CN={part}"));
        ctx.account_name.push_str(&part);
        for v in evaluate(&policy, &pw(&password), &ctx.get()) {
            prop_assert!(!v.message.contains(password.as_str()));
        }
    }

    #[test]
    fn dictionary_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        if let Ok(d) = Dictionary::parse(&bytes) {
            prop_assert_eq!(Dictionary::parse(d.to_text().as_bytes()), Ok(d));
        }
    }

    #[test]
    fn dictionary_round_trips(lines in prop::collection::vec(
        prop_oneof![
            "[a-zA-Zé😀0-9]{1,12}",
            "#\\PC{0,20}",
            Just(String::new()),
            "locale=[a-z]{2}_[A-Z]{2}",
            "\\PC{1,12}",
            "[a-z ]{1,8}\r",
        ],
        0..60,
    )) {
        match Dictionary::parse(lines.join("\n").as_bytes()) {
            Ok(d) => prop_assert_eq!(Dictionary::parse(d.to_text().as_bytes()), Ok(d)),
            Err(errors) => {
                prop_assert!(!errors.is_empty() && errors.len() <= 100);
                prop_assert!(errors.iter().all(|e| e.line <= lines.len()));
            }
        }
    }
}
