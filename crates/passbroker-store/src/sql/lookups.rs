//! Reading the directory: identities, sources, accounts, policies, sync groups, org config
//! and dictionary.

use super::directory::{
    account_from_row, identity_from_row, policy_columns, rows_to, source_from_row, source_ids,
};
use super::{args, corrupt, first, page_args, parse, Arg, Dialect, Kind, Row, Sql};
use crate::{Page, PasswordInfoView, StoreResult};
use passbroker_core::account::Account;
use passbroker_core::identity::Identity;
use passbroker_core::org_config::OrgPasswordConfig;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::Source;
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::{AccountRef, IdentityId, PolicyId, SourceId, SyncGroupId};

pub(crate) async fn get_identity<D: Dialect>(
    d: &D,
    id: &IdentityId,
) -> StoreResult<Option<Identity>> {
    let rows = d
        .fetch("SELECT * FROM identities WHERE id = $1", args![id.as_str()])
        .await?;
    first(rows).as_ref().map(identity_from_row).transpose()
}

pub(crate) async fn find_identity_by_login<D: Dialect>(
    d: &D,
    login_name: &str,
) -> StoreResult<Option<Identity>> {
    let sql = format!(
        "SELECT * FROM identities WHERE {}",
        Sql::ci_eq(D::KIND, "login_name", "$1")
    );
    let rows = d.fetch(&sql, args![login_name]).await?;
    first(rows).as_ref().map(identity_from_row).transpose()
}

pub(crate) async fn find_identities_by_login<D: Dialect>(
    d: &D,
    login_names: &[String],
) -> StoreResult<Vec<Identity>> {
    let sql = format!(
        "SELECT * FROM identities WHERE {}",
        Sql::ci_in_list(D::KIND, "login_name", "$1")
    );
    let rows = d
        .fetch_scan(&sql, &[Arg::list(login_names.iter().map(String::as_str))])
        .await?;
    rows_to(&rows, identity_from_row)
}

pub(crate) async fn get_identities<D: Dialect>(
    d: &D,
    ids: &[IdentityId],
) -> StoreResult<Vec<Identity>> {
    let sql = format!(
        "SELECT * FROM identities WHERE {}",
        Sql::in_list(D::KIND, "id", "$1")
    );
    let rows = d
        .fetch_scan(&sql, &[Arg::list(ids.iter().map(IdentityId::as_str))])
        .await?;
    rows_to(&rows, identity_from_row)
}

pub(crate) async fn list_identities<D: Dialect>(
    d: &D,
    page: Page,
) -> StoreResult<(Vec<Identity>, u64)> {
    let order = format!("{}, id", Sql::ci_order(D::KIND, "login_name"));
    let (rows, n) = paged(d, "identities", &order, page).await?;
    Ok((rows_to(&rows, identity_from_row)?, n))
}

pub(crate) async fn get_source<D: Dialect>(d: &D, id: &SourceId) -> StoreResult<Option<Source>> {
    let rows = d
        .fetch("SELECT * FROM sources WHERE id = $1", args![id.as_str()])
        .await?;
    first(rows).as_ref().map(source_from_row).transpose()
}

pub(crate) async fn find_source_by_name<D: Dialect>(
    d: &D,
    name: &str,
) -> StoreResult<Option<Source>> {
    let rows = d
        .fetch("SELECT * FROM sources WHERE name = $1", args![name])
        .await?;
    first(rows).as_ref().map(source_from_row).transpose()
}

pub(crate) async fn list_sources<D: Dialect>(d: &D, page: Page) -> StoreResult<(Vec<Source>, u64)> {
    let (rows, n) = paged(d, "sources", "name, id", page).await?;
    Ok((rows_to(&rows, source_from_row)?, n))
}

pub(crate) async fn get_account<D: Dialect>(
    d: &D,
    id: &AccountRef,
) -> StoreResult<Option<Account>> {
    let rows = d
        .fetch("SELECT * FROM accounts WHERE id = $1", args![id.as_str()])
        .await?;
    first(rows).as_ref().map(account_from_row).transpose()
}

