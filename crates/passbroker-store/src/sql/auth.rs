//! OAuth clients, personal access tokens, authorization codes, refresh tokens, the page's
//! sessions, built-in credentials and password history.

use super::{args, first, json_list, parse, to_json, Dialect, Row, Transaction};
use crate::{AuthCode, RefreshToken, StoreResult, WebSession};
use passbroker_core::client::{ApiClient, PersonalAccessToken};
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, IdentityId};

pub(crate) async fn upsert_client<T: Transaction>(tx: &mut T, c: &ApiClient) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO api_clients (client_id, name, secret_hash, scopes, grant_types, redirect_uris, created, disabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (client_id) DO UPDATE SET name = $2, secret_hash = $3, scopes = $4, grant_types = $5,
           redirect_uris = $6, disabled = $8",
        args![
            &c.client_id,
            &c.name,
            &c.secret_hash,
            to_json(&c.scopes),
            to_json(&c.grant_types),
            to_json(&c.redirect_uris),
            c.created,
            c.disabled
        ],
    )
    .await?;
    Ok(())
}

fn client_from_row(r: &Row) -> StoreResult<ApiClient> {
    Ok(ApiClient {
        client_id: r.text("client_id")?,
        name: r.text("name")?,
        secret_hash: r.opt_text("secret_hash")?,
        scopes: json_list(r.str("scopes")?)?,
        grant_types: json_list(r.str("grant_types")?)?,
        redirect_uris: json_list(r.str("redirect_uris")?)?,
        created: r.millis("created")?,
        disabled: r.bool("disabled")?,
    })
}

pub(crate) async fn get_client<D: Dialect>(
    d: &D,
    client_id: &str,
) -> StoreResult<Option<ApiClient>> {
    let rows = d
        .fetch(
            "SELECT * FROM api_clients WHERE client_id = $1",
            args![client_id],
        )
        .await?;
    first(rows).as_ref().map(client_from_row).transpose()
}

pub(crate) async fn list_clients<D: Dialect>(d: &D) -> StoreResult<Vec<ApiClient>> {
    let rows = d
        .fetch("SELECT * FROM api_clients ORDER BY created, client_id", &[])
        .await?;
    rows.iter().map(client_from_row).collect()
}

pub(crate) async fn delete_client<D: Dialect>(d: &D, client_id: &str) -> StoreResult<bool> {
    let n = d
        .exec(
            "DELETE FROM api_clients WHERE client_id = $1",
            args![client_id],
        )
        .await?;
    Ok(n > 0)
}

fn pat_from_row(r: &Row) -> StoreResult<PersonalAccessToken> {
    Ok(PersonalAccessToken {
        id: r.text("id")?,
        name: r.text("name")?,
        owner: parse(IdentityId::parse(r.str("owner")?), "pat owner")?,
        secret_hash: r.text("secret_hash")?,
        scopes: json_list(r.str("scopes")?)?,
        created: r.millis("created")?,
        last_used: r.opt_millis("last_used")?,
        revoked: r.bool("revoked")?,
    })
}

