//! `POST /passbroker/v1/captured-passwords`: a capture agent (on a domain controller, or
//! PAM on a Linux host) reports a password changed at a directory. The change goes to the
//! identity's accounts on every *other* source of the origin's sync group, as an ordinary
//! request that password-change-status follows.
//!
//! Only API clients with `passbroker:password-capture:write` (or `sp:scopes:all`) bound to
//! the origin source (`passbroker clients create --capture-source …`) may report. The
//! password is decrypted here once, to recognise it: a report of a password passbroker itself
//! just set on that account (an echo of a change that started elsewhere) is dropped and
//! audited, and the same change reported twice (several domain controllers, an agent's
//! retries) is one request. The worker decrypts it again, like any other request.

use super::extract::ApiJson;
use super::password::{ciphertext, required};
use crate::http::auth::{Access, Authorized, Principal};
use crate::http::error::{ApiError, ApiResult, Cause};
use crate::http::state::AppState;
use crate::operation;
use crate::pipeline::audit::{audit_event, Audit};
use crate::pipeline::capture::{capture_key, echo_mac, unusable_capture_key, ECHO_WINDOW_MS};
use crate::pipeline::intake;
use crate::pipeline::keyring::KeyLookupError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use passbroker_core::account::Account;
use passbroker_core::request::{Encryption, PasswordChangeRequest, RequestState};
use passbroker_core::time::Millis;
use passbroker_core::{Password, PublicKeyId, RequestId, SourceId};
use passbroker_store::CaptureReport;
use passbroker_wire::{CapturedPasswordDto, CapturedPasswordResponse};

operation!(
    CapturePassword,
    "report-captured-password",
    Access::AppsOnly,
    ["passbroker:password-capture:write"]
);

pub const ROUTE: &str = "/passbroker/v1/captured-passwords";

/// The longest agent key accepted.
const MAX_AGENT_KEY: usize = 200;

/// A report, checked: the origin account and what decrypting the payload gave.
struct Report {
    account: Account,
    public_key_id: PublicKeyId,
    encryption: Encryption,
    ciphertext: Vec<u8>,
    /// The password when the payload decrypts to a usable one.
    password: Option<Password>,
    agent_key: String,
}

pub async fn report(
    State(state): State<AppState>,
    auth: Authorized<CapturePassword>,
    ApiJson(body): ApiJson<CapturedPasswordDto>,
) -> ApiResult<Response> {
    let Principal::App(app) = &auth.principal else {
        return Err(ApiError::forbidden(
            "captured passwords are reported by API clients only",
        ));
    };
    let now = state.clock.now();
    let report = check(&state, &app.client_id, &body, now).await?;
    let capture = state.store.capture();
    let since = Millis(now.0 - state.config.idempotency_window_secs * 1000);
    if let Some(id) = capture
        .find_capture_report(&app.client_id, &report.agent_key, since)
        .await?
    {
        return answer(&state, StatusCode::ACCEPTED, id, "DUPLICATE").await;
    }
    if let Some(password) = &report.password {
        let mac = echo_mac(state.keys.secrets(), &report.account.id, password);
        let echo_since = now.plus_millis(-ECHO_WINDOW_MS);
        if let Some(origin) = capture
            .find_echo(&report.account.id, &mac, echo_since)
            .await?
        {
            audit_echo(&state, &auth.principal, &report.account, &origin, now).await;
            capture
                .record_capture_echo(&described(&app.client_id, &report, &origin, "ECHO"), now)
                .await?;
            return answer(&state, StatusCode::OK, origin, "ECHO").await;
        }
    }
    let (id, created) = enqueue(&state, &auth.principal, &report, now).await?;
    let keep_after = Millis(now.0 - state.config.idempotency_window_secs * 1000);
    let disposition = if created { "QUEUED" } else { "DUPLICATE" };
    capture
        .record_capture_report(
            &described(&app.client_id, &report, &id, disposition),
            now,
            keep_after,
        )
        .await?;
    answer(&state, StatusCode::ACCEPTED, id, disposition).await
}

