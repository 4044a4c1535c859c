//! Storage for password capture: which sources an agent (an API client) may report changes
//! for, each sync group's choice when a captured password fails its policy, the recent
//! passwords passbroker itself set (as keyed MACs, for loop suppression), and agents' own
//! keys for the changes they reported. A trait of its own ([`CaptureStore`], reached through
//! [`crate::Store::capture`]) so the rest of the store is untouched by it.

use crate::StoreResult;
use async_trait::async_trait;
use passbroker_core::time::Millis;
use passbroker_core::{AccountRef, RequestId, SourceId, SyncGroupId};

/// What a captured password that fails its sync group's policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapturePolicyFailure {
    /// It goes nowhere; the request fails naming the rules.
    #[default]
    Hold,
    /// It goes to the other sources anyway; the status and the audit name the rules.
    Propagate,
}

impl CapturePolicyFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            CapturePolicyFailure::Hold => "hold",
            CapturePolicyFailure::Propagate => "propagate",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hold" => Some(CapturePolicyFailure::Hold),
            "propagate" => Some(CapturePolicyFailure::Propagate),
            _ => None,
        }
    }
}

#[async_trait]
pub trait CaptureStore: Send + Sync {
    /// Replaces the sources an API client may report captured changes for.
    async fn set_capture_sources(&self, client_id: &str, sources: &[SourceId]) -> StoreResult<()>;
    async fn capture_sources(&self, client_id: &str) -> StoreResult<Vec<SourceId>>;
    /// Whether any API client may report captured changes for this source (then the
    /// passwords passbroker sets on its accounts are remembered, for loop suppression).
    async fn is_capture_origin(&self, source: &SourceId) -> StoreResult<bool>;

    /// Sets a sync group's choice for captured passwords that fail its policy.
    async fn set_capture_policy_failure(
        &self,
        group: &SyncGroupId,
        mode: CapturePolicyFailure,
    ) -> StoreResult<()>;
    /// The group's choice (the default, `Hold`, when none was set).
    async fn capture_policy_failure(
        &self,
        group: &SyncGroupId,
    ) -> StoreResult<CapturePolicyFailure>;

    /// Records that `request` is setting the password whose MAC is `mac` on `account`, and
    /// deletes echo records older than `expired_before`.
    async fn record_echo(
        &self,
        account: &AccountRef,
        mac: &[u8],
        request: &RequestId,
        now: Millis,
        expired_before: Millis,
    ) -> StoreResult<()>;
    /// The request that set the password with this MAC on `account` since `since`, if any.
    async fn find_echo(
        &self,
        account: &AccountRef,
        mac: &[u8],
        since: Millis,
    ) -> StoreResult<Option<RequestId>>;

    /// The request an agent's key (per API client) was given since `since`, if any.
    async fn find_capture_report(
        &self,
        client_id: &str,
        agent_key: &str,
        since: Millis,
    ) -> StoreResult<Option<RequestId>>;
    /// The rules a propagated captured password failed (see [`CapturePolicyFailure`]).
    async fn set_capture_notes(&self, request: &RequestId, notes: &[String]) -> StoreResult<()>;
    async fn capture_notes(&self, request: &RequestId) -> StoreResult<Vec<String>>;

    /// Records an agent's key for a request (replacing an older use of the key), deletes
    /// records older than `expired_before`, and writes the `capture.received` event, in one
    /// transaction.
    async fn record_capture_report(
        &self,
        report: &CaptureReport<'_>,
        now: Millis,
        expired_before: Millis,
    ) -> StoreResult<()>;
    /// Writes the `capture.echo_dropped` event: an agent reported the password passbroker set
    /// itself (by request `report.request`).
    async fn record_capture_echo(&self, report: &CaptureReport<'_>, now: Millis)
        -> StoreResult<()>;
}

/// An agent's report, as its events describe it (ids only).
#[derive(Debug, Clone, Copy)]
pub struct CaptureReport<'a> {
    /// The API client of the agent.
    pub client_id: &'a str,
    /// The agent's key for the change.
    pub agent_key: &'a str,
    /// The request that carries the change (for an echo: the request that set it).
    pub request: &'a RequestId,
    /// The origin account.
    pub account: &'a AccountRef,
    pub source: &'a SourceId,
    pub identity: &'a passbroker_core::IdentityId,
    /// `QUEUED`, `DUPLICATE` or `ECHO`.
    pub disposition: &'a str,
}
