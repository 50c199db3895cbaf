//! The handshake: `Hello` from the dialer, `HelloAck` from the acceptor.
//!
//! It settles the protocol revision and each side's payload limit, and carries the resume
//! token. Which token resumes which connection is the acceptor's (the server's) decision;
//! this module only checks the frames.

use crate::frame::{
    ErrorCode, FrameType, Hello, HelloAck, MAX_MAX_PAYLOAD, MIN_MAX_PAYLOAD, PROTOCOL_REVISION,
    ResumeToken,
};

/// What the handshake settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The protocol revision both speak.
    pub revision: u8,
    /// Largest payload the peer accepts; encode with this.
    pub peer_max_payload: u32,
}

/// A handshake fault. Answer it with a connection `Error` and close.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("no common protocol revision: peer speaks {min}..={max}, we speak {PROTOCOL_REVISION}")]
    NoCommonRevision { min: u8, max: u8 },
    #[error("peer's max payload {value} is outside {MIN_MAX_PAYLOAD}..={MAX_MAX_PAYLOAD}")]
    BadMaxPayload { value: u32 },
    #[error("expected {expected} first, got {got}")]
    UnexpectedFrame { expected: FrameType, got: FrameType },
}

impl HandshakeError {
    /// The code to send in the connection `Error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            HandshakeError::NoCommonRevision { .. } => ErrorCode::UnsupportedVersion,
            HandshakeError::BadMaxPayload { .. } | HandshakeError::UnexpectedFrame { .. } => {
                ErrorCode::Protocol
            }
        }
    }
}

/// The dialer's `Hello`, announcing `max_payload` and optionally asking to resume.
pub fn hello(max_payload: u32, resume: Option<ResumeToken>) -> Hello {
    Hello {
        min_revision: PROTOCOL_REVISION,
        max_revision: PROTOCOL_REVISION,
        max_payload,
        resume,
    }
}

fn check_payload(value: u32) -> Result<(), HandshakeError> {
    if (MIN_MAX_PAYLOAD..=MAX_MAX_PAYLOAD).contains(&value) {
        Ok(())
    } else {
        Err(HandshakeError::BadMaxPayload { value })
    }
}

/// The acceptor's check of a `Hello`.
pub fn check_hello(hello: &Hello) -> Result<Negotiated, HandshakeError> {
    if !(hello.min_revision..=hello.max_revision).contains(&PROTOCOL_REVISION) {
        return Err(HandshakeError::NoCommonRevision {
            min: hello.min_revision,
            max: hello.max_revision,
        });
    }
    check_payload(hello.max_payload)?;
    Ok(Negotiated {
        revision: PROTOCOL_REVISION,
        peer_max_payload: hello.max_payload,
    })
}

/// The acceptor's answer. `resumed` says whether the `Hello`'s token named a live connection;
/// `token` is the one to present next time (caller-generated random bytes).
pub fn hello_ack(max_payload: u32, resumed: bool, token: ResumeToken) -> HelloAck {
    HelloAck {
        revision: PROTOCOL_REVISION,
        max_payload,
        resumed,
        token,
    }
}

/// The dialer's check of a `HelloAck`.
pub fn check_hello_ack(ack: &HelloAck) -> Result<Negotiated, HandshakeError> {
    if ack.revision != PROTOCOL_REVISION {
        return Err(HandshakeError::NoCommonRevision {
            min: ack.revision,
            max: ack.revision,
        });
    }
    check_payload(ack.max_payload)?;
    Ok(Negotiated {
        revision: ack.revision,
        peer_max_payload: ack.max_payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::DEFAULT_MAX_PAYLOAD;

    #[test]
    fn hello_with_only_future_revisions_is_refused() {
        let mut h = hello(DEFAULT_MAX_PAYLOAD, None);
        h.min_revision = PROTOCOL_REVISION + 1;
        h.max_revision = PROTOCOL_REVISION + 3;
        assert_eq!(
            check_hello(&h),
            Err(HandshakeError::NoCommonRevision {
                min: h.min_revision,
                max: h.max_revision
            })
        );
    }

    #[test]
    fn tiny_max_payload_is_refused() {
        assert_eq!(
            check_hello(&hello(100, None)),
            Err(HandshakeError::BadMaxPayload { value: 100 })
        );
    }

    #[test]
    fn limits_are_exchanged_both_ways() {
        let n = check_hello(&hello(64 * 1024, None)).unwrap();
        assert_eq!(n.peer_max_payload, 64 * 1024);
        let ack = hello_ack(DEFAULT_MAX_PAYLOAD, false, ResumeToken::from_bytes([7; 32]));
        assert_eq!(
            check_hello_ack(&ack).unwrap().peer_max_payload,
            DEFAULT_MAX_PAYLOAD
        );
    }
}
