//! Custom password instructions (`/beta`, `/v2024`, `/v2025` and `/…/v1`):
//! `POST /custom-password-instructions`, `GET/DELETE /custom-password-instructions/{pageId}`.
//! Only while the org config's `customInstructionsEnabled` is on; ISC answers 400 otherwise.

use super::admin_support::{causes, ExperimentalGate};
use super::extract::{ApiJson, ApiPath};
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::Json;
use passbroker_store::CustomInstruction;
use serde::Deserialize;
use serde_json::{json, Value};

// ISC lists `userAuth: []` (no particular scope) and the ORG_ADMIN level.
operation!(
    ManageCustomInstructions,
    "custom-password-instructions",
    Access::AdminsOnly,
    ["sp:scopes:default"]
);

/// ISC's page ids (the login and recovery screens the text can appear on).
pub const PAGE_IDS: &[&str] = &[
    "change-password:enter-password",
    "change-password:finish",
    "flow-selection:select",
    "forget-username:user-email",
    "mfa:enter-code",
    "mfa:enter-kba",
    "mfa:select",
    "reset-password:enter-password",
    "reset-password:enter-username",
    "reset-password:finish",
    "unlock-account:enter-username",
    "unlock-account:finish",
];
/// The locale of instructions stored without one.
pub const DEFAULT_LOCALE: &str = "default";
/// Longest page content, in characters.
pub const MAX_CONTENT_CHARS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstructionBody {
    page_id: Option<String>,
    page_content: Option<String>,
    locale: Option<String>,
}

fn to_json(c: &CustomInstruction) -> Value {
    json!({ "pageId": c.page_id, "pageContent": c.content, "locale": c.locale })
}

fn valid_locale(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 35
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_page(page_id: &str, field: &str) -> Result<(), String> {
    if PAGE_IDS.contains(&page_id) {
        Ok(())
    } else {
        Err(format!(
            "{field}: {page_id:?} is not a page id; use one of {}",
            PAGE_IDS.join(", ")
        ))
    }
}

/// 400 unless the org config switches the feature on (ISC's behaviour).
async fn require_enabled(state: &AppState) -> ApiResult<()> {
    if super::org_config::current(state)
        .await?
        .custom_instructions_enabled
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "customInstructionsEnabled: custom password instructions are switched off in the password org config; turn them on with PUT /password-org-config {\"customInstructionsEnabled\": true}",
        ))
    }
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<ManageCustomInstructions>,
    _gate: ExperimentalGate,
    ApiJson(body): ApiJson<InstructionBody>,
) -> ApiResult<Json<Value>> {
    require_enabled(&state).await?;
    let mut problems = Vec::new();
    let page_id = body.page_id.clone().unwrap_or_default();
    if let Err(e) = check_page(&page_id, "pageId") {
        problems.push(e);
    }
    let content = body.page_content.clone().unwrap_or_default();
    if content.trim().is_empty() {
        problems.push("pageContent: is required".to_owned());
    } else if content.chars().count() > MAX_CONTENT_CHARS {
        problems.push(format!(
            "pageContent: must be at most {MAX_CONTENT_CHARS} characters"
        ));
    }
    let locale = body
        .locale
        .clone()
        .unwrap_or_else(|| DEFAULT_LOCALE.to_owned());
    if !valid_locale(&locale) {
        problems.push(format!(
            "locale: {locale:?} is not a locale such as en, en-US or default"
        ));
    }
    if !problems.is_empty() {
        return Err(causes(problems));
    }
    let instruction = CustomInstruction {
        page_id,
        locale,
        content,
        modified: state.clock.now(),
    };
    state.store.put_custom_instruction(&instruction).await?;
    Ok(Json(to_json(&instruction)))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<ManageCustomInstructions>,
    _gate: ExperimentalGate,
    ApiPath(page_id): ApiPath<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    require_enabled(&state).await?;
    check_page(&page_id, "pageId").map_err(ApiError::bad_request)?;
    let locale = super::admin_support::query_param(&uri, "locale")?
        .unwrap_or_else(|| DEFAULT_LOCALE.to_owned());
    let found = match state
        .store
        .get_custom_instruction(&page_id, &locale)
        .await?
    {
        Some(c) => Some(c),
        None => {
            state
                .store
                .get_custom_instruction(&page_id, DEFAULT_LOCALE)
                .await?
        }
    };
    let found = found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no custom password instructions for page {page_id:?} and locale {locale:?}"
        ))
    })?;
    Ok(Json(to_json(&found)))
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized<ManageCustomInstructions>,
    _gate: ExperimentalGate,
    ApiPath(page_id): ApiPath<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    require_enabled(&state).await?;
    check_page(&page_id, "pageId").map_err(ApiError::bad_request)?;
    let locale = super::admin_support::query_param(&uri, "locale")?
        .unwrap_or_else(|| DEFAULT_LOCALE.to_owned());
    if state
        .store
        .delete_custom_instruction(&page_id, &locale)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no custom password instructions for page {page_id:?} and locale {locale:?}"
        )))
    }
}
