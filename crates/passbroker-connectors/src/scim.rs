//! The SCIM 2.0 connector: `PATCH {baseUrl}/Users/{id}` with
//! `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!   "Operations":[{"op":"replace","path":"password","value":"…"}]}` (RFC 7644 §3.5.2).
//!
//! **Account mapping**: `account.native_id` is the SCIM resource `id` of the User (not its
//! `userName`); it is percent-encoded as one path segment.
//!
//! **Outcomes**: 2xx succeeds. A 4xx SCIM error's `detail` and `scimType` become a readable
//! [`ConnectorError::Permanent`] (401/403: the service credentials; 404: unknown user), except
//! 408 and 429, which are transient like 5xx, timeouts and refused connections. Redirects are
//! not followed (credentials are never re-sent elsewhere). Target texts are scrubbed of the
//! password and the service credentials.
//!
//! **Config** (camelCase, unknown fields refused): `baseUrl` (required, e.g.
//! `https://idp.example.com/scim/v2`; plain `http://` only to a loopback host unless
//! `allowInsecureHttp` is true), `auth` (`bearer` | `basic`, default `bearer`), `username`
//! (required with `basic`), `caFile` (PEM CA certificates), `allowInsecureHttp` (default
//! false), `connectTimeoutMs` (default 5000), `operationTimeoutMs` (default 10000, the whole
//! request).
//! **Secrets**: `{"token": "…"}` for `bearer`, `{"password": "…"}` for `basic`.

use crate::common::{self, Secrets};
use crate::{Connector, ConnectorError, SetPasswordCall, Verification};
use async_trait::async_trait;
use reqwest::{header, StatusCode, Url};
use serde::Deserialize;
use std::path::PathBuf;
use zeroize::Zeroizing;

