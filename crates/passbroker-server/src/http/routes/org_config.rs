//! The password org config: `GET/POST/PUT /password-org-config` with ISC's defaults and
//! ranges. POST creates it (400 when one exists, as the spec lists no 409); PUT changes only
//! the fields it is given.

use super::admin_support::causes;
use super::extract::ApiJson;
use crate::http::auth::{Access, Authorized};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::operation;
use axum::extract::State;
use axum::Json;
use passbroker_core::org_config::OrgPasswordConfig;
use passbroker_store::WriteOp;
use serde::{Deserialize, Serialize};

operation!(
    GetPasswordOrgConfig,
    "getPasswordOrgConfig",
    Access::AppsAndAdmins,
    [
        "idn:password-org-config:read",
        "idn:password-org-config:manage"
    ]
);
operation!(
    ManagePasswordOrgConfig,
    "createPasswordOrgConfig/putPasswordOrgConfig",
    Access::AppsAndAdmins,
    ["idn:password-org-config:manage"]
);

/// ISC's `PasswordOrgConfig`; every field optional in requests.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgConfigBody {
    custom_instructions_enabled: Option<bool>,
    digit_token_enabled: Option<bool>,
    digit_token_duration_minutes: Option<i64>,
    digit_token_length: Option<i64>,
}

impl OrgConfigBody {
    fn over(&self, base: OrgPasswordConfig) -> OrgPasswordConfig {
        OrgPasswordConfig {
            custom_instructions_enabled: self
                .custom_instructions_enabled
                .unwrap_or(base.custom_instructions_enabled),
            digit_token_enabled: self.digit_token_enabled.unwrap_or(base.digit_token_enabled),
            digit_token_duration_minutes: self
                .digit_token_duration_minutes
                .unwrap_or(base.digit_token_duration_minutes),
            digit_token_length: self.digit_token_length.unwrap_or(base.digit_token_length),
        }
    }
}

fn to_body(c: &OrgPasswordConfig) -> OrgConfigBody {
    OrgConfigBody {
        custom_instructions_enabled: Some(c.custom_instructions_enabled),
        digit_token_enabled: Some(c.digit_token_enabled),
        digit_token_duration_minutes: Some(c.digit_token_duration_minutes),
        digit_token_length: Some(c.digit_token_length),
    }
}

/// The org config in force: the stored one, or ISC's defaults.
pub async fn current(state: &AppState) -> ApiResult<OrgPasswordConfig> {
    Ok(state.store.get_org_config().await?.unwrap_or_default())
}

async fn save(state: &AppState, config: OrgPasswordConfig) -> ApiResult<Json<OrgConfigBody>> {
    config.validate().map_err(causes)?;
    state
        .store
        .apply(vec![WriteOp::PutOrgConfig(config.clone())])
        .await?;
    Ok(Json(to_body(&config)))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized<GetPasswordOrgConfig>,
) -> ApiResult<Json<OrgConfigBody>> {
    Ok(Json(to_body(&current(&state).await?)))
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized<ManagePasswordOrgConfig>,
    ApiJson(body): ApiJson<OrgConfigBody>,
) -> ApiResult<Json<OrgConfigBody>> {
    if state.store.get_org_config().await?.is_some() {
        return Err(ApiError::bad_request(
            "the password org config already exists; change it with PUT /password-org-config",
        ));
    }
    save(&state, body.over(OrgPasswordConfig::default())).await
}

pub async fn update(
    State(state): State<AppState>,
    _auth: Authorized<ManagePasswordOrgConfig>,
    ApiJson(body): ApiJson<OrgConfigBody>,
) -> ApiResult<Json<OrgConfigBody>> {
    let base = current(&state).await?;
    save(&state, body.over(base)).await
}
