//! passbroker's domain: identifiers, identities, sources, accounts, password policies and
//! their evaluation, the password-change request state machine.
//!
//! This crate does no IO and has no async code. Values are parsed into validated newtypes at
//! the edges (`TryFrom`/`parse`) so that everything past the edge can trust them.

pub mod account;
pub mod audit;
pub mod client;
pub mod error;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod org_config;
pub mod password;
pub mod policy;
pub mod request;
pub mod source;
pub mod sync_group;
pub mod time;

pub use error::DomainError;
pub use ids::*;
pub use password::Password;
