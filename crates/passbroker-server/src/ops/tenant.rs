//! Declarative tenants: `passbroker tenant apply FILE` and `tenant export`.
//!
//! A tenant file (YAML, TOML or JSON) lists policies, identities, sources, accounts, sync
//! groups and API clients by their natural keys (names, login names, `accountId`s). Apply
//! validates every entry first, reporting each problem with the entry and field, then writes
//! the differences in one transaction: all or nothing, and applying the same file twice
//! changes nothing.

use crate::pipeline::secrets::Secrets;
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::client::{parse_scopes, ApiClient};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, PolicyId, SourceId, SyncGroupId};
use passbroker_store::{Page, Store, WriteOp};
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

struct Plan {
    ops: Vec<WriteOp>,
    report: ApplyReport,
    errors: Vec<String>,
}

impl Plan {
    fn note(&mut self, changed: Option<bool>, op: WriteOp) {
        match changed {
            None => {
                self.report.created += 1;
                self.ops.push(op);
            }
            Some(true) => {
                self.report.updated += 1;
                self.ops.push(op);
            }
            Some(false) => self.report.unchanged += 1,
        }
    }
}

/// Validates the whole file, then writes the differences atomically. On any error nothing
/// is written and every problem is returned.
pub async fn apply(
    store: &dyn Store,
    secrets: &Secrets,
    data_dir: &std::path::Path,
    file: TenantFile,
    now: Millis,
) -> Result<ApplyReport, Vec<String>> {
    let mut plan = Plan {
        ops: Vec::new(),
        report: ApplyReport::default(),
        errors: Vec::new(),
    };
    let db = |e: passbroker_store::StoreError| vec![format!("store: {e}")];

    let mut policy_ids: HashMap<String, PolicyId> = HashMap::new();
    for (i, p) in file.policies.into_iter().enumerate() {
        let at = format!("policies[{i}] ({:?})", p.name);
        if let Err(errs) = p.validate() {
            plan.errors
                .extend(errs.into_iter().map(|e| format!("{at}: {e}")));
            continue;
        }
        let existing = store.find_policy_by_name(&p.name).await.map_err(db)?;
        let mut policy = PasswordPolicy {
            source_ids: Vec::new(),
            ..p
        };
        policy.id = existing
            .as_ref()
            .and_then(|e| e.id.clone())
            .or_else(|| Some(PolicyId::generate()));
        policy.date_created = existing.as_ref().and_then(|e| e.date_created).or(Some(now));
        policy.last_updated = Some(now);
        let changed = existing.map(|e| {
            let mut a = e.clone();
            a.source_ids = Vec::new();
            a.last_updated = None;
            let mut b = policy.clone();
            b.last_updated = None;
            a != b
        });
        if let Some(id) = &policy.id {
            policy_ids.insert(policy.name.clone(), id.clone());
        }
        plan.note(changed, WriteOp::UpsertPolicy(policy));
    }
    let policy_id = |name: &str, policies: &HashMap<String, PolicyId>| policies.get(name).cloned();

    let mut identity_ids: HashMap<String, IdentityId> = HashMap::new();
    for (i, e) in file.identities.into_iter().enumerate() {
        let at = format!("identities[{i}] ({:?})", e.user_name);
        // Registered before validation, so entries that refer to it report their own problems.
        let existing = store
            .find_identity_by_login(&e.user_name)
            .await
            .map_err(db)?;
        let id = existing
            .as_ref()
            .map(|x| x.id.clone())
            .unwrap_or_else(IdentityId::generate);
        identity_ids.insert(e.user_name.to_lowercase(), id.clone());
        let login = match LoginName::parse(&e.user_name) {
            Ok(l) => l,
            Err(err) => {
                plan.errors.push(format!("{at}: {err}"));
                continue;
            }
        };
        let level = match UserLevel::parse(&e.user_level) {
            Ok(l) => l,
            Err(err) => {
                plan.errors.push(format!("{at}: {err}"));
                continue;
            }
        };
        if let Some(email) = &e.email {
            if !email.contains('@') || email.chars().any(char::is_whitespace) {
                plan.errors
                    .push(format!("{at}: email: {email:?} is not an email address"));
                continue;
            }
        }
        let identity = Identity {
            id,
            display_name: e.display_name.unwrap_or_else(|| login.as_str().to_owned()),
            login_name: login,
            email: e.email,
            attributes: e.attributes,
            user_level: level,
            active: e.active,
        };
        let changed = existing.map(|x| x != identity);
        plan.note(changed, WriteOp::UpsertIdentity(identity));
    }
    let find_identity =
        |name: &str, ids: &HashMap<String, IdentityId>| ids.get(&name.to_lowercase()).cloned();

    let mut source_ids: HashMap<String, SourceId> = HashMap::new();
    for (i, e) in file.sources.into_iter().enumerate() {
        let at = format!("sources[{i}] ({:?})", e.name);
        let existing = store.find_source_by_name(&e.name).await.map_err(db)?;
        let id = existing
            .as_ref()
            .map(|x| x.id.clone())
            .unwrap_or_else(SourceId::generate);
        source_ids.insert(e.name.clone(), id.clone());
        let (name, kind) = match (
            SourceName::parse(&e.name),
            ConnectorKind::parse(&e.connector),
        ) {
            (Ok(n), Ok(k)) => (n, k),
            (Err(err), _) | (_, Err(err)) => {
                plan.errors.push(format!("{at}: {err}"));
                continue;
            }
        };
        if kind != ConnectorKind::Builtin {
            if let Err(err) =
                passbroker_connectors::build(kind, &e.config, e.secrets.as_ref(), data_dir).await
            {
                plan.errors.push(format!("{at}: {err}"));
                continue;
            }
        }
        let policy = match &e.policy {
            Some(p) => match policy_id(p, &policy_ids).or(store
                .find_policy_by_name(p)
                .await
                .map_err(db)?
                .and_then(|x| x.id))
            {
                Some(id) => Some(id),
                None => {
                    plan.errors
                        .push(format!("{at}: policy: no policy named {p:?}"));
                    continue;
                }
            },
            None => None,
        };
        let owner = match &e.owner {
            Some(o) => match find_identity(o, &identity_ids).or(store
                .find_identity_by_login(o)
                .await
                .map_err(db)?
                .map(|x| x.id))
            {
                Some(id) => Some(id),
                None => {
                    plan.errors.push(format!("{at}: owner: no identity {o:?}"));
                    continue;
                }
            },
            None => None,
        };
        let same_secrets = match (
            &existing.as_ref().and_then(|x| x.wrapped_secrets.clone()),
            &e.secrets,
        ) {
            (Some(w), Some(new)) => secrets.unwrap_json(w).ok().as_ref() == Some(new),
            (None, None) => true,
            _ => false,
        };
        let wrapped_secrets = if same_secrets {
            existing.as_ref().and_then(|x| x.wrapped_secrets.clone())
        } else {
            match &e.secrets {
                Some(s) => Some(secrets.wrap_json(s).map_err(|err| vec![err.to_string()])?),
                None => None,
            }
        };
        let source = Source {
            id,
            name,
            description: e.description,
            features: e.features,
            connector: kind,
            connector_config: e.config,
            wrapped_secrets,
            owner,
            password_policy_id: policy,
            delivery: e.delivery,
            created: existing.as_ref().map(|x| x.created).unwrap_or(now),
            modified: now,
        };
        let changed = existing.map(|x| Source { modified: now, ..x } != source);
        plan.note(changed, WriteOp::UpsertSource(source));
    }

    for (i, e) in file.accounts.into_iter().enumerate() {
        let at = format!("accounts[{i}] ({:?} on {:?})", e.account_id, e.source);
        let Some(identity_id) = find_identity(&e.identity, &identity_ids).or(store
            .find_identity_by_login(&e.identity)
            .await
            .map_err(db)?
            .map(|x| x.id))
        else {
            plan.errors
                .push(format!("{at}: identity: no identity {:?}", e.identity));
            continue;
        };
        let Some(source_id) = source_ids.get(&e.source).cloned().or(store
            .find_source_by_name(&e.source)
            .await
            .map_err(db)?
            .map(|x| x.id))
        else {
            plan.errors
                .push(format!("{at}: source: no source {:?}", e.source));
            continue;
        };
        let native = match NativeAccountId::parse(&e.account_id) {
            Ok(n) => n,
            Err(err) => {
                plan.errors.push(format!("{at}: {err}"));
                continue;
            }
        };
        let existing = store
            .find_account(&source_id, &e.account_id)
            .await
            .map_err(db)?;
        let account = Account {
            id: existing
                .as_ref()
                .map(|x| x.id.clone())
                .unwrap_or_else(AccountRef::generate),
            source_id,
            identity_id,
            native_id: native,
            account_name: e.account_name.unwrap_or_else(|| e.account_id.clone()),
            attributes: e.attributes,
            disabled: e.disabled,
        };
        let changed = existing.map(|x| x != account);
        plan.note(changed, WriteOp::UpsertAccount(account));
    }

    for (i, e) in file.sync_groups.into_iter().enumerate() {
        let at = format!("syncGroups[{i}] ({:?})", e.name);
        let Some(policy) = policy_id(&e.policy, &policy_ids).or(store
            .find_policy_by_name(&e.policy)
            .await
            .map_err(db)?
            .and_then(|x| x.id))
        else {
            plan.errors
                .push(format!("{at}: policy: no policy named {:?}", e.policy));
            continue;
        };
        if e.sources.len() < 2 {
            plan.errors.push(format!(
                "{at}: sources: a sync group needs at least 2 sources"
            ));
            continue;
        }
        let mut ids = Vec::new();
        for s in &e.sources {
            match source_ids.get(s).cloned().or(store
                .find_source_by_name(s)
                .await
                .map_err(db)?
                .map(|x| x.id))
            {
                Some(id) => ids.push(id),
                None => plan.errors.push(format!("{at}: sources: no source {s:?}")),
            }
        }
        let (existing, _) = store.list_sync_groups(Page::all()).await.map_err(db)?;
        let existing = existing.into_iter().find(|g| g.name == e.name);
        let group = PasswordSyncGroup {
            id: existing
                .as_ref()
                .map(|g| g.id.clone())
                .unwrap_or_else(SyncGroupId::generate),
            name: e.name,
            password_policy_id: policy,
            source_ids: ids,
            created: existing.as_ref().map(|g| g.created).unwrap_or(now),
            modified: now,
        };
        let changed = existing.map(|g| PasswordSyncGroup { modified: now, ..g } != group);
        plan.note(changed, WriteOp::UpsertSyncGroup(group));
    }

    for (i, e) in file.clients.into_iter().enumerate() {
        let at = format!("clients[{i}] ({:?})", e.name);
        if !passbroker_core::ids::is_isc_id(&e.client_id) {
            plan.errors.push(format!(
                "{at}: clientId: must be 32 lowercase hexadecimal characters"
            ));
            continue;
        }
        if !e.secret_hash.starts_with("$argon2id$") {
            plan.errors
                .push(format!("{at}: secretHash: must be an argon2id PHC string"));
            continue;
        }
        let scopes = match parse_scopes(&e.scopes.join(" ")) {
            Ok(s) => s,
            Err(bad) => {
                plan.errors
                    .push(format!("{at}: scopes: unknown scope {bad:?}"));
                continue;
            }
        };
        if let Some(g) = e.grant_types.iter().find(|g| {
            !["client_credentials", "authorization_code", "refresh_token"].contains(&g.as_str())
        }) {
            plan.errors
                .push(format!("{at}: grantTypes: unknown grant type {g:?}"));
            continue;
        }
        let existing = store.get_client(&e.client_id).await.map_err(db)?;
        let client = ApiClient {
            client_id: e.client_id,
            name: e.name,
            secret_hash: Some(e.secret_hash),
            scopes,
            grant_types: e.grant_types,
            redirect_uris: e.redirect_uris,
            created: existing.as_ref().map(|c| c.created).unwrap_or(now),
            disabled: false,
        };
        let changed = existing.map(|c| c != client);
        plan.note(changed, WriteOp::UpsertClient(client));
    }

    if !plan.errors.is_empty() {
        return Err(plan.errors);
    }
    if !plan.ops.is_empty() {
        store
            .apply(plan.ops)
            .await
            .map_err(|e| vec![format!("store: {e}")])?;
    }
    Ok(plan.report)
}

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
