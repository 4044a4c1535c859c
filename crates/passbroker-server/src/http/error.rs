//! The one place where errors become HTTP responses.
//!
//! 400/403/404/405/409/413/415/500 carry ISC's `ErrorResponseDto` with a `trackingId` that the
//! request's log line carries too; 401 is `{"error": "…"}`; 429 is
//! `{"message": " Rate Limit Exceeded "}` with an integer `Retry-After`; 503 (the store is
//! unavailable: [`StoreError::Unavailable`]) has ISC's shape, a cause and a `Retry-After`.
//! 5xx bodies never carry internals: the detail goes to the log under the tracking id.

use crate::pipeline::pipeline_error::PipelineError;
use crate::telemetry::current_tracking_id;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passbroker_core::DomainError;
use passbroker_store::StoreError;
use passbroker_wire::{ErrorMessageDto, ErrorResponseDto};

/// A cause: which field or rule failed, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause(pub String);

impl From<DomainError> for Cause {
    fn from(e: DomainError) -> Self {
        Cause(format!("{}: {}", e.field, e.message))
    }
}

#[derive(Debug)]
pub enum ApiError {
    BadRequest(Vec<Cause>),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed,
    Conflict(Vec<Cause>),
    PayloadTooLarge(String),
    UnsupportedMediaType(String),
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Something broke inside; the text is logged, never sent.
    Internal(String),
    /// The store or another dependency is not reachable right now.
    Unavailable(String),
}

impl ApiError {
    pub fn bad_request(cause: impl Into<String>) -> Self {
        ApiError::BadRequest(vec![Cause(cause.into())])
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }
    pub fn forbidden(why: impl Into<String>) -> Self {
        ApiError::Forbidden(why.into())
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::Conflict(vec![Cause(m)]),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Unavailable(m) | StoreError::Busy(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The pipeline's errors, by kind: the one place they become HTTP.
impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Transient(m) => ApiError::Unavailable(m),
            PipelineError::Permanent(m) => ApiError::Conflict(vec![Cause(m)]),
            PipelineError::InvalidInput(m) => ApiError::BadRequest(vec![Cause(m)]),
            PipelineError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::BadRequest(vec![e.into()])
    }
}

/// Localised generic messages. English is always present; one more locale is added when the
/// caller's `Accept-Language` asks for one we have.
fn generic_message(status: StatusCode, lang: &str) -> Option<&'static str> {
    let code = status.as_u16();
    match (lang, code) {
        ("en", 400) => {
            Some("The request was syntactically correct but its content is semantically invalid.")
        }
        ("en", 403) => Some("The server understood the request but refuses to authorize it."),
        ("en", 404) => {
            Some("The server did not find a current representation for the target resource.")
        }
        ("en", 405) => Some("The method is not allowed on this resource."),
        ("en", 409) => Some("The request conflicts with the current state of the resource."),
        ("en", 413) => Some("The request body is larger than the server accepts."),
        ("en", 415) => Some("The request body has a media type the server does not accept."),
        ("en", 500) => Some("An internal fault occurred."),
        ("en", 503) => Some("The service is temporarily unavailable; try again shortly."),
        ("de", 400) => Some("Die Anfrage ist syntaktisch korrekt, ihr Inhalt aber ungültig."),
        ("de", 403) => {
            Some("Der Server hat die Anfrage verstanden, verweigert aber die Berechtigung.")
        }
        ("de", 404) => Some("Der Server hat die angeforderte Ressource nicht gefunden."),
        ("de", 500) => Some("Ein interner Fehler ist aufgetreten."),
        ("fr", 400) => {
            Some("La requête est syntaxiquement correcte mais son contenu est invalide.")
        }
        ("fr", 403) => Some("Le serveur a compris la requête mais refuse de l'autoriser."),
        ("fr", 404) => Some("Le serveur n'a pas trouvé la ressource demandée."),
        ("fr", 500) => Some("Une erreur interne s'est produite."),
        _ => None,
    }
}

fn detail_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "400.1 Bad Request Content",
        403 => "403 Forbidden",
        404 => "404 Not found",
        405 => "405 Method Not Allowed",
        409 => "409 Conflict",
        413 => "413 Payload Too Large",
        415 => "415 Unsupported Media Type",
        503 => "503 Service Unavailable",
        _ => "500.0 Internal Fault",
    }
}

/// Most causes one error response lists (the last one then says how many were left out).
pub const MAX_CAUSES: usize = 100;
/// Longest cause sent, in characters (longer ones end in `…`).
pub const MAX_CAUSE_CHARS: usize = 1_000;

