//! Storage for passbroker. Only this crate talks SQL.
//!
//! [`Store`] is the one interface the rest of the program uses; [`sqlite::SqliteStore`] is
//! the embedded default, [`postgres::PostgresStore`] the shared database of several nodes.
//! Both are one implementation ([`sql::SqlStore`]) over two dialects, and pass the same
//! conformance suite (`tests/conformance`); [`copy`] moves a tenant from SQLite to PostgreSQL.

mod bulk;
pub mod capture;
pub mod copy;
pub mod event_store;
pub mod postgres;
pub mod recovery;
pub mod sql;
pub mod sqlite;
mod types;

pub use capture::{CapturePolicyFailure, CaptureReport, CaptureStore};
pub use event_store::{DeadLetter, EventStore, OutboxEvent, Subscription};
pub use recovery::{OutboundMail, RecoveryStore, ResetCode, TotpFactor};
pub use types::*;

use async_trait::async_trait;
use passbroker_core::account::Account;
use passbroker_core::audit::AuditEvent;
use passbroker_core::client::{ApiClient, PersonalAccessToken};
use passbroker_core::identity::Identity;
use passbroker_core::keys::{StoredRsaKey, StoredSigningKey};
use passbroker_core::org_config::OrgPasswordConfig;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::request::{PasswordChangeRequest, RequestState, TargetTask};
use passbroker_core::source::Source;
use passbroker_core::sync_group::PasswordSyncGroup;
use passbroker_core::time::Millis;
use passbroker_core::{
    AccountRef, IdentityId, PolicyId, PublicKeyId, RequestId, SourceId, SyncGroupId,
};
use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// A uniqueness or reference rule was broken; the text says which, for the caller to show.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The database holds a schema newer than this binary knows.
    #[error("the database schema is newer than this passbroker ({0}); upgrade passbroker or use another data dir")]
    SchemaTooNew(String),
    /// Stored data that does not parse back (corruption or a bug). Never shown to API callers.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database cannot be reached or cannot take writes right now (connection refused or
    /// lost, the server shutting down, a locked, read-only or full database file): the same
    /// call may succeed later. Classified from error codes, never from message text.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Another writer (another process) holds the database's write lock: the same call may
    /// succeed in a moment. Classified from SQLite's result code; callers treat it as
    /// [`StoreError::Unavailable`].
    #[error("the database is busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// True when trying the same call again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Busy(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An identity (by login name), a source (by name) and the identity's accounts on it.
pub type IdentitySourceAccounts = (Option<Identity>, Option<Source>, Vec<Account>);

/// What query-password-info reads, as one snapshot (see [`Store::password_info`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordInfoView {
    pub identity: Option<Identity>,
    pub source: Option<Source>,
    /// The identity's accounts on the source, by native id (disabled ones too).
    pub accounts: Vec<Account>,
    /// The source's effective policy (see [`Store::effective_policy`]); `None` when there
    /// is no policy at all.
    pub policy: Option<PasswordPolicy>,
}

