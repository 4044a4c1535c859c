//! Writing audit events. A failure to write one is logged, never hidden, and does not undo
//! the action it describes.

use passbroker_core::audit::AuditEvent;
use passbroker_core::time::Millis;
use passbroker_core::AuditEventId;
use passbroker_store::Store;

pub fn audit_event(
    actor: &str,
    action: &str,
    outcome: &str,
    detail: String,
    at: Millis,
) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::generate(),
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        request_id: None,
        source_id: None,
        identity_id: None,
        outcome: outcome.to_owned(),
        detail,
    }
}

pub struct Audit;

impl Audit {
    pub async fn record(store: &dyn Store, events: Vec<AuditEvent>) {
        if let Err(e) = store.append_audit(&events).await {
            tracing::error!(error = %e, count = events.len(), "could not write audit events");
        }
    }
}