/// The causes as sent: a request of a few KB must never be answered with megabytes (a 64 KB
/// array of bad values drew 5 MB of causes, and one cause could quote a whole document).
fn bounded_causes(causes: &[Cause]) -> Vec<String> {
    let shown = if causes.len() > MAX_CAUSES {
        MAX_CAUSES - 1
    } else {
        causes.len()
    };
    let mut out: Vec<String> = causes[..shown]
        .iter()
        .map(|c| match c.0.char_indices().nth(MAX_CAUSE_CHARS) {
            Some((end, _)) => format!("{}…", &c.0[..end]),
            None => c.0.clone(),
        })
        .collect();
    if causes.len() > shown {
        out.push(format!(
            "{} more problems are not listed",
            causes.len() - shown
        ));
    }
    out
}

/// Builds an `ErrorResponseDto` response. `lang` is the caller's preferred language, if any.
pub fn error_body(status: StatusCode, causes: &[Cause], lang: Option<&str>) -> Response {
    let tracking_id = current_tracking_id();
    let mut messages = vec![ErrorMessageDto {
        locale: Some("en-US".into()),
        locale_origin: Some("DEFAULT".into()),
        text: generic_message(status, "en")
            .unwrap_or("An error occurred.")
            .into(),
    }];
    if let Some(lang) = lang.filter(|l| *l != "en") {
        if let Some(text) = generic_message(status, lang) {
            messages.push(ErrorMessageDto {
                locale: Some(lang.into()),
                locale_origin: Some("REQUEST".into()),
                text: text.into(),
            });
        }
    }
    let body = ErrorResponseDto {
        detail_code: detail_code(status).into(),
        tracking_id,
        messages,
        causes: bounded_causes(causes)
            .into_iter()
            .map(|text| ErrorMessageDto {
                locale: Some("en-US".into()),
                locale_origin: Some("DEFAULT".into()),
                text,
            })
            .collect(),
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let lang = crate::telemetry::current_language();
        let lang = lang.as_deref();
        match self {
            ApiError::BadRequest(causes) => error_body(StatusCode::BAD_REQUEST, &causes, lang),
            ApiError::Unauthorized(msg) => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({ "error": msg })),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Forbidden(msg) => error_body(StatusCode::FORBIDDEN, &[Cause(msg)], lang),
            ApiError::NotFound(msg) => error_body(StatusCode::NOT_FOUND, &[Cause(msg)], lang),
            ApiError::MethodNotAllowed => error_body(
                StatusCode::METHOD_NOT_ALLOWED,
                &[Cause("this path does not accept this HTTP method".into())],
                lang,
            ),
            ApiError::Conflict(causes) => error_body(StatusCode::CONFLICT, &causes, lang),
            ApiError::PayloadTooLarge(msg) => {
                error_body(StatusCode::PAYLOAD_TOO_LARGE, &[Cause(msg)], lang)
            }
            ApiError::UnsupportedMediaType(msg) => {
                error_body(StatusCode::UNSUPPORTED_MEDIA_TYPE, &[Cause(msg)], lang)
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(serde_json::json!({ "message": " Rate Limit Exceeded " })),
                )
                    .into_response();
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
                r
            }
            ApiError::Internal(detail) => {
                tracing::error!(tracking_id = %current_tracking_id(), error = %detail, "internal error");
                error_body(StatusCode::INTERNAL_SERVER_ERROR, &[], lang)
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(tracking_id = %current_tracking_id(), error = %detail, "dependency unavailable");
                let mut r = error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &[Cause(
                        "the database is unavailable; nothing was changed, try again shortly"
                            .into(),
                    )],
                    lang,
                );
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
                r
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The `Retry-After` of a 503: long enough for a database restart or a lock to pass, short
/// enough that a client does not wait much longer than the outage.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardening_causes_are_bounded_in_number_and_length() {
        let many: Vec<Cause> = (0..5000)
            .map(|i| Cause(format!("features[{i}]: bad")))
            .collect();
        let out = bounded_causes(&many);
        assert_eq!(out.len(), MAX_CAUSES);
        assert_eq!(out[98], "features[98]: bad");
        assert_eq!(out[99], "4901 more problems are not listed");
        let exactly: Vec<Cause> = (0..MAX_CAUSES).map(|i| Cause(i.to_string())).collect();
        assert_eq!(bounded_causes(&exactly).last().unwrap(), "99");
        let long = bounded_causes(&[Cause("é".repeat(5000))]);
        assert_eq!(long[0].chars().count(), MAX_CAUSE_CHARS + 1);
        assert!(long[0].ends_with('…'));
    }
}
