//! Small meta values, RSA keys, token-signing keys and re-wrapping under a new master key.
//!
//! A change to the RSA key ring notifies `passbroker_keys` on PostgreSQL, so every node
//! reloads its ring when it commits (the nodes' periodic check is the fallback).

use super::{args, corrupt, first, lock_tables, parse, Dialect, Kind, Row, Transaction};
use crate::{RewrapFn, StoreError, StoreResult, WrappedKind};
use passbroker_core::keys::{KeyState, StoredRsaKey, StoredSigningKey};
use passbroker_core::time::Millis;
use passbroker_core::PublicKeyId;

/// Notified when the RSA key ring changes.
pub(crate) const KEYS: &str = "passbroker_keys";

pub(crate) async fn get_meta<D: Dialect>(d: &D, key: &str) -> StoreResult<Option<Vec<u8>>> {
    let rows = d
        .fetch("SELECT value FROM meta WHERE key = $1", args![key])
        .await?;
    first(rows).map(|r| r.blob("value")).transpose()
}

pub(crate) async fn set_meta<D: Dialect>(d: &D, key: &str, value: &[u8]) -> StoreResult<()> {
    d.exec(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
        args![key, value],
    )
    .await?;
    Ok(())
}

fn rsa_from_row(r: &Row) -> StoreResult<StoredRsaKey> {
    Ok(StoredRsaKey {
        id: parse(PublicKeyId::parse(r.str("id")?), "key id")?,
        bits: u32::try_from(r.int("bits")?).map_err(|_| corrupt("key bits"))?,
        state: KeyState::parse(r.str("state")?).ok_or_else(|| corrupt("key state"))?,
        public_der: r.blob("public_der")?,
        wrapped_private: r.opt_blob("wrapped_private")?,
        created: r.millis("created")?,
        deactivated: r.opt_millis("deactivated")?,
        retired: r.opt_millis("retired")?,
    })
}

fn signing_from_row(r: &Row) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: r.text("kid")?,
        state: KeyState::parse(r.str("state")?).ok_or_else(|| corrupt("signing key state"))?,
        public_raw: r.blob("public_raw")?,
        wrapped_private: r.opt_blob("wrapped_private")?,
        created: r.millis("created")?,
        deactivated: r.opt_millis("deactivated")?,
    })
}

/// Inserts or updates an RSA key and tells the other nodes.
async fn upsert_rsa<D: Dialect>(tx: &mut D::Tx, k: &StoredRsaKey) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO rsa_keys (id, bits, state, public_der, wrapped_private, created, deactivated, retired)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET state = $3, wrapped_private = $5, deactivated = $7, retired = $8",
        args![
            k.id.as_str(),
            k.bits,
            k.state.as_str(),
            &k.public_der,
            &k.wrapped_private,
            k.created,
            k.deactivated,
            k.retired
        ],
    )
    .await?;
    if D::KIND == Kind::Postgres {
        tx.fetch("SELECT pg_notify($1, '')", args![KEYS]).await?;
    }
    Ok(())
}

pub(crate) async fn put_rsa<D: Dialect>(d: &D, key: &StoredRsaKey) -> StoreResult<()> {
    let mut tx = d.begin().await?;
    upsert_rsa::<D>(&mut tx, key).await?;
    tx.commit().await
}

pub(crate) async fn get_rsa<D: Dialect>(
    d: &D,
    id: &PublicKeyId,
) -> StoreResult<Option<StoredRsaKey>> {
    let rows = d
        .fetch("SELECT * FROM rsa_keys WHERE id = $1", args![id.as_str()])
        .await?;
    first(rows).as_ref().map(rsa_from_row).transpose()
}

pub(crate) async fn list_rsa<D: Dialect>(d: &D) -> StoreResult<Vec<StoredRsaKey>> {
    let rows = d
        .fetch("SELECT * FROM rsa_keys ORDER BY created, id", &[])
        .await?;
    rows.iter().map(rsa_from_row).collect()
}

