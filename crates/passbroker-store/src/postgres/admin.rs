//! Storage for the admin APIs: filtered lists, digit tokens, custom password instructions.

use super::db;
use super::directory::{account_from_row, identity_from_row, source_from_row};
use crate::sqlite::rows::parse;
use crate::{
    AccountFilter, CustomInstruction, DigitToken, IdentityFilter, Match, Page, SourceFilter,
    StoreResult,
};
use passbroker_core::account::Account;
use passbroker_core::identity::Identity;
use passbroker_core::source::Source;
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// `(column, match, case-insensitive)` conditions joined by AND.
type Conditions<'a> = Vec<(&'static str, &'a Match, bool)>;

fn push_where<'a>(qb: &mut QueryBuilder<'a, Postgres>, conditions: &Conditions<'a>) {
    qb.push(" WHERE TRUE");
    for (column, m, nocase) in conditions {
        // Case-insensitive comparisons fold both sides, as SQLite's NOCASE does.
        let (col, open, close) = if *nocase {
            (format!("lower({column})"), "lower(", ")")
        } else {
            ((*column).to_owned(), "", "")
        };
        match m {
            Match::Eq(v) => {
                qb.push(format!(" AND {col} = {open}"))
                    .push_bind(v.as_str())
                    .push(close);
            }
            Match::StartsWith(v) => {
                // starts_with() takes the value literally: no LIKE wildcards.
                qb.push(format!(" AND starts_with({col}, {open}"))
                    .push_bind(v.as_str())
                    .push(format!("{close})"));
            }
            Match::In(values) if values.is_empty() => {
                qb.push(" AND FALSE");
            }
            Match::In(values) => {
                qb.push(format!(" AND {col} IN ("));
                let mut sep = qb.separated(", ");
                for v in values {
                    sep.push(open)
                        .push_bind_unseparated(v.as_str())
                        .push_unseparated(close);
                }
                qb.push(")");
            }
        }
    }
}

async fn search(
    pool: &PgPool,
    table: &str,
    order: &str,
    conditions: Conditions<'_>,
    page: Page,
) -> StoreResult<(Vec<PgRow>, u64)> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!("SELECT * FROM {table}"));
    push_where(&mut qb, &conditions);
    qb.push(format!(" ORDER BY {order} LIMIT "))
        .push_bind(page.limit.min(i64::MAX as u64) as i64)
        .push(" OFFSET ")
        .push_bind(page.offset.min(i64::MAX as u64) as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    let mut cq: QueryBuilder<Postgres> = QueryBuilder::new(format!("SELECT COUNT(*) FROM {table}"));
    push_where(&mut cq, &conditions);
    let count: i64 = cq.build_query_scalar().fetch_one(pool).await.map_err(db)?;
    Ok((rows, count as u64))
}

fn add<'a>(c: &mut Conditions<'a>, column: &'static str, m: &'a Option<Match>, nocase: bool) {
    if let Some(m) = m {
        c.push((column, m, nocase));
    }
}

pub(crate) async fn search_identities(
    pool: &PgPool,
    f: &IdentityFilter,
    page: Page,
) -> StoreResult<(Vec<Identity>, u64)> {
    let mut c = Vec::new();
    add(&mut c, "id", &f.id, false);
    add(&mut c, "login_name", &f.name, true);
    add(&mut c, "email", &f.email, true);
    let (rows, n) = search(pool, "identities", "lower(login_name), id", c, page).await?;
    Ok((
        rows.iter()
            .map(identity_from_row)
            .collect::<StoreResult<_>>()?,
        n,
    ))
}

pub(crate) async fn search_accounts(
    pool: &PgPool,
    f: &AccountFilter,
    page: Page,
) -> StoreResult<(Vec<Account>, u64)> {
    let mut c = Vec::new();
    add(&mut c, "id", &f.id, false);
    add(&mut c, "identity_id", &f.identity_id, false);
    add(&mut c, "source_id", &f.source_id, false);
    add(&mut c, "native_id", &f.native_id, false);
    add(&mut c, "account_name", &f.name, true);
    let (rows, n) = search(pool, "accounts", "source_id, native_id", c, page).await?;
    Ok((
        rows.iter()
            .map(account_from_row)
            .collect::<StoreResult<_>>()?,
        n,
    ))
}

