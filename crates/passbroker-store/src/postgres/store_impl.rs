//! `impl Store for PostgresStore`: thin glue over the per-resource modules.

use super::{admin, audit, auth, db, directory as dir, keys, requests, PostgresStore};
use crate::*;
use async_trait::async_trait;
use passbroker_core::keys::KeyState;
use sqlx::Row;

#[async_trait]
impl Store for PostgresStore {
    async fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        dir::apply_ops(&mut tx, ops).await?;
        tx.commit().await.map_err(db)
    }

    fn recovery(&self) -> &dyn RecoveryStore {
        self
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }

    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn set_meta(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>> {
        let row = sqlx::query("SELECT * FROM identities WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(dir::identity_from_row).transpose()
    }

    async fn find_identity_by_login(&self, login_name: &str) -> StoreResult<Option<Identity>> {
        let row = sqlx::query("SELECT * FROM identities WHERE lower(login_name) = lower($1)")
            .bind(login_name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(dir::identity_from_row).transpose()
    }

    async fn list_identities(&self, page: Page) -> StoreResult<(Vec<Identity>, u64)> {
        let (rows, n) = dir::paged(&self.pool, "identities", "lower(login_name), id", page).await?;
        Ok((
            rows.iter()
                .map(dir::identity_from_row)
                .collect::<StoreResult<_>>()?,
            n,
        ))
    }

    async fn get_source(&self, id: &SourceId) -> StoreResult<Option<Source>> {
        let row = sqlx::query("SELECT * FROM sources WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(dir::source_from_row).transpose()
    }

    async fn find_source_by_name(&self, name: &str) -> StoreResult<Option<Source>> {
        let row = sqlx::query("SELECT * FROM sources WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(dir::source_from_row).transpose()
    }

    async fn list_sources(&self, page: Page) -> StoreResult<(Vec<Source>, u64)> {
        let (rows, n) = dir::paged(&self.pool, "sources", "name, id", page).await?;
        Ok((
            rows.iter()
                .map(dir::source_from_row)
                .collect::<StoreResult<_>>()?,
            n,
        ))
    }

    async fn get_account(&self, id: &AccountRef) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(dir::account_from_row).transpose()
    }

    async fn find_identities_by_login(&self, login_names: &[String]) -> StoreResult<Vec<Identity>> {
        let rows = sqlx::query("SELECT * FROM identities WHERE lower(login_name) IN (SELECT lower(x) FROM unnest($1::text[]) AS t(x))")
            .bind(login_names)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(dir::identity_from_row).collect()
    }

    async fn get_identities(&self, ids: &[IdentityId]) -> StoreResult<Vec<Identity>> {
        let rows = sqlx::query("SELECT * FROM identities WHERE id = ANY($1::text[])")
            .bind(
                ids.iter()
                    .map(|i| i.as_str().to_owned())
                    .collect::<Vec<String>>(),
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(dir::identity_from_row).collect()
    }

    async fn find_accounts(
        &self,
        source_id: &SourceId,
        native_ids: &[String],
    ) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE source_id = $1 AND native_id = ANY($2::text[])",
        )
        .bind(source_id.as_str())
        .bind(native_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(dir::account_from_row).collect()
    }

    async fn find_account(
        &self,
        source_id: &SourceId,
        native_id: &str,
    ) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE source_id = $1 AND native_id = $2")
            .bind(source_id.as_str())
            .bind(native_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(dir::account_from_row).transpose()
    }

    async fn accounts_of_identity(
        &self,
        identity_id: &IdentityId,
        source_id: Option<&SourceId>,
    ) -> StoreResult<Vec<Account>> {
        let rows = match source_id {
            Some(s) => {
                sqlx::query("SELECT * FROM accounts WHERE identity_id = $1 AND source_id = $2 ORDER BY native_id")
                    .bind(identity_id.as_str())
                    .bind(s.as_str())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM accounts WHERE identity_id = $1 ORDER BY source_id, native_id")
                    .bind(identity_id.as_str())
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db)?;
        rows.iter().map(dir::account_from_row).collect()
    }

    async fn list_accounts(&self, page: Page) -> StoreResult<(Vec<Account>, u64)> {
        let (rows, n) = dir::paged(&self.pool, "accounts", "source_id, native_id", page).await?;
        Ok((
            rows.iter()
                .map(dir::account_from_row)
                .collect::<StoreResult<_>>()?,
            n,
        ))
    }

    async fn get_policy(&self, id: &PolicyId) -> StoreResult<Option<PasswordPolicy>> {
        let row = sqlx::query("SELECT * FROM password_policies WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(Some(dir::policy_from_row(&self.pool, &r).await?)),
            None => Ok(None),
        }
    }

    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<PasswordPolicy>, u64)> {
        let (rows, n) = dir::paged(&self.pool, "password_policies", "created, id", page).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(dir::policy_from_row(&self.pool, r).await?);
        }
        Ok((out, n))
    }

    async fn default_policy(&self) -> StoreResult<Option<PasswordPolicy>> {
        let row = sqlx::query(
            "SELECT * FROM password_policies WHERE is_default ORDER BY modified DESC, id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) => Ok(Some(dir::policy_from_row(&self.pool, &r).await?)),
            None => Ok(None),
        }
    }

    async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<PasswordPolicy>> {
        let row = sqlx::query("SELECT * FROM password_policies WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(Some(dir::policy_from_row(&self.pool, &r).await?)),
            None => Ok(None),
        }
    }

    async fn get_sync_group(&self, id: &SyncGroupId) -> StoreResult<Option<PasswordSyncGroup>> {
        let row = sqlx::query("SELECT * FROM sync_groups WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(Some(dir::group_from_row(&self.pool, &r).await?)),
            None => Ok(None),
        }
    }

    async fn list_sync_groups(&self, page: Page) -> StoreResult<(Vec<PasswordSyncGroup>, u64)> {
        let (rows, n) = dir::paged(&self.pool, "sync_groups", "created, id", page).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(dir::group_from_row(&self.pool, r).await?);
        }
        Ok((out, n))
    }

    async fn sync_group_of_source(
        &self,
        source_id: &SourceId,
    ) -> StoreResult<Option<PasswordSyncGroup>> {
        let row = sqlx::query("SELECT g.* FROM sync_groups g JOIN sync_group_sources s ON s.group_id = g.id WHERE s.source_id = $1")
            .bind(source_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok(Some(dir::group_from_row(&self.pool, &r).await?)),
            None => Ok(None),
        }
    }

    async fn get_org_config(&self) -> StoreResult<Option<OrgPasswordConfig>> {
        let text: Option<String> = sqlx::query_scalar("SELECT body FROM org_config WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        text.as_deref().map(dir::org_config_from_text).transpose()
    }

    async fn get_dictionary(&self) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT text FROM password_dictionary WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ApiClient>> {
        let row = sqlx::query("SELECT * FROM api_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(auth::client_from_row).transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<ApiClient>> {
        let rows = sqlx::query("SELECT * FROM api_clients ORDER BY created, client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(auth::client_from_row).collect()
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM api_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_pat(&self, pat: &PersonalAccessToken) -> StoreResult<()> {
        auth::insert_pat(&self.pool, pat).await
    }

    async fn get_pat(&self, id: &str) -> StoreResult<Option<PersonalAccessToken>> {
        let row = sqlx::query("SELECT * FROM personal_access_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(auth::pat_from_row).transpose()
    }

    async fn list_pats(&self, owner: Option<&IdentityId>) -> StoreResult<Vec<PersonalAccessToken>> {
        let rows =
            match owner {
                Some(o) => sqlx::query(
                    "SELECT * FROM personal_access_tokens WHERE owner = $1 ORDER BY created, id",
                )
                .bind(o.as_str())
                .fetch_all(&self.pool)
                .await,
                None => {
                    sqlx::query("SELECT * FROM personal_access_tokens ORDER BY created, id")
                        .fetch_all(&self.pool)
                        .await
                }
            }
            .map_err(db)?;
        rows.iter().map(auth::pat_from_row).collect()
    }

    async fn revoke_pat(&self, id: &str) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE personal_access_tokens SET revoked = TRUE WHERE id = $1 AND NOT revoked",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn touch_pat(&self, id: &str, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE personal_access_tokens SET last_used = $2 WHERE id = $1")
            .bind(id)
            .bind(now.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()> {
        auth::insert_auth_code(&self.pool, code).await
    }

    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>> {
        auth::take_auth_code(&self.pool, code_hash).await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        auth::insert_refresh_token(&self.pool, token).await
    }

    async fn take_refresh_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<RefreshToken>> {
        auth::take_refresh_token(&self.pool, token_hash, now).await
    }

    async fn insert_web_session(&self, session: &WebSession) -> StoreResult<()> {
        super::sessions::insert(&self.pool, session).await
    }

    async fn get_web_session(&self, id_hash: &str) -> StoreResult<Option<WebSession>> {
        super::sessions::get(&self.pool, id_hash).await
    }

    async fn touch_web_session(&self, id_hash: &str, now: Millis) -> StoreResult<()> {
        super::sessions::touch(&self.pool, id_hash, now).await
    }

    async fn delete_web_session(&self, id_hash: &str) -> StoreResult<bool> {
        super::sessions::delete(&self.pool, id_hash).await
    }

    async fn purge_web_sessions(
        &self,
        expired_before: Millis,
        idle_before: Millis,
    ) -> StoreResult<u64> {
        super::sessions::purge(&self.pool, expired_before, idle_before).await
    }

    async fn last_change_of_account(
        &self,
        account_ref: &AccountRef,
    ) -> StoreResult<Option<LastChange>> {
        super::sessions::last_change_of_account(&self.pool, account_ref).await
    }

    async fn get_builtin_credential(
        &self,
        identity_id: &IdentityId,
    ) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT hash FROM builtin_credentials WHERE identity_id = $1")
            .bind(identity_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn push_history(
        &self,
        account_ref: &AccountRef,
        hash: &str,
        keep: u32,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO password_history (account_ref, hash, created) VALUES ($1, $2, $3)",
        )
        .bind(account_ref.as_str())
        .bind(hash)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "DELETE FROM password_history WHERE account_ref = $1 AND seq NOT IN
               (SELECT seq FROM password_history WHERE account_ref = $1 ORDER BY seq DESC LIMIT $2)",
        )
        .bind(account_ref.as_str())
        .bind(i64::from(keep))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn history(&self, account_ref: &AccountRef, depth: u32) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT hash FROM password_history WHERE account_ref = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(account_ref.as_str())
        .bind(i64::from(depth))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn insert_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        keys::upsert_rsa(&mut conn, key).await
    }

    async fn update_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        keys::upsert_rsa(&mut conn, key).await
    }

    async fn get_rsa_key(&self, id: &PublicKeyId) -> StoreResult<Option<StoredRsaKey>> {
        let row = sqlx::query("SELECT * FROM rsa_keys WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(keys::rsa_from_row).transpose()
    }

    async fn list_rsa_keys(&self) -> StoreResult<Vec<StoredRsaKey>> {
        let rows = sqlx::query("SELECT * FROM rsa_keys ORDER BY created, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(keys::rsa_from_row).collect()
    }

    async fn rotate_rsa_key(&self, new_key: &StoredRsaKey, now: Millis) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Two nodes rotating at once take turns, so exactly one key ends up active.
        sqlx::query("LOCK TABLE rsa_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE rsa_keys SET state = $1, deactivated = $2 WHERE state = $3")
            .bind(KeyState::DecryptOnly.as_str())
            .bind(now.0)
            .bind(KeyState::Active.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        keys::upsert_rsa(&mut tx, new_key).await?;
        tx.commit().await.map_err(db)
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        keys::upsert_signing(&mut conn, key).await
    }

    async fn update_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        keys::upsert_signing(&mut conn, key).await
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created, kid")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(keys::signing_from_row).collect()
    }

    async fn rewrap_all(&self, rewrap: &RewrapFn<'_>) -> StoreResult<usize> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Keeps other nodes from adding a secret under the old key while this runs; they
        // still read.
        sqlx::query("LOCK TABLE rsa_keys, signing_keys, sources, meta IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let mut count = 0usize;
        let targets: [(&str, &str, &str, WrappedKind); 6] = [
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
        ];
        for (table, key_col, col, kind) in targets {
            let filter = if kind == WrappedKind::Meta {
                " AND starts_with(key, 'wrapped:')"
            } else {
                ""
            };
            let rows = sqlx::query(&format!(
                "SELECT {key_col} AS k, {col} AS v FROM {table} WHERE {col} IS NOT NULL{filter}"
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for r in rows {
                let k: String = r.get("k");
                let v: Vec<u8> = r.get("v");
                let new = rewrap(kind, &v)
                    .map_err(|e| StoreError::Conflict(format!("{table} {k}: {e}")))?;
                sqlx::query(&format!(
                    "UPDATE {table} SET {col} = $1 WHERE {key_col} = $2"
                ))
                .bind(new)
                .bind(&k)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                count += 1;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(count)
    }

    async fn create_request(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
    ) -> StoreResult<CreateOutcome> {
        requests::create_request(&self.pool, request, tasks, idempotency_since).await
    }

    async fn get_request(&self, id: &RequestId) -> StoreResult<Option<PasswordChangeRequest>> {
        let row = sqlx::query("SELECT * FROM requests WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(requests::request_from_row).transpose()
    }

    async fn tasks_of_request(&self, id: &RequestId) -> StoreResult<Vec<TargetTask>> {
        let rows = sqlx::query("SELECT * FROM tasks WHERE request_id = $1 ORDER BY position")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(requests::task_from_row).collect()
    }

    async fn claim_request(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
    ) -> StoreResult<Option<PasswordChangeRequest>> {
        requests::claim(&self.pool, owner, now, lease_ms).await
    }

    async fn renew_lease(&self, id: &RequestId, owner: &str, until: Millis) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE requests SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'IN_PROGRESS'")
            .bind(id.as_str())
            .bind(owner)
            .bind(until.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn update_task(&self, task: &TargetTask) -> StoreResult<()> {
        requests::update_task(&self.pool, task).await
    }

    async fn start_attempt(&self, task: &TargetTask, owner: &str) -> StoreResult<bool> {
        requests::start_attempt(&self.pool, task, owner).await
    }

    async fn mark_validated(&self, id: &RequestId) -> StoreResult<()> {
        sqlx::query("UPDATE requests SET validated = TRUE WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn release_request(
        &self,
        id: &RequestId,
        owner: &str,
        next_attempt_at: Millis,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE requests SET lease_owner = NULL, lease_until = 0, next_attempt_at = $3 WHERE id = $1 AND lease_owner = $2")
            .bind(id.as_str())
            .bind(owner)
            .bind(next_attempt_at.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn finish_request(
        &self,
        id: &RequestId,
        state: RequestState,
        errors: &[String],
        now: Millis,
    ) -> StoreResult<()> {
        requests::finish(&self.pool, id, state, errors, now).await
    }

    async fn count_in_progress(&self) -> StoreResult<u64> {
        self.count_requests(Some(RequestState::InProgress)).await
    }

    async fn count_requests(&self, state: Option<RequestState>) -> StoreResult<u64> {
        let n: i64 = match state {
            Some(s) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM requests WHERE state = $1")
                    .bind(s.as_str())
                    .fetch_one(&self.pool)
                    .await
            }
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM requests")
                    .fetch_one(&self.pool)
                    .await
            }
        }
        .map_err(db)?;
        Ok(n as u64)
    }

    async fn search_identities(
        &self,
        filter: &IdentityFilter,
        page: Page,
    ) -> StoreResult<(Vec<Identity>, u64)> {
        admin::search_identities(&self.pool, filter, page).await
    }

    async fn search_accounts(
        &self,
        filter: &AccountFilter,
        page: Page,
    ) -> StoreResult<(Vec<Account>, u64)> {
        admin::search_accounts(&self.pool, filter, page).await
    }

    async fn search_sources(
        &self,
        filter: &SourceFilter,
        page: Page,
    ) -> StoreResult<(Vec<Source>, u64)> {
        admin::search_sources(&self.pool, filter, page).await
    }

    async fn insert_digit_token(&self, token: &DigitToken) -> StoreResult<()> {
        admin::insert_digit_token(&self.pool, token).await
    }

    async fn live_digit_tokens(
        &self,
        identity_id: &IdentityId,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<Vec<DigitToken>> {
        admin::live_digit_tokens(&self.pool, identity_id, now, max_failures).await
    }

    async fn consume_digit_token(&self, id: &str, now: Millis) -> StoreResult<bool> {
        admin::consume_digit_token(&self.pool, id, now).await
    }

    async fn record_digit_token_failure(
        &self,
        identity_id: &IdentityId,
        now: Millis,
    ) -> StoreResult<()> {
        admin::record_digit_token_failure(&self.pool, identity_id, now).await
    }

    async fn purge_digit_tokens(&self, before: Millis) -> StoreResult<u64> {
        admin::purge_digit_tokens(&self.pool, before).await
    }

    async fn put_custom_instruction(&self, instruction: &CustomInstruction) -> StoreResult<()> {
        admin::put_custom_instruction(&self.pool, instruction).await
    }

    async fn get_custom_instruction(
        &self,
        page_id: &str,
        locale: &str,
    ) -> StoreResult<Option<CustomInstruction>> {
        admin::get_custom_instruction(&self.pool, page_id, locale).await
    }

    async fn delete_custom_instruction(&self, page_id: &str, locale: &str) -> StoreResult<bool> {
        admin::delete_custom_instruction(&self.pool, page_id, locale).await
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        audit::append(&self.pool, events).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<(Vec<AuditEvent>, u64)> {
        audit::list(&self.pool, filter, page).await
    }
}
