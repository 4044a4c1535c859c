//! Identities, sources, accounts, policies, sync groups, org config and dictionary.

use super::{args, corrupt, json_list, json_map, parse, to_json, Arg, Dialect, Row, Transaction};
use crate::bulk::{steps, Step};
use crate::{StoreResult, WriteOp};
use passbroker_core::account::{Account, NativeAccountId};
use passbroker_core::identity::{Identity, LoginName, UserLevel};
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::{ConnectorKind, DeliverySettings, Source, SourceName};
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::{AccountRef, IdentityId, PolicyId, SourceId};

/// Applies a batch in order, identity and account upserts as multi-row statements.
pub(crate) async fn apply_ops<D: Dialect>(tx: &mut D::Tx, ops: Vec<WriteOp>) -> StoreResult<()> {
    for step in steps(ops) {
        match step {
            Step::Identities(rows) => upsert_identities(tx, &rows).await?,
            Step::Accounts(rows) => upsert_accounts(tx, &rows).await?,
            Step::One(op) => apply_op::<D>(tx, *op).await?,
        }
    }
    Ok(())
}

/// `($1, $2, …), (…)`: `rows` groups of `columns` parameters.
fn values_sql(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * columns + c + 1));
        }
        sql.push(')');
    }
    sql
}

async fn upsert_identities<T: Transaction>(tx: &mut T, rows: &[Identity]) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO identities (id, login_name, display_name, email, attributes, user_level, active)
         VALUES {} ON CONFLICT (id) DO UPDATE SET login_name = excluded.login_name,
           display_name = excluded.display_name, email = excluded.email,
           attributes = excluded.attributes, user_level = excluded.user_level,
           active = excluded.active",
        values_sql(rows.len(), 7)
    );
    let mut a: Vec<Arg> = Vec::with_capacity(rows.len() * 7);
    for i in rows {
        a.extend([
            Arg::from(i.id.as_str()),
            i.login_name.as_str().into(),
            i.display_name.as_str().into(),
            i.email.as_deref().into(),
            to_json(&i.attributes).into(),
            i.user_level.as_str().into(),
            i.active.into(),
        ]);
    }
    tx.exec(&sql, &a).await?;
    Ok(())
}

async fn upsert_accounts<T: Transaction>(tx: &mut T, rows: &[Account]) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO accounts (id, source_id, identity_id, native_id, account_name, attributes, disabled)
         VALUES {} ON CONFLICT (id) DO UPDATE SET source_id = excluded.source_id,
           identity_id = excluded.identity_id, native_id = excluded.native_id,
           account_name = excluded.account_name, attributes = excluded.attributes,
           disabled = excluded.disabled",
        values_sql(rows.len(), 7)
    );
    let mut a: Vec<Arg> = Vec::with_capacity(rows.len() * 7);
    for r in rows {
        a.extend([
            Arg::from(r.id.as_str()),
            r.source_id.as_str().into(),
            r.identity_id.as_str().into(),
            r.native_id.as_str().into(),
            r.account_name.as_str().into(),
            to_json(&r.attributes).into(),
            r.disabled.into(),
        ]);
    }
    tx.exec(&sql, &a).await?;
    Ok(())
}