/// The report as the store records it (and its events describe it: ids only).
fn described<'a>(
    client_id: &'a str,
    report: &'a Report,
    request: &'a RequestId,
    disposition: &'a str,
) -> CaptureReport<'a> {
    CaptureReport {
        client_id,
        agent_key: &report.agent_key,
        request,
        account: &report.account.id,
        source: &report.account.source_id,
        identity: &report.account.identity_id,
        disposition,
    }
}

async fn check(
    state: &AppState,
    client_id: &str,
    body: &CapturedPasswordDto,
    now: Millis,
) -> ApiResult<Report> {
    let mut causes = Vec::new();
    let source_id = required(&body.source_id, "sourceId", &mut causes);
    let native = required(&body.native_identity, "nativeIdentity", &mut causes);
    let encrypted = required(&body.encrypted_password, "encryptedPassword", &mut causes);
    let public_key_id = required(&body.public_key_id, "publicKeyId", &mut causes);
    let agent_key = required(&body.idempotency_key, "idempotencyKey", &mut causes);
    if agent_key.len() > MAX_AGENT_KEY || agent_key.chars().any(|c| c.is_control()) {
        causes.push(Cause(format!(
            "idempotencyKey: must be 1 to {MAX_AGENT_KEY} bytes without control characters"
        )));
    }
    if let Some(at) = body.captured_at.as_deref() {
        let parsed =
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339);
        if parsed.is_err() {
            causes.push(Cause(
                "capturedAt: must be an RFC 3339 time, e.g. 2026-12-02T13:00:00Z".into(),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::BadRequest(causes));
    }
    let source_id = SourceId::parse(source_id)?;
    let public_key_id = PublicKeyId::parse(public_key_id)?;
    let encryption = match body.encryption.as_deref() {
        None => Encryption::Pkcs1v15,
        Some(e) => Encryption::parse(e).ok_or_else(|| {
            ApiError::bad_request(format!(
                "encryption: unknown scheme {e:?}; use RSA-OAEP-256 or leave it out for RSA PKCS#1 v1.5"
            ))
        })?,
    };
    if encryption == Encryption::Pkcs1v15 && !state.config.allow_pkcs1v15 {
        return Err(ApiError::bad_request("encryption: RSA PKCS#1 v1.5 is switched off on this server; encrypt with RSA-OAEP (SHA-256) and send \"encryption\": \"RSA-OAEP-256\""));
    }
    let bound = state.store.capture().capture_sources(client_id).await?;
    if !bound.contains(&source_id) {
        return Err(ApiError::forbidden(format!(
            "sourceId: this API client may not report captured passwords for source {source_id}; bind it with `passbroker clients create --capture-source {source_id} …`"
        )));
    }
    if state
        .store
        .sync_group_of_source(&source_id)
        .await?
        .is_none()
    {
        return Err(ApiError::bad_request(format!(
            "sourceId: source {source_id} belongs to no password sync group, so a change captured there goes nowhere"
        )));
    }
    let account = state
        .store
        .find_account(&source_id, native)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "nativeIdentity: source {source_id} has no account {native:?}"
            ))
        })?;
    let ciphertext = ciphertext(state, &public_key_id, encrypted, now).await?;
    let password = decrypt(state, &public_key_id, encryption, &ciphertext, now).await?;
    Ok(Report {
        account,
        public_key_id,
        encryption,
        ciphertext,
        password,
        agent_key: agent_key.to_owned(),
    })
}

