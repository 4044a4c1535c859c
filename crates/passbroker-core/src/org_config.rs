//! The org's password configuration (ISC `PasswordOrgConfig`).

use crate::DomainError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPasswordConfig {
    pub custom_instructions_enabled: bool,
    pub digit_token_enabled: bool,
    pub digit_token_duration_minutes: i64,
    pub digit_token_length: i64,
}

impl Default for OrgPasswordConfig {
    /// ISC's defaults.
    fn default() -> Self {
        Self {
            custom_instructions_enabled: false,
            digit_token_enabled: false,
            digit_token_duration_minutes: 5,
            digit_token_length: 6,
        }
    }
}

impl OrgPasswordConfig {
    pub fn validate(&self) -> Result<(), Vec<DomainError>> {
        let mut errors = Vec::new();
        if !(1..=60).contains(&self.digit_token_duration_minutes) {
            errors.push(DomainError::new(
                "digitTokenDurationMinutes",
                format!(
                    "must be between 1 and 60, got {}",
                    self.digit_token_duration_minutes
                ),
            ));
        }
        if !(6..=18).contains(&self.digit_token_length) {
            errors.push(DomainError::new(
                "digitTokenLength",
                format!("must be between 6 and 18, got {}", self.digit_token_length),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
