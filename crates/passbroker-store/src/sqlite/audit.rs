//! Audit events.

use super::db;
use super::rows::parse;
use crate::{AuditFilter, Page, StoreResult};
use passbroker_core::audit::AuditEvent;
use passbroker_core::time::Millis;
use passbroker_core::AuditEventId;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

pub(crate) async fn append(pool: &SqlitePool, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO audit_events (id, at, actor, action, request_id, source_id, identity_id, outcome, detail) ",
    );
    qb.push_values(events, |mut b, e| {
        b.push_bind(e.id.as_str())
            .push_bind(e.at.0)
            .push_bind(&e.actor)
            .push_bind(&e.action)
            .push_bind(&e.request_id)
            .push_bind(&e.source_id)
            .push_bind(&e.identity_id)
            .push_bind(&e.outcome)
            .push_bind(&e.detail);
    });
    qb.build().execute(pool).await.map_err(db)?;
    Ok(())
}

fn push_filter<'a>(qb: &mut QueryBuilder<'a, Sqlite>, f: &'a AuditFilter) {
    qb.push(" WHERE 1 = 1");
    if let Some(r) = &f.request_id {
        qb.push(" AND request_id = ").push_bind(r);
    }
    if let Some(i) = &f.identity_id {
        qb.push(" AND identity_id = ").push_bind(i);
    }
    if let Some(a) = &f.action {
        qb.push(" AND action = ").push_bind(a);
    }
}

pub(crate) async fn list(
    pool: &SqlitePool,
    f: &AuditFilter,
    page: Page,
) -> StoreResult<(Vec<AuditEvent>, u64)> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM audit_events");
    push_filter(&mut qb, f);
    qb.push(" ORDER BY seq LIMIT ")
        .push_bind(page.limit.min(i64::MAX as u64) as i64)
        .push(" OFFSET ")
        .push_bind(page.offset.min(i64::MAX as u64) as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        events.push(AuditEvent {
            id: parse(AuditEventId::parse(r.get("id")), "audit id")?,
            at: Millis(r.get("at")),
            actor: r.get("actor"),
            action: r.get("action"),
            request_id: r.get("request_id"),
            source_id: r.get("source_id"),
            identity_id: r.get("identity_id"),
            outcome: r.get("outcome"),
            detail: r.get("detail"),
        });
    }
    let mut cq: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT COUNT(*) FROM audit_events");
    push_filter(&mut cq, f);
    let count: i64 = cq.build_query_scalar().fetch_one(pool).await.map_err(db)?;
    Ok((events, count as u64))
}
