//! Password sync groups: a change on one member source goes to every member source.

use crate::time::Millis;
use crate::{PolicyId, SourceId, SyncGroupId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSyncGroup {
    pub id: SyncGroupId,
    pub name: String,
    pub password_policy_id: PolicyId,
    pub source_ids: Vec<SourceId>,
    pub created: Millis,
    pub modified: Millis,
}
