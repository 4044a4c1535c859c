//! The wire types of ISC's password API, shared by the server and the `passbroker`
//! command-line client. Field names follow SailPoint's published OpenAPI exactly.

use serde::{Deserialize, Serialize};

/// `POST query-password-info` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordInfoQueryDto {
    pub user_name: Option<String>,
    pub source_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordInfoAccount {
    pub account_id: String,
    pub account_name: String,
}

/// `query-password-info` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordInfo {
    pub identity_id: String,
    pub source_id: String,
    pub public_key_id: String,
    pub public_key: String,
    pub accounts: Vec<PasswordInfoAccount>,
    pub policies: Vec<String>,
}

/// `POST set-password` body. `encryption` is passbroker's opt-in extension: absent (ISC
/// clients) means RSA PKCS#1 v1.5; `"RSA-OAEP-256"` selects RSA-OAEP with SHA-256.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChangeRequestDto {
    pub identity_id: Option<String>,
    pub encrypted_password: Option<String>,
    pub public_key_id: Option<String>,
    pub account_id: Option<String>,
    pub source_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
}

/// `set-password` answer (202).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChangeResponse {
    pub request_id: Option<String>,
    pub state: String,
}

/// `password-change-status/{id}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordStatus {
    pub request_id: Option<String>,
    pub state: String,
    pub errors: Vec<String>,
    pub source_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessageDto {
    pub locale: Option<String>,
    pub locale_origin: Option<String>,
    pub text: String,
}

/// ISC's error body for 400/403/404/405/409/413/415/500.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponseDto {
    pub detail_code: String,
    pub tracking_id: String,
    pub messages: Vec<ErrorMessageDto>,
    pub causes: Vec<ErrorMessageDto>,
}

/// `POST /oauth/token` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// `POST /passbroker/v1/captured-passwords` body (passbroker's own API, for capture agents):
/// a password changed at `sourceId` (the origin directory) on the account `nativeIdentity`,
/// encrypted to the server's published key like set-password's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturedPasswordDto {
    pub source_id: Option<String>,
    pub native_identity: Option<String>,
    pub encrypted_password: Option<String>,
    pub public_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// When the agent captured the change (RFC 3339).
    pub captured_at: Option<String>,
    /// The agent's own key for this change; a repost with the same key (by the same API
    /// client) returns the first request.
    pub idempotency_key: Option<String>,
}

/// `captured-passwords` answer: the request that carries the change (`disposition`
/// `QUEUED` or `DUPLICATE`, 202), or, for the echo of a change passbroker itself made
/// (`ECHO`, 200), the request that made it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CapturedPasswordResponse {
    pub request_id: Option<String>,
    pub state: String,
    pub disposition: String,
}
