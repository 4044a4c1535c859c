//! Storage for password recovery: emailed reset codes, the outbound mail queue, and the help
//! desk's view of a person's digit tokens. A trait of its own ([`RecoveryStore`], reached
//! through [`crate::Store::recovery`]) so the rest of the store is untouched by it.

use crate::{DigitToken, StoreResult};
use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;

/// One "forgot password" flow. Stored for unknown users too (then `identity_id` is `None`
/// and the code was never sent), so starting a flow costs the same either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetCode {
    /// SHA-256 (hex) of the flow's random token; the browser holds the token.
    pub id_hash: String,
    pub identity_id: Option<IdentityId>,
    /// SHA-256 (hex) of the lower-cased user name the flow was started for.
    pub user_hash: String,
    /// SHA-256 over the flow's token and the code.
    pub code_hash: Vec<u8>,
    pub created: Millis,
    pub expires: Millis,
    pub used: Option<Millis>,
    pub failed_attempts: u32,
}

/// A message in the outbound queue: `wrapped` holds recipient, subject and text under the
/// master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMail {
    pub id: String,
    pub wrapped: Vec<u8>,
    pub created: Millis,
    pub next_attempt_at: Millis,
    pub attempts: u32,
}

/// A person's authenticator (TOTP): the secret wrapped under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub identity_id: IdentityId,
    pub wrapped_secret: Vec<u8>,
    pub created: Millis,
    /// `None` until the person proved a first code.
    pub confirmed: Option<Millis>,
    /// The last 30-second step accepted (a code is never accepted twice).
    pub last_step: i64,
}

#[async_trait]
pub trait RecoveryStore: Send + Sync {
    /// Replaces the identity's authenticator (unconfirmed) and its recovery codes.
    async fn put_totp(
        &self,
        factor: &TotpFactor,
        recovery_code_hashes: &[String],
    ) -> StoreResult<()>;
    async fn get_totp(&self, identity_id: &IdentityId) -> StoreResult<Option<TotpFactor>>;
    /// Accepts `step` for the identity's authenticator (confirming it when `confirm`): true
    /// only when the step is later than the last accepted one (one use per code, even
    /// under concurrent calls).
    async fn accept_totp_step(
        &self,
        identity_id: &IdentityId,
        step: i64,
        confirm: Option<Millis>,
    ) -> StoreResult<bool>;
    /// Uses up a recovery code; true for the one call that found it unused.
    async fn use_totp_recovery_code(
        &self,
        identity_id: &IdentityId,
        code_hash: &str,
        now: Millis,
    ) -> StoreResult<bool>;
    async fn delete_totp(&self, identity_id: &IdentityId) -> StoreResult<()>;
    /// Records that a page session passed strong authentication at `now`.
    async fn mark_session_verified(&self, id_hash: &str, now: Millis) -> StoreResult<()>;
    async fn session_verified(&self, id_hash: &str) -> StoreResult<Option<Millis>>;

    async fn insert_reset_code(&self, code: &ResetCode) -> StoreResult<()>;
    async fn get_reset_code(&self, id_hash: &str) -> StoreResult<Option<ResetCode>>;
    /// Counts a wrong code against the flow.
    async fn record_reset_code_failure(&self, id_hash: &str) -> StoreResult<()>;
    /// Marks the code used. True only for the one call that found it unused, unexpired and
    /// with fewer than `max_failures` wrong guesses.
    async fn consume_reset_code(
        &self,
        id_hash: &str,
        now: Millis,
        max_failures: u32,
    ) -> StoreResult<bool>;
    /// Deletes flows that expired before `before`; returns how many.
    async fn purge_reset_codes(&self, before: Millis) -> StoreResult<u64>;

    async fn enqueue_mail(&self, mail: &OutboundMail) -> StoreResult<()>;
    /// Leases up to `limit` due messages (oldest first) until `lease_until`: another sender
    /// (another node) does not take them before then.
    async fn claim_mail(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> StoreResult<Vec<OutboundMail>>;
    /// Removes a message (sent, dropped, or given up on).
    async fn delete_mail(&self, id: &str) -> StoreResult<()>;
    /// Records a failed attempt; the message is due again at `next_attempt_at`.
    async fn retry_mail(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> StoreResult<()>;
    /// Messages still waiting (for tests and metrics).
    async fn count_mail(&self) -> StoreResult<u64>;

    /// The identity's digit tokens, newest first (the help desk's view of its resets).
    async fn digit_tokens_of(
        &self,
        identity_id: &IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<DigitToken>>;
}
