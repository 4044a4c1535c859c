//! `GET /passbroker/v1/pwned/range/{prefix}`: the breach corpus in the Pwned Passwords range
//! format (k-anonymity: the caller sends five hex digits of a hash and gets every suffix
//! under them), `Add-Padding: true` honoured, `?mode=ntlm` for NTLM hashes. Public or
//! token-protected by `breach_range_public`; public callers are rate limited per address.

use super::extract::ApiPath;
use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passbroker_breach::{parse_prefix, HashKind};
use std::collections::HashMap;

/// The route, as the router and the gate name it.
pub const RANGE_ROUTE: &str = crate::http::public::BREACH_RANGE_ROUTE;

/// As Pwned Passwords: ranges change rarely, so clients and proxies may keep them a month.
const CACHE_CONTROL: &str = "public, max-age=2678400";

pub async fn range(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    ApiPath(prefix): ApiPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if state.config.breach_range_public {
        let now = state.clock.now();
        let address = crate::http::auth::client_ip(&extensions)
            .map_or_else(|| "local".to_owned(), crate::http::ratelimit::address_key);
        if let Err(retry_after_secs) = state.range_limit.check(&address, now) {
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
    } else if extensions.get::<Authenticated>().is_none() {
        return Err(ApiError::Unauthorized(
            "Full authentication is required to access this resource".into(),
        ));
    }
    let prefix = parse_prefix(&prefix).ok_or_else(|| {
        ApiError::bad_request(format!(
            "prefix: must be exactly five hexadecimal digits (the first five of the hash), got {:?}",
            prefix.chars().take(40).collect::<String>()
        ))
    })?;
    let kind = match query.get("mode").map(String::as_str) {
        None | Some("sha1") => HashKind::Sha1,
        Some("ntlm") => HashKind::Ntlm,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mode: use ntlm, or leave it out for SHA-1; got {:?}",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let padding = headers
        .get("add-padding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let entries = state
        .breach
        .range(kind, prefix)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no {} breach corpus on this server (passbroker breach import)",
                kind.name()
            ))
        })?;
    let body = passbroker_breach::range::format(kind, entries, padding);
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(header::VARY, HeaderValue::from_static("Add-Padding"));
    Ok(response)
}
