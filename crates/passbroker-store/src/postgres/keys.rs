//! RSA keys and token-signing keys.

use super::db;
use crate::sqlite::rows::{corrupt, parse};
use crate::StoreResult;
use passbroker_core::keys::{KeyState, StoredRsaKey, StoredSigningKey};
use passbroker_core::time::Millis;
use passbroker_core::PublicKeyId;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

pub(crate) fn rsa_from_row(r: &PgRow) -> StoreResult<StoredRsaKey> {
    let state: String = r.get("state");
    let bits: i64 = r.get("bits");
    Ok(StoredRsaKey {
        id: parse(PublicKeyId::parse(r.get("id")), "key id")?,
        bits: u32::try_from(bits).map_err(|_| corrupt("key bits"))?,
        state: KeyState::parse(&state).ok_or_else(|| corrupt("key state"))?,
        public_der: r.get("public_der"),
        wrapped_private: r.get("wrapped_private"),
        created: Millis(r.get("created")),
        deactivated: r.get::<Option<i64>, _>("deactivated").map(Millis),
        retired: r.get::<Option<i64>, _>("retired").map(Millis),
    })
}

pub(crate) async fn upsert_rsa(conn: &mut PgConnection, k: &StoredRsaKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO rsa_keys (id, bits, state, public_der, wrapped_private, created, deactivated, retired)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET state = $3, wrapped_private = $5, deactivated = $7, retired = $8",
    )
    .bind(k.id.as_str())
    .bind(i64::from(k.bits))
    .bind(k.state.as_str())
    .bind(&k.public_der)
    .bind(&k.wrapped_private)
    .bind(k.created.0)
    .bind(k.deactivated.map(|m| m.0))
    .bind(k.retired.map(|m| m.0))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    // Every node reloads its key ring when this commits (a rotation or retirement takes
    // effect everywhere at once; the nodes' periodic check is the fallback).
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(super::events::KEYS)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) fn signing_from_row(r: &PgRow) -> StoreResult<StoredSigningKey> {
    let state: String = r.get("state");
    Ok(StoredSigningKey {
        kid: r.get("kid"),
        state: KeyState::parse(&state).ok_or_else(|| corrupt("signing key state"))?,
        public_raw: r.get("public_raw"),
        wrapped_private: r.get("wrapped_private"),
        created: Millis(r.get("created")),
        deactivated: r.get::<Option<i64>, _>("deactivated").map(Millis),
    })
}

pub(crate) async fn upsert_signing(
    conn: &mut PgConnection,
    k: &StoredSigningKey,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, state, public_raw, wrapped_private, created, deactivated)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (kid) DO UPDATE SET state = $2, wrapped_private = $4, deactivated = $6",
    )
    .bind(&k.kid)
    .bind(k.state.as_str())
    .bind(&k.public_raw)
    .bind(&k.wrapped_private)
    .bind(k.created.0)
    .bind(k.deactivated.map(|m| m.0))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
