//! Black-box API tests: the real application on port 0, a fresh database per test.

mod helpers;
mod password_api;
mod builtin;
mod keys;
mod tenant;
mod connectors_e2e;
mod bad_input;
mod auth_table;
mod auth_tokens;
mod oauth_flows;
mod pats;
mod rate_limit;
mod admin_helpers;
mod admin_policies;
mod admin_sync_groups;
mod admin_dictionary;
mod digit_tokens;
mod admin_sources;
mod admin_directory;
mod two_node;
