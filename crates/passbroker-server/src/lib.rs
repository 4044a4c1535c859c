//! The passbroker HTTP service.
//!
//! - [`app`]: builds the [`state::AppState`] and serves it; tests start it on port 0.
//! - [`routes`]: every path form the SDKs use; [`error`] maps every failure to ISC's shapes.
//! - [`auth`]: token verification, rate limiting, and per-operation authorization.
//! - [`worker`]: the durable queue's workers; [`keyring`] and [`tokens`]: keys in the store.
//! - [`breach`]: the breached-password corpus (local index or upstream range API).

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod breach;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod error;
pub mod http_server;
pub mod import;
pub mod keyring;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod policies;
pub mod ratelimit;
pub mod recovery;
pub mod routes;
pub mod secrets;
pub mod session;
pub mod state;
pub mod strong_authn;
pub mod telemetry;
pub mod tenant;
pub mod tls;
pub mod tokens;
pub mod totp;
pub mod worker;