pub(crate) async fn find_account<D: Dialect>(
    d: &D,
    source_id: &SourceId,
    native_id: &str,
) -> StoreResult<Option<Account>> {
    let rows = d
        .fetch(
            "SELECT * FROM accounts WHERE source_id = $1 AND native_id = $2",
            args![source_id.as_str(), native_id],
        )
        .await?;
    first(rows).as_ref().map(account_from_row).transpose()
}

pub(crate) async fn find_accounts<D: Dialect>(
    d: &D,
    source_id: &SourceId,
    native_ids: &[String],
) -> StoreResult<Vec<Account>> {
    let sql = format!(
        "SELECT * FROM accounts WHERE source_id = $1 AND {}",
        Sql::in_list(D::KIND, "native_id", "$2")
    );
    let rows = d
        .fetch_scan(
            &sql,
            &[
                Arg::from(source_id.as_str()),
                Arg::list(native_ids.iter().map(String::as_str)),
            ],
        )
        .await?;
    rows_to(&rows, account_from_row)
}

pub(crate) async fn accounts_of_identity<D: Dialect>(
    d: &D,
    identity_id: &IdentityId,
    source_id: Option<&SourceId>,
) -> StoreResult<Vec<Account>> {
    let rows = match source_id {
        // `+native_id`: without statistics SQLite would pick the (source_id, native_id) index
        // for the ORDER BY and walk every account of the source; this keeps it on
        // (identity_id, source_id), a handful of rows. (`+` on text is a no-op elsewhere.)
        Some(s) => {
            let order = match D::KIND {
                Kind::Sqlite => "+native_id",
                Kind::Postgres => "native_id",
            };
            let sql = format!(
                "SELECT * FROM accounts WHERE identity_id = $1 AND source_id = $2 ORDER BY {order}"
            );
            d.fetch(&sql, args![identity_id.as_str(), s.as_str()])
                .await?
        }
        None => {
            d.fetch(
                "SELECT * FROM accounts WHERE identity_id = $1 ORDER BY source_id, native_id",
                args![identity_id.as_str()],
            )
            .await?
        }
    };
    rows_to(&rows, account_from_row)
}

pub(crate) async fn list_accounts<D: Dialect>(
    d: &D,
    page: Page,
) -> StoreResult<(Vec<Account>, u64)> {
    let (rows, n) = paged(d, "accounts", "source_id, native_id", page).await?;
    Ok((rows_to(&rows, account_from_row)?, n))
}

/// query-password-info's look-ups: the identity by login name, the source by name, the
/// identity's accounts on that source, and the source's effective policy, as one snapshot
/// (on SQLite one read transaction: one file lock instead of five).
pub(crate) async fn password_info<D: Dialect>(
    d: &D,
    login_name: &str,
    source_name: &str,
) -> StoreResult<PasswordInfoView> {
    let identity_id = format!(
        "(SELECT id FROM identities WHERE {})",
        Sql::ci_eq(D::KIND, "login_name", "$1")
    );
    let order = match D::KIND {
        Kind::Sqlite => "+native_id",
        Kind::Postgres => "native_id",
    };
    let identity = format!(
        "SELECT * FROM identities WHERE {}",
        Sql::ci_eq(D::KIND, "login_name", "$1")
    );
    let accounts = format!(
        "SELECT * FROM accounts WHERE identity_id = {identity_id}
           AND source_id = (SELECT id FROM sources WHERE name = $2) ORDER BY {order}"
    );
    let policy_id = effective_policy_id(
        "(SELECT id FROM sources WHERE name = $1)",
        "(SELECT password_policy_id FROM sources WHERE name = $1)",
    );
    let policy = format!("SELECT * FROM password_policies WHERE id = {policy_id}");
    let policy_sources =
        format!("SELECT id FROM sources WHERE password_policy_id = {policy_id} ORDER BY name");
    let mut rows = d
        .fetch_together(&[
            (&identity, args![login_name]),
            ("SELECT * FROM sources WHERE name = $1", args![source_name]),
            (&accounts, args![login_name, source_name]),
            (&policy, args![source_name]),
            (&policy_sources, args![source_name]),
        ])
        .await?
        .into_iter();
    let mut next = || rows.next().unwrap_or_default();
    let identity = first(next()).as_ref().map(identity_from_row).transpose()?;
    let source = first(next()).as_ref().map(source_from_row).transpose()?;
    let accounts = rows_to(&next(), account_from_row)?;
    let policy = match first(next()) {
        Some(r) => {
            let mut p = policy_columns(&r)?;
            p.source_ids = source_ids(&next(), "id")?;
            Some(p)
        }
        None => None,
    };
    Ok(PasswordInfoView {
        identity,
        source,
        accounts,
        policy,
    })
}

