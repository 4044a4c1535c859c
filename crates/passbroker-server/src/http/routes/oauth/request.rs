//! Reading a token request: its parameters (form, multipart, JSON or query string) and
//! HTTP Basic client credentials.

use super::OAuthError;
use crate::http::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use base64::Engine;
use std::collections::HashMap;

/// Reads the token request's parameters from a form-urlencoded or multipart body, falling
/// back to the query string (ISC accepts both).
pub(super) async fn read_params(
    state: &AppState,
    req: Request,
) -> Result<HashMap<String, String>, OAuthError> {
    let mut params: HashMap<String, String> = HashMap::new();
    if let Some(q) = req.uri().query() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
            .map_err(|_| OAuthError::invalid_request("the query string is malformed"))?;
        params.extend(pairs);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| {
                OAuthError::invalid_request(format!(
                    "the multipart body is malformed: {}",
                    e.body_text()
                ))
            })?;
        while let Some(field) = multipart.next_field().await.map_err(|e| {
            OAuthError::invalid_request(format!("the multipart body is malformed: {e}"))
        })? {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            let value = field
                .text()
                .await
                .map_err(|e| OAuthError::invalid_request(format!("field {name}: {e}")))?;
            params.insert(name, value);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| OAuthError::invalid_request(format!("the body could not be read: {e}")))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| OAuthError::invalid_request("the form body is malformed"))?;
        params.extend(pairs);
    } else if content_type.starts_with("application/json") {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| OAuthError::invalid_request(format!("the body could not be read: {e}")))?;
        let v: HashMap<String, serde_json::Value> = serde_json::from_slice(&bytes)
            .map_err(|_| OAuthError::invalid_request("the JSON body is malformed"))?;
        for (k, v) in v {
            if let Some(s) = v.as_str() {
                params.insert(k, s.to_owned());
            }
        }
    }
    Ok(params)
}

/// Client credentials from HTTP Basic, if given.
pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id: String = url_decode(id);
    Some((id, url_decode(secret)))
}

fn url_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|mut v| v.pop())
        .map(|(_, v)| v)
        .unwrap_or_else(|| s.to_owned())
}
