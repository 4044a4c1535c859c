//! Black-box API tests: the real application on port 0, a fresh database per test.

mod admin_dictionary;
mod admin_directory;
mod admin_helpers;
mod admin_policies;
mod admin_sources;
mod admin_sync_groups;
mod auth_table;
mod auth_tokens;
mod bad_input;
mod breach;
mod builtin;
mod connectors_e2e;
mod digit_tokens;
mod hardening_auth;
mod hardening_bounds;
mod hardening_conn;
mod helpers;
mod keys;
mod oauth_flows;
mod outage;
mod page;
mod password_api;
mod pats;
mod rate_limit;
mod tenant;
mod two_node;
