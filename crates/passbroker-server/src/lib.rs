//! The passbroker HTTP service, arranged by concern (ARCHITECTURE.md, "Code map"):
//!
//! - [`http`]: the HTTP API: [`http::routes`] (every path form the SDKs use),
//!   [`http::error`] (every failure in ISC's shapes), [`http::auth`] (token verification,
//!   rate limiting, per-operation authorization), the page's sessions.
//! - [`pipeline`]: the password pipeline: the durable queue's workers, connectors, policy
//!   resolution, the key ring, audit, the breach corpus.
//! - [`ops`]: operator tools: tenant files, bulk imports, the demo, credentials.
//! - the wiring: [`app`] builds the state and serves it (tests start it on port 0),
//!   [`http_server`] (the accept loop), [`config`], [`telemetry`], [`metrics`].
//!
//! Arrows run one way: `http` → `pipeline` → store / connectors / crypto; `ops` uses
//! `pipeline` and the store, never `http`.

pub mod app;
pub mod config;
pub mod http;
pub mod http_server;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod telemetry;
pub mod tls;
