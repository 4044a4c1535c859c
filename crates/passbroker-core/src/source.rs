//! Sources: the systems passwords are set on, and how passbroker reaches them.

use crate::identity::validate_name;
use crate::{DomainError, IdentityId, PolicyId, SourceId};
use serde::{Deserialize, Serialize};

/// ISC source features passbroker cares about. Unknown features are kept as text.
pub const FEATURE_PASSWORD: &str = "PASSWORD";

/// Which connector sets passwords on this source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Builtin,
    Simulated,
    Ldap,
    Postgres,
    Mariadb,
    Scim,
}

impl ConnectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Builtin => "builtin",
            ConnectorKind::Simulated => "simulated",
            ConnectorKind::Ldap => "ldap",
            ConnectorKind::Postgres => "postgres",
            ConnectorKind::Mariadb => "mariadb",
            ConnectorKind::Scim => "scim",
        }
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "builtin" => Ok(Self::Builtin),
            "simulated" => Ok(Self::Simulated),
            "ldap" => Ok(Self::Ldap),
            "postgres" => Ok(Self::Postgres),
            "mariadb" => Ok(Self::Mariadb),
            "scim" => Ok(Self::Scim),
            other => Err(DomainError::new(
                "connector",
                format!("unknown connector type {other:?}; use builtin, simulated, ldap, postgres, mariadb or scim"),
            )),
        }
    }
}

/// A source's display name (what query-password-info's `sourceName` matches).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceName(String);

impl SourceName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        validate_name("name", s, 128)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for SourceName {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}
impl From<SourceName> for String {
    fn from(n: SourceName) -> String {
        n.0
    }
}

/// Per-source delivery behaviour for the workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeliverySettings {
    /// At most this many target calls to this source at once, per node.
    pub max_concurrency: u32,
    /// Attempts for transient errors (1 = no retry).
    pub max_attempts: u32,
    /// Timeout for one target call, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_concurrency: 8,
            max_attempts: 5,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: SourceId,
    pub name: SourceName,
    pub description: String,
    pub features: Vec<String>,
    pub connector: ConnectorKind,
    /// Connector settings without secrets, as JSON.
    pub connector_config: serde_json::Value,
    /// Connector secrets (passwords, tokens) as JSON wrapped under the master key. The store
    /// keeps these bytes opaque; only the server unwraps them, to build a connector.
    pub wrapped_secrets: Option<Vec<u8>>,
    pub owner: Option<IdentityId>,
    pub password_policy_id: Option<PolicyId>,
    pub delivery: DeliverySettings,
    pub created: crate::time::Millis,
    pub modified: crate::time::Millis,
}

impl Source {
    pub fn supports_password(&self) -> bool {
        self.features.iter().any(|f| f == FEATURE_PASSWORD)
    }
}
