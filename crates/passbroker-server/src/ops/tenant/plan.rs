//! Applying a tenant file: every entry is checked and turned into the write it needs (or
//! none, when the store already matches); the writes go in one transaction.

use super::{
    AccountEntry, ApplyReport, ClientEntry, IdentityEntry, SourceEntry, SyncGroupEntry, TenantFile,
};
use crate::pipeline::directory::{build_identity, IdentityFields};
use crate::pipeline::secrets::Secrets;
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::client::{parse_scopes, ApiClient};
use passbroker_core::identity::Identity;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::{ConnectorKind, Source, SourceName};
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, PolicyId, SourceId, SyncGroupId};
use passbroker_store::{Page, Store, WriteOp};
use std::collections::HashMap;

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

fn db(e: passbroker_store::StoreError) -> Vec<String> {
    vec![format!("store: {e}")]
}

/// The entries planned so far and the ids they were given, by natural key, so later
/// entries can refer to earlier ones.
struct Planner<'a> {
    store: &'a dyn Store,
    secrets: &'a Secrets,
    data_dir: &'a std::path::Path,
    now: Millis,
    plan: Plan,
    policy_ids: HashMap<String, PolicyId>,
    /// By lower-cased login name.
    identity_ids: HashMap<String, IdentityId>,
    source_ids: HashMap<String, SourceId>,
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
    let mut planner = Planner {
        store,
        secrets,
        data_dir,
        now,
        plan: Plan {
            ops: Vec::new(),
            report: ApplyReport::default(),
            errors: Vec::new(),
        },
        policy_ids: HashMap::new(),
        identity_ids: HashMap::new(),
        source_ids: HashMap::new(),
    };
    planner.policies(file.policies).await?;
    planner.identities(file.identities).await?;
    planner.sources(file.sources).await?;
    planner.accounts(file.accounts).await?;
    planner.sync_groups(file.sync_groups).await?;
    planner.clients(file.clients).await?;
    let plan = planner.plan;
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

