//! The airlock server: the one long-running control plane. It owns identity
//! (users, keys, roles, policies), the audit log, the HTTPS API, the agents'
//! control channels, the session broker and its recordings, the web console,
//! and cluster stacks with their fleet on the local provider.
//!
//! State lives in one directory: an SQLite database and the CA.

pub mod api_error;
pub mod audit;
pub mod auth;
pub mod clusters;
pub mod console;
pub mod db;
pub mod http;
pub mod iam;
pub mod instances;
pub mod ops;
pub mod pki;
pub mod run;
pub mod sessions;
#[cfg(test)]
pub(crate) mod testing;
pub use airlock_proto::state_dir;

pub use airlock_proto::state_dir::DEFAULT_LISTEN;
pub use run::{ServerOptions, run};

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
