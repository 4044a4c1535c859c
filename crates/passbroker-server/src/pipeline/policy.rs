//! Which policy applies to a source, and the checks that need the store (dictionary,
//! history), shared by query-password-info and the workers.

use crate::http::error::ApiError;
use passbroker_core::policy::dictionary::Dictionary;
use passbroker_core::policy::PasswordPolicy;
use passbroker_core::source::Source;
use passbroker_store::Store;

/// The policy that governs a change on `source`: its sync group's policy, else its own,
/// else the org default, else an empty policy.
pub async fn effective_policy(
    store: &dyn Store,
    source: &Source,
) -> Result<PasswordPolicy, ApiError> {
    Ok(store.effective_policy(source).await?.unwrap_or_default())
}

/// The org dictionary (empty when none was uploaded).
pub async fn dictionary(store: &dyn Store) -> Result<Dictionary, ApiError> {
    match store.get_dictionary().await? {
        Some(text) => Dictionary::parse(text.as_bytes())
            .map_err(|_| ApiError::internal("the stored dictionary does not parse")),
        None => Ok(Dictionary::empty()),
    }
}
