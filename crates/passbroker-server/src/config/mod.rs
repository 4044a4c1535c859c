//! Configuration, layered: defaults → TOML file → `PASSBROKER_*` environment → CLI flags.
//! Every secret can also come from a file (`*_file` / `PASSBROKER_*_FILE`). The result is
//! validated once at start-up; a bad value stops the program with a message naming the key.

use crate::telemetry::LogFormat;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod database;
mod env;
mod validate;

pub use database::{is_postgres_url, redact_url, Database};

/// The configuration as written in a file or the environment (flat keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the SQLite database and generated files.
    pub data_dir: PathBuf,
    /// `sqlite://…` (default: `<data_dir>/passbroker.db`), or `postgres://user@host:port/db`
    /// for several nodes sharing one PostgreSQL database.
    pub database_url: Option<String>,
    /// The PostgreSQL password, from a file (a secret; wins over a password in the URL).
    /// Also used by `migrate --to`.
    pub database_password_file: Option<PathBuf>,
    /// PostgreSQL connections this node may open.
    pub database_max_connections: u32,
    /// `normal` (survives a process crash) or `full` (also power loss).
    pub sqlite_synchronous: String,
    /// The base URL clients use, for links and the demo credentials file.
    pub public_url: Option<String>,
    /// Master key (base64 or hex of 32 bytes) that wraps secrets at rest.
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub log_format: String,
    pub log_level: String,
    /// Seed the demo tenant on start.
    pub demo: bool,
    /// Access token lifetime (ISC uses about 12 minutes).
    pub token_lifetime_secs: i64,
    pub refresh_token_lifetime_secs: i64,
    /// Token issuer and audience.
    pub token_issuer: String,
    pub token_audience: String,
    /// Requests per access token per window (ISC: 100 per 10 s).
    pub rate_limit_requests: u32,
    pub rate_limit_window_secs: u64,
    /// Token endpoint requests per client IP per window.
    pub token_rate_limit_requests: u32,
    /// Requests per API client (or per personal access token) per window, all of its
    /// tokens together: minting new tokens does not buy a new budget.
    pub client_rate_limit_requests: u32,
    /// Failed authentications (bad, expired or forged bearer tokens) per client IP per
    /// window; past it the address gets 429 before any signature check.
    pub auth_failures_per_ip: u32,
    /// Failed sign-ins per (user, client address) per 15 minutes on the built-in directory;
    /// the address (not the user) is then refused for that user. Each address may also fail
    /// five times this many sign-ins, for any users, per 15 minutes.
    pub login_attempts_per_user: u32,
    /// Failed sign-ins for one user from all addresses together per 15 minutes before the
    /// slower brake applies: then an address that already failed 3 times for that user must
    /// wait, while addresses that have not (the user's own) can still sign in.
    pub login_brake_failures_per_user: u32,
    /// How often each node compares its RSA key ring with the store (a rotation or
    /// retirement made by another node or by the CLI takes effect within this time).
    pub key_sync_interval_secs: u64,
    pub rsa_key_bits: u32,
    /// How long a rotated-out key still decrypts.
    pub key_grace_period_secs: i64,
    /// Rotate the active key automatically after this many days (0 = never).
    pub key_rotate_after_days: i64,
    /// Accept RSA PKCS#1 v1.5 ciphertexts (ISC's scheme). Switch off to allow only OAEP.
    pub allow_pkcs1v15: bool,
    /// Every request reaches a terminal state within this many seconds.
    pub request_deadline_secs: i64,
    pub idempotency_window_secs: i64,
    /// Worker lease; a crashed worker's request is picked up after this.
    pub lease_secs: i64,
    /// Concurrent requests processed by this node.
    pub workers: u32,
    /// Requests in progress that set-password admits whatever the recent drain rate (past
    /// this, only as many as drain before the deadline; then 429).
    pub admission_min_backlog: u32,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest `Prefer: wait=N` honoured.
    pub max_prefer_wait_secs: u64,
    /// Where `passbroker breach import` puts the breach corpus index (default
    /// `<data_dir>/breach`); the server picks up a new index there within seconds.
    pub breach_dir: Option<PathBuf>,
    /// Serve `GET /passbroker/v1/pwned/range/{prefix}` without a token (rate limited per
    /// address by `breach_range_requests_per_ip`).
    pub breach_range_public: bool,
    /// Range requests per client address per `rate_limit_window_secs`.
    pub breach_range_requests_per_ip: u32,
    /// An HIBP-compatible range API (`{url}/range/{prefix}`) to consult when no local index
    /// answers; only five hex digits of a hash leave the server.
    pub breach_upstream_url: Option<String>,
    pub breach_upstream_timeout_ms: u64,
    /// When the upstream cannot be reached: `closed` (the change waits and retries until its
    /// deadline, then fails saying why) or `open` (the breach rule is skipped, and the
    /// request's audit trail says so).
    pub breach_upstream_failure: String,
    /// How long an upstream range answer is reused.
    pub breach_upstream_cache_secs: u64,
    /// Open HTTP connections at most; beyond it a new connection is answered 503 and closed.
    /// 0 derives the cap from the open-file limit (`RLIMIT_NOFILE`), leaving room for the
    /// database and the connectors.
    pub http_max_connections: u32,
    /// A request's headers must arrive within this long of the connection opening (or of
    /// their first byte, on a kept-alive connection); slow or silent senders are closed.
    pub http_header_timeout_secs: u64,
    /// A kept-alive connection with no new request for this long is closed.
    pub http_idle_timeout_secs: u64,
    /// Longest time from a request's headers to its response (body upload included); then
    /// 503 and the connection is closed. Must be longer than `max_prefer_wait_secs` (the
    /// default leaves 30 s for the answer after the longest wait).
    pub http_request_timeout_secs: u64,
    /// Serve HTTPS: the certificate chain (PEM, leaf first) and its private key (PEM). Both
    /// or neither; re-read when they change or on SIGHUP.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// A Password Manager page session ends this long after sign-in, whatever its use.
    pub session_lifetime_secs: i64,
    /// … or after this long without a request.
    pub session_idle_timeout_secs: i64,
    /// The SMTP server that sends reset codes and change notices (none: no mail is sent and
    /// "forgot password" by email is off).
    pub smtp_host: Option<String>,
    /// Default: 25 for `none`, 587 for `starttls`, 465 for `tls`.
    pub smtp_port: Option<u16>,
    /// `none` (plain SMTP, for a local relay only), `starttls` or `tls` (implicit TLS).
    pub smtp_tls: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    /// The sender address, e.g. `passbroker <noreply@example.com>`.
    pub smtp_from: Option<String>,
    /// Extra CA certificates (PEM) to trust for the SMTP server's TLS certificate.
    pub smtp_ca_file: Option<PathBuf>,
    /// Connect and command timeout of one delivery attempt.
    pub smtp_timeout_secs: u64,
    /// A reset code (forgot password by email) expires this long after it was sent.
    pub reset_code_ttl_secs: i64,
    /// Client networks counted as "on the network" for policies with
    /// `requireStrongAuthOffNetwork`: CIDRs separated by commas (e.g. `10.0.0.0/8, fd00::/8`).
    pub trusted_networks: String,
    /// Email the identity after each accepted password change (when mail is on).
    pub notify_password_changes: bool,
    /// Webhook deliveries: attempts at one event before it is dead-lettered.
    pub events_max_attempts: u32,
    /// Connect and total timeout of one webhook delivery.
    pub events_timeout_secs: u64,
    /// The first retry's delay; each further one doubles it (with jitter), up to 5 minutes.
    pub events_backoff_ms: u64,
    /// How often the dispatcher looks for events committed by other nodes (its own commits
    /// wake it at once).
    pub events_poll_interval_ms: u64,
    /// Events (and dead letters) are deleted this long after they happened.
    pub events_retention_secs: i64,
    /// The CloudEvents `source` of every event.
    pub events_source: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./passbroker-data"),
            database_url: None,
            database_password_file: None,
            database_max_connections: 16,
            sqlite_synchronous: "normal".into(),
            public_url: None,
            master_key: None,
            master_key_file: None,
            log_format: "text".into(),
            log_level: "info".into(),
            demo: false,
            token_lifetime_secs: 720,
            refresh_token_lifetime_secs: 8 * 3600,
            token_issuer: "passbroker".into(),
            token_audience: "passbroker".into(),
            rate_limit_requests: 100,
            rate_limit_window_secs: 10,
            token_rate_limit_requests: 60,
            client_rate_limit_requests: 100,
            auth_failures_per_ip: 60,
            login_attempts_per_user: 10,
            login_brake_failures_per_user: 50,
            key_sync_interval_secs: 2,
            rsa_key_bits: 2048,
            key_grace_period_secs: 24 * 3600,
            key_rotate_after_days: 90,
            allow_pkcs1v15: true,
            request_deadline_secs: 300,
            idempotency_window_secs: 600,
            lease_secs: 30,
            workers: 16,
            admission_min_backlog: 10_000,
            max_body_bytes: 64 * 1024,
            max_prefer_wait_secs: 60,
            breach_dir: None,
            breach_range_public: false,
            breach_range_requests_per_ip: 100,
            breach_upstream_url: None,
            breach_upstream_timeout_ms: 2_000,
            breach_upstream_failure: "closed".into(),
            breach_upstream_cache_secs: 3_600,
            http_max_connections: 0,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 30,
            http_request_timeout_secs: 90,
            tls_cert_file: None,
            tls_key_file: None,
            session_lifetime_secs: 8 * 3600,
            session_idle_timeout_secs: 15 * 60,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_password_file: None,
            smtp_from: None,
            smtp_ca_file: None,
            smtp_timeout_secs: 10,
            reset_code_ttl_secs: 15 * 60,
            trusted_networks: String::new(),
            notify_password_changes: true,
            events_max_attempts: 8,
            events_timeout_secs: 10,
            events_backoff_ms: 1_000,
            events_poll_interval_ms: 1_000,
            events_retention_secs: 7 * 24 * 3600,
            events_source: "/passbroker".into(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub demo: bool,
    pub log_format: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads from an optional file, the given environment, and CLI overrides.
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("cannot read config file {}: {e}", path.display()))
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(key) = name
                .strip_prefix("PASSBROKER_")
                .map(str::to_ascii_lowercase)
            else {
                continue;
            };
            if env::KEYS.contains(&key.as_str()) {
                table.insert(key, env::typed_env_value(value));
            }
        }
        if let Some(v) = &overrides.listen {
            table.insert("listen".into(), toml::Value::String(v.clone()));
        }
        if let Some(v) = &overrides.data_dir {
            table.insert(
                "data_dir".into(),
                toml::Value::String(v.display().to_string()),
            );
        }
        if overrides.demo {
            table.insert("demo".into(), toml::Value::Boolean(true));
        }
        if let Some(v) = &overrides.log_format {
            table.insert("log_format".into(), toml::Value::String(v.clone()));
        }
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError(format!("key `{}`: {}", e.path(), e.inner())))?;
        config.validate()?;
        Ok(config)
    }

    /// Where the breach corpus index lives.
    pub fn breach_dir(&self) -> PathBuf {
        self.breach_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("breach"))
    }

    pub fn log_format(&self) -> LogFormat {
        if self.log_format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        }
    }

    /// Whether the server speaks HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_cert_file.is_some()
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // validate() checked it parses.
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The database this configuration names.
    pub fn database(&self) -> Database {
        match &self.database_url {
            Some(url) if is_postgres_url(url) => Database::Postgres { url: url.clone() },
            _ => Database::Sqlite {
                path: self.database_path(),
            },
        }
    }

    /// The database for messages: the SQLite path, or the PostgreSQL URL without its password.
    pub fn database_display(&self) -> String {
        match self.database() {
            Database::Sqlite { path } => path.display().to_string(),
            Database::Postgres { url } => redact_url(&url),
        }
    }

    /// The PostgreSQL password from `database_password_file`, if given.
    pub fn database_password(&self) -> Result<Option<SecretString>, ConfigError> {
        let Some(path) = &self.database_password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "key `database_password_file`: cannot read {}: {e}",
                path.display()
            ))
        })?;
        Ok(Some(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        )))
    }

    /// The SQLite file (meaningful when [`Config::database`] is SQLite).
    pub fn database_path(&self) -> PathBuf {
        match &self.database_url {
            Some(url) => PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            ),
            None => self.data_dir.join("passbroker.db"),
        }
    }

    /// The SMTP password, from the value or the file.
    pub fn smtp_password_text(&self) -> Result<Option<SecretString>, ConfigError> {
        if let Some(p) = &self.smtp_password {
            return Ok(Some(SecretString::from(p.clone())));
        }
        if let Some(path) = &self.smtp_password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "key `smtp_password_file`: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            return Ok(Some(SecretString::from(
                text.trim_end_matches(['\r', '\n']).to_owned(),
            )));
        }
        Ok(None)
    }

    /// The master key text, from the value or the file.
    pub fn master_key_text(&self) -> Result<Option<SecretString>, ConfigError> {
        if let Some(k) = &self.master_key {
            return Ok(Some(SecretString::from(k.clone())));
        }
        if let Some(path) = &self.master_key_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "key `master_key_file`: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            return Ok(Some(SecretString::from(text.trim().to_owned())));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