const NAME: &str = "scim";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SCIM_JSON: &str = "application/scim+json";
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum ScimAuth {
    #[default]
    Bearer,
    Basic,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScimConfig {
    pub base_url: String,
    #[serde(default)]
    pub auth: ScimAuth,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub allow_insecure_http: bool,
    #[serde(default = "common::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "common::default_operation_timeout_ms")]
    pub operation_timeout_ms: u64,
}

enum Credentials {
    Bearer(Zeroizing<String>),
    Basic(String, Zeroizing<String>),
}

pub struct ScimConnector {
    base: Url,
    client: reqwest::Client,
    credentials: Credentials,
    op_timeout_ms: u64,
}

/// The SCIM error body (RFC 7644 §3.12).
#[derive(Debug, Default, Deserialize)]
struct ScimError {
    #[serde(default)]
    detail: Option<String>,
    #[serde(default, rename = "scimType")]
    scim_type: Option<String>,
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl ScimConnector {
    pub fn from_json(
        config: &serde_json::Value,
        secrets: Option<&serde_json::Value>,
    ) -> Result<Self, ConnectorError> {
        let config: ScimConfig = common::parse_config(NAME, config)?;
        let cfg_err = |msg: String| ConnectorError::Config(format!("{NAME} connector: {msg}"));
        let mut base = Url::parse(config.base_url.trim())
            .map_err(|e| cfg_err(format!("field `baseUrl`: {e}")))?;
        match base.scheme() {
            "https" => {}
            "http" => {
                let loopback = base.host().is_some_and(|h| is_loopback(&h));
                if !loopback && !config.allow_insecure_http {
                    return Err(cfg_err(
                        "field `baseUrl`: plain http sends the password unencrypted; use https (or set allowInsecureHttp)"
                            .into(),
                    ));
                }
            }
            other => {
                return Err(cfg_err(format!(
                    "field `baseUrl`: scheme must be https or http, not {other}"
                )))
            }
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(cfg_err("field `baseUrl`: must name a host".into()));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(cfg_err(
                "field `baseUrl`: must not contain credentials; use the secrets".into(),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(cfg_err(
                "field `baseUrl`: must not have a query or fragment".into(),
            ));
        }
        // Normalise to no trailing slash, so segments can be pushed.
        if let Ok(mut segs) = base.path_segments_mut() {
            segs.pop_if_empty();
        }
        let secrets = Secrets::new(NAME, secrets, &["token", "password"])?;
        let credentials = match config.auth {
            ScimAuth::Bearer => {
                if config.username.is_some() {
                    return Err(cfg_err(
                        "field `username` is only used with auth basic".into(),
                    ));
                }
                if secrets.optional("password")?.is_some() {
                    return Err(cfg_err(
                        "secret `password` is only used with auth basic; bearer needs `token`"
                            .into(),
                    ));
                }
                Credentials::Bearer(secrets.required("token")?)
            }
            ScimAuth::Basic => {
                let Some(user) = config.username.clone().filter(|u| !u.is_empty()) else {
                    return Err(cfg_err(
                        "field `username` is required with auth basic".into(),
                    ));
                };
                if user.contains(':') {
                    return Err(cfg_err("field `username` must not contain ':'".into()));
                }
                if secrets.optional("token")?.is_some() {
                    return Err(cfg_err(
                        "secret `token` is only used with auth bearer; basic needs `password`"
                            .into(),
                    ));
                }
                Credentials::Basic(user, secrets.required("password")?)
            }
        };
        let connect_timeout = common::timeout(NAME, "connectTimeoutMs", config.connect_timeout_ms)?;
        let op_timeout = common::timeout(NAME, "operationTimeoutMs", config.operation_timeout_ms)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(op_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("passbroker/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            for pem in common::read_ca_pems(NAME, "caFile", path)? {
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| cfg_err(format!("field `caFile`: {e}")))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| cfg_err(format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            client,
            credentials,
            op_timeout_ms: config.operation_timeout_ms,
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ConnectorError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                ConnectorError::Config(format!(
                    "{NAME} connector: field `baseUrl` cannot take a path"
                ))
            })?
            .extend(segments);
        Ok(url)
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Credentials::Bearer(token) => req.bearer_auth(token.as_str()),
            Credentials::Basic(user, password) => req.basic_auth(user, Some(password.as_str())),
        }
    }

    fn credential_secrets(&self) -> Vec<&str> {
        match &self.credentials {
            Credentials::Bearer(token) => vec![token.as_str()],
            Credentials::Basic(_, password) => vec![password.as_str()],
        }
    }

    fn where_(&self) -> String {
        let host = self.base.host_str().unwrap_or("?");
        match self.base.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ConnectorError> {
        self.authorize(req)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))
    }

    fn transport_error(&self, err: &reqwest::Error) -> ConnectorError {
        let mut root: &dyn std::error::Error = err;
        while let Some(next) = root.source() {
            root = next;
        }
        let root_text = common::scrub(&root.to_string(), &self.credential_secrets());
        let at = self.where_();
        if err.is_timeout() {
            return ConnectorError::Transient(format!(
                "the SCIM service at {at} did not answer within {} ms",
                self.op_timeout_ms
            ));
        }
        if root_text.to_ascii_lowercase().contains("certificate") {
            return ConnectorError::Permanent(format!(
                "TLS with the SCIM service at {at} failed: {root_text}; check baseUrl and caFile"
            ));
        }
        if err.is_builder() {
            return ConnectorError::Config(format!(
                "{NAME} connector: cannot build the request: {root_text}"
            ));
        }
        ConnectorError::Transient(format!(
            "cannot reach the SCIM service at {at}: {root_text}"
        ))
    }

    /// Maps a non-2xx response to an error, reading the SCIM error body.
    async fn refused(
        &self,
        what: &str,
        missing: &str,
        resp: reqwest::Response,
        extra_secrets: &[&str],
    ) -> ConnectorError {
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match resp.bytes().await {
            Ok(b) => b.slice(..b.len().min(MAX_ERROR_BODY)),
            Err(_) => Default::default(),
        };
        let parsed: ScimError = serde_json::from_slice(&body).unwrap_or_default();
        let mut secrets = self.credential_secrets();
        secrets.extend_from_slice(extra_secrets);
        let mut detail = String::new();
        if let Some(d) = parsed.detail.as_deref().filter(|d| !d.trim().is_empty()) {
            detail.push_str(&format!(
                ": {}",
                common::scrub(&common::safe_detail(d, &secrets), &secrets)
            ));
        }
        if let Some(t) = parsed.scim_type.as_deref().filter(|t| !t.trim().is_empty()) {
            detail.push_str(&format!(" (scimType {})", common::scrub(t, &secrets)));
        }
        let at = self.where_();
        let code = status.as_u16();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ConnectorError::Permanent(format!(
                "the SCIM service at {at} refused the service credentials for {what} (HTTP {code}){detail}; check auth and the secrets"
            )),
            StatusCode::NOT_FOUND => {
                ConnectorError::Permanent(format!("the SCIM service at {at} has no {missing} (HTTP 404){detail}"))
            }
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                ConnectorError::Transient(format!("the SCIM service at {at} is busy (HTTP {code}){detail}"))
            }
            s if s.is_server_error() => {
                ConnectorError::Transient(format!("the SCIM service at {at} failed (HTTP {code}){detail}"))
            }
            s if s.is_redirection() => ConnectorError::Permanent(format!(
                "the SCIM service at {at} redirected {what} (HTTP {code}{}); set baseUrl to the final URL",
                location.map(|l| format!(" to {l}")).unwrap_or_default()
            )),
            _ => ConnectorError::Permanent(format!("the SCIM service at {at} refused {what} (HTTP {code}){detail}")),
        }
    }
}

