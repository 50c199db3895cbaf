//! The connection layer every side shares: dialling the server (TLS,
//! `HTTPS_PROXY`, the HTTP upgrade) in `dial`, the session protocol's
//! handshake, `mux` (the tokio driver of `airlock-wire`), and the byte pumps
//! between channels and local files or sockets.

pub mod bufio;
pub mod dial;
pub mod handshake;
pub mod malloc;
pub mod mux;
pub mod pump;
