//! Operator actions shared by the CLI and the API: creating API clients and PATs.

use passbroker_core::client::{ApiClient, PersonalAccessToken};
use passbroker_core::time::Millis;
use passbroker_core::IdentityId;
use zeroize::Zeroizing;

/// A new API client and its secret (shown once; only the argon2id hash is stored).
pub fn new_client(
    name: &str,
    scopes: Vec<String>,
    grant_types: Vec<String>,
    redirect_uris: Vec<String>,
    now: Millis,
) -> Result<(ApiClient, Zeroizing<String>), String> {
    let secret = Zeroizing::new(passbroker_crypto::random::random_token(32));
    let hash = passbroker_crypto::password_hash::hash(secret.as_bytes())?;
    let client = ApiClient {
        client_id: passbroker_core::ids::new_isc_id(),
        name: name.to_owned(),
        secret_hash: Some(hash),
        scopes,
        grant_types,
        redirect_uris,
        created: now,
        disabled: false,
    };
    Ok((client, secret))
}

/// A new personal access token for `owner` and its secret (shown once).
pub fn new_pat(
    owner: &IdentityId,
    name: &str,
    scopes: Vec<String>,
    now: Millis,
) -> Result<(PersonalAccessToken, Zeroizing<String>), String> {
    let secret = Zeroizing::new(passbroker_crypto::random::random_token(32));
    let hash = passbroker_crypto::password_hash::hash(secret.as_bytes())?;
    let pat = PersonalAccessToken {
        id: passbroker_core::ids::new_isc_id(),
        name: name.to_owned(),
        owner: owner.clone(),
        secret_hash: hash,
        scopes,
        created: now,
        last_used: None,
        revoked: false,
    };
    Ok((pat, secret))
}
