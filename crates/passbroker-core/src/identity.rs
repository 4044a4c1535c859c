//! Identities: the people (and services) whose passwords passbroker changes.

use crate::{DomainError, IdentityId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ISC user levels. They decide what a user's token may do on the admin APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserLevel {
    OrgAdmin,
    HelpdeskAdmin,
    SourceAdmin,
    User,
}

impl UserLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            UserLevel::OrgAdmin => "ORG_ADMIN",
            UserLevel::HelpdeskAdmin => "HELPDESK",
            UserLevel::SourceAdmin => "SOURCE_ADMIN",
            UserLevel::User => "USER",
        }
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.to_ascii_uppercase().as_str() {
            "ORG_ADMIN" | "ADMIN" => Ok(UserLevel::OrgAdmin),
            "HELPDESK" | "HELPDESK_ADMIN" => Ok(UserLevel::HelpdeskAdmin),
            "SOURCE_ADMIN" => Ok(UserLevel::SourceAdmin),
            "USER" => Ok(UserLevel::User),
            _ => Err(DomainError::new(
                "userLevel",
                format!("unknown user level {s:?}; use ORG_ADMIN, HELPDESK, SOURCE_ADMIN or USER"),
            )),
        }
    }
}

/// A login name: 1–128 characters, no control characters, no surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginName(String);

impl LoginName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        validate_name("userName", s, 128)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for LoginName {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}
impl From<LoginName> for String {
    fn from(n: LoginName) -> String {
        n.0
    }
}

/// Shared rule for names people type: not empty, bounded, no control characters, trimmed.
pub fn validate_name(field: &str, s: &str, max_chars: usize) -> Result<(), DomainError> {
    if s.is_empty() {
        return Err(DomainError::new(field, "must not be empty"));
    }
    if s.chars().count() > max_chars {
        return Err(DomainError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(DomainError::new(
            field,
            "must not contain control characters",
        ));
    }
    if s.trim() != s {
        return Err(DomainError::new(
            field,
            "must not start or end with white space",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: IdentityId,
    pub login_name: LoginName,
    pub display_name: String,
    pub email: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub user_level: UserLevel,
    pub active: bool,
}

impl Identity {
    /// Attribute values a policy with `useIdentityAttributes` must not find in a password.
    pub fn attribute_values(&self) -> Vec<&str> {
        let mut v: Vec<&str> = vec![self.login_name.as_str(), self.display_name.as_str()];
        if let Some(e) = &self.email {
            v.push(e.as_str());
        }
        v.extend(self.attributes.values().map(String::as_str));
        v
    }
}
