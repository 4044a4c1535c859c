//! `Arc<S>` is a store when `S` is: shared handles (`Arc<dyn Store>`) can go wherever a
//! store is expected, e.g. `Arc::new(store_handle)` as an `Arc<dyn Store>`.

use crate::*;
use async_trait::async_trait;
use std::sync::Arc;

#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    async fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        (**self).apply(ops).await
    }
    async fn ping(&self) -> StoreResult<()> {
        (**self).ping().await
    }
    async fn close(&self) {
        (**self).close().await
    }
    async fn flush_erased(&self) -> StoreResult<()> {
        (**self).flush_erased().await
    }
    fn recovery(&self) -> &dyn RecoveryStore {
        (**self).recovery()
    }
    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        (**self).get_meta(key).await
    }
    async fn set_meta(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        (**self).set_meta(key, value).await
    }
    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>> {
        (**self).get_identity(id).await
    }
    async fn find_identity_by_login(&self, login_name: &str) -> StoreResult<Option<Identity>> {
        (**self).find_identity_by_login(login_name).await
    }
    async fn list_identities(&self, page: Page) -> StoreResult<(Vec<Identity>, u64)> {
        (**self).list_identities(page).await
    }
    async fn get_source(&self, id: &SourceId) -> StoreResult<Option<Source>> {
        (**self).get_source(id).await
    }
    async fn find_source_by_name(&self, name: &str) -> StoreResult<Option<Source>> {
        (**self).find_source_by_name(name).await
    }
    async fn list_sources(&self, page: Page) -> StoreResult<(Vec<Source>, u64)> {
        (**self).list_sources(page).await
    }
    async fn find_identities_by_login(&self, login_names: &[String]) -> StoreResult<Vec<Identity>> {
        (**self).find_identities_by_login(login_names).await
    }
    async fn get_identities(&self, ids: &[IdentityId]) -> StoreResult<Vec<Identity>> {
        (**self).get_identities(ids).await
    }
    async fn find_accounts(
        &self,
        source_id: &SourceId,
        native_ids: &[String],
    ) -> StoreResult<Vec<Account>> {
        (**self).find_accounts(source_id, native_ids).await
    }
    async fn effective_policy(&self, source: &Source) -> StoreResult<Option<PasswordPolicy>> {
        (**self).effective_policy(source).await
    }
    async fn identity_source_accounts(
        &self,
        login_name: &str,
        source_name: &str,
    ) -> StoreResult<IdentitySourceAccounts> {
        (**self)
            .identity_source_accounts(login_name, source_name)
            .await
    }
    async fn request_with_tasks(
        &self,
        id: &RequestId,
    ) -> StoreResult<Option<(PasswordChangeRequest, Vec<TargetTask>)>> {
        (**self).request_with_tasks(id).await
    }
    async fn get_account(&self, id: &AccountRef) -> StoreResult<Option<Account>> {
        (**self).get_account(id).await
    }
    async fn find_account(
        &self,
        source_id: &SourceId,
        native_id: &str,
    ) -> StoreResult<Option<Account>> {
        (**self).find_account(source_id, native_id).await
    }
    async fn accounts_of_identity(
        &self,
        identity_id: &IdentityId,
        source_id: Option<&SourceId>,
    ) -> StoreResult<Vec<Account>> {
        (**self).accounts_of_identity(identity_id, source_id).await
    }
    async fn list_accounts(&self, page: Page) -> StoreResult<(Vec<Account>, u64)> {
        (**self).list_accounts(page).await
    }
    async fn get_policy(&self, id: &PolicyId) -> StoreResult<Option<PasswordPolicy>> {
        (**self).get_policy(id).await
    }
    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<PasswordPolicy>, u64)> {
        (**self).list_policies(page).await
    }
    async fn default_policy(&self) -> StoreResult<Option<PasswordPolicy>> {
        (**self).default_policy().await
    }
    async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<PasswordPolicy>> {
        (**self).find_policy_by_name(name).await
    }
    async fn get_sync_group(&self, id: &SyncGroupId) -> StoreResult<Option<PasswordSyncGroup>> {
        (**self).get_sync_group(id).await
    }
    async fn list_sync_groups(&self, page: Page) -> StoreResult<(Vec<PasswordSyncGroup>, u64)> {
        (**self).list_sync_groups(page).await
    }
    async fn sync_group_of_source(
        &self,
        source_id: &SourceId,
    ) -> StoreResult<Option<PasswordSyncGroup>> {
        (**self).sync_group_of_source(source_id).await
    }
    async fn get_org_config(&self) -> StoreResult<Option<OrgPasswordConfig>> {
        (**self).get_org_config().await
    }
    async fn get_dictionary(&self) -> StoreResult<Option<String>> {
        (**self).get_dictionary().await
    }
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ApiClient>> {
        (**self).get_client(client_id).await
    }
    async fn list_clients(&self) -> StoreResult<Vec<ApiClient>> {
        (**self).list_clients().await
    }
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        (**self).delete_client(client_id).await
    }
    async fn insert_pat(&self, pat: &PersonalAccessToken) -> StoreResult<()> {
        (**self).insert_pat(pat).await
    }
    async fn get_pat(&self, id: &str) -> StoreResult<Option<PersonalAccessToken>> {
        (**self).get_pat(id).await
    }
    async fn list_pats(&self, owner: Option<&IdentityId>) -> StoreResult<Vec<PersonalAccessToken>> {
        (**self).list_pats(owner).await
    }
    async fn revoke_pat(&self, id: &str) -> StoreResult<bool> {
        (**self).revoke_pat(id).await
    }
    async fn touch_pat(&self, id: &str, now: Millis) -> StoreResult<()> {
        (**self).touch_pat(id, now).await
    }
    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()> {
        (**self).insert_auth_code(code).await
    }
    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>> {
        (**self).take_auth_code(code_hash).await
    }
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        (**self).insert_refresh_token(token).await
    }
    async fn take_refresh_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<RefreshToken>> {
        (**self).take_refresh_token(token_hash, now).await
    }
    async fn get_builtin_credential(
        &self,
        identity_id: &IdentityId,
    ) -> StoreResult<Option<String>> {
        (**self).get_builtin_credential(identity_id).await
    }
    async fn push_history(
        &self,
        account_ref: &AccountRef,
        hash: &str,
        keep: u32,
        now: Millis,
    ) -> StoreResult<()> {
        (**self).push_history(account_ref, hash, keep, now).await
    }
    async fn history(&self, account_ref: &AccountRef, depth: u32) -> StoreResult<Vec<String>> {
        (**self).history(account_ref, depth).await
    }
    async fn insert_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()> {
        (**self).insert_rsa_key(key).await
    }
    async fn update_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()> {
        (**self).update_rsa_key(key).await
    }
    async fn get_rsa_key(&self, id: &PublicKeyId) -> StoreResult<Option<StoredRsaKey>> {
        (**self).get_rsa_key(id).await
    }
    async fn list_rsa_keys(&self) -> StoreResult<Vec<StoredRsaKey>> {
        (**self).list_rsa_keys().await
    }
    async fn rotate_rsa_key(&self, new_key: &StoredRsaKey, now: Millis) -> StoreResult<()> {
        (**self).rotate_rsa_key(new_key, now).await
    }
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        (**self).insert_signing_key(key).await
    }
    async fn update_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        (**self).update_signing_key(key).await
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        (**self).list_signing_keys().await
    }
    async fn rewrap_all(&self, rewrap: &RewrapFn<'_>) -> StoreResult<usize> {
        (**self).rewrap_all(rewrap).await
    }
    async fn create_request(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
    ) -> StoreResult<CreateOutcome> {
        (**self)
            .create_request(request, tasks, idempotency_since)
            .await
    }
    async fn get_request(&self, id: &RequestId) -> StoreResult<Option<PasswordChangeRequest>> {
        (**self).get_request(id).await
    }
    async fn tasks_of_request(&self, id: &RequestId) -> StoreResult<Vec<TargetTask>> {
        (**self).tasks_of_request(id).await
    }
    async fn claim_request(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
    ) -> StoreResult<Option<PasswordChangeRequest>> {
        (**self).claim_request(owner, now, lease_ms).await
    }
    async fn renew_lease(&self, id: &RequestId, owner: &str, until: Millis) -> StoreResult<bool> {
        (**self).renew_lease(id, owner, until).await
    }
    async fn update_task(&self, task: &TargetTask) -> StoreResult<()> {
        (**self).update_task(task).await
    }
    async fn start_attempt(&self, task: &TargetTask, owner: &str) -> StoreResult<bool> {
        (**self).start_attempt(task, owner).await
    }
    async fn mark_validated(&self, id: &RequestId) -> StoreResult<()> {
        (**self).mark_validated(id).await
    }
    async fn release_request(
        &self,
        id: &RequestId,
        owner: &str,
        next_attempt_at: Millis,
    ) -> StoreResult<()> {
        (**self).release_request(id, owner, next_attempt_at).await
    }
    async fn finish_request(
        &self,
        id: &RequestId,
        state: RequestState,
        errors: &[String],
        now: Millis,
    ) -> StoreResult<()> {
        (**self).finish_request(id, state, errors, now).await
    }
    async fn count_in_progress(&self) -> StoreResult<u64> {
        (**self).count_in_progress().await
    }
    async fn count_requests(&self, state: Option<RequestState>) -> StoreResult<u64> {
        (**self).count_requests(state).await
    }
    async fn search_identities(
        &self,
        filter: &IdentityFilter,
        page: Page,
    ) -> StoreResult<(Vec<Identity>, u64)> {
        (**self).search_identities(filter, page).await
    }
    async fn search_accounts(
        &self,
        filter: &AccountFilter,
        page: Page,
    ) -> StoreResult<(Vec<Account>, u64)> {
        (**self).search_accounts(filter, page).await
    }
    async fn search_sources(
        &self,
        filter: &SourceFilter,
        page: Page,
    ) -> StoreResult<(Vec<Source>, u64)> {
        (**self).search_sources(filter, page).await
    }
    async fn insert_digit_token(&self, token: &DigitToken) -> StoreResult<()> {
        (**self).insert_digit_token(token).await
    }
    async fn live_digit_tokens(
        &self,
        identity_id: &IdentityId,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<Vec<DigitToken>> {
        (**self)
            .live_digit_tokens(identity_id, now, max_failures)
            .await
    }
    async fn consume_digit_token(&self, id: &str, now: Millis) -> StoreResult<bool> {
        (**self).consume_digit_token(id, now).await
    }
    async fn record_digit_token_failure(
        &self,
        identity_id: &IdentityId,
        now: Millis,
    ) -> StoreResult<()> {
        (**self).record_digit_token_failure(identity_id, now).await
    }
    async fn purge_digit_tokens(&self, before: Millis) -> StoreResult<u64> {
        (**self).purge_digit_tokens(before).await
    }
    async fn put_custom_instruction(&self, instruction: &CustomInstruction) -> StoreResult<()> {
        (**self).put_custom_instruction(instruction).await
    }
    async fn get_custom_instruction(
        &self,
        page_id: &str,
        locale: &str,
    ) -> StoreResult<Option<CustomInstruction>> {
        (**self).get_custom_instruction(page_id, locale).await
    }
    async fn delete_custom_instruction(&self, page_id: &str, locale: &str) -> StoreResult<bool> {
        (**self).delete_custom_instruction(page_id, locale).await
    }
    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        (**self).append_audit(events).await
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<(Vec<AuditEvent>, u64)> {
        (**self).list_audit(filter, page).await
    }
    async fn insert_web_session(&self, session: &WebSession) -> StoreResult<()> {
        (**self).insert_web_session(session).await
    }
    async fn get_web_session(&self, id_hash: &str) -> StoreResult<Option<WebSession>> {
        (**self).get_web_session(id_hash).await
    }
    async fn touch_web_session(&self, id_hash: &str, now: Millis) -> StoreResult<()> {
        (**self).touch_web_session(id_hash, now).await
    }
    async fn delete_web_session(&self, id_hash: &str) -> StoreResult<bool> {
        (**self).delete_web_session(id_hash).await
    }
    async fn purge_web_sessions(
        &self,
        expired_before: Millis,
        idle_before: Millis,
    ) -> StoreResult<u64> {
        (**self)
            .purge_web_sessions(expired_before, idle_before)
            .await
    }
    async fn last_change_of_account(
        &self,
        account_ref: &AccountRef,
    ) -> StoreResult<Option<LastChange>> {
        (**self).last_change_of_account(account_ref).await
    }
}
