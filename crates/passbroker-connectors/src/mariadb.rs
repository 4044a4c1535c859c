//! The MariaDB / MySQL connector: `ALTER USER 'user'@'host' IDENTIFIED BY '…'` for each host
//! pattern of the account.
//!
//! MariaDB does not accept placeholders in `ALTER USER` (a prepared `… IDENTIFIED BY ?` is a
//! syntax error), and a client-side hash (`IDENTIFIED BY PASSWORD '*…'`) would bypass the
//! server's password validation plugins and pin the `mysql_native_password` hash. So the
//! password is sent as a string literal, escaped strictly for the session's actual
//! `sql_mode` (`'` doubled; `\` doubled unless `NO_BACKSLASH_ESCAPES`), over the text protocol
//! (no statement cache), with sqlx's statement logging off; NUL is refused. Server error
//! texts that could echo the statement (syntax errors) are never passed on, and any other
//! text is scrubbed of the password. Use TLS (`sslMode`) when the server is not local.
//!
//! **Account mapping**: `account.native_id` is the user name. The host patterns come from
//! the account attribute `hosts` (comma-separated, e.g. `"%,localhost"`); without it, a
//! native id of the form `user@host` is split at its last `@`; otherwise the host is `%`.
//! Each `user@host` is altered in turn; a failure names the host it stopped at.
//!
//! **Config** (camelCase, unknown fields refused): `host` (required), `port` (default 3306),
//! `user` (required: the service account, which needs the `CREATE USER` privilege),
//! `sslMode` (`disabled` | `preferred` | `required` | `verifyCa` | `verifyIdentity`, default
//! `preferred`), `caFile` (PEM CA certificates), `connectTimeoutMs` (default 5000),
//! `operationTimeoutMs` (default 10000).
//! **Secrets**: `{"password": "…"}` (the service account's password; required).

use crate::common::{self, Secrets};
use crate::{Connector, ConnectorError, SetPasswordCall, Verification};
use async_trait::async_trait;
use passbroker_core::account::Account;
use serde::Deserialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

const NAME: &str = "mariadb";
/// The account attribute listing host patterns.
pub const HOSTS_ATTRIBUTE: &str = "hosts";

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum MariadbSslMode {
    Disabled,
    #[default]
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MariadbConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub ssl_mode: MariadbSslMode,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "common::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "common::default_operation_timeout_ms")]
    pub operation_timeout_ms: u64,
}

fn default_port() -> u16 {
    3306
}

pub struct MariadbConnector {
    config: MariadbConfig,
    password: Zeroizing<String>,
    ca_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
    op_timeout: Duration,
}

/// The `(user, host)` pairs an account stands for.
pub fn account_targets(account: &Account) -> Result<Vec<(String, String)>, ConnectorError> {
    let native = account.native_id.as_str();
    let pairs: Vec<(String, String)> = match account.attributes.get(HOSTS_ATTRIBUTE) {
        Some(hosts) => {
            let hosts: Vec<&str> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .collect();
            if hosts.is_empty() {
                return Err(ConnectorError::Permanent(format!(
                    "the account's `{HOSTS_ATTRIBUTE}` attribute lists no host"
                )));
            }
            hosts
                .into_iter()
                .map(|h| (native.to_owned(), h.to_owned()))
                .collect()
        }
        None => match native.rsplit_once('@') {
            Some((user, host)) if !host.is_empty() => vec![(user.to_owned(), host.to_owned())],
            _ => vec![(native.to_owned(), "%".to_owned())],
        },
    };
    for (user, host) in &pairs {
        if user.contains('\0') || host.contains('\0') {
            return Err(ConnectorError::Permanent(
                "the account's user or host contains a NUL character".into(),
            ));
        }
        if host.chars().count() > 255 {
            return Err(ConnectorError::Permanent(
                "a host pattern is longer than 255 characters".into(),
            ));
        }
    }
    Ok(pairs)
}

/// A string literal for the session's sql_mode. Refuses NUL.
pub(crate) fn quote_literal(
    value: &str,
    backslash_escapes: bool,
) -> Result<Zeroizing<String>, ConnectorError> {
    if value.contains('\0') {
        return Err(ConnectorError::Permanent(
            "MariaDB values cannot contain a NUL character here".into(),
        ));
    }
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 2));
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if backslash_escapes => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

