//! airlock's session protocol: frames, codec, channels, flow control and resume.
//!
//! This crate is sans-IO: it never touches a socket, a clock or a random number generator.
//! The server, agent and client drive it over their own (TLS or WebSocket) transports.
//! The layers never reach upward:
//!
//! - [`frame`]: every message as a Rust value;
//! - [`codec`]: frames to bytes and back, with an incremental, bounded [`Decoder`];
//! - [`flow`]: per-channel credit windows;
//! - [`resume`]: sequence numbers, the retransmit log and the receive cursor;
//! - [`channel`]: one channel's state machine;
//! - [`conn`]: many channels over one transport, and reconnection;
//! - [`handshake`] and [`liveness`]: the `Hello` exchange and ping timing.
//!
//! The protocol is specified in `docs/PROTOCOL.md`.
//!
//! ```
//! use airlock_wire::{ChannelEvent, ChannelKind, Config, Connection, Event, Side, Stream};
//! use bytes::{Bytes, BytesMut};
//!
//! let mut client = Connection::new(Config::new(Side::Dialer), airlock_wire::DEFAULT_MAX_PAYLOAD);
//! let mut agent = Connection::new(Config::new(Side::Acceptor), airlock_wire::DEFAULT_MAX_PAYLOAD);
//! let ch = client
//!     .open(ChannelKind::Exec { command: "true".into(), stdin: false }, None, None)
//!     .unwrap();
//!
//! // Move bytes between the two as a transport would.
//! fn pump(from: &mut Connection, to: &mut Connection) {
//!     let mut buf = BytesMut::new();
//!     from.encode_transmit(&mut buf, usize::MAX).unwrap();
//!     to.receive(&buf).unwrap();
//! }
//! pump(&mut client, &mut agent);
//! let Some(Event::OpenRequest { channel, .. }) = agent.poll_event() else { panic!() };
//! agent.accept(channel).unwrap();
//! agent.send(channel, Stream::Main, Bytes::from_static(b"hi")).unwrap();
//! pump(&mut agent, &mut client);
//! assert_eq!(client.poll_event(), Some(Event::Channel { channel: ch, event: ChannelEvent::Opened }));
//! assert_eq!(
//!     client.poll_event(),
//!     Some(Event::Channel {
//!         channel: ch,
//!         event: ChannelEvent::Data { stream: Stream::Main, data: Bytes::from_static(b"hi") },
//!     })
//! );
//! ```

#![forbid(unsafe_code)]

pub mod channel;
pub mod codec;
pub mod conn;
pub mod flow;
pub mod frame;
pub mod handshake;
pub mod liveness;
pub mod resume;
pub mod scan;

pub use channel::{Action, Channel, ChannelError, ChannelEvent, ChannelState};
pub use codec::{DecodeError, Decoder, EncodeError, Encoder, PayloadError};
pub use conn::{Config, Connection, ConnectionError, Event, Side, UsageError};
pub use flow::{DEFAULT_WINDOW, FlowError, RecvWindow, SendWindow};
pub use frame::{
    AckKind, ChannelId, ChannelKind, CloseStatus, DEFAULT_MAX_PAYLOAD, ErrorCode, Frame, FrameType,
    HEADER_LEN, Hello, HelloAck, Open, OpenFailCode, ResumeToken, Signal, Stream,
};
pub use handshake::{HandshakeError, Negotiated};
pub use liveness::{DEAD_AFTER, Liveness, LivenessAction, MAX_MISSED_PINGS, PING_INTERVAL};
pub use resume::{RESUME_WINDOW, ResumeError};
pub use scan::FrameScanner;
