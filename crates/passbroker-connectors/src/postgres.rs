//! The PostgreSQL connector: `ALTER ROLE "…" PASSWORD 'SCRAM-SHA-256$…'`.
//!
//! The SCRAM-SHA-256 verifier is computed here, client-side (SASLprep, random salt, 4096
//! iterations, as libpq does), so the cleartext password never reaches the server, its logs
//! or `pg_stat_activity`. The role name is quoted as an identifier (`"` doubled); names
//! longer than PostgreSQL's 63 bytes are refused rather than silently truncated.
//!
//! **Account mapping**: `account.native_id` is the role name, exactly (case-sensitive).
//!
//! **Config** (camelCase, unknown fields refused): `host` (required), `port` (default 5432),
//! `database` (default `postgres`), `user` (required: the service role, which needs
//! `CREATEROLE` or superuser), `sslMode` (`disable` | `allow` | `prefer` | `require` |
//! `verify-ca` | `verify-full`, default `prefer`), `caFile` (PEM CA certificates for
//! `verify-ca` / `verify-full`), `connectTimeoutMs` (default 5000), `operationTimeoutMs`
//! (default 10000; also sent as the session's `statement_timeout` and `lock_timeout`).
//! **Secrets**: `{"password": "…"}` (the service role's password; required).

use crate::common::{self, Secrets};
use crate::{Connector, ConnectorError, SetPasswordCall, Verification};
use async_trait::async_trait;
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

const NAME: &str = "postgres";
/// PostgreSQL's NAMEDATALEN - 1.
const MAX_ROLE_BYTES: usize = 63;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PostgresSslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_database")]
    pub database: String,
    pub user: String,
    #[serde(default)]
    pub ssl_mode: PostgresSslMode,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "common::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "common::default_operation_timeout_ms")]
    pub operation_timeout_ms: u64,
}

fn default_port() -> u16 {
    5432
}

fn default_database() -> String {
    "postgres".into()
}

pub struct PostgresConnector {
    config: PostgresConfig,
    password: Zeroizing<String>,
    ca_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
    op_timeout: Duration,
}