async fn apply_op<D: Dialect>(tx: &mut D::Tx, op: WriteOp) -> StoreResult<()> {
    match op {
        WriteOp::UpsertIdentity(i) => upsert_identities(tx, &[i]).await?,
        WriteOp::DeleteIdentity(id) => delete(tx, "identities", "id", id.as_str()).await?,
        WriteOp::UpsertSource(s) => upsert_source(tx, &s).await?,
        WriteOp::DeleteSource(id) => delete(tx, "sources", "id", id.as_str()).await?,
        WriteOp::UpsertAccount(a) => upsert_accounts(tx, &[a]).await?,
        WriteOp::DeleteAccount(id) => delete(tx, "accounts", "id", id.as_str()).await?,
        WriteOp::UpsertPolicy(p) => upsert_policy(tx, p).await?,
        WriteOp::DeletePolicy(id) => delete(tx, "password_policies", "id", id.as_str()).await?,
        WriteOp::UpsertSyncGroup(g) => upsert_group(tx, &g).await?,
        WriteOp::DeleteSyncGroup(id) => delete(tx, "sync_groups", "id", id.as_str()).await?,
        WriteOp::UpsertClient(c) => super::auth::upsert_client(tx, &c).await?,
        WriteOp::SetBuiltinCredential {
            identity_id,
            hash,
            now,
        } => {
            tx.exec(
                "INSERT INTO builtin_credentials (identity_id, hash, updated) VALUES ($1, $2, $3)
                 ON CONFLICT (identity_id) DO UPDATE SET hash = $2, updated = $3",
                args![identity_id.as_str(), hash, now],
            )
            .await?;
        }
        WriteOp::PutOrgConfig(c) => {
            let body = serde_json::json!({
                "customInstructionsEnabled": c.custom_instructions_enabled,
                "digitTokenEnabled": c.digit_token_enabled,
                "digitTokenDurationMinutes": c.digit_token_duration_minutes,
                "digitTokenLength": c.digit_token_length,
            });
            tx.exec(
                "INSERT INTO org_config (id, body) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET body = $1",
                args![body.to_string()],
            )
            .await?;
        }
        WriteOp::PutDictionary(text) => {
            tx.exec(
                "INSERT INTO password_dictionary (id, text) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET text = $1",
                args![text],
            )
            .await?;
        }
    }
    Ok(())
}

async fn delete<T: Transaction>(tx: &mut T, table: &str, key: &str, id: &str) -> StoreResult<()> {
    tx.exec(&format!("DELETE FROM {table} WHERE {key} = $1"), args![id])
        .await?;
    Ok(())
}

async fn upsert_source<T: Transaction>(tx: &mut T, s: &Source) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO sources (id, name, description, features, connector, connector_config, wrapped_secrets,
           owner, password_policy_id, delivery, created, modified)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (id) DO UPDATE SET name = $2, description = $3, features = $4, connector = $5,
           connector_config = $6, wrapped_secrets = $7, owner = $8, password_policy_id = $9,
           delivery = $10, modified = $12",
        args![
            s.id.as_str(),
            s.name.as_str(),
            &s.description,
            to_json(&s.features),
            s.connector.as_str(),
            s.connector_config.to_string(),
            &s.wrapped_secrets,
            s.owner.as_ref().map(|o| o.as_str()),
            s.password_policy_id.as_ref().map(|p| p.as_str()),
            to_json(&s.delivery),
            s.created,
            s.modified,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_group<T: Transaction>(tx: &mut T, g: &PasswordSyncGroup) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO sync_groups (id, name, policy_id, created, modified) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET name = $2, policy_id = $3, modified = $5",
        args![
            g.id.as_str(),
            &g.name,
            g.password_policy_id.as_str(),
            g.created,
            g.modified
        ],
    )
    .await?;
    delete(tx, "sync_group_sources", "group_id", g.id.as_str()).await?;
    for (position, source_id) in g.source_ids.iter().enumerate() {
        tx.exec(
            "INSERT INTO sync_group_sources (group_id, source_id, position) VALUES ($1, $2, $3)",
            args![g.id.as_str(), source_id.as_str(), position as i64],
        )
        .await?;
    }
    Ok(())
}

async fn upsert_policy<T: Transaction>(tx: &mut T, p: PasswordPolicy) -> StoreResult<()> {
    let id = p.id.clone().ok_or_else(|| corrupt("policy without id"))?;
    let created = p.date_created.unwrap_or_default();
    let modified = p.last_updated.or(p.date_created).unwrap_or_default();
    let mut body = p.clone();
    body.id = None;
    body.source_ids = Vec::new();
    if p.default_policy {
        tx.exec(
            "UPDATE password_policies SET is_default = FALSE WHERE id <> $1 AND is_default = TRUE",
            args![id.as_str()],
        )
        .await?;
    }
    tx.exec(
        "INSERT INTO password_policies (id, name, body, is_default, created, modified) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET name = $2, body = $3, is_default = $4, modified = $6",
        args![id.as_str(), &p.name, to_json(&body), p.default_policy, created, modified],
    )
    .await?;
    for source_id in &p.source_ids {
        tx.exec(
            "UPDATE sources SET password_policy_id = $1 WHERE id = $2",
            args![id.as_str(), source_id.as_str()],
        )
        .await?;
    }
    Ok(())
}

