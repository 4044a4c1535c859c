//! How the directory's answers become [`ConnectorError`]s: refused binds, transport
//! errors, refused changes (ppolicy and AD texts as sentences, secrets scrubbed).

use super::*;

impl LdapConnector {
    pub(super) fn bind_refused(&self, res: &LdapResult) -> ConnectorError {
        let text = common::scrub(&res.text, &[self.bind_password.as_str()]);
        let detail = if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        };
        match res.rc {
            49 => ConnectorError::Permanent(format!(
                "the directory at {} refused the service account's credentials (invalid credentials, 49) for bindDn {}; check bindDn and the bindPassword secret{detail}",
                self.target, self.config.bind_dn
            )),
            rc if is_transient_rc(rc) => ConnectorError::Transient(format!(
                "the directory at {} is not available for binding ({}){detail}",
                self.target,
                rc_name(rc)
            )),
            13 => ConnectorError::Permanent(format!(
                "the directory at {} requires an encrypted connection (confidentialityRequired); use ldaps:// or startTls{detail}",
                self.target
            )),
            rc => ConnectorError::Permanent(format!(
                "the directory at {} refused the service account's bind ({}){detail}",
                self.target,
                rc_name(rc)
            )),
        }
    }

    pub(super) fn transport_error(&self, during: &str, err: LdapError) -> ConnectorError {
        let target = &self.target;
        match err {
            LdapError::Io { source } => {
                let phrase = common::io_phrase(&source);
                if common::io_is_transient(source.kind()) {
                    ConnectorError::Transient(format!("cannot reach the directory at {target} ({during}): {phrase}"))
                } else {
                    ConnectorError::Transient(format!("I/O error talking to the directory at {target} ({during}): {phrase}"))
                }
            }
            LdapError::Timeout { .. } => ConnectorError::Transient(format!(
                "the directory at {target} did not answer the {during} within {} ms",
                if during == "connect" { self.connect_timeout.as_millis() } else { self.op_timeout.as_millis() }
            )),
            LdapError::NativeTLS { source } => ConnectorError::Permanent(format!(
                "TLS with the directory at {target} failed ({during}): {source}; check the URL's host name and caFile"
            )),
            LdapError::LdapResult { result } => {
                if during == "connect" && self.config.start_tls {
                    ConnectorError::Permanent(format!(
                        "the directory at {target} refused StartTLS ({})",
                        rc_name(result.rc)
                    ))
                } else if is_transient_rc(result.rc) {
                    ConnectorError::Transient(format!("the directory at {target} failed the {during}: {}", rc_name(result.rc)))
                } else {
                    ConnectorError::Permanent(format!("the directory at {target} failed the {during}: {}", rc_name(result.rc)))
                }
            }
            LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
                ConnectorError::Config(format!("{NAME} connector: field `url` is not a valid LDAP URL"))
            }
            // Channel errors mean the connection task ended: the server closed the connection.
            other => ConnectorError::Transient(format!("connection to the directory at {target} failed ({during}): {other}")),
        }
    }

    /// Maps a non-success result of the password change to a readable error.
    pub(super) fn change_refused(
        &self,
        dn: &str,
        res: &LdapResult,
        secrets: &[&str],
    ) -> ConnectorError {
        let text = common::scrub(&res.text, secrets);
        let detail = if text.is_empty() {
            String::new()
        } else {
            format!(" ({text})")
        };
        let ppolicy = res
            .ctrls
            .iter()
            .find(|c| c.1.ctype == PPOLICY_OID)
            .and_then(|c| c.1.val.as_deref())
            .and_then(parse_ppolicy_error);
        if let Some(code) = ppolicy {
            return ConnectorError::Permanent(format!(
                "the directory refused the new password for {dn}: {}{detail}",
                ppolicy_phrase(code)
            ));
        }
        if self.config.mode == LdapMode::ActiveDirectory {
            if let Some(phrase) = ad_phrase(&res.text) {
                return ConnectorError::Permanent(format!(
                    "the domain refused the new password for {dn}: {phrase}{detail}"
                ));
            }
        }
        match res.rc {
            19 => {
                let lower = res.text.to_ascii_lowercase();
                let phrase = if lower.contains("too short") {
                    "the password is too short for the directory's password policy"
                } else if lower.contains("history") {
                    "the password is in the account's password history (it was used recently)"
                } else if lower.contains("too young") {
                    "the password was changed too recently (minimum password age)"
                } else if lower.contains("quality") {
                    "the password fails the directory's password quality policy"
                } else {
                    "the directory's constraints refused it (constraintViolation)"
                };
                ConnectorError::Permanent(format!("the directory refused the new password for {dn}: {phrase}{detail}"))
            }
            32 => ConnectorError::Permanent(format!("the account {dn} does not exist in the directory (noSuchObject){detail}")),
            34 => ConnectorError::Permanent(format!("the account id {dn:?} is not a valid DN (invalidDNSyntax){detail}")),
            50 => ConnectorError::Permanent(format!(
                "the service account {} may not change the password of {dn} (insufficientAccessRights){detail}",
                self.config.bind_dn
            )),
            10 => ConnectorError::Permanent(format!(
                "the directory referred the change elsewhere ({}); point url at a writable server{detail}",
                res.refs.join(", ")
            )),
            2 | 12 if self.config.mode == LdapMode::PasswordModify => ConnectorError::Permanent(format!(
                "the directory does not support the RFC 3062 password modify operation ({}); set mode to replace{detail}",
                rc_name(res.rc)
            )),
            13 => ConnectorError::Permanent(format!(
                "the directory requires an encrypted connection for password changes (confidentialityRequired); use ldaps:// or startTls{detail}"
            )),
            rc if is_transient_rc(rc) => ConnectorError::Transient(format!(
                "the directory could not change the password of {dn} right now ({}){detail}",
                rc_name(rc)
            )),
            rc => ConnectorError::Permanent(format!(
                "the directory refused to change the password of {dn} ({}){detail}",
                rc_name(rc)
            )),
        }
    }
}
