//! What a delivery looks like on the wire: a CloudEvents 1.0 event in structured mode,
//! signed as Standard Webhooks specifies (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use passbroker_store::OutboxEvent;
use serde_json::{json, Value};
use sha2::Sha256;

/// The media type of a structured-mode CloudEvent in JSON.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes = zeroize::Zeroizing::new(passbroker_crypto::random::random_bytes(32));
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes.as_slice()))
}

/// The CloudEvents body of an event (`data` is the event's JSON, inline).
pub fn cloud_event(e: &OutboxEvent, source: &str) -> Value {
    let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
    let mut ce = json!({
        "specversion": "1.0",
        "id": e.id,
        "source": source,
        "type": e.kind,
        "time": rfc3339(e.time.0),
        "datacontenttype": "application/json",
        "data": data,
    });
    if let (Some(subject), Some(o)) = (&e.subject, ce.as_object_mut()) {
        o.insert("subject".into(), Value::String(subject.clone()));
    }
    ce
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `v1,<signature>` for each secret, space-separated: the signed content is
/// `{id}.{timestamp}.{body}`, keyed by the bytes after `whsec_`.
pub fn signature(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let Ok(key) = STANDARD.decode(encoded).map(zeroize::Zeroizing::new) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            continue;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        out.push(format!(
            "v1,{}",
            STANDARD.encode(mac.finalize().into_bytes())
        ));
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn events_signature_matches_the_standard_webhooks_example() {
        let sig = signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn events_new_secrets_differ_and_decode_to_32_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let raw = STANDARD
            .decode(a.strip_prefix("whsec_").unwrap_or(""))
            .unwrap_or_default();
        assert_eq!(raw.len(), 32);
    }
}