impl Planner<'_> {
    /// Policies, by name.
    async fn policies(&mut self, entries: Vec<PasswordPolicy>) -> Result<(), Vec<String>> {
        for (i, p) in entries.into_iter().enumerate() {
            let at = format!("policies[{i}] ({:?})", p.name);
            if let Err(errs) = p.validate() {
                self.plan
                    .errors
                    .extend(errs.into_iter().map(|e| format!("{at}: {e}")));
                continue;
            }
            let existing = self.store.find_policy_by_name(&p.name).await.map_err(db)?;
            let mut policy = PasswordPolicy {
                source_ids: Vec::new(),
                ..p
            };
            policy.id = existing
                .as_ref()
                .and_then(|e| e.id.clone())
                .or_else(|| Some(PolicyId::generate()));
            policy.date_created = existing
                .as_ref()
                .and_then(|e| e.date_created)
                .or(Some(self.now));
            policy.last_updated = Some(self.now);
            let changed = existing.map(|e| {
                let mut a = e.clone();
                a.source_ids = Vec::new();
                a.last_updated = None;
                let mut b = policy.clone();
                b.last_updated = None;
                a != b
            });
            if let Some(id) = &policy.id {
                self.policy_ids.insert(policy.name.clone(), id.clone());
            }
            self.plan.note(changed, WriteOp::UpsertPolicy(policy));
        }
        Ok(())
    }

    /// Identities, by login name.
    async fn identities(&mut self, entries: Vec<IdentityEntry>) -> Result<(), Vec<String>> {
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("identities[{i}] ({:?})", e.user_name);
            // Registered before validation, so entries that refer to it report their own problems.
            let existing = self
                .store
                .find_identity_by_login(&e.user_name)
                .await
                .map_err(db)?;
            let id = existing
                .as_ref()
                .map(|x| x.id.clone())
                .unwrap_or_else(IdentityId::generate);
            self.identity_ids
                .insert(e.user_name.to_lowercase(), id.clone());
            let fields = IdentityFields {
                name: Some(e.user_name),
                display_name: e.display_name,
                email_address: e.email,
                user_level: Some(e.user_level),
                active: Some(e.active),
                attributes: Some(e.attributes),
                ..IdentityFields::default()
            };
            let identity = match build_identity(fields, None) {
                Ok(built) => Identity { id, ..built },
                Err(problems) => {
                    let problems = problems.into_iter().map(|p| format!("{at}: {p}"));
                    self.plan.errors.extend(problems);
                    continue;
                }
            };
            let changed = existing.map(|x| x != identity);
            self.plan.note(changed, WriteOp::UpsertIdentity(identity));
        }
        Ok(())
    }

    /// Sources, by name; connector settings are checked by building the connector.
    async fn sources(&mut self, entries: Vec<SourceEntry>) -> Result<(), Vec<String>> {
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("sources[{i}] ({:?})", e.name);
            let existing = self.store.find_source_by_name(&e.name).await.map_err(db)?;
            let id = existing
                .as_ref()
                .map(|x| x.id.clone())
                .unwrap_or_else(SourceId::generate);
            self.source_ids.insert(e.name.clone(), id.clone());
            let (name, kind) = match (
                SourceName::parse(&e.name),
                ConnectorKind::parse(&e.connector),
            ) {
                (Ok(n), Ok(k)) => (n, k),
                (Err(err), _) | (_, Err(err)) => {
                    self.plan.errors.push(format!("{at}: {err}"));
                    continue;
                }
            };
            if kind != ConnectorKind::Builtin {
                if let Err(err) =
                    passbroker_connectors::build(kind, &e.config, e.secrets.as_ref(), self.data_dir)
                        .await
                {
                    self.plan.errors.push(format!("{at}: {err}"));
                    continue;
                }
            }
            let policy = match &e.policy {
                Some(p) => match self.policy_ids.get(p).cloned().or(self
                    .store
                    .find_policy_by_name(p)
                    .await
                    .map_err(db)?
                    .and_then(|x| x.id))
                {
                    Some(id) => Some(id),
                    None => {
                        self.plan
                            .errors
                            .push(format!("{at}: policy: no policy named {p:?}"));
                        continue;
                    }
                },
                None => None,
            };
            let owner = match &e.owner {
                Some(o) => match self.identity_ids.get(&o.to_lowercase()).cloned().or(self
                    .store
                    .find_identity_by_login(o)
                    .await
                    .map_err(db)?
                    .map(|x| x.id))
                {
                    Some(id) => Some(id),
                    None => {
                        self.plan
                            .errors
                            .push(format!("{at}: owner: no identity {o:?}"));
                        continue;
                    }
                },
                None => None,
            };
            let wrapped_secrets = self.wrapped_secrets(existing.as_ref(), e.secrets.as_ref())?;
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
                created: existing.as_ref().map(|x| x.created).unwrap_or(self.now),
                modified: self.now,
            };
            let changed = existing.map(|x| {
                Source {
                    modified: self.now,
                    ..x
                } != source
            });
            self.plan.note(changed, WriteOp::UpsertSource(source));
        }
        Ok(())
    }

    /// The source's secrets, wrapped: the stored ones when the file gives the same values
    /// (so applying a file twice changes nothing), else the file's, wrapped anew.
    fn wrapped_secrets(
        &self,
        existing: Option<&Source>,
        given: Option<&serde_json::Value>,
    ) -> Result<Option<Vec<u8>>, Vec<String>> {
        let stored = existing.and_then(|x| x.wrapped_secrets.clone());
        let same = match (&stored, given) {
            (Some(w), Some(new)) => self.secrets.unwrap_json(w).ok().as_ref() == Some(new),
            (None, None) => true,
            _ => false,
        };
        if same {
            return Ok(stored);
        }
        given
            .map(|s| {
                self.secrets
                    .wrap_json(s)
                    .map_err(|err| vec![err.to_string()])
            })
            .transpose()
    }

    /// Accounts, by source and account id.
    async fn accounts(&mut self, entries: Vec<AccountEntry>) -> Result<(), Vec<String>> {
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("accounts[{i}] ({:?} on {:?})", e.account_id, e.source);
            let Some(identity_id) = self
                .identity_ids
                .get(&e.identity.to_lowercase())
                .cloned()
                .or(self
                    .store
                    .find_identity_by_login(&e.identity)
                    .await
                    .map_err(db)?
                    .map(|x| x.id))
            else {
                self.plan
                    .errors
                    .push(format!("{at}: identity: no identity {:?}", e.identity));
                continue;
            };
            let Some(source_id) = self.source_ids.get(&e.source).cloned().or(self
                .store
                .find_source_by_name(&e.source)
                .await
                .map_err(db)?
                .map(|x| x.id))
            else {
                self.plan
                    .errors
                    .push(format!("{at}: source: no source {:?}", e.source));
                continue;
            };
            let native = match NativeAccountId::parse(&e.account_id) {
                Ok(n) => n,
                Err(err) => {
                    self.plan.errors.push(format!("{at}: {err}"));
                    continue;
                }
            };
            let existing = self
                .store
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
            self.plan.note(changed, WriteOp::UpsertAccount(account));
        }
        Ok(())
    }

    /// Sync groups, by name.
    async fn sync_groups(&mut self, entries: Vec<SyncGroupEntry>) -> Result<(), Vec<String>> {
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("syncGroups[{i}] ({:?})", e.name);
            let Some(policy) = self.policy_ids.get(&e.policy).cloned().or(self
                .store
                .find_policy_by_name(&e.policy)
                .await
                .map_err(db)?
                .and_then(|x| x.id))
            else {
                self.plan
                    .errors
                    .push(format!("{at}: policy: no policy named {:?}", e.policy));
                continue;
            };
            if e.sources.len() < 2 {
                self.plan.errors.push(format!(
                    "{at}: sources: a sync group needs at least 2 sources"
                ));
                continue;
            }
            let mut ids = Vec::new();
            for s in &e.sources {
                match self.source_ids.get(s).cloned().or(self
                    .store
                    .find_source_by_name(s)
                    .await
                    .map_err(db)?
                    .map(|x| x.id))
                {
                    Some(id) => ids.push(id),
                    None => self
                        .plan
                        .errors
                        .push(format!("{at}: sources: no source {s:?}")),
                }
            }
            let (existing, _) = self.store.list_sync_groups(Page::all()).await.map_err(db)?;
            let existing = existing.into_iter().find(|g| g.name == e.name);
            let group = PasswordSyncGroup {
                id: existing
                    .as_ref()
                    .map(|g| g.id.clone())
                    .unwrap_or_else(SyncGroupId::generate),
                name: e.name,
                password_policy_id: policy,
                source_ids: ids,
                created: existing.as_ref().map(|g| g.created).unwrap_or(self.now),
                modified: self.now,
            };
            let changed = existing.map(|g| {
                PasswordSyncGroup {
                    modified: self.now,
                    ..g
                } != group
            });
            self.plan.note(changed, WriteOp::UpsertSyncGroup(group));
        }
        Ok(())
    }

    /// API clients, by client id (secrets only as argon2id hashes).
    async fn clients(&mut self, entries: Vec<ClientEntry>) -> Result<(), Vec<String>> {
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("clients[{i}] ({:?})", e.name);
            if !passbroker_core::ids::is_isc_id(&e.client_id) {
                self.plan.errors.push(format!(
                    "{at}: clientId: must be 32 lowercase hexadecimal characters"
                ));
                continue;
            }
            if !e.secret_hash.starts_with("$argon2id$") {
                self.plan
                    .errors
                    .push(format!("{at}: secretHash: must be an argon2id PHC string"));
                continue;
            }
            let scopes = match parse_scopes(&e.scopes.join(" ")) {
                Ok(s) => s,
                Err(bad) => {
                    self.plan
                        .errors
                        .push(format!("{at}: scopes: unknown scope {bad:?}"));
                    continue;
                }
            };
            if let Some(g) = e.grant_types.iter().find(|g| {
                !["client_credentials", "authorization_code", "refresh_token"].contains(&g.as_str())
            }) {
                self.plan
                    .errors
                    .push(format!("{at}: grantTypes: unknown grant type {g:?}"));
                continue;
            }
            let existing = self.store.get_client(&e.client_id).await.map_err(db)?;
            let client = ApiClient {
                client_id: e.client_id,
                name: e.name,
                secret_hash: Some(e.secret_hash),
                scopes,
                grant_types: e.grant_types,
                redirect_uris: e.redirect_uris,
                created: existing.as_ref().map(|c| c.created).unwrap_or(self.now),
                disabled: false,
            };
            let changed = existing.map(|c| c != client);
            self.plan.note(changed, WriteOp::UpsertClient(client));
        }
        Ok(())
    }
}