impl PostgresConnector {
    pub fn from_json(
        config: &serde_json::Value,
        secrets: Option<&serde_json::Value>,
    ) -> Result<Self, ConnectorError> {
        let config: PostgresConfig = common::parse_config(NAME, config)?;
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
        if config.database.is_empty() {
            return Err(cfg_err("field `database` must not be empty"));
        }
        let connect_timeout = common::timeout(NAME, "connectTimeoutMs", config.connect_timeout_ms)?;
        let op_timeout = common::timeout(NAME, "operationTimeoutMs", config.operation_timeout_ms)?;
        let ca_pem = match &config.ca_file {
            Some(path) => Some(common::read_ca_pems(NAME, "caFile", path)?.concat()),
            None => None,
        };
        if matches!(
            config.ssl_mode,
            PostgresSslMode::Disable | PostgresSslMode::Allow
        ) && ca_pem.is_some()
        {
            return Err(cfg_err(
                "field `caFile` needs sslMode verify-ca or verify-full (or require/prefer)",
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

    fn options(&self) -> PgConnectOptions {
        let ms = self.op_timeout.as_millis().to_string();
        let mut opts = PgConnectOptions::new_without_pgpass()
            .host(&self.config.host)
            .port(self.config.port)
            .username(&self.config.user)
            .password(&self.password)
            .database(&self.config.database)
            .application_name("passbroker")
            .statement_cache_capacity(0)
            .options([
                ("statement_timeout", ms.as_str()),
                ("lock_timeout", ms.as_str()),
            ])
            .ssl_mode(match self.config.ssl_mode {
                PostgresSslMode::Disable => PgSslMode::Disable,
                PostgresSslMode::Allow => PgSslMode::Allow,
                PostgresSslMode::Prefer => PgSslMode::Prefer,
                PostgresSslMode::Require => PgSslMode::Require,
                PostgresSslMode::VerifyCa => PgSslMode::VerifyCa,
                PostgresSslMode::VerifyFull => PgSslMode::VerifyFull,
            });
        if let Some(pem) = &self.ca_pem {
            opts = opts.ssl_root_cert_from_pem(pem.clone());
        }
        opts.disable_statement_logging()
    }

    async fn connect(&self) -> Result<PgConnection, ConnectorError> {
        match tokio::time::timeout(self.connect_timeout, self.options().connect()).await {
            Err(_) => Err(ConnectorError::Transient(format!(
                "cannot reach PostgreSQL at {}: connect timed out after {} ms",
                self.target(),
                self.connect_timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(self.error("connect", e, &[])),
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    fn error(&self, during: &str, err: sqlx::Error, secrets: &[&str]) -> ConnectorError {
        let target = self.target();
        let mut all: Vec<&str> = secrets.to_vec();
        all.push(self.password.as_str());
        match err {
            sqlx::Error::Io(e) => ConnectorError::Transient(format!(
                "cannot reach PostgreSQL at {target} ({during}): {}",
                common::io_phrase(&e)
            )),
            sqlx::Error::Tls(e) => ConnectorError::Permanent(format!(
                "TLS with PostgreSQL at {target} failed: {}; check sslMode, host and caFile",
                common::scrub(&e.to_string(), &all)
            )),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let message = common::scrub(db.message(), &all);
                match code.as_str() {
                    "28P01" | "28000" => ConnectorError::Permanent(format!(
                        "PostgreSQL at {target} refused the service account {}: {message}; check user and the password secret",
                        self.config.user
                    )),
                    "3D000" => ConnectorError::Permanent(format!("PostgreSQL at {target}: {message}; check database")),
                    "42704" => ConnectorError::Permanent(format!("the role does not exist on PostgreSQL at {target}: {message}")),
                    "42501" => ConnectorError::Permanent(format!(
                        "the service account {} may not change this role's password on {target}: {message}",
                        self.config.user
                    )),
                    c if c.starts_with("08")
                        || c.starts_with("53")
                        || c.starts_with("57P")
                        || c == "57014"
                        || c == "55P03"
                        || c == "40001"
                        || c == "40P01" =>
                    {
                        ConnectorError::Transient(format!("PostgreSQL at {target} could not complete the {during} now: {message} ({c})"))
                    }
                    c => ConnectorError::Permanent(format!("PostgreSQL at {target} refused the {during}: {message} ({c})")),
                }
            }
            sqlx::Error::Configuration(e) => ConnectorError::Config(format!(
                "{NAME} connector: {}",
                common::scrub(&e.to_string(), &all)
            )),
            sqlx::Error::Protocol(m) => ConnectorError::Transient(format!(
                "protocol error with PostgreSQL at {target} ({during}): {}",
                common::scrub(&m, &all)
            )),
            other => ConnectorError::Transient(format!(
                "PostgreSQL at {target} ({during}): {}",
                common::scrub(&other.to_string(), &all)
            )),
        }
    }

    async fn close(conn: PgConnection) {
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    }
}

/// Quotes a role name as an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> Result<String, ConnectorError> {
    if name.is_empty() {
        return Err(ConnectorError::Permanent("the role name is empty".into()));
    }
    if name.contains('\0') {
        return Err(ConnectorError::Permanent(
            "the role name contains a NUL character".into(),
        ));
    }
    if name.len() > MAX_ROLE_BYTES {
        return Err(ConnectorError::Permanent(format!(
            "the role name {name:?} is longer than PostgreSQL's {MAX_ROLE_BYTES} bytes"
        )));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// The SCRAM-SHA-256 verifier of a password, checked to hold only the characters we expect.
fn verifier(password: &str) -> Result<Zeroizing<String>, ConnectorError> {
    if password.contains('\0') {
        return Err(ConnectorError::Permanent(
            "PostgreSQL passwords cannot contain a NUL character".into(),
        ));
    }
    let v = Zeroizing::new(postgres_protocol::password::scram_sha_256(
        password.as_bytes(),
    ));
    let ok = v.starts_with("SCRAM-SHA-256$")
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'$' | b':' | b'-')
        });
    if !ok {
        return Err(ConnectorError::Permanent(
            "internal error computing the SCRAM verifier".into(),
        ));
    }
    Ok(v)
}

#[async_trait]
impl Connector for PostgresConnector {
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        let role = call.account.native_id.as_str();
        let ident = quote_ident(role)?;
        // PBKDF2 with 4096 rounds: CPU work, done on a blocking thread, not the runtime's.
        let password = Zeroizing::new(call.password.expose().to_owned());
        let verifier = tokio::task::spawn_blocking(move || verifier(&password))
            .await
            .map_err(|_| {
                ConnectorError::Transient("computing the SCRAM verifier failed".into())
            })??;
        let sql = Zeroizing::new(format!(
            "ALTER ROLE {ident} PASSWORD '{}'",
            verifier.as_str()
        ));
        let mut conn = self.connect().await?;
        let outcome = tokio::time::timeout(self.op_timeout, conn.execute(sql.as_str())).await;
        Self::close(conn).await;
        match outcome {
            Err(_) => Err(ConnectorError::Transient(format!(
                "PostgreSQL at {} did not finish ALTER ROLE within {} ms",
                self.target(),
                self.op_timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(self.error(
                "ALTER ROLE",
                e,
                &[call.password.expose(), verifier.as_str()],
            )),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Logs in as the role with the password: a session is `Current`; "password
    /// authentication failed" (28P01) is `NotCurrent`. Anything else (no `LOGIN`, no
    /// `pg_hba.conf` line for the role, no `CONNECT` on `database`) settles nothing.
    async fn verify_password(
        &self,
        call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        let role = call.account.native_id.as_str();
        quote_ident(role)?;
        let password = call.password.expose();
        let options = self.options().username(role).password(password);
        match tokio::time::timeout(self.connect_timeout, options.connect()).await {
            Err(_) => Err(ConnectorError::Transient(format!(
                "cannot reach PostgreSQL at {}: connect timed out after {} ms",
                self.target(),
                self.connect_timeout.as_millis()
            ))),
            Ok(Ok(conn)) => {
                Self::close(conn).await;
                Ok(Verification::Current)
            }
            Ok(Err(sqlx::Error::Database(db))) if db.code().as_deref() == Some("28P01") => {
                Ok(Verification::NotCurrent)
            }
            Ok(Err(e)) => Err(self.error("verify login", e, &[password])),
        }
    }

    async fn check(&self) -> Result<String, ConnectorError> {
        let mut conn = self.connect().await?;
        let query = "SELECT current_user::text, rolsuper, rolcreaterole, current_setting('server_version') \
                     FROM pg_roles WHERE rolname = current_user";
        let row = tokio::time::timeout(self.op_timeout, conn.fetch_one(query)).await;
        Self::close(conn).await;
        let row = match row {
            Err(_) => {
                return Err(ConnectorError::Transient(format!(
                    "PostgreSQL at {} did not answer in time",
                    self.target()
                )))
            }
            Ok(Err(e)) => return Err(self.error("check", e, &[])),
            Ok(Ok(row)) => row,
        };
        let read = |e: sqlx::Error| self.error("check", e, &[]);
        let user: String = row.try_get(0).map_err(read)?;
        let superuser: bool = row.try_get(1).map_err(read)?;
        let createrole: bool = row.try_get(2).map_err(read)?;
        let version: String = row.try_get(3).map_err(read)?;
        if !superuser && !createrole {
            return Err(ConnectorError::Permanent(format!(
                "PostgreSQL {version} at {}: the service account {user} has neither CREATEROLE nor SUPERUSER, so it cannot change passwords",
                self.target()
            )));
        }
        Ok(format!(
            "PostgreSQL {version} at {} as {user} ({})",
            self.target(),
            if superuser { "superuser" } else { "CREATEROLE" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_strictly_quoted() {
        assert_eq!(quote_ident("alice").ok().as_deref(), Some("\"alice\""));
        assert_eq!(
            quote_ident("Al\"ice; DROP").ok().as_deref(),
            Some("\"Al\"\"ice; DROP\"")
        );
        assert!(quote_ident("").is_err());
        assert!(quote_ident("a\0b").is_err());
        assert!(quote_ident(&"x".repeat(64)).is_err());
        assert!(quote_ident(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn verifier_is_scram_and_salted() {
        let a = verifier("correct horse").ok();
        let b = verifier("correct horse").ok();
        assert!(a
            .as_ref()
            .is_some_and(|v| v.starts_with("SCRAM-SHA-256$4096:")));
        assert_ne!(
            a.as_deref().map(String::as_str),
            b.as_deref().map(String::as_str),
            "random salt"
        );
        assert!(verifier("nul\0").is_err());
    }
}