#[async_trait]
impl Connector for ScimConnector {
    /// SCIM cannot say whether a user has a password: the `password` attribute is never
    /// returned (RFC 7643 §4.1.1), filtering on it is not defined for service providers to
    /// honour, and SCIM has no authentication operation. So a repeated attempt writes again.
    async fn verify_password(
        &self,
        _call: SetPasswordCall<'_>,
    ) -> Result<Verification, ConnectorError> {
        Ok(Verification::Unsupported)
    }

    async fn set_password(&self, call: SetPasswordCall<'_>) -> Result<(), ConnectorError> {
        let id = call.account.native_id.as_str();
        let url = self.url(&["Users", id])?;
        let password = call.password.expose();
        let body = Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "password", "value": password}],
            }))
            .map_err(|e| {
                ConnectorError::Permanent(format!("cannot encode the SCIM request: {e}"))
            })?,
        );
        let req = self
            .client
            .patch(url)
            .header(header::CONTENT_TYPE, SCIM_JSON)
            .header(header::ACCEPT, format!("{SCIM_JSON}, application/json"))
            .body(body.to_vec());
        let resp = self.send(req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self
            .refused(
                &format!("the password change of user {id}"),
                &format!("user {id}"),
                resp,
                &[password],
            )
            .await)
    }

    async fn check(&self) -> Result<String, ConnectorError> {
        // ServiceProviderConfig may be public; it tells whether password changes are offered.
        let spc = self
            .send(
                self.client
                    .get(self.url(&["ServiceProviderConfig"])?)
                    .header(header::ACCEPT, SCIM_JSON),
            )
            .await?;
        let mut change_password: Option<bool> = None;
        if spc.status().is_success() {
            if let Ok(v) = spc.json::<serde_json::Value>().await {
                change_password = v
                    .pointer("/changePassword/supported")
                    .and_then(serde_json::Value::as_bool);
            }
        } else if !matches!(spc.status(), StatusCode::NOT_FOUND) {
            return Err(self
                .refused("ServiceProviderConfig", "ServiceProviderConfig", spc, &[])
                .await);
        }
        if change_password == Some(false) {
            return Err(ConnectorError::Permanent(format!(
                "the SCIM service at {} says it does not support password changes (changePassword.supported is false)",
                self.where_()
            )));
        }
        // Listing one user proves the credentials.
        let mut users = self.url(&["Users"])?;
        users
            .query_pairs_mut()
            .append_pair("count", "1")
            .append_pair("attributes", "id");
        let resp = self
            .send(self.client.get(users).header(header::ACCEPT, SCIM_JSON))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .refused(
                    "the Users endpoint",
                    "Users endpoint (check baseUrl)",
                    resp,
                    &[],
                )
                .await);
        }
        Ok(format!(
            "SCIM service at {}: authenticated with {}{}",
            self.base,
            match self.credentials {
                Credentials::Bearer(_) => "a bearer token",
                Credentials::Basic(..) => "basic auth",
            },
            match change_password {
                Some(true) => "; changePassword supported",
                _ => "",
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(
        config: serde_json::Value,
        secrets: serde_json::Value,
    ) -> Result<ScimConnector, ConnectorError> {
        ScimConnector::from_json(&config, Some(&secrets))
    }

    #[test]
    fn user_ids_are_one_encoded_segment() {
        let c = build(
            serde_json::json!({"baseUrl": "https://idp.example/scim/v2/"}),
            serde_json::json!({"token": "t0ken"}),
        );
        let url = c
            .and_then(|c| c.url(&["Users", "a/b?c d"]))
            .map(|u| u.to_string())
            .unwrap_or_default();
        assert_eq!(url, "https://idp.example/scim/v2/Users/a%2Fb%3Fc%20d");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let s = serde_json::json!({"token": "t0ken"});
        assert!(build(
            serde_json::json!({"baseUrl": "http://127.0.0.1:8080"}),
            s.clone()
        )
        .is_ok());
        let err = build(
            serde_json::json!({"baseUrl": "http://idp.example"}),
            s.clone(),
        )
        .err()
        .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("baseUrl")));
        assert!(build(
            serde_json::json!({"baseUrl": "http://idp.example", "allowInsecureHttp": true}),
            s
        )
        .is_ok());
    }
}
