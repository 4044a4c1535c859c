//! The HTTP API: routes, extractors, error mapping, authentication, rate limits, sessions.

pub mod auth;
pub mod error;
pub mod mail_queue;
pub mod notify;
pub mod principal;
pub mod public;
pub mod ratelimit;
pub mod recovery_limits;
pub mod routes;
pub mod session;
pub mod state;
pub mod strong_authn;
pub mod tokens;
