//! Pieces shared by the admin API modules: the experimental-header gate, paged list
//! responses, ISC `filters` parsing, and path-form helpers.

use super::extract::Paging;
use crate::http::error::{ApiError, Cause};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_store::Match;
use serde::Serialize;

/// ISC's API families that carry the admin operations (`/v3`, `/beta`, `/v2024`, `/v2025`).
pub const FAMILIES: &[&str] = &["v3", "beta", "v2024", "v2025"];

/// Marks a route whose operation ISC's OpenAPI declares experimental (a required
/// `X-SailPoint-Experimental` header). Added with `.layer(Extension(ExperimentalRoute))`.
#[derive(Debug, Clone, Copy)]
pub struct ExperimentalRoute;

/// Refuses (400, as ISC does) a call to an experimental route without
/// `X-SailPoint-Experimental: true`. Put it after `Authorized<…>` so 401/403 come first.
pub struct ExperimentalGate;

impl<S: Send + Sync> FromRequestParts<S> for ExperimentalGate {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        if parts.extensions.get::<ExperimentalRoute>().is_none() {
            return Ok(ExperimentalGate);
        }
        let ok = parts
            .headers
            .get("x-sailpoint-experimental")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if ok {
            Ok(ExperimentalGate)
        } else {
            Err(ApiError::bad_request(
                "X-SailPoint-Experimental: this operation is experimental in this API version; send the header X-SailPoint-Experimental: true to use it",
            ))
        }
    }
}

/// A JSON list with `X-Total-Count` when the caller asked for `count=true`.
pub fn paged<T: Serialize>(paging: &Paging, items: Vec<T>, total: u64) -> Response {
    let mut headers = HeaderMap::new();
    if paging.count {
        headers.insert("x-total-count", HeaderValue::from(total));
    }
    (StatusCode::OK, headers, Json(items)).into_response()
}

/// Turns a list of rule violations into one 400 that lists them all.
pub fn causes<E: std::fmt::Display>(errors: impl IntoIterator<Item = E>) -> ApiError {
    ApiError::BadRequest(errors.into_iter().map(|e| Cause(e.to_string())).collect())
}

/// One condition of ISC's `filters` parameter: `field op value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTerm {
    pub field: String,
    pub matcher: Match,
}

/// Parses the subset of ISC's filter syntax the lists support: terms
/// `field eq "v"`, `field sw "v"`, `field in ("a", "b")` joined by `and`.
pub fn parse_filters(text: &str) -> Result<Vec<FilterTerm>, ApiError> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    let bad = |why: &str| {
        ApiError::bad_request(format!("filters: {why}; use terms such as name eq \"x\", name sw \"x\" or id in (\"a\", \"b\") joined by and"))
    };
    while !rest.is_empty() {
        let (field, after) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("a term has no operator"))?;
        let after = after.trim_start();
        let (op, after) = after
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("a term has no value"))?;
        let mut after = after.trim_start();
        let matcher = match op.to_ascii_lowercase().as_str() {
            "eq" | "sw" => {
                let (value, r) =
                    quoted(after).ok_or_else(|| bad("values must be in double quotes"))?;
                after = r;
                if op.eq_ignore_ascii_case("eq") {
                    Match::Eq(value)
                } else {
                    Match::StartsWith(value)
                }
            }
            "in" => {
                let mut values = Vec::new();
                after = after
                    .strip_prefix('(')
                    .ok_or_else(|| bad("in needs a list in parentheses"))?
                    .trim_start();
                loop {
                    let (value, r) =
                        quoted(after).ok_or_else(|| bad("values must be in double quotes"))?;
                    values.push(value);
                    let r = r.trim_start();
                    if let Some(r) = r.strip_prefix(',') {
                        after = r.trim_start();
                    } else {
                        after = r
                            .strip_prefix(')')
                            .ok_or_else(|| bad("the in list is not closed"))?;
                        break;
                    }
                }
                Match::In(values)
            }
            other => return Err(bad(&format!("operator {other:?} is not supported"))),
        };
        out.push(FilterTerm {
            field: field.to_owned(),
            matcher,
        });
        rest = after.trim_start();
        if rest.is_empty() {
            break;
        }
        let (and, r) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("terms must be joined by and"))?;
        if !and.eq_ignore_ascii_case("and") {
            return Err(bad("terms must be joined by and"));
        }
        rest = r.trim_start();
    }
    Ok(out)
}

/// A double-quoted string with `\"` and `\\` escapes; returns it and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, &s[i + 2..])),
            c => value.push(c),
        }
    }
    None
}

/// Reads `filters` from the query string (absent: no conditions).
pub fn query_filters(query: Option<&str>) -> Result<Vec<FilterTerm>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("the query string is malformed"))?;
    match pairs.into_iter().find(|(k, _)| k == "filters") {
        Some((_, v)) => parse_filters(&v),
        None => Ok(Vec::new()),
    }
}

/// One query-string parameter (the first of that name), as a 400 when the query is malformed.
pub fn query_param(uri: &axum::http::Uri, name: &str) -> Result<Option<String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|_| ApiError::bad_request("the query string is malformed"))?;
    Ok(pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
}

/// The error for a filter on a field a list does not support.
pub fn unsupported_filter(field: &str, supported: &str) -> ApiError {
    ApiError::bad_request(format!(
        "filters: the field {field:?} cannot be filtered on here; supported: {supported}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = parse_filters(r#"name eq "Abby \"A\" Smith" and id in ("a", "b") AND name sw "x""#)
            .unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].matcher, Match::Eq("Abby \"A\" Smith".into()));
        assert_eq!(f[1].matcher, Match::In(vec!["a".into(), "b".into()]));
        assert_eq!(f[2].matcher, Match::StartsWith("x".into()));
        for bad in [
            "name",
            "name eq",
            "name eq x",
            "name gt \"1\"",
            "name eq \"x\" or id eq \"y\"",
            "id in (\"a\"",
        ] {
            assert!(parse_filters(bad).is_err(), "{bad}");
        }
    }
}
