//! Audit events: who did what to which request or source, with what result. Never a password.

use crate::time::Millis;
use crate::AuditEventId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: Millis,
    /// `client:<id>`, `identity:<id>` or `system`.
    pub actor: String,
    /// e.g. `PASSWORD_CHANGE_REQUESTED`, `PASSWORD_CHANGE_TARGET_SUCCEEDED`.
    pub action: String,
    pub request_id: Option<String>,
    pub source_id: Option<String>,
    pub identity_id: Option<String>,
    /// `SUCCESS`, `FAILURE` or `INFO`.
    pub outcome: String,
    pub detail: String,
}
