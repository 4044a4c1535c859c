//! ISC's `Subscription` shape for webhook subscriptions: reading a create / update body
//! (validated field by field, every problem in one 400) and writing the document back
//! (credentials never shown).

use super::admin_support::causes;
use crate::http::error::{ApiError, ApiResult};
use crate::pipeline::events::filter::Filter;
use crate::pipeline::events::{trigger, SubscriptionSecrets};
use passbroker_store::Subscription;
use serde_json::{json, Map, Value};

/// Subscriptions a tenant may have (each costs the dispatcher a look every round).
pub const MAX_SUBSCRIPTIONS: usize = 100;
const MAX_NAME: usize = 128;
const MAX_DESCRIPTION: usize = 1000;
const MAX_URL: usize = 2048;
const MAX_CREDENTIAL: usize = 4096;

/// What a body says, validated: the columns, the stored config, the new credentials.
pub struct Parsed {
    pub name: String,
    pub trigger_id: String,
    pub config: Value,
    pub filter: Option<String>,
    pub enabled: bool,
    /// `None`: keep the stored one.
    pub basic_password: Option<String>,
    pub bearer_token: Option<String>,
}

fn text<'a>(doc: &'a Map<String, Value>, key: &str, problems: &mut Vec<String>) -> Option<&'a str> {
    match doc.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            problems.push(format!("{key}: must be a string"));
            None
        }
    }
}

fn within(key: &str, value: &str, max: usize, problems: &mut Vec<String>) {
    if value.chars().count() > max {
        problems.push(format!("{key}: at most {max} characters"));
    }
}

/// Reads a full document (create, or an update merged onto the stored document).
/// `existing`: the subscription being replaced (its credentials stay unless new ones are
/// given).
pub fn parse(doc: &Value, existing: Option<&SubscriptionSecrets>) -> ApiResult<Parsed> {
    let Some(doc) = doc.as_object() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let mut p = Vec::new();
    let name = text(doc, "name", &mut p).unwrap_or("").trim().to_owned();
    if name.is_empty() {
        p.push("name: is required".into());
    }
    within("name", &name, MAX_NAME, &mut p);
    let description = text(doc, "description", &mut p).map(str::to_owned);
    if let Some(d) = &description {
        within("description", d, MAX_DESCRIPTION, &mut p);
    }
    let trigger_id = text(doc, "triggerId", &mut p).unwrap_or("").to_owned();
    if trigger(&trigger_id).is_none() {
        p.push(format!(
            "triggerId: {trigger_id:?} is not a trigger; GET /beta/triggers lists them"
        ));
    }
    match text(doc, "type", &mut p) {
        Some("HTTP") => {}
        Some(other) => p.push(format!(
            "type: {other:?} is not supported; passbroker delivers HTTP subscriptions"
        )),
        None => p.push("type: is required (HTTP)".into()),
    }
    if doc.get("eventBridgeConfig").is_some_and(|v| !v.is_null()) {
        p.push("eventBridgeConfig: passbroker delivers HTTP subscriptions only".into());
    }
    let deadline = text(doc, "responseDeadline", &mut p)
        .unwrap_or("PT1H")
        .to_owned();
    within("responseDeadline", &deadline, 64, &mut p);
    let enabled = match doc.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            p.push("enabled: must be true or false".into());
            true
        }
    };
    let filter = text(doc, "filter", &mut p)
        .filter(|f| !f.trim().is_empty())
        .map(str::to_owned);
    if let Some(f) = &filter {
        if let Err(e) = Filter::parse(f) {
            p.push(e);
        }
    }
    let http = http_config(doc.get("httpConfig"), existing, &mut p);
    if !p.is_empty() {
        return Err(causes(p));
    }
    let (http, basic_password, bearer_token) = http.unwrap_or_default();
    Ok(Parsed {
        name,
        trigger_id,
        config: json!({
            "description": description,
            "type": "HTTP",
            "responseDeadline": deadline,
            "httpConfig": http,
        }),
        filter,
        enabled,
        basic_password,
        bearer_token,
    })
}

type Http = (Value, Option<String>, Option<String>);

