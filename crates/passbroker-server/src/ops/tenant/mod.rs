//! Declarative tenants: `passbroker tenant apply FILE` and `tenant export`.
//!
//! A tenant file (YAML, TOML or JSON) lists policies, identities, sources, accounts, sync
//! groups and API clients by their natural keys (names, login names, `accountId`s). Apply
//! validates every entry first, reporting each problem with the entry and field, then writes
//! the differences in one transaction: all or nothing, and applying the same file twice
//! changes nothing.

use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::DeliverySettings;
use passbroker_core::{IdentityId, PolicyId, SourceId};
use passbroker_store::{Page, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TenantFile {
    pub policies: Vec<PasswordPolicy>,
    pub identities: Vec<IdentityEntry>,
    pub sources: Vec<SourceEntry>,
    pub accounts: Vec<AccountEntry>,
    pub sync_groups: Vec<SyncGroupEntry>,
    pub clients: Vec<ClientEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityEntry {
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    #[serde(default = "user_level")]
    pub user_level: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceEntry {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub features: Vec<String>,
    pub connector: String,
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// Connector credentials; wrapped under the master key when stored, never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<serde_json::Value>,
    pub policy: Option<String>,
    pub owner: Option<String>,
    #[serde(default)]
    pub delivery: DeliverySettings,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountEntry {
    pub identity: String,
    pub source: String,
    pub account_id: String,
    pub account_name: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncGroupEntry {
    pub name: String,
    pub policy: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    pub client_id: String,
    /// argon2id PHC hash of the secret (`passbroker clients create` prints secrets once).
    pub secret_hash: String,
    #[serde(default = "all_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "client_credentials")]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

fn user_level() -> String {
    "USER".into()
}
fn yes() -> bool {
    true
}
fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}
fn all_scopes() -> Vec<String> {
    vec![passbroker_core::client::SCOPE_ALL.into()]
}
fn client_credentials() -> Vec<String> {
    vec!["client_credentials".into()]
}

/// Parses a tenant file by extension (`.yaml`/`.yml`, `.toml`, `.json`).
pub fn parse(path: &std::path::Path, text: &str) -> Result<TenantFile, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "yaml" | "yml" => {
            serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))
        }
        "toml" => toml::from_str(text).map_err(|e| format!("{}: {e}", path.display())),
        "json" => serde_json::from_str(text).map_err(|e| format!("{}: {e}", path.display())),
        _ => Err(format!(
            "{}: use a .yaml, .yml, .toml or .json file",
            path.display()
        )),
    }
}

/// What apply did (or would do).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

mod plan;
pub use plan::apply;

/// Exports the tenant in the apply format. Connector secrets are left out (they never leave
/// the store unwrapped); client secrets appear only as their argon2id hashes.
pub async fn export(store: &dyn Store) -> Result<TenantFile, passbroker_store::StoreError> {
    let (policies, _) = store.list_policies(Page::all()).await?;
    let policy_names: HashMap<PolicyId, String> = policies
        .iter()
        .filter_map(|p| p.id.clone().map(|id| (id, p.name.clone())))
        .collect();
    let (identities, _) = store.list_identities(Page::all()).await?;
    let login: HashMap<IdentityId, String> = identities
        .iter()
        .map(|i| (i.id.clone(), i.login_name.as_str().to_owned()))
        .collect();
    let (sources, _) = store.list_sources(Page::all()).await?;
    let source_names: HashMap<SourceId, String> = sources
        .iter()
        .map(|s| (s.id.clone(), s.name.as_str().to_owned()))
        .collect();
    let (accounts, _) = store.list_accounts(Page::all()).await?;
    let (groups, _) = store.list_sync_groups(Page::all()).await?;
    let clients = store.list_clients().await?;
    Ok(TenantFile {
        policies: policies
            .into_iter()
            .map(|p| PasswordPolicy {
                id: None,
                source_ids: Vec::new(),
                date_created: None,
                last_updated: None,
                ..p
            })
            .collect(),
        identities: identities
            .into_iter()
            .map(|i| IdentityEntry {
                user_name: i.login_name.as_str().to_owned(),
                display_name: Some(i.display_name),
                email: i.email,
                user_level: i.user_level.as_str().to_owned(),
                active: i.active,
                attributes: i.attributes,
            })
            .collect(),
        sources: sources
            .into_iter()
            .map(|s| SourceEntry {
                name: s.name.as_str().to_owned(),
                description: s.description,
                features: s.features,
                connector: s.connector.as_str().to_owned(),
                config: s.connector_config,
                secrets: None,
                policy: s
                    .password_policy_id
                    .and_then(|p| policy_names.get(&p).cloned()),
                owner: s.owner.and_then(|o| login.get(&o).cloned()),
                delivery: s.delivery,
            })
            .collect(),
        accounts: accounts
            .into_iter()
            .map(|a| AccountEntry {
                identity: login.get(&a.identity_id).cloned().unwrap_or_default(),
                source: source_names.get(&a.source_id).cloned().unwrap_or_default(),
                account_id: a.native_id.as_str().to_owned(),
                account_name: Some(a.account_name),
                attributes: a.attributes,
                disabled: a.disabled,
            })
            .collect(),
        sync_groups: groups
            .into_iter()
            .map(|g| SyncGroupEntry {
                name: g.name,
                policy: policy_names
                    .get(&g.password_policy_id)
                    .cloned()
                    .unwrap_or_default(),
                sources: g
                    .source_ids
                    .iter()
                    .filter_map(|s| source_names.get(s).cloned())
                    .collect(),
            })
            .collect(),
        clients: clients
            .into_iter()
            .filter_map(|c| {
                Some(ClientEntry {
                    name: c.name,
                    client_id: c.client_id,
                    secret_hash: c.secret_hash?,
                    scopes: c.scopes,
                    grant_types: c.grant_types,
                    redirect_uris: c.redirect_uris,
                })
            })
            .collect(),
    })
}
