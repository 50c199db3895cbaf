//! What the airlock server, its agents and its clients say to each other,
//! defined once for every side: the control-channel messages (`control`),
//! registration (`registration`), a cluster node's configuration
//! (`node_config`),
//! the API's error body and codes (`error`), the request-signature scheme
//! (`signature`), the client's profile files (`profile`) and the files by
//! which a local server announces itself (`state_dir`).
//!
//! No network I/O and no tokio; `profile` and `state_dir` read and write
//! files.

#![forbid(unsafe_code)]

pub mod control;
pub mod error;
pub mod node_config;
pub mod profile;
pub mod registration;
pub mod signature;
pub mod state_dir;

pub use error::{ErrorBody, ErrorCode};
