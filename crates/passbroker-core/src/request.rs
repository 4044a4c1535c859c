//! The password-change request and its per-target tasks: the state machine the workers drive.

use crate::time::Millis;
use crate::{AccountRef, IdentityId, PublicKeyId, RequestId, SourceId, TaskId};

/// ISC's request states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    InProgress,
    Finished,
    Failed,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::InProgress => "IN_PROGRESS",
            RequestState::Finished => "FINISHED",
            RequestState::Failed => "FAILED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "IN_PROGRESS" => Some(Self::InProgress),
            "FINISHED" => Some(Self::Finished),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
    pub fn is_terminal(self) -> bool {
        !matches!(self, RequestState::InProgress)
    }
}

/// A target task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Pending,
    Succeeded,
    Failed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Succeeded => "SUCCEEDED",
            TaskState::Failed => "FAILED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "SUCCEEDED" => Some(Self::Succeeded),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// How the client encrypted the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// RSA PKCS#1 v1.5 (ISC's `RSA/ECB/PKCS1Padding`).
    Pkcs1v15,
    /// RSA-OAEP with SHA-256 (and MGF1-SHA-256), opt-in beyond ISC.
    OaepSha256,
}

impl Encryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Pkcs1v15 => "RSA-PKCS1-v1_5",
            Encryption::OaepSha256 => "RSA-OAEP-256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RSA-PKCS1-v1_5" | "RSA1_5" | "PKCS1" => Some(Self::Pkcs1v15),
            "RSA-OAEP-256" | "OAEP" => Some(Self::OaepSha256),
            _ => None,
        }
    }
}

/// Who made a request or an API call: an API client or a user (identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    Client(String),
    Identity(IdentityId),
    System,
}

impl Actor {
    /// Stable text form for storage and audit: `client:<id>`, `identity:<id>`, `system`.
    pub fn to_text(&self) -> String {
        match self {
            Actor::Client(id) => format!("client:{id}"),
            Actor::Identity(id) => format!("identity:{id}"),
            Actor::System => "system".to_owned(),
        }
    }
    pub fn from_text(s: &str) -> Option<Self> {
        if s == "system" {
            return Some(Actor::System);
        }
        if let Some(id) = s.strip_prefix("client:") {
            return Some(Actor::Client(id.to_owned()));
        }
        s.strip_prefix("identity:")
            .and_then(|id| IdentityId::parse(id).ok())
            .map(Actor::Identity)
    }
}

/// A durable password-change request. The ciphertext is kept only while the request is in
/// progress; `ciphertext` is `None` once it ended (erased).
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordChangeRequest {
    pub id: RequestId,
    pub identity_id: IdentityId,
    pub requested_by: Actor,
    /// The source and account the client named.
    pub source_id: SourceId,
    pub account_ref: AccountRef,
    pub public_key_id: PublicKeyId,
    pub encryption: Encryption,
    pub ciphertext: Option<Vec<u8>>,
    pub state: RequestState,
    /// Request-level errors (decryption, policy, deadline). Per-target errors live on tasks.
    pub errors: Vec<String>,
    /// True once the password passed the policy, so retries do not re-check it (history
    /// would otherwise reject the password the first target already took).
    pub validated: bool,
    pub created: Millis,
    pub deadline: Millis,
    pub finished: Option<Millis>,
    /// When the next attempt may run (retry backoff).
    pub next_attempt_at: Millis,
    pub idempotency_key: Option<String>,
}

/// One target account of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTask {
    pub id: TaskId,
    pub request_id: RequestId,
    pub account_ref: AccountRef,
    pub source_id: SourceId,
    pub state: TaskState,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub error: Option<String>,
    pub finished: Option<Millis>,
    /// Set (durably) just before a target call, cleared when its outcome is recorded: a task
    /// that still carries it had an attempt whose outcome is unknown (a crash, a store outage,
    /// a timeout), so the next attempt asks the target before writing again.
    pub attempt_started: Option<Millis>,
}

/// The overall state of a request from its tasks: in progress while any task is pending,
/// finished when all succeeded, failed otherwise.
pub fn overall_state(request_errors: &[String], tasks: &[TargetTask]) -> RequestState {
    if tasks.iter().any(|t| t.state == TaskState::Pending) {
        return RequestState::InProgress;
    }
    if request_errors.is_empty() && tasks.iter().all(|t| t.state == TaskState::Succeeded) {
        RequestState::Finished
    } else {
        RequestState::Failed
    }
}

/// Exponential backoff with a cap: 1 s, 2 s, 4 s … at most 60 s.
pub fn retry_backoff_millis(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(6);
    (1000_i64 << exp).min(60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState) -> TargetTask {
        TargetTask {
            id: TaskId::generate(),
            request_id: RequestId::generate(),
            account_ref: AccountRef::generate(),
            source_id: SourceId::generate(),
            state,
            attempts: 0,
            next_attempt_at: Millis(0),
            error: None,
            finished: None,
            attempt_started: None,
        }
    }

    #[test]
    fn overall_state_follows_tasks() {
        assert_eq!(
            overall_state(&[], &[task(TaskState::Pending), task(TaskState::Succeeded)]),
            RequestState::InProgress
        );
        assert_eq!(
            overall_state(
                &[],
                &[task(TaskState::Succeeded), task(TaskState::Succeeded)]
            ),
            RequestState::Finished
        );
        assert_eq!(
            overall_state(&[], &[task(TaskState::Succeeded), task(TaskState::Failed)]),
            RequestState::Failed
        );
        assert_eq!(
            overall_state(&["x".into()], &[task(TaskState::Succeeded)]),
            RequestState::Failed
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(retry_backoff_millis(1), 1000);
        assert_eq!(retry_backoff_millis(2), 2000);
        assert_eq!(retry_backoff_millis(30), 60_000);
    }

    #[test]
    fn actors_round_trip() {
        let id = IdentityId::generate();
        for a in [
            Actor::Client("abc".into()),
            Actor::Identity(id),
            Actor::System,
        ] {
            assert_eq!(Actor::from_text(&a.to_text()), Some(a));
        }
    }
}