pub(crate) async fn insert_pat<D: Dialect>(d: &D, p: &PersonalAccessToken) -> StoreResult<()> {
    d.exec(
        "INSERT INTO personal_access_tokens (id, name, owner, secret_hash, scopes, created, last_used, revoked)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            &p.id,
            &p.name,
            p.owner.as_str(),
            &p.secret_hash,
            to_json(&p.scopes),
            p.created,
            p.last_used,
            p.revoked
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn get_pat<D: Dialect>(
    d: &D,
    id: &str,
) -> StoreResult<Option<PersonalAccessToken>> {
    let rows = d
        .fetch(
            "SELECT * FROM personal_access_tokens WHERE id = $1",
            args![id],
        )
        .await?;
    first(rows).as_ref().map(pat_from_row).transpose()
}

pub(crate) async fn list_pats<D: Dialect>(
    d: &D,
    owner: Option<&IdentityId>,
) -> StoreResult<Vec<PersonalAccessToken>> {
    let rows = match owner {
        Some(o) => {
            d.fetch(
                "SELECT * FROM personal_access_tokens WHERE owner = $1 ORDER BY created, id",
                args![o.as_str()],
            )
            .await?
        }
        None => {
            d.fetch(
                "SELECT * FROM personal_access_tokens ORDER BY created, id",
                &[],
            )
            .await?
        }
    };
    rows.iter().map(pat_from_row).collect()
}

pub(crate) async fn revoke_pat<D: Dialect>(d: &D, id: &str) -> StoreResult<bool> {
    let n = d
        .exec(
            "UPDATE personal_access_tokens SET revoked = TRUE WHERE id = $1 AND revoked = FALSE",
            args![id],
        )
        .await?;
    Ok(n > 0)
}

pub(crate) async fn touch_pat<D: Dialect>(d: &D, id: &str, now: Millis) -> StoreResult<()> {
    d.exec(
        "UPDATE personal_access_tokens SET last_used = $2 WHERE id = $1",
        args![id, now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn insert_auth_code<D: Dialect>(d: &D, c: &AuthCode) -> StoreResult<()> {
    d.exec(
        "INSERT INTO oauth_codes (code_hash, client_id, identity_id, redirect_uri, code_challenge, scopes, expires)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &c.code_hash,
            &c.client_id,
            c.identity_id.as_str(),
            &c.redirect_uri,
            &c.code_challenge,
            to_json(&c.scopes),
            c.expires
        ],
    )
    .await?;
    Ok(())
}

/// Marks the code used and returns it. The UPDATE … RETURNING makes "use once" atomic: a
/// second caller (waiting on the row lock on PostgreSQL) sees `used` set and matches nothing.
pub(crate) async fn take_auth_code<D: Dialect>(
    d: &D,
    code_hash: &str,
) -> StoreResult<Option<AuthCode>> {
    let rows = d
        .fetch(
            "UPDATE oauth_codes SET used = TRUE WHERE code_hash = $1 AND used = FALSE
             RETURNING code_hash, client_id, identity_id, redirect_uri, code_challenge, scopes, expires",
            args![code_hash],
        )
        .await?;
    first(rows)
        .map(|r| {
            Ok(AuthCode {
                code_hash: r.text("code_hash")?,
                client_id: r.text("client_id")?,
                identity_id: parse(IdentityId::parse(r.str("identity_id")?), "code identity")?,
                redirect_uri: r.text("redirect_uri")?,
                code_challenge: r.text("code_challenge")?,
                scopes: json_list(r.str("scopes")?)?,
                expires: r.millis("expires")?,
            })
        })
        .transpose()
}

pub(crate) async fn insert_refresh_token<D: Dialect>(d: &D, t: &RefreshToken) -> StoreResult<()> {
    d.exec(
        "INSERT INTO refresh_tokens (token_hash, client_id, identity_id, scopes, expires)
         VALUES ($1, $2, $3, $4, $5)",
        args![
            &t.token_hash,
            &t.client_id,
            t.identity_id.as_str(),
            to_json(&t.scopes),
            t.expires
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn take_refresh_token<D: Dialect>(
    d: &D,
    token_hash: &str,
    now: Millis,
) -> StoreResult<Option<RefreshToken>> {
    let rows = d
        .fetch(
            "UPDATE refresh_tokens SET revoked = TRUE WHERE token_hash = $1 AND revoked = FALSE AND expires > $2
             RETURNING token_hash, client_id, identity_id, scopes, expires",
            args![token_hash, now],
        )
        .await?;
    first(rows)
        .map(|r| {
            Ok(RefreshToken {
                token_hash: r.text("token_hash")?,
                client_id: r.text("client_id")?,
                identity_id: parse(IdentityId::parse(r.str("identity_id")?), "token identity")?,
                scopes: json_list(r.str("scopes")?)?,
                expires: r.millis("expires")?,
            })
        })
        .transpose()
}

// ---- the Password Manager page's sessions ----

pub(crate) async fn insert_session<D: Dialect>(d: &D, s: &WebSession) -> StoreResult<()> {
    d.exec(
        "INSERT INTO web_sessions (id_hash, identity_id, created, last_seen, expires)
         VALUES ($1, $2, $3, $4, $5)",
        args![
            &s.id_hash,
            s.identity_id.as_str(),
            s.created,
            s.last_seen,
            s.expires
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn get_session<D: Dialect>(
    d: &D,
    id_hash: &str,
) -> StoreResult<Option<WebSession>> {
    let rows = d
        .fetch(
            "SELECT id_hash, identity_id, created, last_seen, expires FROM web_sessions WHERE id_hash = $1",
            args![id_hash],
        )
        .await?;
    first(rows)
        .map(|r| {
            Ok(WebSession {
                id_hash: r.text("id_hash")?,
                identity_id: parse(IdentityId::parse(r.str("identity_id")?), "session identity")?,
                created: r.millis("created")?,
                last_seen: r.millis("last_seen")?,
                expires: r.millis("expires")?,
            })
        })
        .transpose()
}

pub(crate) async fn touch_session<D: Dialect>(
    d: &D,
    id_hash: &str,
    now: Millis,
) -> StoreResult<()> {
    d.exec(
        "UPDATE web_sessions SET last_seen = $2 WHERE id_hash = $1 AND last_seen < $2",
        args![id_hash, now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete_session<D: Dialect>(d: &D, id_hash: &str) -> StoreResult<bool> {
    let n = d
        .exec(
            "DELETE FROM web_sessions WHERE id_hash = $1",
            args![id_hash],
        )
        .await?;
    Ok(n > 0)
}

pub(crate) async fn purge_sessions<D: Dialect>(
    d: &D,
    expired_before: Millis,
    idle_before: Millis,
) -> StoreResult<u64> {
    d.exec(
        "DELETE FROM web_sessions WHERE expires < $1 OR last_seen < $2",
        args![expired_before, idle_before],
    )
    .await
}

// ---- built-in credentials and password history ----

pub(crate) async fn get_builtin_credential<D: Dialect>(
    d: &D,
    identity_id: &IdentityId,
) -> StoreResult<Option<String>> {
    let rows = d
        .fetch(
            "SELECT hash FROM builtin_credentials WHERE identity_id = $1",
            args![identity_id.as_str()],
        )
        .await?;
    first(rows).map(|r| r.text("hash")).transpose()
}

pub(crate) async fn push_history<D: Dialect>(
    d: D,
    account_ref: AccountRef,
    hash: String,
    keep: u32,
    now: Millis,
) -> StoreResult<()> {
    let mut tx = d.begin().await?;
    tx.exec(
        "INSERT INTO password_history (account_ref, hash, created) VALUES ($1, $2, $3)",
        args![account_ref.as_str(), &hash, now],
    )
    .await?;
    tx.exec(
        "DELETE FROM password_history WHERE account_ref = $1 AND seq NOT IN
           (SELECT seq FROM password_history WHERE account_ref = $1 ORDER BY seq DESC LIMIT $2)",
        args![account_ref.as_str(), keep],
    )
    .await?;
    tx.commit().await
}

pub(crate) async fn history<D: Dialect>(
    d: &D,
    account_ref: &AccountRef,
    depth: u32,
) -> StoreResult<Vec<String>> {
    let rows = d
        .fetch(
            "SELECT hash FROM password_history WHERE account_ref = $1 ORDER BY seq DESC LIMIT $2",
            args![account_ref.as_str(), depth],
        )
        .await?;
    rows.iter().map(|r| r.text("hash")).collect()
}
