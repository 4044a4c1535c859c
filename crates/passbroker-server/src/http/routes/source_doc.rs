//! A source as ISC's `Source` JSON (the fields passbroker keeps), and back: the reading side
//! validates everything and reports every problem with its field.

use crate::http::error::{ApiError, ApiResult, Cause};
use crate::http::routes::rfc3339;
use crate::http::state::AppState;
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::time::Millis;
use passbroker_core::{IdentityId, PolicyId, SourceId};
use serde_json::{json, Value};

/// ISC's `SourceFeature` values.
pub const FEATURES: &[&str] = &[
    "AUTHENTICATE",
    "COMPOSITE",
    "DIRECT_PERMISSIONS",
    "DISCOVER_SCHEMA",
    "ENABLE",
    "MANAGER_LOOKUP",
    "NO_RANDOM_ACCESS",
    "PROXY",
    "SEARCH",
    "TEMPLATE",
    "UNLOCK",
    "UNSTRUCTURED_TARGETS",
    "SHAREPOINT_TARGET",
    "PROVISIONING",
    "GROUP_PROVISIONING",
    "SYNC_PROVISIONING",
    "PASSWORD",
    "CURRENT_PASSWORD",
    "ACCOUNT_ONLY_REQUEST",
    "ADDITIONAL_ACCOUNT_REQUEST",
    "NO_AGGREGATION",
    "GROUPS_HAVE_MEMBERS",
    "NO_PERMISSIONS_PROVISIONING",
    "NO_GROUP_PERMISSIONS_PROVISIONING",
    "NO_UNSTRUCTURED_TARGETS_PROVISIONING",
    "NO_DIRECT_PERMISSIONS_PROVISIONING",
    "PREFER_UUID",
    "ARM_SECURITY_EXTRACT",
    "ARM_UTILIZATION_EXTRACT",
    "ARM_CHANGELOG_EXTRACT",
    "USES_UUID",
    "APPLICATION_DISCOVERY",
    "DELETE",
];

/// ISC's `Source` for a stored source. Connector secrets never appear.
pub async fn source_json(state: &AppState, s: &Source) -> ApiResult<Value> {
    let owner = match &s.owner {
        Some(id) => state.store.get_identity(id).await?.map(
            |i| json!({"type": "IDENTITY", "id": id.to_string(), "name": i.login_name.as_str()}),
        ),
        None => None,
    };
    let mut policies = Vec::new();
    if let Some(id) = &s.password_policy_id {
        if let Some(p) = state.store.get_policy(id).await? {
            policies.push(json!({"type": "PASSWORD_POLICY", "id": id.to_string(), "name": p.name}));
        }
    }
    let kind = s.connector.as_str();
    Ok(json!({
        "id": s.id.to_string(), "name": s.name.as_str(), "description": s.description, "owner": owner,
        "cluster": null, "accountCorrelationConfig": null, "accountCorrelationRule": null, "managerCorrelationMapping": null,
        "managerCorrelationRule": null, "beforeProvisioningRule": null, "schemas": [], "passwordPolicies": policies,
        "features": s.features, "type": kind, "connector": kind, "connectorClass": format!("passbroker.connectors.{kind}"),
        "connectorAttributes": s.connector_config, "deleteThreshold": 10, "authoritative": false, "managementWorkgroup": null,
        "healthy": true, "status": "SOURCE_STATE_HEALTHY", "since": rfc3339(s.modified), "connectorId": kind, "connectorName": kind,
        "connectionType": "direct", "connectorImplementationId": kind, "created": rfc3339(s.created), "modified": rfc3339(s.modified),
        "credentialProviderEnabled": false, "category": null, "delivery": s.delivery,
    }))
}

/// Reads a source from an ISC `Source` document (a POST/PUT body or a patched document).
/// Read-only and unsupported ISC fields are ignored; `secrets` (passbroker's write-only
/// extension) replaces the connector secrets, and when absent the existing ones stay.
pub async fn source_from_doc(
    state: &AppState,
    doc: &Value,
    existing: Option<&Source>,
    now: Millis,
) -> ApiResult<Source> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object (ISC's Source)"))?;
    let mut problems: Vec<String> = Vec::new();
    let text = |field: &str, problems: &mut Vec<String>| -> Option<String> {
        match obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(format!("{field}: must be a string"));
                None
            }
        }
    };
    let name = text("name", &mut problems);
    let name = name_of(state, name, existing, &mut problems).await?;
    let description = text("description", &mut problems).unwrap_or_default();
    let connector = match text("connector", &mut problems)
        .or_else(|| existing.map(|e| e.connector.as_str().to_owned()))
    {
        Some(c) => ConnectorKind::parse(&c)
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
        None => {
            problems.push(
                "connector: is required (builtin, simulated, ldap, postgres, mariadb or scim)"
                    .into(),
            );
            None
        }
    };
    let owner = owner_of(state, obj.get("owner"), &mut problems).await?;
    let features = features_of(obj.get("features"), &mut problems);
    let config = match obj.get("connectorAttributes") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            problems.push("connectorAttributes: must be an object".into());
            json!({})
        }
    };
    let policy = policy_of(state, obj.get("passwordPolicies"), &mut problems).await?;
    let delivery = match obj.get("delivery") {
        None | Some(Value::Null) => existing.map(|e| e.delivery.clone()).unwrap_or_default(),
        Some(v) => serde_json::from_value::<DeliverySettings>(v.clone()).unwrap_or_else(|e| {
            problems.push(format!("delivery: {e}"));
            DeliverySettings::default()
        }),
    };
    let (wrapped_secrets, plain_secrets) =
        secrets_of(state, obj.get("secrets"), existing, &mut problems)?;
    if let Some(kind) = connector.filter(|k| *k != ConnectorKind::Builtin) {
        if let Err(e) = passbroker_connectors::build(
            kind,
            &config,
            plain_secrets.as_ref(),
            &state.config.data_dir,
        )
        .await
        {
            problems.push(format!("connectorAttributes: {e}"));
        }
    }
    let (Some(name), Some(connector)) = (name, connector) else {
        return Err(ApiError::BadRequest(
            problems.into_iter().map(Cause).collect(),
        ));
    };
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(
            problems.into_iter().map(Cause).collect(),
        ));
    }
    Ok(Source {
        id: existing
            .map(|e| e.id.clone())
            .unwrap_or_else(SourceId::generate),
        name,
        description,
        features,
        connector,
        connector_config: config,
        wrapped_secrets,
        owner,
        password_policy_id: policy,
        delivery,
        created: existing.map(|e| e.created).unwrap_or(now),
        modified: now,
    })
}

