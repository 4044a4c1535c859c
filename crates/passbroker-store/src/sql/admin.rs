//! The admin APIs' storage: filtered lists, digit tokens, custom password instructions, and
//! the audit trail.

use super::directory::{account_from_row, identity_from_row, source_from_row};
use super::{
    args, corrupt, first, outbox, page_args, parse, Arg, Dialect, Kind, Row, Sql, Transaction,
};
use crate::{
    AccountFilter, AuditFilter, CustomInstruction, DigitToken, IdentityFilter, Match, Page,
    SourceFilter, StoreResult,
};
use passbroker_core::account::Account;
use passbroker_core::audit::AuditEvent;
use passbroker_core::identity::Identity;
use passbroker_core::source::Source;
use passbroker_core::time::Millis;
use passbroker_core::{AuditEventId, IdentityId};

/// A WHERE clause built up with its parameters.
struct Where<'a> {
    kind: Kind,
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Where<'a> {
    fn new(kind: Kind) -> Self {
        Where {
            kind,
            sql: " WHERE 1 = 1".to_owned(),
            args: Vec::new(),
        }
    }

    fn param(&mut self, value: &'a str) -> String {
        self.args.push(Arg::from(value));
        format!("${}", self.args.len())
    }

    /// Adds `column` matching `m` (ignoring ASCII case when `nocase`).
    fn add(&mut self, column: &str, m: &'a Option<Match>, nocase: bool) {
        let Some(m) = m else { return };
        // PostgreSQL folds both sides, as SQLite's NOCASE does.
        let fold = |kind: Kind, expr: String| match (kind, nocase) {
            (Kind::Postgres, true) => format!("lower({expr})"),
            _ => expr,
        };
        let collate = if nocase && self.kind == Kind::Sqlite {
            " COLLATE NOCASE"
        } else {
            ""
        };
        let col = fold(self.kind, column.to_owned());
        match m {
            Match::Eq(v) => {
                let p = fold(self.kind, self.param(v));
                self.sql.push_str(&format!(" AND {col} = {p}{collate}"));
            }
            Match::StartsWith(v) => {
                // A prefix compared by substr(): no LIKE wildcards in the value.
                let p = fold(self.kind, self.param(v));
                self.sql.push_str(&format!(
                    " AND substr({col}, 1, length({p})) = {p}{collate}"
                ));
            }
            Match::In(values) if values.is_empty() => self.sql.push_str(" AND 1 = 0"),
            Match::In(values) => {
                let ps: Vec<String> = values
                    .iter()
                    .map(|v| {
                        let p = self.param(v);
                        fold(self.kind, p)
                    })
                    .collect();
                self.sql
                    .push_str(&format!(" AND {col}{collate} IN ({})", ps.join(", ")));
            }
        }
    }

    fn eq(&mut self, column: &str, value: &'a Option<String>) {
        if let Some(v) = value {
            let p = self.param(v);
            self.sql.push_str(&format!(" AND {column} = {p}"));
        }
    }
}

/// A page of `SELECT * FROM table WHERE … ORDER BY order`, and the count of all matches.
async fn search<D: Dialect>(
    d: &D,
    table: &str,
    order: &str,
    w: Where<'_>,
    page: Page,
) -> StoreResult<(Vec<Row>, u64)> {
    let (limit, offset) = page_args(page);
    let n = w.args.len();
    let mut a = w.args.clone();
    a.push(limit.into());
    a.push(offset.into());
    let rows = d
        .fetch_scan(
            &format!(
                "SELECT * FROM {table}{} ORDER BY {order} LIMIT ${} OFFSET ${}",
                w.sql,
                n + 1,
                n + 2
            ),
            &a,
        )
        .await?;
    let count = first(
        d.fetch_scan(&format!("SELECT COUNT(*) FROM {table}{}", w.sql), &w.args)
            .await?,
    )
    .ok_or_else(|| corrupt("count"))?
    .count()?;
    Ok((rows, count))
}

pub(crate) async fn search_identities<D: Dialect>(
    d: &D,
    f: &IdentityFilter,
    page: Page,
) -> StoreResult<(Vec<Identity>, u64)> {
    let mut w = Where::new(D::KIND);
    w.add("id", &f.id, false);
    w.add("login_name", &f.name, true);
    w.add("email", &f.email, true);
    let order = format!("{}, id", Sql::ci_order(D::KIND, "login_name"));
    let (rows, n) = search(d, "identities", &order, w, page).await?;
    Ok((
        rows.iter()
            .map(identity_from_row)
            .collect::<StoreResult<_>>()?,
        n,
    ))
}