/// A policy row with the ids of the sources that name it.
async fn policy_with_sources<D: Dialect>(d: &D, r: &Row) -> StoreResult<PasswordPolicy> {
    let mut p = policy_columns(r)?;
    let rows = d
        .fetch(
            "SELECT id FROM sources WHERE password_policy_id = $1 ORDER BY name",
            args![r.str("id")?],
        )
        .await?;
    p.source_ids = source_ids(&rows, "id")?;
    Ok(p)
}

async fn one_policy<D: Dialect>(
    d: &D,
    sql: &str,
    a: &[Arg<'_>],
) -> StoreResult<Option<PasswordPolicy>> {
    match first(d.fetch(sql, a).await?) {
        Some(r) => Ok(Some(policy_with_sources(d, &r).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn get_policy<D: Dialect>(
    d: &D,
    id: &PolicyId,
) -> StoreResult<Option<PasswordPolicy>> {
    one_policy(
        d,
        "SELECT * FROM password_policies WHERE id = $1",
        args![id.as_str()],
    )
    .await
}

pub(crate) async fn default_policy<D: Dialect>(d: &D) -> StoreResult<Option<PasswordPolicy>> {
    one_policy(
        d,
        "SELECT * FROM password_policies WHERE is_default = TRUE ORDER BY created, id LIMIT 1",
        &[],
    )
    .await
}

pub(crate) async fn find_policy_by_name<D: Dialect>(
    d: &D,
    name: &str,
) -> StoreResult<Option<PasswordPolicy>> {
    one_policy(
        d,
        "SELECT * FROM password_policies WHERE name = $1",
        args![name],
    )
    .await
}

pub(crate) async fn list_policies<D: Dialect>(
    d: &D,
    page: Page,
) -> StoreResult<(Vec<PasswordPolicy>, u64)> {
    let (rows, n) = paged(d, "password_policies", "created, id", page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(policy_with_sources(d, r).await?);
    }
    Ok((out, n))
}

/// The policy that governs a source (its sync group's, else its own, else the default) in
/// one statement.
pub(crate) async fn effective_policy<D: Dialect>(
    d: &D,
    source: &Source,
) -> StoreResult<Option<PasswordPolicy>> {
    let sql = format!(
        "SELECT * FROM password_policies WHERE id = {}",
        effective_policy_id("$1", "$2")
    );
    let policy_id = source.password_policy_id.as_ref().map(|p| p.as_str());
    one_policy(d, &sql, args![source.id.as_str(), policy_id]).await
}

/// The id of the policy that governs the source whose id is `source_id` and whose own
/// policy id is `own_policy_id` (SQL expressions): its sync group's, else its own, else the
/// default.
fn effective_policy_id(source_id: &str, own_policy_id: &str) -> String {
    format!(
        "COALESCE(
           (SELECT g.policy_id FROM sync_group_sources gs
              JOIN sync_groups g ON g.id = gs.group_id
              JOIN password_policies x ON x.id = g.policy_id
            WHERE gs.source_id = {source_id}),
           (SELECT x.id FROM password_policies x WHERE x.id = {own_policy_id}),
           (SELECT x.id FROM password_policies x WHERE x.is_default = TRUE
            ORDER BY x.created, x.id LIMIT 1))"
    )
}

async fn group_with_sources<D: Dialect>(d: &D, r: &Row) -> StoreResult<PasswordSyncGroup> {
    let id = r.str("id")?;
    let rows = d
        .fetch(
            "SELECT source_id FROM sync_group_sources WHERE group_id = $1 ORDER BY position",
            args![id],
        )
        .await?;
    Ok(PasswordSyncGroup {
        id: parse(SyncGroupId::parse(id), "group id")?,
        name: r.text("name")?,
        password_policy_id: parse(PolicyId::parse(r.str("policy_id")?), "policy id")?,
        source_ids: source_ids(&rows, "source_id")?,
        created: r.millis("created")?,
        modified: r.millis("modified")?,
    })
}

async fn one_group<D: Dialect>(
    d: &D,
    sql: &str,
    a: &[Arg<'_>],
) -> StoreResult<Option<PasswordSyncGroup>> {
    match first(d.fetch(sql, a).await?) {
        Some(r) => Ok(Some(group_with_sources(d, &r).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn get_sync_group<D: Dialect>(
    d: &D,
    id: &SyncGroupId,
) -> StoreResult<Option<PasswordSyncGroup>> {
    one_group(
        d,
        "SELECT * FROM sync_groups WHERE id = $1",
        args![id.as_str()],
    )
    .await
}

pub(crate) async fn sync_group_of_source<D: Dialect>(
    d: &D,
    source_id: &SourceId,
) -> StoreResult<Option<PasswordSyncGroup>> {
    one_group(
        d,
        "SELECT g.* FROM sync_groups g JOIN sync_group_sources s ON s.group_id = g.id WHERE s.source_id = $1",
        args![source_id.as_str()],
    )
    .await
}

pub(crate) async fn list_sync_groups<D: Dialect>(
    d: &D,
    page: Page,
) -> StoreResult<(Vec<PasswordSyncGroup>, u64)> {
    let (rows, n) = paged(d, "sync_groups", "created, id", page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(group_with_sources(d, r).await?);
    }
    Ok((out, n))
}

pub(crate) async fn get_org_config<D: Dialect>(d: &D) -> StoreResult<Option<OrgPasswordConfig>> {
    let rows = d
        .fetch("SELECT body FROM org_config WHERE id = 1", &[])
        .await?;
    match first(rows) {
        Some(r) => Ok(Some(org_config_from_text(r.str("body")?)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get_dictionary<D: Dialect>(d: &D) -> StoreResult<Option<String>> {
    let rows = d
        .fetch("SELECT text FROM password_dictionary WHERE id = 1", &[])
        .await?;
    first(rows).map(|r| r.text("text")).transpose()
}

pub(crate) fn org_config_from_text(text: &str) -> StoreResult<OrgPasswordConfig> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| corrupt("org config"))?;
    let d = OrgPasswordConfig::default();
    Ok(OrgPasswordConfig {
        custom_instructions_enabled: v["customInstructionsEnabled"]
            .as_bool()
            .unwrap_or(d.custom_instructions_enabled),
        digit_token_enabled: v["digitTokenEnabled"]
            .as_bool()
            .unwrap_or(d.digit_token_enabled),
        digit_token_duration_minutes: v["digitTokenDurationMinutes"]
            .as_i64()
            .unwrap_or(d.digit_token_duration_minutes),
        digit_token_length: v["digitTokenLength"]
            .as_i64()
            .unwrap_or(d.digit_token_length),
    })
}

/// Runs a paged `SELECT * FROM {table} ORDER BY {order}` plus a count.
pub(crate) async fn paged<D: Dialect>(
    d: &D,
    table: &str,
    order: &str,
    page: Page,
) -> StoreResult<(Vec<Row>, u64)> {
    let (limit, offset) = page_args(page);
    let rows = d
        .fetch_scan(
            &format!("SELECT * FROM {table} ORDER BY {order} LIMIT $1 OFFSET $2"),
            args![limit, offset],
        )
        .await?;
    let count = first(
        d.fetch_scan(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?,
    )
    .ok_or_else(|| corrupt("count"))?
    .count()?;
    Ok((rows, count))
}
