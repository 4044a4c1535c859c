//! `impl Store for SqlStore`: the trait's methods, each handed to its resource module.
//! Write transactions run [`detached`] so that a cancelled caller never leaves one half-way.

use super::{
    admin, auth, detached, directory as dir, group, keys, requests, Dialect, SqlStore, Transaction,
};
use crate::*;
use async_trait::async_trait;

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let d = self.d.clone();
        detached(async move {
            let mut tx = d.begin().await?;
            dir::apply_ops::<D>(&mut tx, ops).await?;
            tx.commit().await
        })
        .await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.d.fetch("SELECT 1", &[]).await.map(drop)
    }
    async fn close(&self) {
        self.d.close().await
    }
    async fn flush_erased(&self) -> StoreResult<()> {
        self.d.flush_erased().await
    }

    fn recovery(&self) -> &dyn RecoveryStore {
        self
    }
    fn events(&self) -> &dyn EventStore {
        self
    }

    fn capture(&self) -> &dyn CaptureStore {
        self
    }

    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        keys::get_meta(&self.d, key).await
    }
    async fn set_meta(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        keys::set_meta(&self.d, key, value).await
    }

    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>> {
        dir::get_identity(&self.d, id).await
    }
    async fn find_identity_by_login(&self, login_name: &str) -> StoreResult<Option<Identity>> {
        dir::find_identity_by_login(&self.d, login_name).await
    }
    async fn list_identities(&self, page: Page) -> StoreResult<(Vec<Identity>, u64)> {
        dir::list_identities(&self.d, page).await
    }
    async fn find_identities_by_login(&self, login_names: &[String]) -> StoreResult<Vec<Identity>> {
        dir::find_identities_by_login(&self.d, login_names).await
    }
    async fn get_identities(&self, ids: &[IdentityId]) -> StoreResult<Vec<Identity>> {
        dir::get_identities(&self.d, ids).await
    }

    async fn get_source(&self, id: &SourceId) -> StoreResult<Option<Source>> {
        dir::get_source(&self.d, id).await
    }
    async fn find_source_by_name(&self, name: &str) -> StoreResult<Option<Source>> {
        dir::find_source_by_name(&self.d, name).await
    }
    async fn list_sources(&self, page: Page) -> StoreResult<(Vec<Source>, u64)> {
        dir::list_sources(&self.d, page).await
    }

    async fn get_account(&self, id: &AccountRef) -> StoreResult<Option<Account>> {
        dir::get_account(&self.d, id).await
    }
    async fn find_account(
        &self,
        source_id: &SourceId,
        native_id: &str,
    ) -> StoreResult<Option<Account>> {
        dir::find_account(&self.d, source_id, native_id).await
    }
    async fn find_accounts(
        &self,
        source_id: &SourceId,
        native_ids: &[String],
    ) -> StoreResult<Vec<Account>> {
        dir::find_accounts(&self.d, source_id, native_ids).await
    }
    async fn accounts_of_identity(
        &self,
        identity_id: &IdentityId,
        source_id: Option<&SourceId>,
    ) -> StoreResult<Vec<Account>> {
        dir::accounts_of_identity(&self.d, identity_id, source_id).await
    }
    async fn list_accounts(&self, page: Page) -> StoreResult<(Vec<Account>, u64)> {
        dir::list_accounts(&self.d, page).await
    }

    async fn get_policy(&self, id: &PolicyId) -> StoreResult<Option<PasswordPolicy>> {
        dir::get_policy(&self.d, id).await
    }
    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<PasswordPolicy>, u64)> {
        dir::list_policies(&self.d, page).await
    }
    async fn default_policy(&self) -> StoreResult<Option<PasswordPolicy>> {
        dir::default_policy(&self.d).await
    }
    async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<PasswordPolicy>> {
        dir::find_policy_by_name(&self.d, name).await
    }

    async fn get_sync_group(&self, id: &SyncGroupId) -> StoreResult<Option<PasswordSyncGroup>> {
        dir::get_sync_group(&self.d, id).await
    }
    async fn list_sync_groups(&self, page: Page) -> StoreResult<(Vec<PasswordSyncGroup>, u64)> {
        dir::list_sync_groups(&self.d, page).await
    }
    async fn effective_policy(&self, source: &Source) -> StoreResult<Option<PasswordPolicy>> {
        dir::effective_policy(&self.d, source).await
    }
    async fn password_info(
        &self,
        login_name: &str,
        source_name: &str,
    ) -> StoreResult<PasswordInfoView> {
        dir::password_info(&self.d, login_name, source_name).await
    }
    async fn sync_group_of_source(
        &self,
        source_id: &SourceId,
    ) -> StoreResult<Option<PasswordSyncGroup>> {
        dir::sync_group_of_source(&self.d, source_id).await
    }

    async fn get_org_config(&self) -> StoreResult<Option<OrgPasswordConfig>> {
        dir::get_org_config(&self.d).await
    }
    async fn get_dictionary(&self) -> StoreResult<Option<String>> {
        dir::get_dictionary(&self.d).await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ApiClient>> {
        auth::get_client(&self.d, client_id).await
    }
    async fn list_clients(&self) -> StoreResult<Vec<ApiClient>> {
        auth::list_clients(&self.d).await
    }
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        auth::delete_client(&self.d, client_id).await
    }
    async fn insert_pat(&self, pat: &PersonalAccessToken) -> StoreResult<()> {
        auth::insert_pat(&self.d, pat).await
    }
    async fn get_pat(&self, id: &str) -> StoreResult<Option<PersonalAccessToken>> {
        auth::get_pat(&self.d, id).await
    }
    async fn list_pats(&self, owner: Option<&IdentityId>) -> StoreResult<Vec<PersonalAccessToken>> {
        auth::list_pats(&self.d, owner).await
    }
    async fn revoke_pat(&self, id: &str) -> StoreResult<bool> {
        auth::revoke_pat(&self.d, id).await
    }
    async fn touch_pat(&self, id: &str, now: Millis) -> StoreResult<()> {
        auth::touch_pat(&self.d, id, now).await
    }

    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()> {
        auth::insert_auth_code(&self.d, code).await
    }
    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>> {
        auth::take_auth_code(&self.d, code_hash).await
    }
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        auth::insert_refresh_token(&self.d, token).await
    }
    async fn take_refresh_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<RefreshToken>> {
        auth::take_refresh_token(&self.d, token_hash, now).await
    }

    async fn insert_web_session(&self, session: &WebSession) -> StoreResult<()> {
        auth::insert_session(&self.d, session).await
    }
    async fn get_web_session(&self, id_hash: &str) -> StoreResult<Option<WebSession>> {
        auth::get_session(&self.d, id_hash).await
    }
    async fn touch_web_session(&self, id_hash: &str, now: Millis) -> StoreResult<()> {
        auth::touch_session(&self.d, id_hash, now).await
    }
    async fn delete_web_session(&self, id_hash: &str) -> StoreResult<bool> {
        auth::delete_session(&self.d, id_hash).await
    }
    async fn purge_web_sessions(
        &self,
        expired_before: Millis,
        idle_before: Millis,
    ) -> StoreResult<u64> {
        auth::purge_sessions(&self.d, expired_before, idle_before).await
    }

    async fn get_builtin_credential(
        &self,
        identity_id: &IdentityId,
    ) -> StoreResult<Option<String>> {
        auth::get_builtin_credential(&self.d, identity_id).await
    }
    async fn push_history(
        &self,
        account_ref: &AccountRef,
        hash: &str,
        keep: u32,
        now: Millis,
    ) -> StoreResult<()> {
        let task = auth::push_history(
            self.d.clone(),
            account_ref.clone(),
            hash.to_owned(),
            keep,
            now,
        );
        detached(task).await
    }
    async fn history(&self, account_ref: &AccountRef, depth: u32) -> StoreResult<Vec<String>> {
        auth::history(&self.d, account_ref, depth).await
    }

    async fn insert_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()> {
        keys::put_rsa(&self.d, key).await
    }
    async fn update_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()> {
        keys::put_rsa(&self.d, key).await
    }
    async fn get_rsa_key(&self, id: &PublicKeyId) -> StoreResult<Option<StoredRsaKey>> {
        keys::get_rsa(&self.d, id).await
    }
    async fn list_rsa_keys(&self) -> StoreResult<Vec<StoredRsaKey>> {
        keys::list_rsa(&self.d).await
    }
    async fn rotate_rsa_key(&self, new_key: &StoredRsaKey, now: Millis) -> StoreResult<()> {
        detached(keys::rotate_rsa(self.d.clone(), new_key.clone(), now)).await?;
        self.events_written();
        Ok(())
    }
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        keys::put_signing(&self.d, key).await
    }
    async fn update_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        keys::put_signing(&self.d, key).await
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        keys::list_signing(&self.d).await
    }
    async fn rewrap_all(&self, rewrap: &RewrapFn<'_>) -> StoreResult<usize> {
        keys::rewrap_all(&self.d, rewrap).await
    }

    async fn create_request(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
    ) -> StoreResult<CreateOutcome> {
        self.create(request, tasks, idempotency_since, None).await
    }
    async fn create_request_audited(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
        event: &AuditEvent,
    ) -> StoreResult<CreateOutcome> {
        self.create(request, tasks, idempotency_since, Some(event.clone()))
            .await
    }
    async fn get_request(&self, id: &RequestId) -> StoreResult<Option<PasswordChangeRequest>> {
        requests::get_request(&self.d, id).await
    }
    async fn tasks_of_request(&self, id: &RequestId) -> StoreResult<Vec<TargetTask>> {
        requests::tasks_of_request(&self.d, id).await
    }
    async fn request_with_tasks(
        &self,
        id: &RequestId,
    ) -> StoreResult<Option<(PasswordChangeRequest, Vec<TargetTask>)>> {
        requests::request_with_tasks(&self.d, id).await
    }
    async fn last_change_of_account(
        &self,
        account_ref: &AccountRef,
    ) -> StoreResult<Option<LastChange>> {
        requests::last_change_of_account(&self.d, account_ref).await
    }
    async fn claim_requests(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Claimed>> {
        let work = group::Work::Claim {
            owner: owner.to_owned(),
            now,
            lease_ms,
            limit,
        };
        match self.group.submit(&self.d, work).await? {
            group::Done::Claimed(claimed) => Ok(claimed),
            _ => Err(StoreError::Database("a claim gave no requests".into())),
        }
    }
    async fn start_attempts(
        &self,
        request_id: &RequestId,
        owner: &str,
        validated: bool,
        tasks: &[TargetTask],
    ) -> StoreResult<bool> {
        let work = group::Work::Start {
            request_id: request_id.clone(),
            owner: owner.to_owned(),
            validated,
            tasks: tasks.to_vec(),
        };
        match self.group.submit(&self.d, work).await? {
            group::Done::Started(held) => Ok(held),
            _ => Err(StoreError::Database("a start gave no answer".into())),
        }
    }
    async fn record_step(&self, step: StepRecord) -> StoreResult<()> {
        self.group.submit(&self.d, group::Work::Step(step)).await?;
        self.events_written();
        Ok(())
    }
    async fn renew_lease(&self, id: &RequestId, owner: &str, until: Millis) -> StoreResult<bool> {
        requests::renew_lease(&self.d, id, owner, until).await
    }
    async fn mark_validated(&self, id: &RequestId) -> StoreResult<()> {
        requests::mark_validated(&self.d, id).await
    }
    async fn count_in_progress(&self) -> StoreResult<u64> {
        requests::count(&self.d, Some(RequestState::InProgress)).await
    }
    async fn count_requests(&self, state: Option<RequestState>) -> StoreResult<u64> {
        requests::count(&self.d, state).await
    }

    async fn search_identities(
        &self,
        filter: &IdentityFilter,
        page: Page,
    ) -> StoreResult<(Vec<Identity>, u64)> {
        admin::search_identities(&self.d, filter, page).await
    }
    async fn search_accounts(
        &self,
        filter: &AccountFilter,
        page: Page,
    ) -> StoreResult<(Vec<Account>, u64)> {
        admin::search_accounts(&self.d, filter, page).await
    }
    async fn search_sources(
        &self,
        filter: &SourceFilter,
        page: Page,
    ) -> StoreResult<(Vec<Source>, u64)> {
        admin::search_sources(&self.d, filter, page).await
    }

    async fn insert_digit_token(&self, token: &DigitToken) -> StoreResult<()> {
        admin::insert_digit_token(&self.d, token).await?;
        self.events_written();
        Ok(())
    }
    async fn live_digit_tokens(
        &self,
        identity_id: &IdentityId,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<Vec<DigitToken>> {
        admin::live_digit_tokens(&self.d, identity_id, now, max_failures).await
    }
    async fn consume_digit_token(&self, id: &str, now: Millis) -> StoreResult<bool> {
        let used = admin::consume_digit_token(&self.d, id, now).await?;
        if used {
            self.events_written();
        }
        Ok(used)
    }
    async fn record_digit_token_failure(
        &self,
        identity_id: &IdentityId,
        now: Millis,
    ) -> StoreResult<()> {
        admin::record_digit_token_failure(&self.d, identity_id, now).await
    }
    async fn purge_digit_tokens(&self, before: Millis) -> StoreResult<u64> {
        admin::purge_digit_tokens(&self.d, before).await
    }

    async fn put_custom_instruction(&self, instruction: &CustomInstruction) -> StoreResult<()> {
        admin::put_custom_instruction(&self.d, instruction).await
    }
    async fn get_custom_instruction(
        &self,
        page_id: &str,
        locale: &str,
    ) -> StoreResult<Option<CustomInstruction>> {
        admin::get_custom_instruction(&self.d, page_id, locale).await
    }
    async fn delete_custom_instruction(&self, page_id: &str, locale: &str) -> StoreResult<bool> {
        admin::delete_custom_instruction(&self.d, page_id, locale).await
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        admin::append_audit(&self.d, events).await
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<(Vec<AuditEvent>, u64)> {
        admin::list_audit(&self.d, filter, page).await
    }
}