// ---- rows ----

pub(crate) fn identity_from_row(r: &Row) -> StoreResult<Identity> {
    Ok(Identity {
        id: parse(IdentityId::parse(r.str("id")?), "identity id")?,
        login_name: parse(LoginName::parse(r.str("login_name")?), "login name")?,
        display_name: r.text("display_name")?,
        email: r.opt_text("email")?,
        attributes: json_map(r.str("attributes")?)?,
        user_level: parse(UserLevel::parse(r.str("user_level")?), "user level")?,
        active: r.bool("active")?,
    })
}

pub(crate) fn source_from_row(r: &Row) -> StoreResult<Source> {
    Ok(Source {
        id: parse(SourceId::parse(r.str("id")?), "source id")?,
        name: parse(SourceName::parse(r.str("name")?), "source name")?,
        description: r.text("description")?,
        features: json_list(r.str("features")?)?,
        connector: parse(ConnectorKind::parse(r.str("connector")?), "connector")?,
        connector_config: serde_json::from_str(r.str("connector_config")?)
            .map_err(|_| corrupt("connector config"))?,
        wrapped_secrets: r.opt_blob("wrapped_secrets")?,
        owner: r
            .opt_str("owner")?
            .map(|o| parse(IdentityId::parse(o), "owner"))
            .transpose()?,
        password_policy_id: r
            .opt_str("password_policy_id")?
            .map(|p| parse(PolicyId::parse(p), "policy id"))
            .transpose()?,
        delivery: serde_json::from_str::<DeliverySettings>(r.str("delivery")?)
            .map_err(|_| corrupt("delivery"))?,
        created: r.millis("created")?,
        modified: r.millis("modified")?,
    })
}

pub(crate) fn account_from_row(r: &Row) -> StoreResult<Account> {
    Ok(Account {
        id: parse(AccountRef::parse(r.str("id")?), "account id")?,
        source_id: parse(SourceId::parse(r.str("source_id")?), "source id")?,
        identity_id: parse(IdentityId::parse(r.str("identity_id")?), "identity id")?,
        native_id: parse(NativeAccountId::parse(r.str("native_id")?), "native id")?,
        account_name: r.text("account_name")?,
        attributes: json_map(r.str("attributes")?)?,
        disabled: r.bool("disabled")?,
    })
}

/// A policy's own columns (without the sources that name it).
pub(crate) fn policy_columns(r: &Row) -> StoreResult<PasswordPolicy> {
    let mut p: PasswordPolicy =
        serde_json::from_str(r.str("body")?).map_err(|_| corrupt("policy body"))?;
    p.id = Some(parse(PolicyId::parse(r.str("id")?), "policy id")?);
    p.name = r.text("name")?;
    p.default_policy = r.bool("is_default")?;
    p.date_created = Some(r.millis("created")?);
    p.last_updated = Some(r.millis("modified")?);
    Ok(p)
}

pub(crate) fn source_ids(rows: &[Row], column: &str) -> StoreResult<Vec<SourceId>> {
    rows.iter()
        .map(|r| parse(SourceId::parse(r.str(column)?), "source id"))
        .collect()
}

pub(crate) fn rows_to<T>(rows: &[Row], f: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

pub(crate) use super::lookups::*;

/// Words an API caller can act on for a violated constraint, by its name in the schema
/// (both dialects name them alike).
pub(crate) fn describe_constraint(constraint: &str, foreign_key: bool) -> String {
    match constraint {
        "identities_login" => "an identity with this login name already exists".into(),
        "sources_name" => "a source with this name already exists".into(),
        "accounts_native" => "this source already has an account with this accountId".into(),
        "password_policies_name" => "a password policy with this name already exists".into(),
        "sync_groups_name" => "a password sync group with this name already exists".into(),
        "sync_group_sources_source" => "a source belongs to at most one password sync group".into(),
        _ if foreign_key => {
            "it refers to something that does not exist, or something still refers to it".into()
        }
        _ => "a uniqueness rule was broken".into(),
    }
}
