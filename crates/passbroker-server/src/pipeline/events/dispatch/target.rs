//! One subscription's target as the dispatcher uses it: URL, credentials, signing secrets
//! and filter (read once per round), and one HTTP attempt.

use super::Dispatcher;
use crate::pipeline::events::filter::Filter;
use crate::pipeline::events::unwrap_secrets;
use crate::pipeline::events::wire::{cloud_event, signature, CONTENT_TYPE};
use passbroker_store::{OutboxEvent, Subscription};
use serde::Deserialize;

/// How much of an error text is kept.
const MAX_ERROR_CHARS: usize = 300;

/// What the subscription's stored `config` holds that delivery needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    http_config: HttpTarget,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpTarget {
    url: String,
    #[serde(default)]
    http_authentication_type: Option<String>,
    #[serde(default)]
    basic_auth_config: Option<BasicUser>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BasicUser {
    #[serde(default)]
    user_name: Option<String>,
}

impl Dispatcher {
    /// The subscription's target, credentials and filter, or `None` (logged) when they
    /// cannot be read.
    pub(super) fn prepare(&self, sub: &Subscription) -> Option<Delivery> {
        let target: Target = match serde_json::from_str(&sub.config) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(subscription = %sub.id, error = %e, "a subscription's stored config does not parse");
                return None;
            }
        };
        let secrets = match unwrap_secrets(&self.secrets, &sub.wrapped_secrets) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(subscription = %sub.id, error = %e, "a subscription's secrets cannot be unwrapped (master key changed?)");
                return None;
            }
        };
        let filter = match sub.filter.as_deref().map(Filter::parse).transpose() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(subscription = %sub.id, error = %e, "a subscription's stored filter does not parse");
                return None;
            }
        };
        let auth = match target.http_config.http_authentication_type.as_deref() {
            Some("BASIC_AUTH") => Auth::Basic(
                target
                    .http_config
                    .basic_auth_config
                    .and_then(|b| b.user_name)
                    .unwrap_or_default(),
                secrets.basic_password.clone().unwrap_or_default(),
            ),
            Some("BEARER_TOKEN") => Auth::Bearer(secrets.bearer_token.clone().unwrap_or_default()),
            _ => Auth::None,
        };
        Some(Delivery {
            url: target.http_config.url,
            auth,
            signing: secrets
                .live_signing(self.clock.now().0)
                .into_iter()
                .map(|s| zeroize::Zeroizing::new(s.to_owned()))
                .collect(),
            filter,
        })
    }

    /// One attempt: `Ok` when the receiver answered 2xx.
    pub(super) async fn send(&self, d: &Delivery, event: &OutboxEvent) -> Result<(), String> {
        let body = cloud_event(event, &self.settings.source).to_string();
        let timestamp = self.clock.now().0 / 1000;
        let keys: Vec<&str> = d.signing.iter().map(|s| s.as_str()).collect();
        let mut req = self
            .client
            .post(&d.url)
            .header("content-type", CONTENT_TYPE)
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(&keys, &event.id, timestamp, body.as_bytes()),
            )
            .body(body);
        req = match &d.auth {
            Auth::None => req,
            Auth::Basic(user, password) => req.basic_auth(user, Some(password.as_str())),
            Auth::Bearer(token) => req.bearer_auth(token.as_str()),
        };
        match req.send().await {
            // The body is not read: the status is the answer.
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!(
                "the receiver answered HTTP {}",
                r.status().as_u16()
            )),
            Err(e) if e.is_timeout() => Err("the receiver did not answer in time".into()),
            Err(e) if e.is_connect() => Err("the receiver could not be reached".into()),
            Err(e) => Err(short(&e.without_url().to_string())),
        }
    }
}

fn short(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

impl Drop for Auth {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        match self {
            Auth::Basic(_, p) => p.zeroize(),
            Auth::Bearer(t) => t.zeroize(),
            Auth::None => {}
        }
    }
}

/// Everything one subscription's deliveries need, read once per round.
pub(super) struct Delivery {
    url: String,
    auth: Auth,
    signing: Vec<zeroize::Zeroizing<String>>,
    pub(super) filter: Option<Filter>,
}
