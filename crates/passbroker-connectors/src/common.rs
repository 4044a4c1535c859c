//! Helpers shared by the network connectors: config and secrets parsing with errors that name
//! the field (and never echo a secret), timeouts, and scrubbing secrets out of target messages.

use crate::ConnectorError;
use serde::de::DeserializeOwned;
use std::time::Duration;
use zeroize::Zeroizing;

pub(crate) const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub(crate) const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 10_000;
const MAX_TIMEOUT_MS: u64 = 600_000;

pub(crate) fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}

pub(crate) fn default_operation_timeout_ms() -> u64 {
    DEFAULT_OPERATION_TIMEOUT_MS
}

/// Deserializes a connector's `config`, naming the offending field on error.
pub(crate) fn parse_config<T: DeserializeOwned>(
    connector: &str,
    value: &serde_json::Value,
) -> Result<T, ConnectorError> {
    let value = if value.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        value.clone()
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ConnectorError::Config(format!("{connector} connector: {inner}"))
        } else {
            ConnectorError::Config(format!("{connector} connector: field `{path}`: {inner}"))
        }
    })
}

/// Checks a timeout setting (milliseconds) and turns it into a [`Duration`].
pub(crate) fn timeout(connector: &str, field: &str, ms: u64) -> Result<Duration, ConnectorError> {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(ConnectorError::Config(format!(
            "{connector} connector: field `{field}` must be between 1 and {MAX_TIMEOUT_MS} milliseconds"
        )));
    }
    Ok(Duration::from_millis(ms))
}

/// A connector's secrets object. Parsing errors name the key, never the value.
pub(crate) struct Secrets<'a> {
    connector: &'a str,
    map: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl<'a> Secrets<'a> {
    /// `allowed` lists the keys this connector understands; any other key is refused.
    pub(crate) fn new(
        connector: &'a str,
        secrets: Option<&'a serde_json::Value>,
        allowed: &[&str],
    ) -> Result<Self, ConnectorError> {
        let map = match secrets {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(map)) => Some(map),
            Some(_) => {
                return Err(ConnectorError::Config(format!(
                    "{connector} connector: secrets must be a JSON object"
                )));
            }
        };
        if let Some(map) = map {
            if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(ConnectorError::Config(format!(
                    "{connector} connector: unknown secret `{unknown}`, expected one of {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(Self { connector, map })
    }

    /// A string secret, if present. Empty strings count as absent.
    pub(crate) fn optional(&self, key: &str) -> Result<Option<Zeroizing<String>>, ConnectorError> {
        match self.map.and_then(|m| m.get(key)) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(Zeroizing::new(s.clone()))),
            Some(_) => Err(ConnectorError::Config(format!(
                "{} connector: secret `{key}` must be a string",
                self.connector
            ))),
        }
    }

    pub(crate) fn required(&self, key: &str) -> Result<Zeroizing<String>, ConnectorError> {
        self.optional(key)?.ok_or_else(|| {
            ConnectorError::Config(format!(
                "{} connector: secret `{key}` is required",
                self.connector
            ))
        })
    }
}

/// Removes secrets from text that came from a target (an error message may echo input).
/// A secret too short to replace safely makes the whole text be withheld.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            if secret.chars().count() < 4 {
                return "[details withheld: they contained a secret]".to_owned();
            }
            out = out.replace(secret, "[redacted]");
        }
    }
    // Keep messages to one readable line of reasonable size.
    let mut one_line: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 400 {
        one_line = one_line.chars().take(400).collect::<String>() + "…";
    }
    one_line
}

/// A target's free-text detail, unless it quotes part of a secret: targets quote the
/// offending part of what they refused (a character and its position), which for a password
/// is part of the password. Such details, and any with escape sequences, are withheld.
pub(crate) fn safe_detail(text: &str, secrets: &[&str]) -> String {
    const WITHHELD: &str = "details withheld: the target quoted part of the refused value";
    if text.contains("\\x") || text.contains("\\u") {
        return WITHHELD.to_owned();
    }
    for q in ['\'', '"', '`'] {
        for (n, span) in text.split(q).enumerate() {
            // Odd pieces are inside quotes (naive pairing; a stray apostrophe only makes
            // this more cautious).
            if n % 2 == 1
                && !span.is_empty()
                && secrets.iter().any(|s| !s.is_empty() && s.contains(span))
            {
                return WITHHELD.to_owned();
            }
        }
    }
    text.to_owned()
}

/// Reads and parses a PEM file of one or more CA certificates (for native-tls based clients).
pub(crate) fn read_ca_pems(
    connector: &str,
    field: &str,
    path: &std::path::Path,
) -> Result<Vec<Vec<u8>>, ConnectorError> {
    // Blocking: connectors are built on blocking threads (`crate::build`). Only a regular
    // file is read, and only so much of it.
    let text = crate::files::read_regular(path, 4 * 1024 * 1024).map_err(|e| {
        ConnectorError::Config(format!("{connector} connector: field `{field}`: {e}"))
    })?;
    let mut pems = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            current = Some(format!("{line}\n"));
        } else if let Some(buf) = current.as_mut() {
            buf.push_str(line);
            buf.push('\n');
            if line == "-----END CERTIFICATE-----" {
                if let Some(done) = current.take() {
                    pems.push(done.into_bytes());
                }
            }
        }
    }
    if pems.is_empty() {
        return Err(ConnectorError::Config(format!(
            "{connector} connector: field `{field}`: {} holds no PEM certificate",
            path.display()
        )));
    }
    for pem in &pems {
        native_tls::Certificate::from_pem(pem).map_err(|e| {
            ConnectorError::Config(format!(
                "{connector} connector: field `{field}`: bad certificate in {}: {e}",
                path.display()
            ))
        })?;
    }
    Ok(pems)
}

/// Whether an I/O error kind means "try again later".
pub(crate) fn io_is_transient(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | Interrupted
            | WouldBlock
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    )
}

/// A short human phrase for an I/O error (without the OS error number noise).
pub(crate) fn io_phrase(err: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "timed out".into(),
        UnexpectedEof => "connection closed unexpectedly".into(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_target_details_are_withheld() {
        let pw = ["bell\u{7}Pass#1"];
        assert!(safe_detail("invalid character '\\x07' in position 4", &pw).contains("withheld"));
        assert!(safe_detail("character '#' is not allowed", &pw).contains("withheld"));
        assert_eq!(
            safe_detail("User 'bob' not found", &pw),
            "User 'bob' not found"
        );
        assert_eq!(safe_detail("password too short", &pw), "password too short");
    }

    #[test]
    fn scrub_removes_secrets_and_withholds_short_ones() {
        assert_eq!(
            scrub("bad value 'hunter2!' here", &["hunter2!"]),
            "bad value '[redacted]' here"
        );
        assert!(scrub("x abc y", &["abc"]).contains("withheld"));
        assert_eq!(scrub("multi\n  line", &[]), "multi line");
    }

    #[test]
    fn secrets_refuse_unknown_keys_without_echoing_values() {
        let v = serde_json::json!({"token": "s3cret-value", "oops": "another-secret"});
        let err = Secrets::new("scim", Some(&v), &["token"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("oops"), "{err}");
        assert!(
            !err.contains("secret-value") && !err.contains("another-secret"),
            "{err}"
        );
        let v = serde_json::json!({"token": 5});
        let s = Secrets::new("scim", Some(&v), &["token"]).ok();
        assert!(s.is_some_and(|s| s.required("token").is_err()));
    }
}
