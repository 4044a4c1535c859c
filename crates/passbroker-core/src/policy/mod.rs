//! Password policies with ISC's `PasswordPolicyV3Dto` semantics, plus opt-in rules beyond ISC.
//!
//! - [`PasswordPolicy`]: the policy's fields (ISC names in comments), with ISC's defaults.
//! - [`eval`]: checks a [`crate::Password`] against a policy and reports every failed rule.
//! - [`describe`]: the `policies` strings of query-password-info (`"passwordMinLength is 8"`).
//! - [`dictionary`]: the org password dictionary file format and matching.

pub mod common_passwords;
pub mod describe;
pub mod dictionary;
pub mod eval;

use crate::time::Millis;
use crate::{DomainError, PolicyId, SourceId};
use serde::{Deserialize, Serialize};

/// A password policy. Integer fields use ISC's conventions: `-1` (or `0` where ISC says so)
/// switches a rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordPolicy {
    pub id: Option<PolicyId>,
    pub name: String,
    pub description: Option<String>,
    /// `minLength`: at least this many code points (0 = off).
    pub min_length: i64,
    /// `maxLength`: at most this many code points (0 = no maximum).
    pub max_length: i64,
    /// `minAlpha`: letters (any script).
    pub min_alpha: i64,
    pub min_lower: i64,
    pub min_upper: i64,
    pub min_numeric: i64,
    /// `minSpecial`: characters that are neither letters nor digits.
    pub min_special: i64,
    /// `minCharacterTypes`: how many of lower/upper/digit/special must appear (-1 = off).
    pub min_character_types: i64,
    /// `maxRepeatedChars`: longest allowed run of one character (-1 = off).
    pub max_repeated_chars: i64,
    pub use_dictionary: bool,
    pub use_identity_attributes: bool,
    pub use_account_attributes: bool,
    pub validate_against_account_id: bool,
    pub validate_against_account_name: bool,
    /// `accountIdMinWordLength` (-1 = any length counts).
    pub account_id_min_word_length: i64,
    /// `accountNameMinWordLength` (-1 = any length counts).
    pub account_name_min_word_length: i64,
    pub enable_passwd_expiration: bool,
    /// `passwordExpiration`: days.
    pub password_expiration: i64,
    pub first_expiration_reminder: i64,
    pub default_policy: bool,
    pub require_strong_authn: bool,
    pub require_strong_auth_off_network: bool,
    pub require_strong_auth_untrusted_geographies: bool,
    pub source_ids: Vec<SourceId>,
    pub date_created: Option<Millis>,
    pub last_updated: Option<Millis>,

    // Beyond ISC (opt-in).
    /// Reject the last N passwords of the account (0 = off; at most [`MAX_HISTORY_DEPTH`]).
    pub history_depth: i64,
    /// Reject passwords on the built-in list of breached / common passwords.
    pub block_common_passwords: bool,
    /// NIST SP 800-63B-4 profile: length in code points, at least 15 (8 with MFA), blocklist,
    /// breached passwords, no composition rules.
    pub nist_profile: bool,
    /// Reject passwords found in the breach corpus (`passbroker breach import`, or an
    /// upstream range API) at least `breached_min_count` times; without a corpus, the built-in
    /// common-password list stands in. The NIST profile turns it on.
    pub block_breached_passwords: bool,
    /// How often a password must have been seen in breaches to be refused (1: at all).
    pub breached_min_count: i64,
}

impl PasswordPolicy {
    /// Whether the breach rule applies (by itself or through the NIST profile).
    pub fn checks_breaches(&self) -> bool {
        self.block_breached_passwords || self.nist_profile
    }
}

/// Upper bound on `history_depth`: each remembered password costs one argon2id verify.
pub const MAX_HISTORY_DEPTH: i64 = 24;

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            id: None,
            name: String::new(),
            description: None,
            min_length: 0,
            max_length: 0,
            min_alpha: 0,
            min_lower: 0,
            min_upper: 0,
            min_numeric: 0,
            min_special: 0,
            min_character_types: -1,
            max_repeated_chars: -1,
            use_dictionary: false,
            use_identity_attributes: false,
            use_account_attributes: false,
            validate_against_account_id: false,
            validate_against_account_name: false,
            account_id_min_word_length: -1,
            account_name_min_word_length: -1,
            enable_passwd_expiration: false,
            password_expiration: 90,
            first_expiration_reminder: 0,
            default_policy: false,
            require_strong_authn: false,
            require_strong_auth_off_network: false,
            require_strong_auth_untrusted_geographies: false,
            source_ids: Vec::new(),
            date_created: None,
            last_updated: None,
            history_depth: 0,
            block_common_passwords: false,
            nist_profile: false,
            block_breached_passwords: false,
            breached_min_count: 1,
        }
    }
}