impl MariadbConnector {
    pub fn from_json(
        config: &serde_json::Value,
        secrets: Option<&serde_json::Value>,
    ) -> Result<Self, ConnectorError> {
        let config: MariadbConfig = common::parse_config(NAME, config)?;
        let cfg_err = |msg: &str| ConnectorError::Config(format!("{NAME} connector: {msg}"));
        if config.host.trim().is_empty() {
            return Err(cfg_err("field `host` must not be empty"));
        }
        if config.port == 0 {
            return Err(cfg_err("field `port` must be between 1 and 65535"));
        }
        if config.user.is_empty() {
            return Err(cfg_err("field `user` must not be empty"));
        }
        let connect_timeout = common::timeout(NAME, "connectTimeoutMs", config.connect_timeout_ms)?;
        let op_timeout = common::timeout(NAME, "operationTimeoutMs", config.operation_timeout_ms)?;
        let ca_pem = match &config.ca_file {
            Some(path) => Some(common::read_ca_pems(NAME, "caFile", path)?.concat()),
            None => None,
        };
        if config.ssl_mode == MariadbSslMode::Disabled && ca_pem.is_some() {
            return Err(cfg_err(
                "field `caFile` needs an sslMode other than disabled",
            ));
        }
        let password = Secrets::new(NAME, secrets, &["password"])?.required("password")?;
        Ok(Self {
            config,
            password,
            ca_pem,
            connect_timeout,
            op_timeout,
        })
    }