pub(crate) async fn search_sources(
    pool: &PgPool,
    f: &SourceFilter,
    page: Page,
) -> StoreResult<(Vec<Source>, u64)> {
    let mut c = Vec::new();
    add(&mut c, "id", &f.id, false);
    add(&mut c, "name", &f.name, false);
    let (rows, n) = search(pool, "sources", "name, id", c, page).await?;
    Ok((
        rows.iter()
            .map(source_from_row)
            .collect::<StoreResult<_>>()?,
        n,
    ))
}

pub(crate) async fn insert_digit_token(pool: &PgPool, t: &DigitToken) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO digit_tokens (id, identity_id, salt, hash, created, expires, used, failed_attempts, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.id)
    .bind(t.identity_id.as_str())
    .bind(&t.salt)
    .bind(&t.hash)
    .bind(t.created.0)
    .bind(t.expires.0)
    .bind(t.used.map(|m| m.0))
    .bind(i64::from(t.failed_attempts))
    .bind(&t.created_by)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

fn digit_token_from_row(r: &PgRow) -> StoreResult<DigitToken> {
    let used: Option<i64> = r.get("used");
    let failed: i64 = r.get("failed_attempts");
    Ok(DigitToken {
        id: r.get("id"),
        identity_id: parse(
            IdentityId::parse(r.get("identity_id")),
            "digit token identity",
        )?,
        salt: r.get("salt"),
        hash: r.get("hash"),
        created: Millis(r.get("created")),
        expires: Millis(r.get("expires")),
        used: used.map(Millis),
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
        created_by: r.get("created_by"),
    })
}

pub(crate) async fn live_digit_tokens(
    pool: &PgPool,
    identity_id: &IdentityId,
    now: Millis,
    max_failures: u32,
) -> StoreResult<Vec<DigitToken>> {
    let rows = sqlx::query(
        "SELECT * FROM digit_tokens WHERE identity_id = $1 AND used IS NULL AND expires > $2 AND failed_attempts < $3
         ORDER BY created DESC, id",
    )
    .bind(identity_id.as_str())
    .bind(now.0)
    .bind(i64::from(max_failures))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(digit_token_from_row).collect()
}

pub(crate) async fn consume_digit_token(pool: &PgPool, id: &str, now: Millis) -> StoreResult<bool> {
    // Concurrent redemptions serialise on the row lock; the second sees `used` set.
    let r = sqlx::query(
        "UPDATE digit_tokens SET used = $2 WHERE id = $1 AND used IS NULL AND expires > $2",
    )
    .bind(id)
    .bind(now.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn record_digit_token_failure(
    pool: &PgPool,
    identity_id: &IdentityId,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("UPDATE digit_tokens SET failed_attempts = failed_attempts + 1 WHERE identity_id = $1 AND used IS NULL AND expires > $2")
        .bind(identity_id.as_str())
        .bind(now.0)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn purge_digit_tokens(pool: &PgPool, before: Millis) -> StoreResult<u64> {
    let r = sqlx::query("DELETE FROM digit_tokens WHERE expires < $1")
        .bind(before.0)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(r.rows_affected())
}

pub(crate) async fn put_custom_instruction(
    pool: &PgPool,
    c: &CustomInstruction,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO custom_password_instructions (page_id, locale, content, modified) VALUES ($1, $2, $3, $4)
         ON CONFLICT (page_id, locale) DO UPDATE SET content = $3, modified = $4",
    )
    .bind(&c.page_id)
    .bind(&c.locale)
    .bind(&c.content)
    .bind(c.modified.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn get_custom_instruction(
    pool: &PgPool,
    page_id: &str,
    locale: &str,
) -> StoreResult<Option<CustomInstruction>> {
    let row = sqlx::query(
        "SELECT * FROM custom_password_instructions WHERE page_id = $1 AND locale = $2",
    )
    .bind(page_id)
    .bind(locale)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(|r| CustomInstruction {
        page_id: r.get("page_id"),
        locale: r.get("locale"),
        content: r.get("content"),
        modified: Millis(r.get("modified")),
    }))
}

pub(crate) async fn delete_custom_instruction(
    pool: &PgPool,
    page_id: &str,
    locale: &str,
) -> StoreResult<bool> {
    let r =
        sqlx::query("DELETE FROM custom_password_instructions WHERE page_id = $1 AND locale = $2")
            .bind(page_id)
            .bind(locale)
            .execute(pool)
            .await
            .map_err(db)?;
    Ok(r.rows_affected() > 0)
}
