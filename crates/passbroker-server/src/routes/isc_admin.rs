//! ISC's password administration APIs (policies, sync groups, dictionary, org config, digit
//! tokens, sources, identities). Each family lives in its own module and is mounted here.

use crate::state::AppState;
use axum::Router;

/// Routes of the administration APIs, on every path form ISC's OpenAPI lists.
pub fn routes() -> Router<AppState> {
    Router::new()
}