/// `features`: ISC's feature names, each once.
fn features_of(v: Option<&Value>, problems: &mut Vec<String>) -> Vec<String> {
    let mut features = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, f) in list.iter().enumerate() {
                match f.as_str() {
                    Some(f) if FEATURES.contains(&f) => {
                        if !features.iter().any(|x: &String| x == f) {
                            features.push(f.to_owned());
                        }
                    }
                    _ => problems.push(format!("features[{i}]: {f} is not an ISC source feature (e.g. PASSWORD, AUTHENTICATE)")),
                }
            }
        }
        Some(_) => problems.push("features: must be an array of feature names".into()),
    }
    features
}

/// `secrets` (write-only): the wrapped secrets to store and their plain values (to check
/// the connector with). Absent keeps the existing ones; `null` removes them.
fn secrets_of(
    state: &AppState,
    v: Option<&Value>,
    existing: Option<&Source>,
    problems: &mut Vec<String>,
) -> ApiResult<(Option<Vec<u8>>, Option<Value>)> {
    Ok(match v {
        None => {
            let wrapped = existing.and_then(|e| e.wrapped_secrets.clone());
            let plain = match &wrapped {
                Some(w) => Some(state.secrets.unwrap_json(w).map_err(ApiError::internal)?),
                None => None,
            };
            (wrapped, plain)
        }
        Some(Value::Null) => (None, None),
        Some(v @ Value::Object(_)) => (
            Some(state.secrets.wrap_json(v).map_err(ApiError::internal)?),
            Some(v.clone()),
        ),
        Some(_) => {
            problems.push("secrets: must be an object".into());
            (None, None)
        }
    })
}

/// `name`: required, valid, and not another source's.
async fn name_of(
    state: &AppState,
    given: Option<String>,
    existing: Option<&Source>,
    problems: &mut Vec<String>,
) -> ApiResult<Option<SourceName>> {
    let name = match given.map(|n| SourceName::parse(&n)) {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            problems.push(e.to_string());
            None
        }
        None => {
            problems.push("name: is required".into());
            None
        }
    };
    if let Some(n) = &name {
        if let Some(other) = state.store.find_source_by_name(n.as_str()).await? {
            if Some(&other.id) != existing.map(|e| &e.id) {
                problems.push(format!(
                    "name: a source named {:?} already exists",
                    n.as_str()
                ));
            }
        }
    }
    Ok(name)
}

async fn owner_of(
    state: &AppState,
    v: Option<&Value>,
    problems: &mut Vec<String>,
) -> ApiResult<Option<IdentityId>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let by_id = v.get("id").and_then(Value::as_str);
    let by_name = v.get("name").and_then(Value::as_str);
    let found = match (by_id, by_name) {
        (Some(id), _) => match IdentityId::parse(id) {
            Ok(id) => state.store.get_identity(&id).await?,
            Err(_) => None,
        },
        (None, Some(name)) => state.store.find_identity_by_login(name).await?,
        (None, None) => {
            problems.push("owner: must be {\"type\": \"IDENTITY\", \"id\": …} or null".into());
            return Ok(None);
        }
    };
    match found {
        Some(i) => Ok(Some(i.id)),
        None => {
            problems.push(format!(
                "owner: no identity {}",
                by_id.or(by_name).unwrap_or("")
            ));
            Ok(None)
        }
    }
}

async fn policy_of(
    state: &AppState,
    v: Option<&Value>,
    problems: &mut Vec<String>,
) -> ApiResult<Option<PolicyId>> {
    let list = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => {
            problems.push(
                "passwordPolicies: must be an array of {\"type\": \"PASSWORD_POLICY\", \"id\": …}"
                    .into(),
            );
            return Ok(None);
        }
    };
    if list.len() > 1 {
        problems.push(
            "passwordPolicies: passbroker applies one password policy per source; give at most one"
                .into(),
        );
        return Ok(None);
    }
    let Some(entry) = list.first() else {
        return Ok(None);
    };
    let id = entry.get("id").and_then(Value::as_str).unwrap_or("");
    match PolicyId::parse(id) {
        Ok(pid) if state.store.get_policy(&pid).await?.is_some() => Ok(Some(pid)),
        _ => {
            problems.push(format!("passwordPolicies[0].id: no password policy {id:?}"));
            Ok(None)
        }
    }
}
