//! Extractors whose rejections use the ISC error shape (never axum's plain-text bodies).

use crate::http::error::{ApiError, Cause};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body. Wrong media type: 415; too large: 413; bad JSON: 400 with where it broke.
pub struct ApiJson<T>(pub T);

fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the request body is larger than this server accepts".into())
    } else {
        ApiError::bad_request(format!("the request body could not be read: {e}"))
    }
}

pub fn is_json_content_type(parts_headers: &axum::http::HeaderMap) -> bool {
    parts_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as application/json".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, reporting the path and position of the first problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON object is required",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON: {inner}")
        } else if path == "." {
            format!("the body has the wrong shape: {inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::BadRequest(vec![Cause(text)])
    })
}

/// A path parameter, with a 404 (not a 400 or 500) when it does not decode.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| {
                ApiError::not_found(format!("no such resource ({})", e.body_text()))
            })
    }
}

/// `?limit=&offset=&count=` as ISC pages lists.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: u64,
    pub offset: u64,
    pub count: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut paging = Paging {
            limit: 250,
            offset: 0,
            count: false,
        };
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::bad_request("the query string is malformed"))?;
        for (k, v) in pairs {
            match k.as_str() {
                "limit" => {
                    paging.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (0..=250).contains(n))
                        .ok_or_else(|| {
                            ApiError::bad_request("limit: must be an integer from 0 to 250")
                        })?;
                }
                "offset" => {
                    paging.offset = v
                        .parse()
                        .ok()
                        .filter(|n| *n <= i64::MAX as u64)
                        .ok_or_else(|| {
                            ApiError::bad_request("offset: must be a non-negative integer")
                        })?;
                }
                "count" => {
                    paging.count = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ApiError::bad_request("count: must be true or false")),
                    }
                }
                _ => {}
            }
        }
        Ok(paging)
    }
}

impl Paging {
    pub fn page(&self) -> passbroker_store::Page {
        passbroker_store::Page::new(self.offset, self.limit)
    }
}
