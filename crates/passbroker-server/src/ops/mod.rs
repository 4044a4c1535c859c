//! Operator tools: declarative tenant files, bulk imports, the demo tenant, and the
//! credentials (API clients, PATs) the CLI and the API create.

pub mod credentials;
pub mod demo;
pub mod import;
pub mod tenant;
