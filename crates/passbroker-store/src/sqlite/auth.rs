//! OAuth clients, personal access tokens, authorization codes, refresh tokens, built-in
//! credentials and password history.

use super::db;
use super::rows::{json_list, parse, to_json};
use crate::{AuthCode, RefreshToken, StoreResult};
use passbroker_core::client::{ApiClient, PersonalAccessToken};
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

pub(crate) async fn upsert_client(conn: &mut SqliteConnection, c: &ApiClient) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_clients (client_id, name, secret_hash, scopes, grant_types, redirect_uris, created, disabled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (client_id) DO UPDATE SET name = ?2, secret_hash = ?3, scopes = ?4, grant_types = ?5,
           redirect_uris = ?6, disabled = ?8",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.secret_hash)
    .bind(to_json(&c.scopes))
    .bind(to_json(&c.grant_types))
    .bind(to_json(&c.redirect_uris))
    .bind(c.created.0)
    .bind(c.disabled)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) fn client_from_row(r: &SqliteRow) -> StoreResult<ApiClient> {
    Ok(ApiClient {
        client_id: r.get("client_id"),
        name: r.get("name"),
        secret_hash: r.get("secret_hash"),
        scopes: json_list(r.get("scopes"))?,
        grant_types: json_list(r.get("grant_types"))?,
        redirect_uris: json_list(r.get("redirect_uris"))?,
        created: Millis(r.get("created")),
        disabled: r.get("disabled"),
    })
}

pub(crate) fn pat_from_row(r: &SqliteRow) -> StoreResult<PersonalAccessToken> {
    let last_used: Option<i64> = r.get("last_used");
    Ok(PersonalAccessToken {
        id: r.get("id"),
        name: r.get("name"),
        owner: parse(IdentityId::parse(r.get("owner")), "pat owner")?,
        secret_hash: r.get("secret_hash"),
        scopes: json_list(r.get("scopes"))?,
        created: Millis(r.get("created")),
        last_used: last_used.map(Millis),
        revoked: r.get("revoked"),
    })
}

pub(crate) async fn insert_pat(pool: &SqlitePool, p: &PersonalAccessToken) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO personal_access_tokens (id, name, owner, secret_hash, scopes, created, last_used, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(p.owner.as_str())
    .bind(&p.secret_hash)
    .bind(to_json(&p.scopes))
    .bind(p.created.0)
    .bind(p.last_used.map(|m| m.0))
    .bind(p.revoked)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn insert_auth_code(pool: &SqlitePool, c: &AuthCode) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, client_id, identity_id, redirect_uri, code_challenge, scopes, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&c.code_hash)
    .bind(&c.client_id)
    .bind(c.identity_id.as_str())
    .bind(&c.redirect_uri)
    .bind(&c.code_challenge)
    .bind(to_json(&c.scopes))
    .bind(c.expires.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn take_auth_code(
    pool: &SqlitePool,
    code_hash: &str,
) -> StoreResult<Option<AuthCode>> {
    // The UPDATE … RETURNING makes "use once" atomic: only one caller sees used = 0 flip.
    let row = sqlx::query(
        "UPDATE oauth_codes SET used = 1 WHERE code_hash = ?1 AND used = 0
         RETURNING code_hash, client_id, identity_id, redirect_uri, code_challenge, scopes, expires",
    )
    .bind(code_hash)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok(AuthCode {
            code_hash: r.get("code_hash"),
            client_id: r.get("client_id"),
            identity_id: parse(IdentityId::parse(r.get("identity_id")), "code identity")?,
            redirect_uri: r.get("redirect_uri"),
            code_challenge: r.get("code_challenge"),
            scopes: json_list(r.get("scopes"))?,
            expires: Millis(r.get("expires")),
        })
    })
    .transpose()
}

pub(crate) async fn insert_refresh_token(pool: &SqlitePool, t: &RefreshToken) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, client_id, identity_id, scopes, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&t.token_hash)
    .bind(&t.client_id)
    .bind(t.identity_id.as_str())
    .bind(to_json(&t.scopes))
    .bind(t.expires.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn take_refresh_token(
    pool: &SqlitePool,
    token_hash: &str,
    now: Millis,
) -> StoreResult<Option<RefreshToken>> {
    let row = sqlx::query(
        "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ?1 AND revoked = 0 AND expires > ?2
         RETURNING token_hash, client_id, identity_id, scopes, expires",
    )
    .bind(token_hash)
    .bind(now.0)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok(RefreshToken {
            token_hash: r.get("token_hash"),
            client_id: r.get("client_id"),
            identity_id: parse(IdentityId::parse(r.get("identity_id")), "token identity")?,
            scopes: json_list(r.get("scopes"))?,
            expires: Millis(r.get("expires")),
        })
    })
    .transpose()
}
