//! The org password dictionary: `GET /password-dictionary` (text/plain) and
//! `PUT /password-dictionary` (multipart/form-data, field `file`), with ISC's file rules;
//! every problem is reported with its line number and nothing is stored unless all is well.

use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult, Cause};
use crate::http::state::AppState;
use crate::operation;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use passbroker_core::policy::dictionary::Dictionary;
use passbroker_store::WriteOp;

operation!(
    GetPasswordDictionary,
    "getPasswordDictionary",
    Access::AdminsOnly,
    [
        "idn:password-dictionary:read",
        "idn:password-dictionary:manage"
    ]
);
operation!(
    PutPasswordDictionary,
    "putPasswordDictionary",
    Access::AdminsOnly,
    ["idn:password-dictionary:manage"]
);

/// Largest upload accepted: 2,500 words of 128 code points (4 bytes each) plus comments.
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<GetPasswordDictionary>,
) -> ApiResult<Response> {
    let text = state.store.get_dictionary().await?.ok_or_else(|| ApiError::not_found("no password dictionary has been uploaded yet; upload one with PUT /v3/password-dictionary"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Reads the `file` field of a multipart body.
async fn read_file(req: Request, state: &AppState) -> ApiResult<Vec<u8>> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    // 400, not 415: ISC's specification lists no 415 for this operation, and SDKs map the
    // statuses it lists.
    if !is_multipart {
        return Err(ApiError::bad_request(
            "Content-Type: send the dictionary as multipart/form-data with the file in a field named file",
        ));
    }
    let mut multipart = Multipart::from_request(req, state).await.map_err(|e| {
        ApiError::bad_request(format!(
            "the multipart body is malformed: {}",
            e.body_text()
        ))
    })?;
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the dictionary file is larger than {MAX_UPLOAD_BYTES} bytes"
            ))
        } else {
            ApiError::bad_request(format!(
                "the multipart body is malformed: {}",
                e.body_text()
            ))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() == Some("file") {
            return Ok(field.bytes().await.map_err(malformed)?.to_vec());
        }
    }
    Err(ApiError::bad_request(
        "file: the multipart body has no field named file",
    ))
}

pub async fn put(
    State(state): State<AppState>,
    _auth: Authorized<PutPasswordDictionary>,
    req: Request,
) -> ApiResult<StatusCode> {
    let bytes = read_file(req, &state).await?;
    let dictionary = Dictionary::parse(&bytes).map_err(|errors| {
        ApiError::BadRequest(errors.iter().map(|e| Cause(format!("file: {e}"))).collect())
    })?;
    // It parsed, so it is UTF-8; keep the file as uploaded (GET gives it back).
    let text =
        String::from_utf8(bytes).map_err(|_| ApiError::bad_request("file: is not valid UTF-8"))?;
    let existed = state.store.get_dictionary().await?.is_some();
    state
        .store
        .apply(vec![WriteOp::PutDictionary(text)])
        .await?;
    tracing::info!(words = dictionary.len(), "password dictionary replaced");
    Ok(if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    })
}