/// Makes `new_key` the only active key. Two nodes rotating at once take turns (the table
/// lock on PostgreSQL, the one writer on SQLite), so exactly one key ends up active.
pub(crate) async fn rotate_rsa<D: Dialect>(
    d: D,
    new_key: StoredRsaKey,
    now: Millis,
) -> StoreResult<()> {
    let mut tx = d.begin().await?;
    lock_tables::<D>(&mut tx, "rsa_keys").await?;
    tx.exec(
        "UPDATE rsa_keys SET state = $1, deactivated = $2 WHERE state = $3",
        args![
            KeyState::DecryptOnly.as_str(),
            now,
            KeyState::Active.as_str()
        ],
    )
    .await?;
    upsert_rsa::<D>(&mut tx, &new_key).await?;
    super::outbox::push(&mut tx, &super::outbox::key_rotated(&new_key, now)).await?;
    tx.commit().await
}

pub(crate) async fn put_signing<D: Dialect>(d: &D, k: &StoredSigningKey) -> StoreResult<()> {
    d.exec(
        "INSERT INTO signing_keys (kid, state, public_raw, wrapped_private, created, deactivated)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (kid) DO UPDATE SET state = $2, wrapped_private = $4, deactivated = $6",
        args![
            &k.kid,
            k.state.as_str(),
            &k.public_raw,
            &k.wrapped_private,
            k.created,
            k.deactivated
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn list_signing<D: Dialect>(d: &D) -> StoreResult<Vec<StoredSigningKey>> {
    let rows = d
        .fetch("SELECT * FROM signing_keys ORDER BY created, kid", &[])
        .await?;
    rows.iter().map(signing_from_row).collect()
}

/// Re-wraps every wrapped secret in one transaction; nothing changes if one fails. Other
/// nodes still read meanwhile but cannot add a secret under the old key.
pub(crate) async fn rewrap_all<D: Dialect>(d: &D, rewrap: &RewrapFn<'_>) -> StoreResult<usize> {
    let mut tx = d.begin().await?;
    lock_tables::<D>(
        &mut tx,
        "rsa_keys, signing_keys, sources, meta, totp_factors, outbound_mail, event_subscriptions",
    )
    .await?;
    let targets: [(&str, &str, &str, WrappedKind); 7] = [
        ("rsa_keys", "id", "wrapped_private", WrappedKind::RsaKey),
        (
            "signing_keys",
            "kid",
            "wrapped_private",
            WrappedKind::SigningKey,
        ),
        (
            "sources",
            "id",
            "wrapped_secrets",
            WrappedKind::SourceSecrets,
        ),
        ("meta", "key", "value", WrappedKind::Meta),
        (
            "totp_factors",
            "identity_id",
            "wrapped_secret",
            WrappedKind::TotpSecret,
        ),
        ("outbound_mail", "id", "wrapped", WrappedKind::OutboundMail),
        (
            "event_subscriptions",
            "id",
            "wrapped_secrets",
            WrappedKind::EventSubscription,
        ),
    ];
    let mut count = 0usize;
    for (table, key_col, col, kind) in targets {
        let filter = if kind == WrappedKind::Meta {
            " AND key LIKE 'wrapped:%'"
        } else {
            ""
        };
        let rows = tx
            .fetch(
                &format!(
                    "SELECT {key_col} AS k, {col} AS v FROM {table} WHERE {col} IS NOT NULL{filter}"
                ),
                &[],
            )
            .await?;
        for r in rows {
            let k = r.str("k")?;
            let new = rewrap(kind, &r.blob("v")?)
                .map_err(|e| StoreError::Conflict(format!("{table} {k}: {e}")))?;
            tx.exec(
                &format!("UPDATE {table} SET {col} = $1 WHERE {key_col} = $2"),
                args![new, k],
            )
            .await?;
            count += 1;
        }
    }
    if D::KIND == Kind::Postgres {
        tx.fetch("SELECT pg_notify($1, '')", args![KEYS]).await?;
    }
    tx.commit().await?;
    Ok(count)
}
