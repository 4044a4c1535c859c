//! Identities and accounts built from what an operator gives (the API's bodies, import
//! rows, tenant files, the demo): the one place their fields are checked and turned into
//! domain values.

use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::{AccountRef, IdentityId, SourceId};
use passbroker_store::{Store, StoreResult};
use serde::Deserialize;
use std::collections::BTreeMap;

/// An identity as given by an operator (API body or import row).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityFields {
    pub id: Option<String>,
    /// The login name (`userName` is accepted too).
    #[serde(alias = "userName", alias = "alias")]
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(alias = "email")]
    pub email_address: Option<String>,
    pub user_level: Option<String>,
    pub active: Option<bool>,
    pub identity_status: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Validates the fields into an identity (keeping `existing`'s id); every problem is listed.
pub fn build_identity(
    f: IdentityFields,
    existing: Option<&Identity>,
) -> Result<Identity, Vec<String>> {
    let mut problems = Vec::new();
    let login = match f
        .name
        .as_deref()
        .or(existing.map(|e| e.login_name.as_str()))
    {
        Some(n) => LoginName::parse(n)
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
        None => {
            problems.push("name: is required (the login name)".into());
            None
        }
    };
    let level = match f.user_level.as_deref() {
        Some(l) => UserLevel::parse(l)
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
        None => Some(existing.map(|e| e.user_level).unwrap_or(UserLevel::User)),
    };
    if let Some(email) = &f.email_address {
        if !email.is_empty() && (!email.contains('@') || email.chars().any(char::is_whitespace)) {
            problems.push(format!("emailAddress: {email:?} is not an email address"));
        }
    }
    let active = match (f.active, f.identity_status.as_deref()) {
        (Some(a), _) => a,
        (None, Some("ACTIVE")) => true,
        (None, Some("INACTIVE")) => false,
        (None, Some(other)) => {
            problems.push(format!(
                "identityStatus: use ACTIVE or INACTIVE, not {other:?}"
            ));
            true
        }
        (None, None) => existing.is_none_or(|e| e.active),
    };
    let (Some(login_name), Some(user_level)) = (login, level) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Identity {
        id: existing
            .map(|e| e.id.clone())
            .unwrap_or_else(IdentityId::generate),
        display_name: f
            .display_name
            .or(existing.map(|e| e.display_name.clone()))
            .unwrap_or_else(|| login_name.as_str().to_owned()),
        login_name,
        email: f
            .email_address
            .filter(|e| !e.is_empty())
            .or(existing.and_then(|e| e.email.clone())),
        attributes: f
            .attributes
            .or(existing.map(|e| e.attributes.clone()))
            .unwrap_or_default(),
        user_level,
        active,
    })
}

/// An account as given by an operator. The identity is named by `identityId` or `userName`,
/// the source by `sourceId` or `sourceName`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountFields {
    pub id: Option<String>,
    pub identity_id: Option<String>,
    pub user_name: Option<String>,
    pub source_id: Option<String>,
    pub source_name: Option<String>,
    /// The account's id on its source (ISC's `nativeIdentity`; `accountId` is accepted too).
    #[serde(alias = "accountId")]
    pub native_identity: Option<String>,
    pub name: Option<String>,
    pub disabled: Option<bool>,
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Validates the fields into an account (keeping `existing`'s id); every problem is listed.
pub async fn build_account(
    store: &dyn Store,
    f: AccountFields,
    existing: Option<&Account>,
) -> StoreResult<Result<Account, Vec<String>>> {
    let identity = match (&f.identity_id, &f.user_name) {
        (Some(id), _) => match IdentityId::parse(id) {
            Ok(i) => store.get_identity(&i).await?.map(|i| i.id),
            Err(_) => None,
        }
        .ok_or_else(|| format!("identityId: no identity {id:?}")),
        (None, Some(u)) => store
            .find_identity_by_login(u)
            .await?
            .map(|i| i.id)
            .ok_or_else(|| format!("userName: no identity {u:?}")),
        (None, None) => existing
            .map(|e| e.identity_id.clone())
            .ok_or_else(|| "identityId: is required (or userName)".to_owned()),
    };
    let source = match (&f.source_id, &f.source_name) {
        (Some(id), _) => match SourceId::parse(id) {
            Ok(s) => store.get_source(&s).await?.map(|s| s.id),
            Err(_) => None,
        }
        .ok_or_else(|| format!("sourceId: no source {id:?}")),
        (None, Some(n)) => store
            .find_source_by_name(n)
            .await?
            .map(|s| s.id)
            .ok_or_else(|| format!("sourceName: no source {n:?}")),
        (None, None) => existing
            .map(|e| e.source_id.clone())
            .ok_or_else(|| "sourceId: is required (or sourceName)".to_owned()),
    };
    let account = match assemble_account(f, identity, source, existing) {
        Ok(a) => a,
        Err(problems) => return Ok(Err(problems)),
    };
    if let Some(other) = store
        .find_account(&account.source_id, account.native_id.as_str())
        .await?
    {
        if Some(&other.id) != existing.map(|e| &e.id) {
            return Ok(Err(vec![format!(
                "nativeIdentity: the source already has an account {:?}",
                account.native_id.as_str()
            )]));
        }
    }
    Ok(Ok(account))
}

/// Builds an account from its fields once the identity and source are resolved (or why
/// they are not), keeping `existing`'s id and values for fields left out. Every problem is
/// listed. The bulk import resolves whole chunks of records at once and then calls this.
pub fn assemble_account(
    f: AccountFields,
    identity: Result<IdentityId, String>,
    source: Result<SourceId, String>,
    existing: Option<&Account>,
) -> Result<Account, Vec<String>> {
    let native = match f
        .native_identity
        .as_deref()
        .or(existing.map(|e| e.native_id.as_str()))
    {
        Some(n) => NativeAccountId::parse(n).map_err(|e| format!("nativeIdentity: {}", e.message)),
        None => Err("nativeIdentity: is required (the account's id on its source)".to_owned()),
    };
    let (identity_id, source_id, native_id) = match (identity, source, native) {
        (Ok(i), Ok(s), Ok(n)) => (i, s, n),
        (i, s, n) => return Err([i.err(), s.err(), n.err()].into_iter().flatten().collect()),
    };
    Ok(Account {
        id: existing
            .map(|e| e.id.clone())
            .unwrap_or_else(AccountRef::generate),
        account_name: f
            .name
            .or(existing.map(|e| e.account_name.clone()))
            .unwrap_or_else(|| native_id.as_str().to_owned()),
        source_id,
        identity_id,
        native_id,
        attributes: f
            .attributes
            .or(existing.map(|e| e.attributes.clone()))
            .unwrap_or_default(),
        disabled: f.disabled.or(existing.map(|e| e.disabled)).unwrap_or(false),
    })
}
