//! Connectors: the code that sets a password on a target system.
//!
//! Every connector implements [`Connector`]. Errors say whether trying again may help
//! ([`ConnectorError::Transient`]) or not ([`ConnectorError::Permanent`]), and carry a message
//! that is safe to show the user: never a password, never a credential.

mod common;
mod files;
pub mod ldap;
pub mod mariadb;
pub mod postgres;
pub mod scim;
pub mod simulated;

use passbroker_core::source::ConnectorKind;
use std::sync::Arc;

use async_trait::async_trait;
use passbroker_core::account::Account;
use passbroker_core::Password;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectorError {
    /// The target could not be reached or was busy; a later attempt may succeed.
    #[error("{0}")]
    Transient(String),
    /// The target refused (policy, unknown account, bad credentials); retrying won't help.
    #[error("{0}")]
    Permanent(String),
    /// The source's configuration is wrong (a missing field, a bad URL).
    #[error("configuration: {0}")]
    Config(String),
}

impl ConnectorError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectorError::Transient(_))
    }
}

/// What the worker hands a connector for one target call.
pub struct SetPasswordCall<'a> {
    pub account: &'a Account,
    pub password: &'a Password,
    /// Identifies this task across retries and crashes, for targets (and the simulated
    /// connector's log) that can de-duplicate.
    pub task_id: &'a str,
    pub attempt: u32,
}

/// What a target says when asked whether an account already has a password
/// ([`Connector::verify_password`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The account's password is this one: the change already landed.
    Current,
    /// The target refused this password for the account: the change did not land (or a
    /// later one replaced it).
    NotCurrent,
    /// This connector has no way to ask; the worker writes again (at least once).
    Unsupported,
}

#[async_trait]
pub trait Connector: Send + Sync {
    /// Sets the account's password on the target. Implementations bound their own IO with
    /// timeouts; the worker adds an outer timeout as a backstop.
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError>;

    /// Does the account already have this password? Asked before repeating an attempt whose
    /// outcome is unknown (a crash or store outage between the target call and recording its
    /// outcome, a timeout), so that a change that landed is not written twice. It must never
    /// answer `Current` without the target confirming it: that would record a change that
    /// did not happen. `Err` means the target could not answer (transient) or answered
    /// something that settles nothing (permanent); the worker decides what to do.
    async fn verify_password(
        &self,
        call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        let _ = call;
        Ok(Verification::Unsupported)
    }

    /// Can we reach the target and authenticate? Used by `passbroker sources check`.
    async fn check(&self) -> Result<String, ConnectorError>;
}

/// Builds the connector for a source from its settings and its (unwrapped) secrets.
/// `builtin` is passbroker's own directory and is built by the server, not here.
///
/// Building reads the files the settings name (CA certificates) and checks the simulated
/// connector's `logFile` inside `data_dir`, so it runs on a blocking thread: a slow disk or a
/// FIFO in a setting never stalls the async runtime.
pub async fn build(
    kind: ConnectorKind,
    config: &serde_json::Value,
    secrets: Option<&serde_json::Value>,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    let (config, secrets, data_dir) = (config.clone(), secrets.cloned(), data_dir.to_owned());
    tokio::task::spawn_blocking(move || build_blocking(kind, &config, secrets.as_ref(), &data_dir))
        .await
        .map_err(|_| ConnectorError::Transient("building the connector failed".into()))?
}

/// [`build`] on the calling thread, which may block on file IO.
pub fn build_blocking(
    kind: ConnectorKind,
    config: &serde_json::Value,
    secrets: Option<&serde_json::Value>,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    match kind {
        ConnectorKind::Simulated => {
            let connector = simulated::SimulatedConnector::new(
                simulated::SimulatedConfig::from_json(config)?,
                data_dir,
            );
            connector.check_log_file()?;
            Ok(Arc::new(connector))
        }
        ConnectorKind::Ldap => Ok(Arc::new(ldap::LdapConnector::from_json(config, secrets)?)),
        ConnectorKind::Postgres => Ok(Arc::new(postgres::PostgresConnector::from_json(
            config, secrets,
        )?)),
        ConnectorKind::Mariadb => Ok(Arc::new(mariadb::MariadbConnector::from_json(
            config, secrets,
        )?)),
        ConnectorKind::Scim => Ok(Arc::new(scim::ScimConnector::from_json(config, secrets)?)),
        ConnectorKind::Builtin => Err(ConnectorError::Config(
            "the builtin connector is provided by the server".into(),
        )),
    }
}
