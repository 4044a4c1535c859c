//! Which policy applies to a source, and the parts of a policy check that need the store
//! (the dictionary), shared by query-password-info, the page and the workers.

use crate::pipeline::pipeline_error::{PipelineError, PipelineResult};
use passbroker_core::policy::dictionary::Dictionary;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::Source;
use passbroker_store::Store;

/// The policy that governs a change on `source`: its sync group's policy, else its own,
/// else the org default, else an empty policy. The one place that decides it (the store
/// answers the look-up in one statement).
pub async fn effective_policy(
    store: &dyn Store,
    source: &Source,
) -> PipelineResult<PasswordPolicy> {
    Ok(store.effective_policy(source).await?.unwrap_or_default())
}

/// How many earlier passwords of an account the policy remembers (0: none).
pub fn history_depth(policy: &PasswordPolicy) -> u32 {
    u32::try_from(policy.history_depth.max(0)).unwrap_or(0)
}

/// The org dictionary (empty when none was uploaded).
pub async fn dictionary(store: &dyn Store) -> PipelineResult<Dictionary> {
    match store.get_dictionary().await? {
        Some(text) => Dictionary::parse(text.as_bytes())
            .map_err(|_| PipelineError::internal("the stored dictionary does not parse")),
        None => Ok(Dictionary::empty()),
    }
}
