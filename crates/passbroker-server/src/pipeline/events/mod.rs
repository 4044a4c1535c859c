//! Events to webhooks: the trigger catalogue, a subscription's secrets, Standard Webhooks
//! signing and CloudEvents bodies (`wire.rs`), ISC's JSONPath filters (`filter.rs`), and the
//! dispatcher (`dispatch/`) that delivers the outbox to every subscription.

pub mod dispatch;
pub mod filter;
pub mod wire;

use passbroker_store::event_store::types;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One trigger of the catalogue (`GET /beta/triggers`): an event type, or every event.
pub struct Trigger {
    pub id: &'static str,
    pub name: &'static str,
    /// The event type it delivers; `None`: every event.
    pub event_type: Option<&'static str>,
    pub description: &'static str,
}

/// passbroker's triggers. Every event type is one trigger; `passbroker:all` delivers them
/// all in one stream (in order for each request).
pub const TRIGGERS: &[Trigger] = &[
    Trigger {
        id: "passbroker:all",
        name: "Every event",
        event_type: None,
        description: "Every event below, in the order they happened for each request.",
    },
    Trigger {
        id: "passbroker:password-change-accepted",
        name: "Password change accepted",
        event_type: Some(types::CHANGE_ACCEPTED),
        description: "A password change was accepted and queued, with its target accounts.",
    },
    Trigger {
        id: "passbroker:password-change-target-succeeded",
        name: "Password change succeeded on a target",
        event_type: Some(types::TARGET_SUCCEEDED),
        description: "One target account has the new password.",
    },
    Trigger {
        id: "passbroker:password-change-target-failed",
        name: "Password change failed on a target",
        event_type: Some(types::TARGET_FAILED),
        description: "One target account could not be changed, with the reason.",
    },
    Trigger {
        id: "passbroker:password-change-finished",
        name: "Password change finished",
        event_type: Some(types::CHANGE_FINISHED),
        description: "A password change ended with every target changed.",
    },
    Trigger {
        id: "passbroker:password-change-failed",
        name: "Password change failed",
        event_type: Some(types::CHANGE_FAILED),
        description: "A password change ended without success, with the failed rules or errors.",
    },
    Trigger {
        id: "passbroker:password-policy-rejected",
        name: "Password rejected by policy",
        event_type: Some(types::POLICY_REJECTED),
        description: "The new password broke the password policy's rules (their messages, never the password).",
    },
    Trigger {
        id: "passbroker:password-breached-refused",
        name: "Breached password refused",
        event_type: Some(types::BREACHED_REFUSED),
        description: "The new password appears in known data breaches and was refused.",
    },
    Trigger {
        id: "passbroker:digit-token-issued",
        name: "Digit token issued",
        event_type: Some(types::DIGIT_TOKEN_ISSUED),
        description: "The help desk issued a digit token (its id, never the token).",
    },
    Trigger {
        id: "passbroker:digit-token-redeemed",
        name: "Digit token redeemed",
        event_type: Some(types::DIGIT_TOKEN_REDEEMED),
        description: "A digit token was used.",
    },
    Trigger {
        id: "passbroker:password-capture-received",
        name: "Password capture received",
        event_type: Some(types::CAPTURE_RECEIVED),
        description: "A capture agent reported a password changed at a directory (QUEUED: a new request for the rest of the sync group; DUPLICATE: the same change again).",
    },
    Trigger {
        id: "passbroker:password-capture-echo-dropped",
        name: "Captured password dropped as an echo",
        event_type: Some(types::CAPTURE_ECHO_DROPPED),
        description: "A capture agent reported the password passbroker itself had just set there; it was not sent on again.",
    },
    Trigger {
        id: "passbroker:key-rotated",
        name: "Encryption key rotated",
        event_type: Some(types::KEY_ROTATED),
        description: "A new RSA key became the active key for password encryption.",
    },
];

pub fn trigger(id: &str) -> Option<&'static Trigger> {
    TRIGGERS.iter().find(|t| t.id == id)
}

