//! Accounts: an identity's presence on a source.

use crate::{AccountRef, DomainError, IdentityId, SourceId};
use std::collections::BTreeMap;

/// The native identity of an account on its source (a DN, a role name, `user@host`…).
/// ISC calls this `accountId`. 1–1024 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NativeAccountId(String);

impl NativeAccountId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() {
            return Err(DomainError::new("accountId", "must not be empty"));
        }
        if s.chars().count() > 1024 {
            return Err(DomainError::new(
                "accountId",
                "must be at most 1024 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(DomainError::new(
                "accountId",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountRef,
    pub source_id: SourceId,
    pub identity_id: IdentityId,
    pub native_id: NativeAccountId,
    pub account_name: String,
    pub attributes: BTreeMap<String, String>,
    pub disabled: bool,
}

impl Account {
    /// Attribute values a policy with `useAccountAttributes` must not find in a password.
    pub fn attribute_values(&self) -> Vec<&str> {
        self.attributes.values().map(String::as_str).collect()
    }
}
