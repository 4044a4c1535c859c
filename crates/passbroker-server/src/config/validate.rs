//! Start-up validation of [`Config`]: every key is checked once, and a bad value stops
//! start-up with a message naming the key.

use super::{is_postgres_url, Config, ConfigError};
use std::net::SocketAddr;

fn err(key: &str, msg: String) -> Result<(), ConfigError> {
    Err(ConfigError(format!("key `{key}`: {msg}")))
}

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_basics()?;
        self.validate_ranges()?;
        self.validate_breach()?;
        self.validate_http()?;
        self.validate_tls()?;
        self.validate_sessions()?;
        self.validate_smtp()?;
        self.validate_events()?;
        self.validate_master_key()?;
        Ok(())
    }

    /// The webhook dispatcher's bounds.
    fn validate_events(&self) -> Result<(), ConfigError> {
        let ranges: [(&str, i64, i64, i64); 5] = [
            (
                "events_max_attempts",
                i64::from(self.events_max_attempts),
                1,
                100,
            ),
            (
                "events_timeout_secs",
                i64::try_from(self.events_timeout_secs).unwrap_or(i64::MAX),
                1,
                120,
            ),
            (
                "events_backoff_ms",
                i64::try_from(self.events_backoff_ms).unwrap_or(i64::MAX),
                10,
                300_000,
            ),
            (
                "events_poll_interval_ms",
                i64::try_from(self.events_poll_interval_ms).unwrap_or(i64::MAX),
                10,
                60_000,
            ),
            (
                "events_retention_secs",
                self.events_retention_secs,
                60,
                365 * 24 * 3600,
            ),
        ];
        for (key, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return err(key, format!("must be between {lo} and {hi}, got {v}"));
            }
        }
        if self.events_source.trim().is_empty() || self.events_source.len() > 200 {
            return err(
                "events_source",
                "must be a non-empty URI reference of at most 200 characters".into(),
            );
        }
        Ok(())
    }

    /// The address, formats and URLs.
    fn validate_basics(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<SocketAddr>().is_err() {
            return err(
                "listen",
                format!("{:?} is not an address such as 127.0.0.1:8080", self.listen),
            );
        }
        if !matches!(self.sqlite_synchronous.as_str(), "normal" | "full") {
            return err(
                "sqlite_synchronous",
                "must be \"normal\" or \"full\"".into(),
            );
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return err("log_format", "must be \"text\" or \"json\"".into());
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("sqlite:") || is_postgres_url(url)) {
                return err(
                    "database_url",
                    "must be a sqlite:// or postgres:// URL".into(),
                );
            }
        }
        if !(1..=1_000).contains(&self.database_max_connections) {
            return err(
                "database_max_connections",
                format!(
                    "must be between 1 and 1000, got {}",
                    self.database_max_connections
                ),
            );
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return err("public_url", "must start with http:// or https://".into());
            }
        }
        Ok(())
    }

    /// Numeric keys within their ranges.
    fn validate_ranges(&self) -> Result<(), ConfigError> {
        let ranges: [(&str, i64, i64, i64); 11] = [
            ("token_lifetime_secs", self.token_lifetime_secs, 30, 86_400),
            (
                "refresh_token_lifetime_secs",
                self.refresh_token_lifetime_secs,
                60,
                90 * 86_400,
            ),
            (
                "rate_limit_requests",
                i64::from(self.rate_limit_requests),
                1,
                1_000_000,
            ),
            (
                "rate_limit_window_secs",
                self.rate_limit_window_secs as i64,
                1,
                3_600,
            ),
            (
                "key_grace_period_secs",
                self.key_grace_period_secs,
                0,
                365 * 86_400,
            ),
            (
                "key_rotate_after_days",
                self.key_rotate_after_days,
                0,
                3_650,
            ),
            (
                "client_rate_limit_requests",
                i64::from(self.client_rate_limit_requests),
                1,
                1_000_000,
            ),
            (
                "auth_failures_per_ip",
                i64::from(self.auth_failures_per_ip),
                1,
                1_000_000,
            ),
            (
                "login_attempts_per_user",
                i64::from(self.login_attempts_per_user),
                1,
                1_000,
            ),
            (
                "login_brake_failures_per_user",
                i64::from(self.login_brake_failures_per_user),
                1,
                1_000_000,
            ),
            (
                "key_sync_interval_secs",
                i64::try_from(self.key_sync_interval_secs).unwrap_or(i64::MAX),
                1,
                60,
            ),
        ];
        in_ranges(&ranges)?;
        self.validate_request_ranges()?;
        if ![2048, 3072, 4096].contains(&self.rsa_key_bits) {
            return err(
                "rsa_key_bits",
                format!("must be 2048, 3072 or 4096, got {}", self.rsa_key_bits),
            );
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return err(
                "max_body_bytes",
                format!(
                    "must be between 1024 and 16777216, got {}",
                    self.max_body_bytes
                ),
            );
        }
        Ok(())
    }

    /// The keys of the request pipeline within their ranges.
    fn validate_request_ranges(&self) -> Result<(), ConfigError> {
        in_ranges(&[
            (
                "request_deadline_secs",
                self.request_deadline_secs,
                1,
                86_400,
            ),
            (
                "idempotency_window_secs",
                self.idempotency_window_secs,
                0,
                7 * 86_400,
            ),
            ("lease_secs", self.lease_secs, 1, 3_600),
            (
                "admission_min_backlog",
                i64::from(self.admission_min_backlog),
                1,
                10_000_000,
            ),
            ("workers", i64::from(self.workers), 0, 1_024),
        ])
    }

    /// The breach corpus keys.
    fn validate_breach(&self) -> Result<(), ConfigError> {
        if !matches!(self.breach_upstream_failure.as_str(), "open" | "closed") {
            return err(
                "breach_upstream_failure",
                "must be \"open\" or \"closed\"".into(),
            );
        }
        if let Some(url) = &self.breach_upstream_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return err(
                    "breach_upstream_url",
                    "must start with http:// or https://".into(),
                );
            }
        }
        if !(100..=60_000).contains(&self.breach_upstream_timeout_ms) {
            return err(
                "breach_upstream_timeout_ms",
                format!(
                    "must be between 100 and 60000, got {}",
                    self.breach_upstream_timeout_ms
                ),
            );
        }
        if self.breach_range_requests_per_ip == 0 {
            return err("breach_range_requests_per_ip", "must be 1 or more".into());
        }
        Ok(())
    }

    /// The HTTP connection limits; the request timeout outlasts `Prefer: wait`.
    fn validate_http(&self) -> Result<(), ConfigError> {
        let http: [(&str, u64, u64, u64); 4] = [
            (
                "http_max_connections",
                u64::from(self.http_max_connections),
                0,
                1_000_000,
            ),
            (
                "http_header_timeout_secs",
                self.http_header_timeout_secs,
                1,
                3_600,
            ),
            (
                "http_idle_timeout_secs",
                self.http_idle_timeout_secs,
                1,
                3_600,
            ),
            (
                "http_request_timeout_secs",
                self.http_request_timeout_secs,
                1,
                86_400,
            ),
        ];
        for (key, value, lo, hi) in http {
            if value < lo || value > hi {
                return err(key, format!("must be between {lo} and {hi}, got {value}"));
            }
        }
        // `Prefer: wait=N` holds a request open for up to N seconds by design.
        if self.http_request_timeout_secs <= self.max_prefer_wait_secs {
            return err(
                "http_request_timeout_secs",
                format!(
                    "must be longer than max_prefer_wait_secs ({}), got {}",
                    self.max_prefer_wait_secs, self.http_request_timeout_secs
                ),
            );
        }
        Ok(())
    }

    /// TLS needs both files; `public_url` must not promise plain HTTP over it.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => return err("tls_key_file", "tls_cert_file needs it too".into()),
            (None, Some(_)) => return err("tls_cert_file", "tls_key_file needs it too".into()),
            _ => {}
        }
        if self.tls() {
            if let Some(url) = &self.public_url {
                if url.starts_with("http://") {
                    return err(
                        "public_url",
                        "is http:// but the server speaks HTTPS (tls_cert_file is set)".into(),
                    );
                }
            }
        }
        Ok(())
    }

    /// The Password Manager page's session lifetimes.
    fn validate_sessions(&self) -> Result<(), ConfigError> {
        if !(60..=30 * 86_400).contains(&self.session_lifetime_secs) {
            return err(
                "session_lifetime_secs",
                format!(
                    "must be between 60 and 2592000, got {}",
                    self.session_lifetime_secs
                ),
            );
        }
        if !(10..=self.session_lifetime_secs).contains(&self.session_idle_timeout_secs) {
            return err(
                "session_idle_timeout_secs",
                format!(
                    "must be between 10 and session_lifetime_secs ({}), got {}",
                    self.session_lifetime_secs, self.session_idle_timeout_secs
                ),
            );
        }
        Ok(())
    }

    /// Mail: a host needs a sender; TLS mode is one of three.
    fn validate_smtp(&self) -> Result<(), ConfigError> {
        if !matches!(self.smtp_tls.as_str(), "none" | "starttls" | "tls") {
            return err(
                "smtp_tls",
                format!(
                    "must be none, starttls or tls, got {:?}",
                    self.smtp_tls.chars().take(40).collect::<String>()
                ),
            );
        }
        if self.smtp_password.is_some() && self.smtp_password_file.is_some() {
            return err(
                "smtp_password",
                "give smtp_password or smtp_password_file, not both".into(),
            );
        }
        if let Some(host) = &self.smtp_host {
            if host.trim().is_empty() {
                return err("smtp_host", "must not be empty".into());
            }
            let from = self.smtp_from.as_deref().unwrap_or("");
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return err(
                    "smtp_from",
                    format!("must be a mail address (e.g. \"passbroker <noreply@example.com>\") when smtp_host is set, got {from:?}"),
                );
            }
        }
        if !(1..=300).contains(&self.smtp_timeout_secs) {
            return err(
                "smtp_timeout_secs",
                format!("must be between 1 and 300, got {}", self.smtp_timeout_secs),
            );
        }
        if let Err(e) = crate::http::strong_authn::parse_networks(&self.trusted_networks) {
            return err("trusted_networks", e);
        }
        if !(60..=24 * 3600).contains(&self.reset_code_ttl_secs) {
            return err(
                "reset_code_ttl_secs",
                format!(
                    "must be between 60 and 86400, got {}",
                    self.reset_code_ttl_secs
                ),
            );
        }
        Ok(())
    }

    /// The master key comes from one place.
    fn validate_master_key(&self) -> Result<(), ConfigError> {
        if self.master_key.is_some() && self.master_key_file.is_some() {
            return err(
                "master_key",
                "give master_key or master_key_file, not both".into(),
            );
        }
        Ok(())
    }
}

/// Each (key, value, lowest, highest) within its range.
fn in_ranges(ranges: &[(&str, i64, i64, i64)]) -> Result<(), ConfigError> {
    for &(key, value, lo, hi) in ranges {
        if value < lo || value > hi {
            return err(key, format!("must be between {lo} and {hi}, got {value}"));
        }
    }
    Ok(())
}
