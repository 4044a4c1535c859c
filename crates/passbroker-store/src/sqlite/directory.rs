//! Identities, sources, accounts, policies, sync groups, org config and dictionary.

use super::db;
use super::rows::{corrupt, json_list, json_map, parse, to_json};
use crate::bulk::{self, steps, Step};
use crate::{Page, StoreResult, WriteOp};
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::org_config::OrgPasswordConfig;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId, PolicyId, SourceId, SyncGroupId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

/// Applies a batch in order, identity and account upserts as multi-row statements.
pub(crate) async fn apply_ops(conn: &mut SqliteConnection, ops: Vec<WriteOp>) -> StoreResult<()> {
    for step in steps(ops) {
        match step {
            Step::Identities(rows) => upsert_identities(conn, &rows).await?,
            Step::Accounts(rows) => upsert_accounts(conn, &rows).await?,
            Step::One(op) => apply_op(conn, *op).await?,
        }
    }
    Ok(())
}

async fn upsert_identities(conn: &mut SqliteConnection, rows: &[Identity]) -> StoreResult<()> {
    bulk::upsert_identities::<sqlx::Sqlite>(rows)
        .build()
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

async fn upsert_accounts(conn: &mut SqliteConnection, rows: &[Account]) -> StoreResult<()> {
    bulk::upsert_accounts::<sqlx::Sqlite>(rows)
        .build()
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn apply_op(conn: &mut SqliteConnection, op: WriteOp) -> StoreResult<()> {
    match op {
        WriteOp::UpsertIdentity(i) => upsert_identities(conn, &[i]).await?,
        WriteOp::DeleteIdentity(id) => {
            sqlx::query("DELETE FROM identities WHERE id = ?1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        WriteOp::UpsertSource(s) => {
            sqlx::query(
                "INSERT INTO sources (id, name, description, features, connector, connector_config, wrapped_secrets,
                   owner, password_policy_id, delivery, created, modified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, description = ?3, features = ?4, connector = ?5,
                   connector_config = ?6, wrapped_secrets = ?7, owner = ?8, password_policy_id = ?9,
                   delivery = ?10, modified = ?12",
            )
            .bind(s.id.as_str())
            .bind(s.name.as_str())
            .bind(&s.description)
            .bind(to_json(&s.features))
            .bind(s.connector.as_str())
            .bind(s.connector_config.to_string())
            .bind(s.wrapped_secrets.clone())
            .bind(s.owner.as_ref().map(|o| o.as_str().to_owned()))
            .bind(s.password_policy_id.as_ref().map(|p| p.as_str().to_owned()))
            .bind(to_json(&s.delivery))
            .bind(s.created.0)
            .bind(s.modified.0)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        WriteOp::DeleteSource(id) => {
            sqlx::query("DELETE FROM sources WHERE id = ?1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        WriteOp::UpsertAccount(a) => upsert_accounts(conn, &[a]).await?,
        WriteOp::DeleteAccount(id) => {
            sqlx::query("DELETE FROM accounts WHERE id = ?1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        WriteOp::UpsertPolicy(p) => upsert_policy(conn, p).await?,
        WriteOp::DeletePolicy(id) => {
            sqlx::query("DELETE FROM password_policies WHERE id = ?1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        WriteOp::UpsertSyncGroup(g) => {
            sqlx::query(
                "INSERT INTO sync_groups (id, name, policy_id, created, modified) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, policy_id = ?3, modified = ?5",
            )
            .bind(g.id.as_str())
            .bind(&g.name)
            .bind(g.password_policy_id.as_str())
            .bind(g.created.0)
            .bind(g.modified.0)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            sqlx::query("DELETE FROM sync_group_sources WHERE group_id = ?1")
                .bind(g.id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            for (position, source_id) in g.source_ids.iter().enumerate() {
                sqlx::query("INSERT INTO sync_group_sources (group_id, source_id, position) VALUES (?1, ?2, ?3)")
                    .bind(g.id.as_str())
                    .bind(source_id.as_str())
                    .bind(position as i64)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
            }
        }
        WriteOp::DeleteSyncGroup(id) => {
            sqlx::query("DELETE FROM sync_groups WHERE id = ?1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        WriteOp::UpsertClient(c) => super::auth::upsert_client(conn, &c).await?,
        WriteOp::SetBuiltinCredential {
            identity_id,
            hash,
            now,
        } => {
            sqlx::query(
                "INSERT INTO builtin_credentials (identity_id, hash, updated) VALUES (?1, ?2, ?3)
                 ON CONFLICT (identity_id) DO UPDATE SET hash = ?2, updated = ?3",
            )
            .bind(identity_id.as_str())
            .bind(hash)
            .bind(now.0)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        WriteOp::PutOrgConfig(c) => {
            let body = serde_json::json!({
                "customInstructionsEnabled": c.custom_instructions_enabled,
                "digitTokenEnabled": c.digit_token_enabled,
                "digitTokenDurationMinutes": c.digit_token_duration_minutes,
                "digitTokenLength": c.digit_token_length,
            });
            sqlx::query("INSERT INTO org_config (id, body) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET body = ?1")
                .bind(body.to_string())
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        WriteOp::PutDictionary(text) => {
            sqlx::query("INSERT INTO password_dictionary (id, text) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET text = ?1")
                .bind(text)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
    }
    Ok(())
}

async fn upsert_policy(conn: &mut SqliteConnection, p: PasswordPolicy) -> StoreResult<()> {
    let id = p.id.clone().ok_or_else(|| corrupt("policy without id"))?;
    let created = p.date_created.unwrap_or_default().0;
    let modified = p.last_updated.or(p.date_created).unwrap_or_default().0;
    let mut body = p.clone();
    body.id = None;
    body.source_ids = Vec::new();
    if p.default_policy {
        sqlx::query("UPDATE password_policies SET is_default = 0 WHERE id <> ?1")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    sqlx::query(
        "INSERT INTO password_policies (id, name, body, is_default, created, modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET name = ?2, body = ?3, is_default = ?4, modified = ?6",
    )
    .bind(id.as_str())
    .bind(&p.name)
    .bind(to_json(&body))
    .bind(p.default_policy)
    .bind(created)
    .bind(modified)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    for source_id in &p.source_ids {
        sqlx::query("UPDATE sources SET password_policy_id = ?1 WHERE id = ?2")
            .bind(id.as_str())
            .bind(source_id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

// ---- reads ----

pub(crate) fn identity_from_row(r: &SqliteRow) -> StoreResult<Identity> {
    Ok(Identity {
        id: parse(IdentityId::parse(r.get("id")), "identity id")?,
        login_name: parse(LoginName::parse(r.get("login_name")), "login name")?,
        display_name: r.get("display_name"),
        email: r.get("email"),
        attributes: json_map(r.get("attributes"))?,
        user_level: parse(UserLevel::parse(r.get("user_level")), "user level")?,
        active: r.get("active"),
    })
}

/// An identity's columns as a JSON array (see [`IDENTITY_JSON`]).
type IdentityCols = (String, String, String, Option<String>, String, String, i64);
/// An account's columns as a JSON array, without its source (see [`ACCOUNT_JSON`]).
type AccountCols = (String, String, String, String, String, i64);

/// The SQL of an identity row as a JSON array, in [`IdentityCols`]' order.
const IDENTITY_JSON: &str =
    "json_array(id, login_name, display_name, email, attributes, user_level, active)";
/// The SQL of an account row (alias `a`) as a JSON array, in [`AccountCols`]' order.
const ACCOUNT_JSON: &str =
    "json_array(a.id, a.identity_id, a.native_id, a.account_name, a.attributes, a.disabled)";

fn identity_from_cols(
    (id, login, display_name, email, attributes, level, active): IdentityCols,
) -> StoreResult<Identity> {
    Ok(Identity {
        id: parse(IdentityId::parse(&id), "identity id")?,
        login_name: parse(LoginName::parse(&login), "login name")?,
        display_name,
        email,
        attributes: json_map(&attributes)?,
        user_level: parse(UserLevel::parse(&level), "user level")?,
        active: active != 0,
    })
}

fn account_from_cols(
    source_id: &SourceId,
    (id, identity_id, native_id, account_name, attributes, disabled): AccountCols,
) -> StoreResult<Account> {
    Ok(Account {
        id: parse(AccountRef::parse(&id), "account id")?,
        source_id: source_id.clone(),
        identity_id: parse(IdentityId::parse(&identity_id), "identity id")?,
        native_id: parse(NativeAccountId::parse(&native_id), "native id")?,
        account_name,
        attributes: json_map(&attributes)?,
        disabled: disabled != 0,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

/// The identities matching `condition` (on `?1`), fetched as one row: SQLite aggregates them
/// into a JSON array, so a bulk look-up of thousands crosses from sqlx's worker thread once
/// instead of once per row (which cost more than the look-up itself).
pub(crate) async fn identities_as_one_row(
    pool: &SqlitePool,
    condition: &str,
    param: &str,
) -> StoreResult<Vec<Identity>> {
    let sql = format!("SELECT json_group_array({IDENTITY_JSON}) FROM identities WHERE {condition}");
    let text: String = sqlx::query_scalar(&sql)
        .bind(param)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    from_json::<Vec<IdentityCols>>(&text, "identity rows")?
        .into_iter()
        .map(identity_from_cols)
        .collect()
}

/// The source's accounts with any of the native ids in the JSON array `native_ids`, fetched
/// as one row (see [`identities_as_one_row`]).
pub(crate) async fn accounts_of_source_as_one_row(
    pool: &SqlitePool,
    source_id: &SourceId,
    native_ids: &str,
) -> StoreResult<Vec<Account>> {
    let sql = format!(
        "SELECT json_group_array({ACCOUNT_JSON}) FROM accounts a
         WHERE a.source_id = ?1 AND a.native_id IN (SELECT value FROM json_each(?2))"
    );
    let text: String = sqlx::query_scalar(&sql)
        .bind(source_id.as_str())
        .bind(native_ids)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    from_json::<Vec<AccountCols>>(&text, "account rows")?
        .into_iter()
        .map(|cols| account_from_cols(source_id, cols))
        .collect()
}

/// query-password-info's look-ups in one statement: the source's row, with the identity and
/// its accounts on the source as JSON columns. `None` when the source does not exist.
pub(crate) async fn identity_source_accounts(
    pool: &SqlitePool,
    login_name: &str,
    source_name: &str,
) -> StoreResult<Option<(Option<Identity>, Source, Vec<Account>)>> {
    // `+a.native_id`: see accounts_of_identity (keeps the (identity_id, source_id) index).
    let sql = format!(
        "SELECT s.*,
           (SELECT {IDENTITY_JSON} FROM identities WHERE login_name = ?1 COLLATE NOCASE)
             AS pb_identity,
           (SELECT json_group_array({ACCOUNT_JSON}) FROM (
              SELECT a.* FROM accounts a
              WHERE a.source_id = s.id AND a.identity_id =
                (SELECT id FROM identities WHERE login_name = ?1 COLLATE NOCASE)
              ORDER BY +a.native_id) a)
             AS pb_accounts
         FROM sources s WHERE s.name = ?2"
    );
    let Some(row) = sqlx::query(&sql)
        .bind(login_name)
        .bind(source_name)
        .fetch_optional(pool)
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let source = source_from_row(&row)?;
    let identity = row
        .get::<Option<String>, _>("pb_identity")
        .map(|t| from_json::<IdentityCols>(&t, "identity row").and_then(identity_from_cols))
        .transpose()?;
    let accounts = match &identity {
        Some(_) => from_json::<Vec<AccountCols>>(row.get("pb_accounts"), "account rows")?
            .into_iter()
            .map(|cols| account_from_cols(&source.id, cols))
            .collect::<StoreResult<_>>()?,
        None => Vec::new(),
    };
    Ok(Some((identity, source, accounts)))
}

/// The policy that governs a source (its sync group's, else its own, else the default) in
/// one statement, with the ids of the sources that name it.
pub(crate) async fn effective_policy(
    pool: &SqlitePool,
    source: &Source,
) -> StoreResult<Option<PasswordPolicy>> {
    let row = sqlx::query(
        "SELECT p.*,
           (SELECT json_group_array(id) FROM
              (SELECT id FROM sources WHERE password_policy_id = p.id ORDER BY name)) AS pb_sources
         FROM password_policies p
         WHERE p.id = COALESCE(
           (SELECT g.policy_id FROM sync_group_sources gs
              JOIN sync_groups g ON g.id = gs.group_id
              JOIN password_policies x ON x.id = g.policy_id
            WHERE gs.source_id = ?1),
           (SELECT x.id FROM password_policies x WHERE x.id = ?2),
           (SELECT x.id FROM password_policies x WHERE x.is_default = 1 LIMIT 1))",
    )
    .bind(source.id.as_str())
    .bind(source.password_policy_id.as_ref().map(|p| p.as_str()))
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let Some(r) = row else { return Ok(None) };
    let mut p = policy_columns(&r)?;
    p.source_ids = from_json::<Vec<String>>(r.get("pb_sources"), "policy sources")?
        .iter()
        .map(|s| parse(SourceId::parse(s), "source id"))
        .collect::<StoreResult<_>>()?;
    Ok(Some(p))
}

pub(crate) fn source_from_row(r: &SqliteRow) -> StoreResult<Source> {
    let owner: Option<String> = r.get("owner");
    let policy: Option<String> = r.get("password_policy_id");
    let delivery: String = r.get("delivery");
    Ok(Source {
        id: parse(SourceId::parse(r.get("id")), "source id")?,
        name: parse(SourceName::parse(r.get("name")), "source name")?,
        description: r.get("description"),
        features: json_list(r.get("features"))?,
        connector: parse(ConnectorKind::parse(r.get("connector")), "connector")?,
        connector_config: serde_json::from_str(r.get("connector_config"))
            .map_err(|_| corrupt("connector config"))?,
        wrapped_secrets: r.get("wrapped_secrets"),
        owner: owner
            .map(|o| parse(IdentityId::parse(&o), "owner"))
            .transpose()?,
        password_policy_id: policy
            .map(|p| parse(PolicyId::parse(&p), "policy id"))
            .transpose()?,
        delivery: serde_json::from_str::<DeliverySettings>(&delivery)
            .map_err(|_| corrupt("delivery"))?,
        created: Millis(r.get("created")),
        modified: Millis(r.get("modified")),
    })
}

pub(crate) fn account_from_row(r: &SqliteRow) -> StoreResult<Account> {
    Ok(Account {
        id: parse(AccountRef::parse(r.get("id")), "account id")?,
        source_id: parse(SourceId::parse(r.get("source_id")), "source id")?,
        identity_id: parse(IdentityId::parse(r.get("identity_id")), "identity id")?,
        native_id: parse(NativeAccountId::parse(r.get("native_id")), "native id")?,
        account_name: r.get("account_name"),
        attributes: json_map(r.get("attributes"))?,
        disabled: r.get("disabled"),
    })
}

pub(crate) async fn policy_from_row(
    pool: &SqlitePool,
    r: &SqliteRow,
) -> StoreResult<PasswordPolicy> {
    let mut p = policy_columns(r)?;
    let id: String = r.get("id");
    let source_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM sources WHERE password_policy_id = ?1 ORDER BY name")
            .bind(&id)
            .fetch_all(pool)
            .await
            .map_err(db)?;
    p.source_ids = source_ids
        .iter()
        .map(|s| parse(SourceId::parse(s), "source id"))
        .collect::<StoreResult<_>>()?;
    Ok(p)
}

/// A policy's own columns (without the sources that name it).
fn policy_columns(r: &SqliteRow) -> StoreResult<PasswordPolicy> {
    let body: String = r.get("body");
    let mut p: PasswordPolicy = serde_json::from_str(&body).map_err(|_| corrupt("policy body"))?;
    let id: String = r.get("id");
    p.id = Some(parse(PolicyId::parse(&id), "policy id")?);
    p.name = r.get("name");
    p.default_policy = r.get("is_default");
    p.date_created = Some(Millis(r.get("created")));
    p.last_updated = Some(Millis(r.get("modified")));
    Ok(p)
}

pub(crate) async fn group_from_row(
    pool: &SqlitePool,
    r: &SqliteRow,
) -> StoreResult<PasswordSyncGroup> {
    let id: String = r.get("id");
    let source_ids: Vec<String> = sqlx::query_scalar(
        "SELECT source_id FROM sync_group_sources WHERE group_id = ?1 ORDER BY position",
    )
    .bind(&id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(PasswordSyncGroup {
        id: parse(SyncGroupId::parse(&id), "group id")?,
        name: r.get("name"),
        password_policy_id: parse(PolicyId::parse(r.get("policy_id")), "policy id")?,
        source_ids: source_ids
            .iter()
            .map(|s| parse(SourceId::parse(s), "source id"))
            .collect::<StoreResult<_>>()?,
        created: Millis(r.get("created")),
        modified: Millis(r.get("modified")),
    })
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
pub(crate) async fn paged(
    pool: &SqlitePool,
    table: &str,
    order: &str,
    page: Page,
) -> StoreResult<(Vec<SqliteRow>, u64)> {
    let rows = sqlx::query(&format!(
        "SELECT * FROM {table} ORDER BY {order} LIMIT ?1 OFFSET ?2"
    ))
    .bind(page.limit.min(i64::MAX as u64) as i64)
    .bind(page.offset.min(i64::MAX as u64) as i64)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .map_err(db)?;
    Ok((rows, count as u64))
}
