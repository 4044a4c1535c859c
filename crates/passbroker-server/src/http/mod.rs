//! The HTTP API: routes, extractors, error mapping, authentication, rate limits, sessions.

pub mod auth;
pub mod error;
pub mod principal;
pub mod public;
pub mod ratelimit;
pub mod routes;
pub mod session;
pub mod state;
pub mod tokens;
