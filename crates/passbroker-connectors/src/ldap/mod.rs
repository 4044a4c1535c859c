//! The LDAP connector: OpenLDAP / 389-DS and Active Directory / Samba.
//!
//! **Account mapping**: `account.native_id` is the entry's full DN
//! (`uid=alice,ou=people,dc=example,dc=test`, `CN=alice,CN=Users,DC=test,DC=local`).
//!
//! **How the password is set** (config `mode`):
//! - `passwordModify` (default): the RFC 3062 Password Modify extended operation with the DN
//!   as `userIdentity` and no old password (an administrative reset by the service account).
//!   The server hashes the password itself.
//! - `replace`: an LDAP modify replacing `userPassword` (for servers without RFC 3062; the
//!   server should hash cleartext values, e.g. OpenLDAP's `olcPPolicyHashCleartext`).
//! - `activeDirectory`: a modify replacing `unicodePwd` with the password in double quotes,
//!   encoded as UTF-16LE. AD accepts this only over an encrypted connection, so this mode
//!   requires an `ldaps://` URL.
//!
//! In the non-AD modes the request carries the (non-critical) password policy control, so
//! that an OpenLDAP ppolicy refusal (too short, in history, too young…) comes back as a
//! readable [`ConnectorError::Permanent`]. AD refusals (`0000052D`) are mapped the same way.
//!
//! **Config** (camelCase, unknown fields refused):
//! `url` (required, `ldap://` or `ldaps://`), `bindDn` (required), `mode`
//! (`passwordModify` | `replace` | `activeDirectory`, default `passwordModify`), `startTls`
//! (default false, only with `ldap://`), `caFile` (PEM file of CA certificates to trust in
//! addition to the system's), `connectTimeoutMs` (default 5000), `operationTimeoutMs`
//! (default 10000).
//! **Secrets**: `{"bindPassword": "…"}` (required).

use crate::common::{self, Secrets};
use crate::{Connector, ConnectorError, SetPasswordCall, Verification};
use async_trait::async_trait;
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod, Scope, SearchEntry,
};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

mod codes;
mod refusals;
use codes::{
    ad_login_refused_for_other_reasons, ad_phrase, is_transient_rc, parse_ppolicy_error,
    ppolicy_phrase, ppolicy_request, rc_name, tls_connector, unicode_pwd,
};

const NAME: &str = "ldap";
const PASSMOD_OID: &str = "1.3.6.1.4.1.4203.1.11.1";
const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum LdapMode {
    /// RFC 3062 Password Modify extended operation.
    #[default]
    PasswordModify,
    /// Modify-replace of `userPassword`.
    Replace,
    /// Active Directory / Samba: modify-replace of `unicodePwd` (quoted UTF-16LE), LDAPS only.
    ActiveDirectory,
}