    fn target(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    fn options(&self) -> MySqlConnectOptions {
        let mut opts = MySqlConnectOptions::new()
            .host(&self.config.host)
            .port(self.config.port)
            .username(&self.config.user)
            .password(&self.password)
            .statement_cache_capacity(0)
            .ssl_mode(match self.config.ssl_mode {
                MariadbSslMode::Disabled => MySqlSslMode::Disabled,
                MariadbSslMode::Preferred => MySqlSslMode::Preferred,
                MariadbSslMode::Required => MySqlSslMode::Required,
                MariadbSslMode::VerifyCa => MySqlSslMode::VerifyCa,
                MariadbSslMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
            });
        if let Some(pem) = &self.ca_pem {
            opts = opts.ssl_ca_from_pem(pem.clone());
        }
        opts.disable_statement_logging()
    }

    async fn connect(&self) -> Result<MySqlConnection, ConnectorError> {
        match tokio::time::timeout(self.connect_timeout, self.options().connect()).await {
            Err(_) => Err(ConnectorError::Transient(format!(
                "cannot reach MariaDB at {}: connect timed out after {} ms",
                self.target(),
                self.connect_timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(self.error("connect", None, e, &[])),
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    fn error(
        &self,
        during: &str,
        account: Option<(&str, &str)>,
        err: sqlx::Error,
        secrets: &[&str],
    ) -> ConnectorError {
        let target = self.target();
        let mut all: Vec<&str> = secrets.to_vec();
        all.push(self.password.as_str());
        let who = account
            .map(|(u, h)| format!("'{u}'@'{h}'"))
            .unwrap_or_default();
        match err {
            sqlx::Error::Io(e) => ConnectorError::Transient(format!(
                "cannot reach MariaDB at {target} ({during}): {}",
                common::io_phrase(&e)
            )),
            sqlx::Error::Tls(e) => ConnectorError::Permanent(format!(
                "TLS with MariaDB at {target} failed: {}; check sslMode, host and caFile",
                common::scrub(&e.to_string(), &all)
            )),
            sqlx::Error::Database(db) => {
                let number = db
                    .try_downcast_ref::<MySqlDatabaseError>()
                    .map(MySqlDatabaseError::number)
                    .unwrap_or(0);
                // Syntax errors quote the statement: never pass their text on.
                let message = if matches!(number, 1064 | 1149) {
                    "syntax error (text withheld)".to_owned()
                } else {
                    common::scrub(db.message(), &all)
                };
                match number {
                    1045 | 1698 if during == "connect" => ConnectorError::Permanent(format!(
                        "MariaDB at {target} refused the service account {}: {message}; check user and the password secret",
                        self.config.user
                    )),
                    1396 => ConnectorError::Permanent(format!("the account {who} does not exist on MariaDB at {target}")),
                    1044 | 1045 | 1142 | 1227 | 1698 => ConnectorError::Permanent(format!(
                        "the service account {} may not change the password of {who} on {target} (it needs CREATE USER): {message}",
                        self.config.user
                    )),
                    1819 => ConnectorError::Permanent(format!(
                        "MariaDB at {target} refused the new password for {who}: it does not satisfy the server's password validation policy"
                    )),
                    1040 | 1053 | 1205 | 1213 | 1927 | 2002 | 2003 | 2006 | 2013 => ConnectorError::Transient(format!(
                        "MariaDB at {target} could not complete the {during} now: {message} ({number})"
                    )),
                    _ => ConnectorError::Permanent(format!(
                        "MariaDB at {target} refused the {during}{}: {message} ({number})",
                        if who.is_empty() { String::new() } else { format!(" for {who}") }
                    )),
                }
            }
            sqlx::Error::Configuration(e) => ConnectorError::Config(format!(
                "{NAME} connector: {}",
                common::scrub(&e.to_string(), &all)
            )),
            other => ConnectorError::Transient(format!(
                "MariaDB at {target} ({during}): {}",
                common::scrub(&other.to_string(), &all)
            )),
        }
    }

    async fn close(conn: MySqlConnection) {
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    }

    async fn alter_all(
        &self,
        conn: &mut MySqlConnection,
        targets: &[(String, String)],
        password: &str,
    ) -> Result<(), ConnectorError> {
        let row = conn
            .fetch_one("SELECT CAST(@@SESSION.sql_mode AS CHAR)")
            .await
            .map_err(|e| self.error("reading sql_mode", None, e, &[]))?;
        let sql_mode: String = row
            .try_get(0)
            .map_err(|e| self.error("reading sql_mode", None, e, &[]))?;
        let backslash_escapes = !sql_mode
            .to_ascii_uppercase()
            .split(',')
            .any(|m| m.trim() == "NO_BACKSLASH_ESCAPES");
        let secret = quote_literal(password, backslash_escapes)?;
        for (done, (user, host)) in targets.iter().enumerate() {
            let sql = Zeroizing::new(format!(
                "ALTER USER {}@{} IDENTIFIED BY {}",
                quote_literal(user, backslash_escapes)?.as_str(),
                quote_literal(host, backslash_escapes)?.as_str(),
                secret.as_str()
            ));
            if let Err(e) = conn.execute(sql.as_str()).await {
                let number = match &e {
                    sqlx::Error::Database(db) => db
                        .try_downcast_ref::<MySqlDatabaseError>()
                        .map(MySqlDatabaseError::number),
                    _ => None,
                };
                // MariaDB reports a password validation refusal of ALTER USER as 1396 (the same
                // code as an unknown account); the session's warnings tell them apart.
                let policy = if number == Some(1396) {
                    self.policy_warnings(conn, &[password, secret.as_str()])
                        .await
                } else {
                    None
                };
                let err = match policy {
                    Some(reasons) => ConnectorError::Permanent(format!(
                        "MariaDB at {} refused the new password for '{user}'@'{host}': it does not satisfy the server's password validation policy{reasons}",
                        self.target()
                    )),
                    None => self.error("ALTER USER", Some((user, host)), e, &[password, secret.as_str()]),
                };
                if done == 0 {
                    return Err(err);
                }
                let msg = format!(
                    "{err} (the password was already changed for {done} of {} hosts)",
                    targets.len()
                );
                return Err(match err {
                    ConnectorError::Transient(_) => ConnectorError::Transient(msg),
                    ConnectorError::Config(_) => ConnectorError::Config(msg),
                    ConnectorError::Permanent(_) => ConnectorError::Permanent(msg),
                });
            }
        }
        Ok(())
    }
}

impl MariadbConnector {
    /// After a failed ALTER USER: `Some(reasons)` when the warnings hold a password validation
    /// refusal (1819), with the validation plugins' reasons (`: a; b`) scrubbed of secrets.
    async fn policy_warnings(
        &self,
        conn: &mut MySqlConnection,
        secrets: &[&str],
    ) -> Option<String> {
        let rows = conn.fetch_all("SHOW WARNINGS").await.ok()?;
        let mut refused = false;
        let mut reasons = Vec::new();
        for row in rows {
            let code: u32 = row.try_get(1).ok()?;
            let message: String = row.try_get(2).ok()?;
            if code == 1819 {
                refused = true;
                if !message.starts_with("Your password does not satisfy") {
                    reasons.push(common::scrub(&message, secrets));
                }
            }
        }
        refused.then(|| {
            if reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", reasons.join("; "))
            }
        })
    }
}

#[async_trait]
impl Connector for MariadbConnector {
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        let targets = account_targets(call.account)?;
        let password = call.password.expose();
        quote_literal(password, true)?;
        let mut conn = self.connect().await?;
        let outcome = tokio::time::timeout(
            self.op_timeout,
            self.alter_all(&mut conn, &targets, password),
        )
        .await;
        Self::close(conn).await;
        match outcome {
            Err(_) => Err(ConnectorError::Transient(format!(
                "MariaDB at {} did not finish ALTER USER within {} ms",
                self.target(),
                self.op_timeout.as_millis()
            ))),
            Ok(result) => result,
        }
    }

    /// Logs in as the user with the password: a session is `Current`; "access denied"
    /// (1045) is `NotCurrent`. Only for an account with one host pattern: MariaDB picks the
    /// pattern that matches passbroker's own address, so with several a login proves only
    /// one of them (a crash half-way through `alter_all` could leave the others old), and
    /// the answer is `Unsupported`.
    async fn verify_password(
        &self,
        call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        let targets = account_targets(call.account)?;
        let [(user, _host)] = targets.as_slice() else {
            return Ok(Verification::Unsupported);
        };
        let password = call.password.expose();
        let options = self.options().username(user).password(password);
        match tokio::time::timeout(self.connect_timeout, options.connect()).await {
            Err(_) => Err(ConnectorError::Transient(format!(
                "cannot reach MariaDB at {}: connect timed out after {} ms",
                self.target(),
                self.connect_timeout.as_millis()
            ))),
            Ok(Ok(conn)) => {
                Self::close(conn).await;
                Ok(Verification::Current)
            }
            Ok(Err(sqlx::Error::Database(db)))
                if db
                    .try_downcast_ref::<MySqlDatabaseError>()
                    .map(MySqlDatabaseError::number)
                    == Some(1045) =>
            {
                Ok(Verification::NotCurrent)
            }
            Ok(Err(e)) => Err(self.error("verify login", None, e, &[password])),
        }
    }

    async fn check(&self) -> Result<String, ConnectorError> {
        let mut conn = self.connect().await?;
        let row = tokio::time::timeout(
            self.op_timeout,
            conn.fetch_one("SELECT CAST(CURRENT_USER() AS CHAR), CAST(VERSION() AS CHAR)"),
        )
        .await;
        Self::close(conn).await;
        let row = match row {
            Err(_) => {
                return Err(ConnectorError::Transient(format!(
                    "MariaDB at {} did not answer in time",
                    self.target()
                )))
            }
            Ok(Err(e)) => return Err(self.error("check", None, e, &[])),
            Ok(Ok(row)) => row,
        };
        let user: String = row
            .try_get(0)
            .map_err(|e| self.error("check", None, e, &[]))?;
        let version: String = row
            .try_get(1)
            .map_err(|e| self.error("check", None, e, &[]))?;
        Ok(format!("MariaDB {version} at {} as {user}", self.target()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped_for_the_sql_mode() {
        let q = |s: &str, b: bool| {
            quote_literal(s, b)
                .map(|z| z.to_string())
                .unwrap_or_default()
        };
        assert_eq!(q("it's", true), "'it''s'");
        assert_eq!(q("a\\'b", true), "'a\\\\''b'");
        assert_eq!(q("a\\'b", false), "'a\\''b'");
        assert!(quote_literal("a\0b", true).is_err());
    }
}
