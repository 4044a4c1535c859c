//! The password pipeline: the workers that drain the durable queue, the connectors
//! registry, policy resolution, the key ring and secrets, audit, the breach corpus.
//! Nothing here knows about HTTP.

pub mod audit;
pub mod breach;
pub mod capture;
pub mod clock;
pub mod connectors;
pub mod directory;
pub mod events;
pub mod intake;
pub mod keyring;
pub mod mail;
pub mod pipeline_error;
pub mod policy;
pub mod secrets;
pub mod totp;
pub mod worker;