/// An example of the event's `data`, per type.
pub fn example_data(event_type: Option<&str>) -> Value {
    let request = "0190a5c4e3f27c1d9a8b7c6d5e4f3a2b";
    let base = json!({
        "requestId": request,
        "identityId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2c",
        "sourceId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2d",
    });
    match event_type {
        Some(types::CHANGE_ACCEPTED) => json!({
            "requestId": request, "identityId": base["identityId"], "sourceId": base["sourceId"],
            "accountId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2e", "requestedBy": "client:app",
            "targets": [{"taskId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2f", "sourceId": base["sourceId"], "accountId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2e"}],
        }),
        Some(types::TARGET_SUCCEEDED | types::TARGET_FAILED) => json!({
            "requestId": request, "taskId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2f",
            "sourceId": base["sourceId"], "accountId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2e",
            "outcome": if event_type == Some(types::TARGET_FAILED) { "FAILED" } else { "SUCCEEDED" },
            "attempts": 1,
            "error": if event_type == Some(types::TARGET_FAILED) { json!("the target refused the password") } else { Value::Null },
        }),
        Some(types::DIGIT_TOKEN_ISSUED) => json!({
            "tokenId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a30", "identityId": base["identityId"],
            "expires": 1_767_225_600_000_i64, "issuedBy": "helpdesk.admin",
        }),
        Some(types::DIGIT_TOKEN_REDEEMED) => json!({
            "tokenId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a30", "identityId": base["identityId"],
        }),
        Some(types::CAPTURE_RECEIVED | types::CAPTURE_ECHO_DROPPED) => json!({
            "requestId": request, "identityId": base["identityId"], "sourceId": base["sourceId"],
            "accountId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a2e", "clientId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a32",
            "disposition": if event_type == Some(types::CAPTURE_RECEIVED) { "QUEUED" } else { "ECHO" },
        }),
        Some(types::KEY_ROTATED) => {
            json!({ "publicKeyId": "0190a5c4e3f27c1d9a8b7c6d5e4f3a31", "state": "ACTIVE" })
        }
        None => json!({ "requestId": request }),
        Some(_) => json!({
            "requestId": request, "identityId": base["identityId"], "sourceId": base["sourceId"],
            "outcome": if event_type == Some(types::CHANGE_FINISHED) { "FINISHED" } else { "FAILED" },
            "errors": if event_type == Some(types::CHANGE_FINISHED) { json!([]) } else { json!(["The password must be at least 12 characters long."]) },
        }),
    }
}

/// A JSON schema of the event's `data` (loose: ids are strings, the rest as the example).
pub fn input_schema(event_type: Option<&str>) -> Value {
    let example = example_data(event_type);
    let properties: serde_json::Map<String, Value> = example
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let ty = match v {
                        Value::String(_) => json!({"type": "string"}),
                        Value::Number(_) => json!({"type": "integer"}),
                        Value::Array(_) => json!({"type": "array"}),
                        Value::Object(_) => json!({"type": "object"}),
                        Value::Bool(_) => json!({"type": "boolean"}),
                        Value::Null => json!({"type": ["string", "null"]}),
                    };
                    (k.clone(), ty)
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": true,
        "properties": properties,
    })
}

/// A signing secret and, for the previous one after a rotation, when it stops being used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningSecret {
    /// `whsec_` and the base64 of the key bytes.
    pub secret: String,
    pub expires: Option<i64>,
}

/// What a subscription keeps wrapped under the master key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubscriptionSecrets {
    /// The current secret first.
    pub signing: Vec<SigningSecret>,
    pub basic_password: Option<String>,
    pub bearer_token: Option<String>,
}

impl Drop for SubscriptionSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for s in &mut self.signing {
            s.secret.zeroize();
        }
        if let Some(p) = &mut self.basic_password {
            p.zeroize();
        }
        if let Some(t) = &mut self.bearer_token {
            t.zeroize();
        }
    }
}

impl SubscriptionSecrets {
    /// The secrets that sign at `now` (the current one, and a previous one still in its
    /// overlap).
    pub fn live_signing(&self, now: i64) -> Vec<&str> {
        self.signing
            .iter()
            .filter(|s| s.expires.is_none_or(|e| e > now))
            .map(|s| s.secret.as_str())
            .collect()
    }
}

/// Wraps and unwraps a subscription's secrets.
pub fn wrap_secrets(
    secrets: &crate::pipeline::secrets::Secrets,
    s: &SubscriptionSecrets,
) -> Result<Vec<u8>, String> {
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(s).map_err(|e| e.to_string())?);
    secrets
        .wrap(passbroker_store::WrappedKind::EventSubscription, &plain)
        .map_err(|e| e.to_string())
}

pub fn unwrap_secrets(
    secrets: &crate::pipeline::secrets::Secrets,
    wrapped: &[u8],
) -> Result<SubscriptionSecrets, String> {
    let plain = secrets
        .unwrap(passbroker_store::WrappedKind::EventSubscription, wrapped)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&plain).map_err(|_| "stored subscription secrets are not JSON".into())
}

#[cfg(test)]
mod tests {
    use passbroker_store::event_store::BREACH_MESSAGE_PREFIX;

    /// The store recognises the breach rule's message by its start.
    #[test]
    fn events_breach_refusal_is_recognised_by_its_message() {
        for n in [0, 5, 2_000_000] {
            assert!(crate::pipeline::breach::seen_message(n).starts_with(BREACH_MESSAGE_PREFIX));
        }
    }
}