/// One write in an atomic batch (see [`Store::apply`]).
#[derive(Debug, Clone)]
pub enum WriteOp {
    UpsertIdentity(Identity),
    DeleteIdentity(IdentityId),
    UpsertSource(Source),
    DeleteSource(SourceId),
    UpsertAccount(Account),
    DeleteAccount(AccountRef),
    /// Creates or replaces a policy; `source_ids` in it are moved to this policy.
    UpsertPolicy(PasswordPolicy),
    DeletePolicy(PolicyId),
    UpsertSyncGroup(PasswordSyncGroup),
    DeleteSyncGroup(SyncGroupId),
    UpsertClient(ApiClient),
    SetBuiltinCredential {
        identity_id: IdentityId,
        hash: String,
        now: Millis,
    },
    PutOrgConfig(OrgPasswordConfig),
    PutDictionary(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies every op in one transaction: all or nothing.
    async fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<()>;

    async fn ping(&self) -> StoreResult<()>;

    /// Closes the store when the program stops (SQLite checkpoints its WAL, PostgreSQL
    /// returns its connections). Nothing may use the store afterwards.
    async fn close(&self) {}

    /// Pushes erased data (ended requests' ciphertexts) out of any write-ahead log or free
    /// space that could still hold its old bytes. SQLite checkpoints and truncates its WAL
    /// (freed content is already zeroed by `secure_delete`); PostgreSQL has nothing to do here.
    async fn flush_erased(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Password recovery's storage (reset codes, the outbound mail queue).
    fn recovery(&self) -> &dyn RecoveryStore;

    /// Password capture's storage (agents' sources, echoes, agents' keys).
    fn capture(&self) -> &dyn CaptureStore;
    /// Events: the outbox, webhook subscriptions, dead letters.
    fn events(&self) -> &dyn EventStore;

    // Meta (small values such as the master-key check).
    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn set_meta(&self, key: &str, value: &[u8]) -> StoreResult<()>;

    // Identities.
    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>>;
    async fn find_identity_by_login(&self, login_name: &str) -> StoreResult<Option<Identity>>;
    async fn list_identities(&self, page: Page) -> StoreResult<(Vec<Identity>, u64)>;
    /// The identities with any of these login names (case-insensitively), in no particular
    /// order: one query for a bulk import's chunk of records.
    async fn find_identities_by_login(&self, login_names: &[String]) -> StoreResult<Vec<Identity>>;
    /// The identities with any of these ids, in no particular order.
    async fn get_identities(&self, ids: &[IdentityId]) -> StoreResult<Vec<Identity>>;

    // Sources.
    async fn get_source(&self, id: &SourceId) -> StoreResult<Option<Source>>;
    async fn find_source_by_name(&self, name: &str) -> StoreResult<Option<Source>>;
    async fn list_sources(&self, page: Page) -> StoreResult<(Vec<Source>, u64)>;

    // Accounts.
    async fn get_account(&self, id: &AccountRef) -> StoreResult<Option<Account>>;
    async fn find_account(
        &self,
        source_id: &SourceId,
        native_id: &str,
    ) -> StoreResult<Option<Account>>;
    /// The source's accounts with any of these native ids, in no particular order.
    async fn find_accounts(
        &self,
        source_id: &SourceId,
        native_ids: &[String],
    ) -> StoreResult<Vec<Account>>;
    /// The identity's accounts, on one source or on all.
    async fn accounts_of_identity(
        &self,
        identity_id: &IdentityId,
        source_id: Option<&SourceId>,
    ) -> StoreResult<Vec<Account>>;
    async fn list_accounts(&self, page: Page) -> StoreResult<(Vec<Account>, u64)>;

    // Policies; `source_ids` are filled from the sources that use each policy.
    async fn get_policy(&self, id: &PolicyId) -> StoreResult<Option<PasswordPolicy>>;
    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<PasswordPolicy>, u64)>;
    async fn default_policy(&self) -> StoreResult<Option<PasswordPolicy>>;
    async fn find_policy_by_name(&self, name: &str) -> StoreResult<Option<PasswordPolicy>>;

    // Sync groups.
    async fn get_sync_group(&self, id: &SyncGroupId) -> StoreResult<Option<PasswordSyncGroup>>;
    async fn list_sync_groups(&self, page: Page) -> StoreResult<(Vec<PasswordSyncGroup>, u64)>;
    /// The policy that governs a source: its sync group's, else its own, else the default
    /// (`None` when there is none at all). SQLite answers in one statement.
    async fn effective_policy(&self, source: &Source) -> StoreResult<Option<PasswordPolicy>> {
        if let Some(group) = self.sync_group_of_source(&source.id).await? {
            if let Some(p) = self.get_policy(&group.password_policy_id).await? {
                return Ok(Some(p));
            }
        }
        if let Some(id) = &source.password_policy_id {
            if let Some(p) = self.get_policy(id).await? {
                return Ok(Some(p));
            }
        }
        self.default_policy().await
    }
    /// query-password-info's look-ups: the identity by login name, the source by name, the
    /// identity's accounts on that source (by native id) and the source's effective policy,
    /// read as one snapshot.
    async fn password_info(
        &self,
        login_name: &str,
        source_name: &str,
    ) -> StoreResult<PasswordInfoView>;
    /// [`Store::password_info`] without the policy.
    async fn identity_source_accounts(
        &self,
        login_name: &str,
        source_name: &str,
    ) -> StoreResult<IdentitySourceAccounts> {
        let view = self.password_info(login_name, source_name).await?;
        Ok((view.identity, view.source, view.accounts))
    }
    async fn sync_group_of_source(
        &self,
        source_id: &SourceId,
    ) -> StoreResult<Option<PasswordSyncGroup>>;

    // Org config and dictionary.
    async fn get_org_config(&self) -> StoreResult<Option<OrgPasswordConfig>>;
    async fn get_dictionary(&self) -> StoreResult<Option<String>>;

    // OAuth clients and PATs.
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ApiClient>>;
    async fn list_clients(&self) -> StoreResult<Vec<ApiClient>>;
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    async fn insert_pat(&self, pat: &PersonalAccessToken) -> StoreResult<()>;
    async fn get_pat(&self, id: &str) -> StoreResult<Option<PersonalAccessToken>>;
    async fn list_pats(&self, owner: Option<&IdentityId>) -> StoreResult<Vec<PersonalAccessToken>>;
    async fn revoke_pat(&self, id: &str) -> StoreResult<bool>;
    async fn touch_pat(&self, id: &str, now: Millis) -> StoreResult<()>;

    // Authorization codes and refresh tokens (stored by hash).
    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Marks the code used and returns it, if it exists and was unused. A second call
    /// returns `Ok(None)`.
    async fn take_auth_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>>;
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// Revokes and returns the token if it is live (refresh tokens rotate on use).
    async fn take_refresh_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<RefreshToken>>;

    // Browser sessions of the Password Manager page (stored by hash).
    async fn insert_web_session(&self, session: &WebSession) -> StoreResult<()>;
    /// The session with this hash, whatever its age (the caller checks expiry).
    async fn get_web_session(&self, id_hash: &str) -> StoreResult<Option<WebSession>>;
    /// Records a use: `last_seen = now`.
    async fn touch_web_session(&self, id_hash: &str, now: Millis) -> StoreResult<()>;
    /// Ends a session (sign-out). True when there was one.
    async fn delete_web_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Deletes sessions whose absolute end is before `expired_before` or whose last use is
    /// before `idle_before`; returns how many.
    async fn purge_web_sessions(
        &self,
        expired_before: Millis,
        idle_before: Millis,
    ) -> StoreResult<u64>;

    // Built-in directory credentials and password history.
    async fn get_builtin_credential(&self, identity_id: &IdentityId)
        -> StoreResult<Option<String>>;
    async fn push_history(
        &self,
        account_ref: &AccountRef,
        hash: &str,
        keep: u32,
        now: Millis,
    ) -> StoreResult<()>;
    async fn history(&self, account_ref: &AccountRef, depth: u32) -> StoreResult<Vec<String>>;

    // Keys.
    async fn insert_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()>;
    async fn update_rsa_key(&self, key: &StoredRsaKey) -> StoreResult<()>;
    async fn get_rsa_key(&self, id: &PublicKeyId) -> StoreResult<Option<StoredRsaKey>>;
    async fn list_rsa_keys(&self) -> StoreResult<Vec<StoredRsaKey>>;
    /// Makes `new_key` the only active key; the previous active key becomes decrypt-only.
    async fn rotate_rsa_key(&self, new_key: &StoredRsaKey, now: Millis) -> StoreResult<()>;
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
    async fn update_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;

    /// Re-wraps every wrapped secret (RSA keys, signing keys, source secrets) with `rewrap`
    /// in one transaction; if `rewrap` fails for any, nothing changes. Returns how many.
    async fn rewrap_all(&self, rewrap: &RewrapFn<'_>) -> StoreResult<usize>;

    // Requests and the durable queue.
    /// Inserts a request and its tasks. If `request.idempotency_key` is already used by a
    /// request created after `idempotency_since`, nothing is inserted and that request's id
    /// is returned as `Existing`.
    async fn create_request(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
    ) -> StoreResult<CreateOutcome>;
    /// As [`Store::create_request`], and records `event` in the same transaction when the
    /// request is created. Requests submitted at the same time are committed together (one
    /// transaction, one commit for the group); each call returns once its group is durable,
    /// with its own outcome.
    async fn create_request_audited(
        &self,
        request: &PasswordChangeRequest,
        tasks: &[TargetTask],
        idempotency_since: Millis,
        event: &AuditEvent,
    ) -> StoreResult<CreateOutcome>;
    async fn get_request(&self, id: &RequestId) -> StoreResult<Option<PasswordChangeRequest>>;
    async fn tasks_of_request(&self, id: &RequestId) -> StoreResult<Vec<TargetTask>>;
    /// A request with its tasks (in order). SQLite answers in one statement.
    async fn request_with_tasks(
        &self,
        id: &RequestId,
    ) -> StoreResult<Option<(PasswordChangeRequest, Vec<TargetTask>)>> {
        match self.get_request(id).await? {
            Some(r) => Ok(Some((r, self.tasks_of_request(id).await?))),
            None => Ok(None),
        }
    }
    /// The task of the account's most recent password change (by request), if any.
    async fn last_change_of_account(
        &self,
        account_ref: &AccountRef,
    ) -> StoreResult<Option<LastChange>>;
    /// Leases the oldest due in-progress request whose lease has expired.
    async fn claim_request(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
    ) -> StoreResult<Option<PasswordChangeRequest>> {
        let claimed = self.claim_requests(owner, now, lease_ms, 1).await?;
        Ok(claimed.into_iter().next().map(|c| c.request))
    }
    /// Leases up to `limit` due in-progress requests whose lease has expired (oldest due
    /// first), with their tasks. Committed with other writes of the moment (group commit).
    async fn claim_requests(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Claimed>>;
    /// Marks the attempts of `tasks` as started (as [`Store::start_attempt`] does for one)
    /// and, with `validated`, that the request passed its policy: all only while `owner`
    /// holds the lease; false (nothing written) when it does not. Group-committed.
    async fn start_attempts(
        &self,
        request_id: &RequestId,
        owner: &str,
        validated: bool,
        tasks: &[TargetTask],
    ) -> StoreResult<bool>;
    /// Records what a worker's step did in one transaction, group-committed: its tasks, its
    /// audit events, and the request released or ended (see [`StepRecord`]).
    async fn record_step(&self, step: StepRecord) -> StoreResult<()>;
    /// Extends a lease this owner holds; false if the lease was lost.
    async fn renew_lease(&self, id: &RequestId, owner: &str, until: Millis) -> StoreResult<bool>;
    /// Stores a task as [`Store::record_step`] does (one that ended reports it, once; a task
    /// already ended is left as it is).
    async fn update_task(&self, task: &TargetTask) -> StoreResult<()> {
        self.record_step(StepRecord {
            request_id: task.request_id.clone(),
            owner: String::new(),
            tasks: vec![task.clone()],
            audit: Vec::new(),
            end: StepEnd::Continue,
        })
        .await
    }
    /// Marks an attempt as started before the target is called: stores `task.attempts` and
    /// `task.attempt_started`, but only while `owner` holds the request's lease and the
    /// request is in progress. False (nothing written) when the lease was lost: the caller
    /// must not call the target.
    async fn start_attempt(&self, task: &TargetTask, owner: &str) -> StoreResult<bool> {
        self.start_attempts(&task.request_id, owner, false, std::slice::from_ref(task))
            .await
    }
    async fn mark_validated(&self, id: &RequestId) -> StoreResult<()>;
    /// Gives the request back to the queue, due again at `next_attempt_at`.
    async fn release_request(
        &self,
        id: &RequestId,
        owner: &str,
        next_attempt_at: Millis,
    ) -> StoreResult<()> {
        self.record_step(StepRecord {
            request_id: id.clone(),
            owner: owner.to_owned(),
            tasks: Vec::new(),
            audit: Vec::new(),
            end: StepEnd::Release { next_attempt_at },
        })
        .await
    }
    /// Ends a request: sets the state and errors and erases the ciphertext, in one statement.
    async fn finish_request(
        &self,
        id: &RequestId,
        state: RequestState,
        errors: &[String],
        now: Millis,
    ) -> StoreResult<()> {
        let end = StepEnd::Finish {
            state,
            errors: errors.to_vec(),
            now,
        };
        self.record_step(StepRecord {
            request_id: id.clone(),
            owner: String::new(),
            tasks: Vec::new(),
            audit: Vec::new(),
            end,
        })
        .await
    }
    /// In-progress requests (the backlog).
    async fn count_in_progress(&self) -> StoreResult<u64>;
    async fn count_requests(&self, state: Option<RequestState>) -> StoreResult<u64>;

    // Filtered, paged lists for the admin APIs (ordered like the plain lists).
    async fn search_identities(
        &self,
        filter: &IdentityFilter,
        page: Page,
    ) -> StoreResult<(Vec<Identity>, u64)>;
    async fn search_accounts(
        &self,
        filter: &AccountFilter,
        page: Page,
    ) -> StoreResult<(Vec<Account>, u64)>;
    async fn search_sources(
        &self,
        filter: &SourceFilter,
        page: Page,
    ) -> StoreResult<(Vec<Source>, u64)>;

    // Digit tokens (password reset).
    async fn insert_digit_token(&self, token: &DigitToken) -> StoreResult<()>;
    /// The identity's live tokens: unused, not expired at `now`, and with fewer than
    /// `max_failures` failed redemption attempts. Newest first.
    async fn live_digit_tokens(
        &self,
        identity_id: &IdentityId,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<Vec<DigitToken>>;
    /// Marks a token used. True only for the one call that found it live (single use, even
    /// under concurrent redemptions).
    async fn consume_digit_token(&self, id: &str, now: Millis) -> StoreResult<bool>;
    /// Counts a failed redemption against every live token of the identity.
    async fn record_digit_token_failure(
        &self,
        identity_id: &IdentityId,
        now: Millis,
    ) -> StoreResult<()>;
    /// Deletes tokens that expired before `before`; returns how many.
    async fn purge_digit_tokens(&self, before: Millis) -> StoreResult<u64>;

    // Custom password instructions.
    async fn put_custom_instruction(&self, instruction: &CustomInstruction) -> StoreResult<()>;
    async fn get_custom_instruction(
        &self,
        page_id: &str,
        locale: &str,
    ) -> StoreResult<Option<CustomInstruction>>;
    /// True when there was one to delete.
    async fn delete_custom_instruction(&self, page_id: &str, locale: &str) -> StoreResult<bool>;

    // Audit.
    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()>;
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<(Vec<AuditEvent>, u64)>;
}