pub(crate) async fn search_accounts<D: Dialect>(
    d: &D,
    f: &AccountFilter,
    page: Page,
) -> StoreResult<(Vec<Account>, u64)> {
    let mut w = Where::new(D::KIND);
    w.add("id", &f.id, false);
    w.add("identity_id", &f.identity_id, false);
    w.add("source_id", &f.source_id, false);
    w.add("native_id", &f.native_id, false);
    w.add("account_name", &f.name, true);
    let (rows, n) = search(d, "accounts", "source_id, native_id", w, page).await?;
    Ok((
        rows.iter()
            .map(account_from_row)
            .collect::<StoreResult<_>>()?,
        n,
    ))
}

pub(crate) async fn search_sources<D: Dialect>(
    d: &D,
    f: &SourceFilter,
    page: Page,
) -> StoreResult<(Vec<Source>, u64)> {
    let mut w = Where::new(D::KIND);
    w.add("id", &f.id, false);
    w.add("name", &f.name, false);
    let (rows, n) = search(d, "sources", "name, id", w, page).await?;
    Ok((
        rows.iter()
            .map(source_from_row)
            .collect::<StoreResult<_>>()?,
        n,
    ))
}

// ---- digit tokens ----

pub(crate) async fn insert_digit_token<D: Dialect>(d: &D, t: &DigitToken) -> StoreResult<()> {
    let (d, t) = (d.clone(), t.clone());
    super::detached(async move {
        let mut tx = d.begin().await?;
        tx.exec(
            "INSERT INTO digit_tokens (id, identity_id, salt, hash, created, expires, used, failed_attempts, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            args![
                &t.id,
                t.identity_id.as_str(),
                &t.salt,
                &t.hash,
                t.created,
                t.expires,
                t.used,
                t.failed_attempts,
                &t.created_by
            ],
        )
        .await?;
        outbox::push(&mut tx, &outbox::digit_token_issued(&t)).await?;
        tx.commit().await
    })
    .await
}

pub(crate) fn digit_token_from_row(r: &Row) -> StoreResult<DigitToken> {
    Ok(DigitToken {
        id: r.text("id")?,
        identity_id: parse(
            IdentityId::parse(r.str("identity_id")?),
            "digit token identity",
        )?,
        salt: r.blob("salt")?,
        hash: r.blob("hash")?,
        created: r.millis("created")?,
        expires: r.millis("expires")?,
        used: r.opt_millis("used")?,
        failed_attempts: u32::try_from(r.int("failed_attempts")?).unwrap_or(u32::MAX),
        created_by: r.text("created_by")?,
    })
}

pub(crate) async fn live_digit_tokens<D: Dialect>(
    d: &D,
    identity_id: &IdentityId,
    now: Millis,
    max_failures: u32,
) -> StoreResult<Vec<DigitToken>> {
    let rows = d
        .fetch(
            "SELECT * FROM digit_tokens
             WHERE identity_id = $1 AND used IS NULL AND expires > $2 AND failed_attempts < $3
             ORDER BY created DESC, id",
            args![identity_id.as_str(), now, max_failures],
        )
        .await?;
    rows.iter().map(digit_token_from_row).collect()
}

