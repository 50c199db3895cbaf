//! The node agent: holds the node's identity (an mTLS certificate bound to
//! its instance id), dials the server outbound, registers, heartbeats, and
//! reports its state for `airlock agent status`. It listens on no port.

pub mod authorized_keys;
pub mod control;
pub mod identity;
pub mod node_config;
pub mod register;
pub mod status;

/// This agent's version, reported to the server.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod session;
pub mod worker;