impl PasswordPolicy {
    /// Checks the policy itself for impossible or nonsensical values; every problem is
    /// reported with the field it concerns.
    pub fn validate(&self) -> Result<(), Vec<DomainError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(DomainError::new("name", "must not be empty"));
        } else if self.name.chars().count() > 128 {
            errors.push(DomainError::new("name", "must be at most 128 characters"));
        }
        self.range_errors(&mut errors);
        self.consistency_errors(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Numbers outside what the fields allow.
    fn range_errors(&self, errors: &mut Vec<DomainError>) {
        let non_negative = [
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minAlpha", self.min_alpha),
            ("minLower", self.min_lower),
            ("minUpper", self.min_upper),
            ("minNumeric", self.min_numeric),
            ("minSpecial", self.min_special),
            ("passwordExpiration", self.password_expiration),
            ("firstExpirationReminder", self.first_expiration_reminder),
            ("historyDepth", self.history_depth),
        ];
        for (field, value) in non_negative {
            if value < 0 {
                errors.push(DomainError::new(
                    field,
                    format!("must be 0 or more, got {value}"),
                ));
            }
            if value > 10_000 {
                errors.push(DomainError::new(
                    field,
                    format!("must be at most 10000, got {value}"),
                ));
            }
        }
        for (field, value) in [
            ("minCharacterTypes", self.min_character_types),
            ("maxRepeatedChars", self.max_repeated_chars),
            ("accountIdMinWordLength", self.account_id_min_word_length),
            (
                "accountNameMinWordLength",
                self.account_name_min_word_length,
            ),
        ] {
            if value < -1 {
                errors.push(DomainError::new(
                    field,
                    format!("must be -1 (off) or more, got {value}"),
                ));
            }
            if value > 10_000 {
                errors.push(DomainError::new(
                    field,
                    format!("must be at most 10000, got {value}"),
                ));
            }
        }
    }

    /// Values that contradict each other or reject every password.
    fn consistency_errors(&self, errors: &mut Vec<DomainError>) {
        if self.min_character_types > 4 {
            errors.push(DomainError::new(
                "minCharacterTypes",
                format!(
                    "there are only 4 character types, got {}",
                    self.min_character_types
                ),
            ));
        }
        if self.max_repeated_chars == 0 {
            errors.push(DomainError::new(
                "maxRepeatedChars",
                "0 would reject every password; use -1 to switch the rule off",
            ));
        }
        if self.max_length > 0 {
            // Saturating: the values may be anything a client sent (the range checks above only
            // record their errors).
            let required = [
                self.min_lower,
                self.min_upper,
                self.min_numeric,
                self.min_special,
            ]
            .iter()
            .fold(0i64, |sum, v| sum.saturating_add((*v).max(0)));
            if self.max_length < self.min_length {
                errors.push(DomainError::new(
                    "maxLength",
                    format!(
                        "maxLength {} is below minLength {}",
                        self.max_length, self.min_length
                    ),
                ));
            }
            if self.max_length < required {
                errors.push(DomainError::new(
                    "maxLength",
                    format!("maxLength {} is below the {required} characters minLower+minUpper+minNumeric+minSpecial require", self.max_length),
                ));
            }
            if self.max_length < self.min_alpha {
                errors.push(DomainError::new(
                    "maxLength",
                    format!(
                        "maxLength {} is below minAlpha {}",
                        self.max_length, self.min_alpha
                    ),
                ));
            }
        }
        if self.breached_min_count < 1 {
            errors.push(DomainError::new(
                "breachedMinCount",
                format!(
                    "must be 1 or more (1: refuse a password seen in any breach), got {}",
                    self.breached_min_count
                ),
            ));
        }
        if self.history_depth > MAX_HISTORY_DEPTH {
            errors.push(DomainError::new(
                "historyDepth",
                format!(
                    "must be at most {MAX_HISTORY_DEPTH}, got {}",
                    self.history_depth
                ),
            ));
        }
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    #[test]
    fn huge_values_are_reported_not_overflowed() {
        let p = PasswordPolicy {
            name: "x".into(),
            max_length: 10,
            min_upper: i64::MAX - 1,
            min_lower: i64::MAX - 1,
            ..PasswordPolicy::default()
        };
        let errors = p.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.field == "minUpper"));
        assert!(errors.iter().any(|e| e.field == "maxLength"));
    }
}