/// The password, when the payload decrypts (with implicit rejection) to a usable one. An
/// unusable payload is not refused here: its request fails in the worker with the generic
/// payload error, as set-password's does, so the answer does not depend on the bytes.
async fn decrypt(
    state: &AppState,
    public_key_id: &PublicKeyId,
    encryption: Encryption,
    ciphertext: &[u8],
    now: Millis,
) -> ApiResult<Option<Password>> {
    let key = match state.keys.decryption_key(public_key_id, now).await {
        Ok(k) => k,
        Err(KeyLookupError::Internal(e)) => return Err(ApiError::Unavailable(e)),
        Err(_) => return Err(ApiError::bad_request(format!("publicKeyId: {public_key_id} is not a key this server decrypts with; fetch the current key"))),
    };
    let ciphertext = ciphertext.to_vec();
    let decrypted = tokio::task::spawn_blocking(move || match encryption {
        Encryption::Pkcs1v15 => key.decrypt_pkcs1v15(&ciphertext),
        Encryption::OaepSha256 => key.decrypt_oaep_sha256(&ciphertext),
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(match decrypted.ok().map(Password::from_utf8) {
        Some(Ok(p)) if crate::pipeline::worker::usable(&p) => Some(p),
        _ => None,
    })
}

/// Queues the change for the identity's accounts on the group's other sources.
async fn enqueue(
    state: &AppState,
    principal: &Principal,
    report: &Report,
    now: Millis,
) -> ApiResult<(RequestId, bool)> {
    if let Err(retry_after_secs) = state.backlog.admit(now, state.config.request_deadline_secs) {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let origin = &report.account;
    let accounts = intake::target_accounts(
        state.store.as_ref(),
        &origin.identity_id,
        &origin.source_id,
        origin,
    )
    .await?
    .into_iter()
    .filter(|a| a.source_id != origin.source_id)
    .collect();
    let request_id = RequestId::generate();
    let tasks = intake::pending_tasks(&request_id, accounts, now);
    let key = match &report.password {
        Some(p) => capture_key(state.keys.secrets(), &origin.id, p),
        None => unusable_capture_key(&origin.id, &report.ciphertext),
    };
    let request = PasswordChangeRequest {
        id: request_id,
        identity_id: origin.identity_id.clone(),
        requested_by: principal.actor(),
        source_id: origin.source_id.clone(),
        account_ref: origin.id.clone(),
        public_key_id: report.public_key_id.clone(),
        encryption: report.encryption,
        ciphertext: Some(report.ciphertext.clone()),
        state: RequestState::InProgress,
        errors: Vec::new(),
        validated: false,
        created: now,
        deadline: now.plus_secs(state.config.request_deadline_secs),
        finished: None,
        next_attempt_at: now,
        idempotency_key: Some(key),
    };
    let since = Millis(now.0 - state.config.idempotency_window_secs * 1000);
    let queue = intake::Queue {
        store: state.store.as_ref(),
        backlog: &state.backlog,
        work_available: &state.work_available,
    };
    Ok(queue.enqueue(&request, &tasks, since, now).await?)
}

async fn audit_echo(
    state: &AppState,
    principal: &Principal,
    account: &Account,
    origin: &RequestId,
    now: Millis,
) {
    let mut event = audit_event(
        &principal.actor().to_text(),
        "PASSWORD_CAPTURE_ECHO_DROPPED",
        "INFO",
        format!(
            "a captured password on account {:?} is the one request {origin} set there; it was dropped (not sent on again)",
            account.native_id.as_str()
        ),
        now,
    );
    event.request_id = Some(origin.to_string());
    event.source_id = Some(account.source_id.to_string());
    event.identity_id = Some(account.identity_id.to_string());
    Audit::record(state.store.as_ref(), vec![event]).await;
}

async fn answer(
    state: &AppState,
    status: StatusCode,
    id: RequestId,
    disposition: &str,
) -> ApiResult<Response> {
    let current = state
        .store
        .get_request(&id)
        .await?
        .map(|r| r.state)
        .unwrap_or(RequestState::InProgress);
    Ok((
        status,
        Json(CapturedPasswordResponse {
            request_id: Some(id.to_string()),
            state: current.as_str().into(),
            disposition: disposition.into(),
        }),
    )
        .into_response())
}