/// `httpConfig`: url, dispatch mode, authentication. Returns the stored part and the
/// credentials.
fn http_config(
    v: Option<&Value>,
    existing: Option<&SubscriptionSecrets>,
    p: &mut Vec<String>,
) -> Option<Http> {
    let Some(c) = v.and_then(Value::as_object) else {
        p.push("httpConfig: is required for an HTTP subscription".into());
        return None;
    };
    let url = text(c, "url", p).unwrap_or("").trim().to_owned();
    within("httpConfig.url", &url, MAX_URL, p);
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => p.push(format!(
            "httpConfig.url: {url:?} is not an http:// or https:// URL"
        )),
    }
    let mode = text(c, "httpDispatchMode", p).unwrap_or("SYNC").to_owned();
    if !matches!(mode.as_str(), "SYNC" | "ASYNC" | "DYNAMIC") {
        p.push("httpConfig.httpDispatchMode: must be SYNC, ASYNC or DYNAMIC".into());
    }
    let auth = text(c, "httpAuthenticationType", p)
        .unwrap_or("NO_AUTH")
        .to_owned();
    let sub = |key: &str, field: &str, p: &mut Vec<String>| -> Option<String> {
        let o = c.get(key).and_then(Value::as_object)?;
        let v = text(o, field, p).map(str::to_owned);
        if let Some(v) = &v {
            within(&format!("httpConfig.{key}.{field}"), v, MAX_CREDENTIAL, p);
        }
        v
    };
    let (mut stored, mut basic, mut bearer) = (
        json!({ "url": url, "httpDispatchMode": mode, "httpAuthenticationType": auth }),
        None,
        None,
    );
    match auth.as_str() {
        "NO_AUTH" => {}
        "BASIC_AUTH" => {
            let user = sub("basicAuthConfig", "userName", p).unwrap_or_default();
            if user.is_empty() {
                p.push("httpConfig.basicAuthConfig.userName: is required for BASIC_AUTH".into());
            }
            basic = sub("basicAuthConfig", "password", p)
                .or_else(|| existing.and_then(|e| e.basic_password.clone()));
            if basic.as_deref().unwrap_or("").is_empty() {
                p.push("httpConfig.basicAuthConfig.password: is required for BASIC_AUTH".into());
            }
            stored["basicAuthConfig"] = json!({ "userName": user });
        }
        "BEARER_TOKEN" => {
            bearer = sub("bearerTokenAuthConfig", "bearerToken", p)
                .or_else(|| existing.and_then(|e| e.bearer_token.clone()));
            if bearer.as_deref().unwrap_or("").is_empty() {
                p.push(
                    "httpConfig.bearerTokenAuthConfig.bearerToken: is required for BEARER_TOKEN"
                        .into(),
                );
            }
        }
        other => p.push(format!(
            "httpConfig.httpAuthenticationType: {other:?} must be NO_AUTH, BASIC_AUTH or BEARER_TOKEN"
        )),
    }
    Some((stored, basic, bearer))
}

/// The document ISC's API returns: credentials are never shown (`null`).
pub fn document(s: &Subscription) -> Value {
    let config: Value = serde_json::from_str(&s.config).unwrap_or_else(|_| json!({}));
    let mut http = config
        .get("httpConfig")
        .cloned()
        .unwrap_or_else(|| json!({}));
    match http.get("httpAuthenticationType").and_then(Value::as_str) {
        Some("BASIC_AUTH") => {
            http["basicAuthConfig"]["password"] = Value::Null;
            http["bearerTokenAuthConfig"] = Value::Null;
        }
        Some("BEARER_TOKEN") => {
            http["basicAuthConfig"] = Value::Null;
            http["bearerTokenAuthConfig"] = json!({ "bearerToken": null });
        }
        _ => {
            http["basicAuthConfig"] = Value::Null;
            http["bearerTokenAuthConfig"] = Value::Null;
        }
    }
    json!({
        "id": s.id,
        "name": s.name,
        "description": config.get("description").cloned().unwrap_or(Value::Null),
        "triggerId": s.trigger_id,
        "triggerName": trigger(&s.trigger_id).map(|t| t.name).unwrap_or(""),
        "type": "HTTP",
        "responseDeadline": config.get("responseDeadline").cloned().unwrap_or(json!("PT1H")),
        "httpConfig": http,
        "enabled": s.enabled,
        "filter": s.filter,
    })
}
