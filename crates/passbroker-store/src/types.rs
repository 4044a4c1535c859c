//! Small value types of the storage interface.

use passbroker_core::time::Millis;
use passbroker_core::{IdentityId, RequestId};

/// Offset/limit paging as ISC does it (`limit` ≤ 250).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
}

impl Page {
    pub const MAX_LIMIT: u64 = 250;
    pub fn new(offset: u64, limit: u64) -> Self {
        Self {
            offset,
            limit: limit.min(Self::MAX_LIMIT),
        }
    }
    /// Everything, for internal callers (exports) that stream through all rows.
    pub fn all() -> Self {
        Self {
            offset: 0,
            limit: i64::MAX as u64,
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: Self::MAX_LIMIT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    Existing(RequestId),
}

/// Which kind of wrapped secret a re-wrap callback receives (the AEAD's associated data
/// differs per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappedKind {
    RsaKey,
    SigningKey,
    SourceSecrets,
    Meta,
    /// A message of the outbound mail queue.
    OutboundMail,
    /// A person's TOTP secret.
    TotpSecret,
    /// A webhook subscription's signing secrets and receiver credentials.
    EventSubscription,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub request_id: Option<String>,
    pub identity_id: Option<String>,
    pub action: Option<String>,
}

/// A one-time authorization code (stored by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub identity_id: IdentityId,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub expires: Millis,
}

/// A refresh token for a user session (stored by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub client_id: String,
    pub identity_id: IdentityId,
    pub scopes: Vec<String>,
    pub expires: Millis,
}

/// The callback of [`crate::Store::rewrap_all`]: old wrapped bytes in, new wrapped bytes out.
pub type RewrapFn<'f> =
    dyn for<'a> Fn(WrappedKind, &'a [u8]) -> Result<Vec<u8>, String> + Send + Sync + 'f;

/// A one-time digit token for a password reset. Only `hash` = SHA-256(salt ‖ token) is
/// stored; the token itself is shown once, to the caller that generated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitToken {
    pub id: String,
    pub identity_id: IdentityId,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
    pub created: Millis,
    pub expires: Millis,
    pub used: Option<Millis>,
    pub failed_attempts: u32,
    /// Who asked for it (`client:<id>` or `identity:<id>`), for the audit trail.
    pub created_by: String,
}

/// Custom text shown on one login or password-recovery page, for one locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomInstruction {
    pub page_id: String,
    pub locale: String,
    pub content: String,
    pub modified: Millis,
}

/// How a list filter compares one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Eq(String),
    StartsWith(String),
    In(Vec<String>),
}

/// Filters of [`crate::Store::search_identities`]; absent fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityFilter {
    pub id: Option<Match>,
    /// The login name (case-insensitive).
    pub name: Option<Match>,
    pub email: Option<Match>,
}

/// Filters of [`crate::Store::search_accounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub id: Option<Match>,
    pub identity_id: Option<Match>,
    pub source_id: Option<Match>,
    /// The native account id (ISC `nativeIdentity` / `accountId`).
    pub native_id: Option<Match>,
    pub name: Option<Match>,
}

/// Filters of [`crate::Store::search_sources`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFilter {
    pub id: Option<Match>,
    pub name: Option<Match>,
}

/// A first-party browser session of the Password Manager page. Only `id_hash` (SHA-256 of
/// the cookie's random token, hex) is stored: a copy of the database signs nobody in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id_hash: String,
    pub identity_id: IdentityId,
    pub created: Millis,
    /// Last use (the idle timeout counts from here).
    pub last_seen: Millis,
    /// Absolute end, whatever the use.
    pub expires: Millis,
}

/// The task of an account's most recent password change, with the time it was requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastChange {
    pub task: passbroker_core::request::TargetTask,
    pub requested: Millis,
}

/// A request a worker claimed, with its tasks (see [`crate::Store::claim_requests`]).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub request: passbroker_core::request::PasswordChangeRequest,
    pub tasks: Vec<passbroker_core::request::TargetTask>,
}

/// How a worker's step leaves its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEnd {
    /// Still held: the step records outcomes while other calls of it are out.
    Continue,
    /// Given back (by its lease holder), due again at this time.
    Release { next_attempt_at: Millis },
    /// Ended; the ciphertext is erased in the same statement.
    Finish {
        state: passbroker_core::request::RequestState,
        errors: Vec<String>,
        now: Millis,
    },
}

/// What a worker's step did, recorded in one transaction (see [`crate::Store::record_step`]).
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub request_id: RequestId,
    /// The lease holder (a release by anyone else changes nothing).
    pub owner: String,
    /// The tasks the step changed. A task that ends is stored (and reports its end) only if
    /// it was still pending: an end is never recorded twice.
    pub tasks: Vec<passbroker_core::request::TargetTask>,
    pub audit: Vec<passbroker_core::audit::AuditEvent>,
    pub end: StepEnd,
}