impl LdapMode {
    fn as_str(self) -> &'static str {
        match self {
            LdapMode::PasswordModify => "passwordModify",
            LdapMode::Replace => "replace",
            LdapMode::ActiveDirectory => "activeDirectory",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LdapConfig {
    pub url: String,
    pub bind_dn: String,
    #[serde(default)]
    pub mode: LdapMode,
    #[serde(default)]
    pub start_tls: bool,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "common::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "common::default_operation_timeout_ms")]
    pub operation_timeout_ms: u64,
}

pub struct LdapConnector {
    config: LdapConfig,
    bind_password: Zeroizing<String>,
    /// Built once, with the build (a blocking task): setting one up loads the system's CA
    /// bundle from disk, which must not happen on the runtime at each connect.
    tls: Option<native_tls::TlsConnector>,
    connect_timeout: Duration,
    op_timeout: Duration,
    /// `scheme://host:port` of the URL, for messages.
    target: String,
}

impl LdapConnector {
    pub fn from_json(
        config: &serde_json::Value,
        secrets: Option<&serde_json::Value>,
    ) -> Result<Self, ConnectorError> {
        let config: LdapConfig = common::parse_config(NAME, config)?;
        let cfg_err = |msg: String| ConnectorError::Config(format!("{NAME} connector: {msg}"));
        let url =
            reqwest::Url::parse(&config.url).map_err(|e| cfg_err(format!("field `url`: {e}")))?;
        let ldaps = match url.scheme() {
            "ldaps" => true,
            "ldap" => false,
            other => {
                return Err(cfg_err(format!(
                    "field `url`: scheme must be ldap or ldaps, not {other}"
                )))
            }
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(cfg_err("field `url`: must name a host".into()));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(cfg_err(
                "field `url`: must not contain credentials; use bindDn and the bindPassword secret"
                    .into(),
            ));
        }
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() {
            return Err(cfg_err(
                "field `url`: must be scheme://host[:port] only".into(),
            ));
        }
        if config.start_tls && ldaps {
            return Err(cfg_err("field `startTls`: StartTLS applies to ldap:// URLs; an ldaps:// URL is already encrypted".into()));
        }
        if config.mode == LdapMode::ActiveDirectory && !ldaps {
            return Err(cfg_err(
                "field `mode`: activeDirectory needs an ldaps:// URL (AD only accepts unicodePwd over LDAPS)".into(),
            ));
        }
        if config.bind_dn.trim().is_empty() {
            return Err(cfg_err("field `bindDn` must not be empty".into()));
        }
        let connect_timeout = common::timeout(NAME, "connectTimeoutMs", config.connect_timeout_ms)?;
        let op_timeout = common::timeout(NAME, "operationTimeoutMs", config.operation_timeout_ms)?;
        let ca_pems = match &config.ca_file {
            Some(path) => common::read_ca_pems(NAME, "caFile", path)?,
            None => Vec::new(),
        };
        let secrets = Secrets::new(NAME, secrets, &["bindPassword"])?;
        let bind_password = secrets.required("bindPassword")?;
        let port = url.port().unwrap_or(if ldaps { 636 } else { 389 });
        let target = format!("{}://{}:{}", url.scheme(), host, port);
        let tls = if ldaps || config.start_tls {
            Some(tls_connector(&ca_pems)?)
        } else {
            None
        };
        Ok(Self {
            config,
            bind_password,
            tls,
            connect_timeout,
            op_timeout,
            target,
        })
    }

    /// Connects (TCP, TLS, StartTLS) within the connect timeout and binds as the service
    /// account within the operation timeout.
    async fn connect_and_bind(&self) -> Result<Ldap, ConnectorError> {
        let mut ldap = self.connect().await?;
        let bound = ldap
            .with_timeout(self.op_timeout)
            .simple_bind(&self.config.bind_dn, &self.bind_password)
            .await;
        match bound {
            Ok(res) if res.rc == 0 => Ok(ldap),
            Ok(res) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
                Err(self.bind_refused(&res))
            }
            Err(e) => Err(self.transport_error("bind", e)),
        }
    }

    /// Connects (TCP, TLS, StartTLS) within the connect timeout, without binding.
    async fn connect(&self) -> Result<Ldap, ConnectorError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.connect_timeout)
            .set_starttls(self.config.start_tls);
        if let Some(tls) = &self.tls {
            settings = settings.set_connector(tls.clone());
        }
        let connecting = LdapConnAsync::with_settings(settings, &self.config.url);
        let (conn, ldap) = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Err(_) => {
                return Err(ConnectorError::Transient(format!(
                    "cannot reach the directory at {}: connect timed out after {} ms",
                    self.target,
                    self.connect_timeout.as_millis()
                )))
            }
            Ok(Err(e)) => return Err(self.transport_error("connect", e)),
            Ok(Ok(pair)) => pair,
        };
        ldap3::drive!(conn);
        Ok(ldap)
    }

    async fn change(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
    ) -> Result<(), ConnectorError> {
        let outcome = match self.config.mode {
            LdapMode::PasswordModify => ldap
                .with_timeout(self.op_timeout)
                .with_controls(ppolicy_request())
                .extended(PasswordModify {
                    user_id: Some(dn),
                    old_pass: None,
                    new_pass: Some(password),
                })
                .await
                .map(|r| r.1),
            LdapMode::Replace => {
                ldap.with_timeout(self.op_timeout)
                    .with_controls(ppolicy_request())
                    .modify(
                        dn,
                        vec![Mod::Replace(
                            b"userPassword".to_vec(),
                            HashSet::from([password.as_bytes().to_vec()]),
                        )],
                    )
                    .await
            }
            LdapMode::ActiveDirectory => {
                let value = unicode_pwd(password);
                ldap.with_timeout(self.op_timeout)
                    .modify(
                        dn,
                        vec![Mod::Replace(
                            b"unicodePwd".to_vec(),
                            HashSet::from([value.to_vec()]),
                        )],
                    )
                    .await
            }
        };
        match outcome {
            Ok(res) if res.rc == 0 => Ok(()),
            Ok(res) => Err(self.change_refused(dn, &res, &[password, self.bind_password.as_str()])),
            Err(LdapError::LdapResult { result }) => {
                Err(self.change_refused(dn, &result, &[password, self.bind_password.as_str()]))
            }
            Err(e) => Err(self.transport_error("password change", e)),
        }
    }
}