pub(crate) async fn consume_digit_token<D: Dialect>(
    d: &D,
    id: &str,
    now: Millis,
) -> StoreResult<bool> {
    let (d, id) = (d.clone(), id.to_owned());
    super::detached(async move {
        let mut tx = d.begin().await?;
        let used = first(
            tx.fetch(
                "UPDATE digit_tokens SET used = $2 WHERE id = $1 AND used IS NULL AND expires > $2
                 RETURNING identity_id",
                args![&id, now],
            )
            .await?,
        );
        let Some(row) = used else { return Ok(false) };
        let identity = row.text("identity_id")?;
        outbox::push(&mut tx, &outbox::digit_token_redeemed(&id, &identity, now)).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await
}

pub(crate) async fn record_digit_token_failure<D: Dialect>(
    d: &D,
    identity_id: &IdentityId,
    now: Millis,
) -> StoreResult<()> {
    d.exec(
        "UPDATE digit_tokens SET failed_attempts = failed_attempts + 1
         WHERE identity_id = $1 AND used IS NULL AND expires > $2",
        args![identity_id.as_str(), now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn purge_digit_tokens<D: Dialect>(d: &D, before: Millis) -> StoreResult<u64> {
    d.exec("DELETE FROM digit_tokens WHERE expires < $1", args![before])
        .await
}

// ---- custom password instructions ----

pub(crate) async fn put_custom_instruction<D: Dialect>(
    d: &D,
    c: &CustomInstruction,
) -> StoreResult<()> {
    d.exec(
        "INSERT INTO custom_password_instructions (page_id, locale, content, modified) VALUES ($1, $2, $3, $4)
         ON CONFLICT (page_id, locale) DO UPDATE SET content = $3, modified = $4",
        args![&c.page_id, &c.locale, &c.content, c.modified],
    )
    .await?;
    Ok(())
}

pub(crate) async fn get_custom_instruction<D: Dialect>(
    d: &D,
    page_id: &str,
    locale: &str,
) -> StoreResult<Option<CustomInstruction>> {
    let rows = d
        .fetch(
            "SELECT * FROM custom_password_instructions WHERE page_id = $1 AND locale = $2",
            args![page_id, locale],
        )
        .await?;
    first(rows)
        .map(|r| {
            Ok(CustomInstruction {
                page_id: r.text("page_id")?,
                locale: r.text("locale")?,
                content: r.text("content")?,
                modified: r.millis("modified")?,
            })
        })
        .transpose()
}

pub(crate) async fn delete_custom_instruction<D: Dialect>(
    d: &D,
    page_id: &str,
    locale: &str,
) -> StoreResult<bool> {
    let n = d
        .exec(
            "DELETE FROM custom_password_instructions WHERE page_id = $1 AND locale = $2",
            args![page_id, locale],
        )
        .await?;
    Ok(n > 0)
}

// ---- audit ----

/// Rows per INSERT: nine parameters each, far below both databases' limits.
const AUDIT_ROWS_PER_STATEMENT: usize = 1_000;

pub(crate) async fn append_audit<D: Dialect>(d: &D, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = d.begin().await?;
    insert_audit(&mut tx, events).await?;
    super::Transaction::commit(tx).await
}

/// Inserts audit events in `tx`, in multi-row statements.
pub(crate) async fn insert_audit<T: super::Transaction>(
    tx: &mut T,
    events: &[AuditEvent],
) -> StoreResult<()> {
    for chunk in events.chunks(AUDIT_ROWS_PER_STATEMENT) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut a: Vec<Arg> = Vec::with_capacity(chunk.len() * 9);
        for e in chunk {
            let base = a.len();
            values.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                base + 1,
                base + 2,
                base + 3,
                base + 4,
                base + 5,
                base + 6,
                base + 7,
                base + 8,
                base + 9
            ));
            a.extend([
                Arg::from(e.id.as_str()),
                e.at.into(),
                Arg::from(&e.actor),
                Arg::from(&e.action),
                Arg::from(&e.request_id),
                Arg::from(&e.source_id),
                Arg::from(&e.identity_id),
                Arg::from(&e.outcome),
                Arg::from(&e.detail),
            ]);
        }
        let sql = format!(
            "INSERT INTO audit_events (id, at, actor, action, request_id, source_id, identity_id, outcome, detail)
             VALUES {}",
            values.join(", ")
        );
        tx.exec(&sql, &a).await?;
    }
    Ok(())
}

pub(crate) async fn list_audit<D: Dialect>(
    d: &D,
    f: &AuditFilter,
    page: Page,
) -> StoreResult<(Vec<AuditEvent>, u64)> {
    let mut w = Where::new(D::KIND);
    w.eq("request_id", &f.request_id);
    w.eq("identity_id", &f.identity_id);
    w.eq("action", &f.action);
    let (rows, n) = search(d, "audit_events", "seq", w, page).await?;
    let events = rows
        .iter()
        .map(|r| {
            Ok(AuditEvent {
                id: parse(AuditEventId::parse(r.str("id")?), "audit id")?,
                at: r.millis("at")?,
                actor: r.text("actor")?,
                action: r.text("action")?,
                request_id: r.opt_text("request_id")?,
                source_id: r.opt_text("source_id")?,
                identity_id: r.opt_text("identity_id")?,
                outcome: r.text("outcome")?,
                detail: r.text("detail")?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok((events, n))
}
