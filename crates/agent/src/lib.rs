//! The node agent: dials the server over mTLS, registers, heartbeats, and runs
//! shells, commands and TCP forwards as the right Unix user.