/// The ppolicy request control (no value), non-critical.
#[async_trait]
impl Connector for LdapConnector {
    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        let dn = call.account.native_id.as_str();
        let mut ldap = self.connect_and_bind().await?;
        let result = self.change(&mut ldap, dn, call.password.expose()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
        result
    }

    /// A simple bind as the account's DN with the password (never with an empty one: that
    /// would be an unauthenticated bind, which succeeds). Success is `Current`; invalid
    /// credentials (49) is `NotCurrent`, except Active Directory's sub-codes that mean the
    /// password was right but the account may not log in now (expired, must change,
    /// disabled, locked), which settle nothing and are errors.
    async fn verify_password(
        &self,
        call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        let dn = call.account.native_id.as_str();
        let password = call.password.expose();
        if password.is_empty() || dn.is_empty() {
            return Ok(Verification::Unsupported);
        }
        let mut ldap = self.connect().await?;
        let bound = ldap
            .with_timeout(self.op_timeout)
            .simple_bind(dn, password)
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
        match bound {
            Ok(res) if res.rc == 0 => Ok(Verification::Current),
            Ok(res) if res.rc == 49 && !ad_login_refused_for_other_reasons(&res.text) => {
                Ok(Verification::NotCurrent)
            }
            Ok(res) if is_transient_rc(res.rc) => Err(ConnectorError::Transient(format!(
                "the directory at {} could not check the password of {dn} now ({})",
                self.target,
                rc_name(res.rc)
            ))),
            Ok(res) => Err(ConnectorError::Permanent(format!(
                "the directory at {} did not settle whether {dn} has the new password ({})",
                self.target,
                rc_name(res.rc)
            ))),
            Err(e) => Err(self.transport_error("verify bind", e)),
        }
    }

    async fn check(&self) -> Result<String, ConnectorError> {
        let mut ldap = self.connect_and_bind().await?;
        // Best effort: the root DSE tells whether RFC 3062 is offered.
        let rootdse = ldap
            .with_timeout(self.op_timeout)
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["supportedExtension", "vendorName", "vendorVersion"],
            )
            .await
            .ok()
            .and_then(|r| r.success().ok())
            .and_then(|(entries, _)| entries.into_iter().next())
            .map(SearchEntry::construct);
        let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
        let mut description = format!(
            "{}: bound as {}{}; mode {}",
            self.target,
            self.config.bind_dn,
            if self.config.start_tls {
                " over StartTLS"
            } else {
                ""
            },
            self.config.mode.as_str()
        );
        if let Some(entry) = rootdse {
            if let Some(vendor) = entry.attrs.get("vendorName").and_then(|v| v.first()) {
                description.push_str(&format!("; server {vendor}"));
            }
            let exts = entry.attrs.get("supportedExtension");
            if self.config.mode == LdapMode::PasswordModify {
                if let Some(exts) = exts {
                    if !exts.iter().any(|e| e == PASSMOD_OID) {
                        return Err(ConnectorError::Permanent(format!(
                            "{}: the directory does not offer the RFC 3062 password modify operation; set mode to replace",
                            self.target
                        )));
                    }
                    description.push_str("; RFC 3062 supported");
                }
            }
        }
        Ok(description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppolicy_response_values_parse() {
        // SEQUENCE { error [1] 6 } (passwordTooShort), as slapd sends it.
        assert_eq!(
            parse_ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x06]),
            Some(6)
        );
        // With a warning first: [0] { [0] INTEGER 100 } then error 8.
        assert_eq!(
            parse_ppolicy_error(&[0x30, 0x08, 0xa0, 0x03, 0x80, 0x01, 0x64, 0x81, 0x01, 0x08]),
            Some(8)
        );
        assert_eq!(parse_ppolicy_error(&[0x30, 0x00]), None);
        assert_eq!(parse_ppolicy_error(&[0x30, 0x05, 0x81]), None);
        assert_eq!(parse_ppolicy_error(&[]), None);
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(
            unicode_pwd("aé").as_slice(),
            &[0x22, 0, 0x61, 0, 0xe9, 0, 0x22, 0]
        );
    }
}
