//! Frame types: every message of the protocol as a Rust value, independent of its encoding.
//!
//! This is the bottom layer. It knows nothing of channels' state, windows or resume; those
//! layers build on these types. See `docs/PROTOCOL.md` for the byte layouts.

use bytes::Bytes;
use std::fmt;

/// Version of the frame header format (byte 0 of every frame).
pub const FRAME_VERSION: u8 = 1;
/// Protocol revision this crate speaks (negotiated in `Hello`/`HelloAck`).
pub const PROTOCOL_REVISION: u8 = 1;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;
/// Default largest payload a peer accepts: 256 KiB.
pub const DEFAULT_MAX_PAYLOAD: u32 = 256 * 1024;
/// Smallest `max_payload` a peer may announce.
pub const MIN_MAX_PAYLOAD: u32 = 16 * 1024;
/// Largest `max_payload` a peer may announce.
pub const MAX_MAX_PAYLOAD: u32 = 16 * 1024 * 1024;
/// Bytes a `Data` payload spends before its data (`seq` u64 + `stream` u8).
pub const DATA_OVERHEAD: usize = 9;
/// Length of a resume token.
pub const RESUME_TOKEN_LEN: usize = 32;

/// Longest short string field (term, host, session id, run-as user, env key).
pub const MAX_SHORT_STR: usize = 256;
/// Longest long string field (command, env value, error reason).
pub const MAX_LONG_STR: usize = 32 * 1024;
/// Most environment variables in one `Open`.
pub const MAX_ENV: usize = 128;

/// Identifies a channel within one connection. Channel 0 is the connection itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ChannelId(pub u32);

impl ChannelId {
    /// The connection-level pseudo channel.
    pub const CONNECTION: ChannelId = ChannelId(0);

    /// True for channel 0.
    pub fn is_connection(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The one-byte frame type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum FrameType {
    Hello = 0x01,
    HelloAck = 0x02,
    Ping = 0x03,
    Pong = 0x04,
    Error = 0x05,
    Open = 0x10,
    OpenOk = 0x11,
    OpenFail = 0x12,
    Data = 0x20,
    WindowUpdate = 0x21,
    Ack = 0x22,
    Eof = 0x23,
    Close = 0x24,
    Resize = 0x25,
    Signal = 0x26,
}

impl FrameType {
    /// Every frame type, in code order.
    pub const ALL: [FrameType; 15] = [
        FrameType::Hello,
        FrameType::HelloAck,
        FrameType::Ping,
        FrameType::Pong,
        FrameType::Error,
        FrameType::Open,
        FrameType::OpenOk,
        FrameType::OpenFail,
        FrameType::Data,
        FrameType::WindowUpdate,
        FrameType::Ack,
        FrameType::Eof,
        FrameType::Close,
        FrameType::Resize,
        FrameType::Signal,
    ];

    /// The type for a wire byte, if known.
    pub fn from_u8(b: u8) -> Option<FrameType> {
        FrameType::ALL.into_iter().find(|t| *t as u8 == b)
    }

    /// Frames that belong to channel 0 (the connection) rather than to a channel.
    /// `Error` may be either.
    pub fn is_connection_level(self) -> bool {
        matches!(
            self,
            FrameType::Hello | FrameType::HelloAck | FrameType::Ping | FrameType::Pong
        )
    }

    /// Flag bits this type defines; any other bit set is a malformed frame.
    pub fn allowed_flags(self) -> u8 {
        match self {
            FrameType::Ack => flags::ACK_RESUME | flags::ACK_REQUEST,
            _ => 0,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Header flag bits.
pub mod flags {
    /// On `Ack`: this is a resume point; replay everything from `received` on.
    pub const ACK_RESUME: u8 = 0x01;
    /// On `Ack`, only together with `ACK_RESUME`: the sender just reconnected; answer with
    /// your own resume point.
    pub const ACK_REQUEST: u8 = 0x02;
}

/// What an `Ack` asks of its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// Drop acknowledged items from the retransmit log.
    Plain,
    /// Answer to a request: replay from `received`, unless already replayed since this
    /// side's own reconnect.
    Resume,
    /// The sender reconnected: replay from `received`, and answer with a `Resume` ack.
    ResumeRequest,
}

impl AckKind {
    /// The header flag bits.
    pub fn flags(self) -> u8 {
        match self {
            AckKind::Plain => 0,
            AckKind::Resume => flags::ACK_RESUME,
            AckKind::ResumeRequest => flags::ACK_RESUME | flags::ACK_REQUEST,
        }
    }

    /// The kind for header flag bits, if valid.
    pub fn from_flags(bits: u8) -> Option<AckKind> {
        [AckKind::Plain, AckKind::Resume, AckKind::ResumeRequest]
            .into_iter()
            .find(|k| k.flags() == bits)
    }
}

/// An opaque secret naming a resumable connection. The caller supplies the random bytes;
/// this crate never generates randomness.
#[derive(Clone)]
pub struct ResumeToken([u8; RESUME_TOKEN_LEN]);

impl ResumeToken {
    /// Wraps caller-supplied random bytes (use a CSPRNG).
    pub fn from_bytes(bytes: [u8; RESUME_TOKEN_LEN]) -> Self {
        ResumeToken(bytes)
    }

    /// The raw bytes, e.g. to store server-side.
    pub fn as_bytes(&self) -> &[u8; RESUME_TOKEN_LEN] {
        &self.0
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &ResumeToken) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl PartialEq for ResumeToken {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}
impl Eq for ResumeToken {}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResumeToken(<redacted>)")
    }
}

/// First frame from the dialing side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Lowest protocol revision the sender speaks.
    pub min_revision: u8,
    /// Highest protocol revision the sender speaks.
    pub max_revision: u8,
    /// Largest payload the sender accepts.
    pub max_payload: u32,
    /// Present when the sender wants to resume an earlier connection.
    pub resume: Option<ResumeToken>,
}

/// The accepting side's answer to `Hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloAck {
    /// The chosen protocol revision.
    pub revision: u8,
    /// Largest payload the sender (the acceptor) accepts.
    pub max_payload: u32,
    /// True when the earlier connection named in `Hello` was resumed.
    pub resumed: bool,
    /// The token the dialer presents to resume this connection later.
    pub token: ResumeToken,
}

/// What a channel is for; carried by `Open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// An interactive PTY. `command` runs instead of the login shell when set.
    Shell {
        term: String,
        cols: u16,
        rows: u16,
        env: Vec<(String, String)>,
        command: Option<String>,
    },
    /// A command without a PTY: stdout on stream 0, stderr on stream 1.
    Exec { command: String, stdin: bool },
    /// A TCP connection made by the receiving side (the agent) to `host:port`.
    TcpForward { host: String, port: u16 },
}

impl ChannelKind {
    /// Wire code of the kind.
    pub fn code(&self) -> u8 {
        match self {
            ChannelKind::Shell { .. } => 1,
            ChannelKind::Exec { .. } => 2,
            ChannelKind::TcpForward { .. } => 3,
        }
    }
}

/// Body of an `Open` frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// Initial window: bytes of data the peer may send on this channel before any `WindowUpdate`.
    pub window: u32,
    /// Session the channel belongs to, when the driver names one.
    pub session: Option<String>,
    /// Unix user to run as, when the broker decided one.
    pub run_as: Option<String>,
    /// What to open.
    pub kind: ChannelKind,
}

/// Data stream within a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stream {
    /// stdin/stdout of a process, a PTY's bytes, or a TCP stream.
    Main = 0,
    /// stderr of an `Exec` channel.
    Stderr = 1,
}

/// A signal the client asks to deliver. Codes are Linux signal numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Signal {
    Hup = 1,
    Int = 2,
    Quit = 3,
    Kill = 9,
    Usr1 = 10,
    Usr2 = 12,
    Alrm = 14,
    Term = 15,
    Cont = 18,
    Stop = 19,
    Tstp = 20,
    Winch = 28,
}

impl Signal {
    /// Every signal, in code order.
    pub const ALL: [Signal; 12] = [
        Signal::Hup,
        Signal::Int,
        Signal::Quit,
        Signal::Kill,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Alrm,
        Signal::Term,
        Signal::Cont,
        Signal::Stop,
        Signal::Tstp,
        Signal::Winch,
    ];

    /// The signal for a wire code, if known.
    pub fn from_u8(b: u8) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| *s as u8 == b)
    }
}

/// How the far end of a channel finished; carried by `Close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseStatus {
    /// No process status (e.g. a TCP stream).
    None,
    /// The process exited with this code.
    Exited(i32),
    /// The process was killed by this signal (Linux number).
    Killed { signal: u8, core_dumped: bool },
}

/// Protocol error codes carried by `Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A rule of the protocol was broken in a way no other code names.
    Protocol,
    /// A frame was longer than the receiver's `max_payload`.
    FrameTooLarge,
    /// Unknown frame type.
    UnknownFrameType,
    /// A frame's payload could not be decoded.
    MalformedFrame,
    /// No common protocol revision or frame version.
    UnsupportedVersion,
    /// A frame named a channel that does not exist.
    UnknownChannel,
    /// `Open` reused a channel id.
    ChannelInUse,
    /// A frame was not allowed in the channel's state.
    IllegalTransition,
    /// More data than the granted window.
    FlowControl,
    /// A sequence number skipped ahead or an ack went past what was sent.
    Sequence,
    /// The connection or channel could not be resumed.
    ResumeFailed,
    /// The peer stopped answering.
    Timeout,
    /// The sender is shutting down.
    Shutdown,
    /// The sender failed internally.
    Internal,
    /// A code this revision does not know.
    Other(u16),
}

impl ErrorCode {
    const KNOWN: [(ErrorCode, u16); 14] = [
        (ErrorCode::Protocol, 1),
        (ErrorCode::FrameTooLarge, 2),
        (ErrorCode::UnknownFrameType, 3),
        (ErrorCode::MalformedFrame, 4),
        (ErrorCode::UnsupportedVersion, 5),
        (ErrorCode::UnknownChannel, 6),
        (ErrorCode::ChannelInUse, 7),
        (ErrorCode::IllegalTransition, 8),
        (ErrorCode::FlowControl, 9),
        (ErrorCode::Sequence, 10),
        (ErrorCode::ResumeFailed, 11),
        (ErrorCode::Timeout, 12),
        (ErrorCode::Shutdown, 13),
        (ErrorCode::Internal, 14),
    ];

    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Other(v) => v,
            known => code_value(&ErrorCode::KNOWN, known).unwrap_or(0),
        }
    }

    /// The code for a wire value; unknown values become `Other`.
    pub fn from_u16(v: u16) -> ErrorCode {
        code_for(&ErrorCode::KNOWN, v).unwrap_or(ErrorCode::Other(v))
    }
}

/// Why an `Open` was refused; carried by `OpenFail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpenFailCode {
    /// Policy denied it.
    AccessDenied,
    /// The target (instance, host) is unknown or offline.
    TargetUnavailable,
    /// The TCP connection or process start failed.
    ConnectFailed,
    /// Too many channels or sessions.
    ResourceShortage,
    /// The channel kind is not supported here.
    UnsupportedKind,
    /// A code this revision does not know.
    Other(u16),
}

impl OpenFailCode {
    const KNOWN: [(OpenFailCode, u16); 5] = [
        (OpenFailCode::AccessDenied, 1),
        (OpenFailCode::TargetUnavailable, 2),
        (OpenFailCode::ConnectFailed, 3),
        (OpenFailCode::ResourceShortage, 4),
        (OpenFailCode::UnsupportedKind, 5),
    ];

    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            OpenFailCode::Other(v) => v,
            known => code_value(&OpenFailCode::KNOWN, known).unwrap_or(0),
        }
    }

    /// The code for a wire value; unknown values become `Other`.
    pub fn from_u16(v: u16) -> OpenFailCode {
        code_for(&OpenFailCode::KNOWN, v).unwrap_or(OpenFailCode::Other(v))
    }
}

/// The wire value of a known code in `table`.
fn code_value<T: PartialEq + Copy>(table: &[(T, u16)], code: T) -> Option<u16> {
    table.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
}

/// The known code for a wire value in `table`.
fn code_for<T: Copy>(table: &[(T, u16)], v: u16) -> Option<T> {
    table.iter().find(|(_, w)| *w == v).map(|(c, _)| *c)
}

/// One protocol frame.
///
/// Channel frames that change what the application sees (`Data`, `Eof`, `Close`, `Resize`,
/// `Signal`) carry `seq`, their position in the channel's per-direction sequence space: a
/// `Data` frame occupies one unit per byte, every other sequenced frame one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Hello(Hello),
    HelloAck(HelloAck),
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    /// A protocol error. On channel 0 it ends the connection; otherwise only that channel.
    Error {
        channel: ChannelId,
        code: ErrorCode,
        reason: String,
    },
    Open {
        channel: ChannelId,
        open: Open,
    },
    OpenOk {
        channel: ChannelId,
        window: u32,
    },
    OpenFail {
        channel: ChannelId,
        code: OpenFailCode,
        reason: String,
    },
    Data {
        channel: ChannelId,
        seq: u64,
        stream: Stream,
        data: Bytes,
    },
    /// Absolute credit: the peer may send data bytes with offsets below `limit`.
    WindowUpdate {
        channel: ChannelId,
        limit: u64,
    },
    /// Cumulative: every sequence unit below `received` arrived. See [`AckKind`] for the
    /// resume forms.
    Ack {
        channel: ChannelId,
        received: u64,
        kind: AckKind,
    },
    Eof {
        channel: ChannelId,
        seq: u64,
    },
    Close {
        channel: ChannelId,
        seq: u64,
        status: CloseStatus,
    },
    Resize {
        channel: ChannelId,
        seq: u64,
        cols: u16,
        rows: u16,
    },
    Signal {
        channel: ChannelId,
        seq: u64,
        signal: Signal,
    },
}

impl Frame {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Hello(_) => FrameType::Hello,
            Frame::HelloAck(_) => FrameType::HelloAck,
            Frame::Ping { .. } => FrameType::Ping,
            Frame::Pong { .. } => FrameType::Pong,
            Frame::Error { .. } => FrameType::Error,
            Frame::Open { .. } => FrameType::Open,
            Frame::OpenOk { .. } => FrameType::OpenOk,
            Frame::OpenFail { .. } => FrameType::OpenFail,
            Frame::Data { .. } => FrameType::Data,
            Frame::WindowUpdate { .. } => FrameType::WindowUpdate,
            Frame::Ack { .. } => FrameType::Ack,
            Frame::Eof { .. } => FrameType::Eof,
            Frame::Close { .. } => FrameType::Close,
            Frame::Resize { .. } => FrameType::Resize,
            Frame::Signal { .. } => FrameType::Signal,
        }
    }

    /// The channel the frame belongs to (0 for connection frames).
    pub fn channel(&self) -> ChannelId {
        match self {
            Frame::Hello(_) | Frame::HelloAck(_) | Frame::Ping { .. } | Frame::Pong { .. } => {
                ChannelId::CONNECTION
            }
            Frame::Error { channel, .. }
            | Frame::Open { channel, .. }
            | Frame::OpenOk { channel, .. }
            | Frame::OpenFail { channel, .. }
            | Frame::Data { channel, .. }
            | Frame::WindowUpdate { channel, .. }
            | Frame::Ack { channel, .. }
            | Frame::Eof { channel, .. }
            | Frame::Close { channel, .. }
            | Frame::Resize { channel, .. }
            | Frame::Signal { channel, .. } => *channel,
        }
    }

    /// The same frame on another channel (what a relay does between hops). Connection
    /// frames are returned unchanged.
    pub fn with_channel(mut self, id: ChannelId) -> Frame {
        match &mut self {
            Frame::Hello(_) | Frame::HelloAck(_) | Frame::Ping { .. } | Frame::Pong { .. } => {}
            Frame::Error { channel, .. }
            | Frame::Open { channel, .. }
            | Frame::OpenOk { channel, .. }
            | Frame::OpenFail { channel, .. }
            | Frame::Data { channel, .. }
            | Frame::WindowUpdate { channel, .. }
            | Frame::Ack { channel, .. }
            | Frame::Eof { channel, .. }
            | Frame::Close { channel, .. }
            | Frame::Resize { channel, .. }
            | Frame::Signal { channel, .. } => *channel = id,
        }
        self
    }

    /// For sequenced frames: `(seq, units)` — the first sequence number and how many it occupies.
    pub fn sequence(&self) -> Option<(u64, u64)> {
        match self {
            Frame::Data { seq, data, .. } => Some((*seq, data.len() as u64)),
            Frame::Eof { seq, .. }
            | Frame::Close { seq, .. }
            | Frame::Resize { seq, .. }
            | Frame::Signal { seq, .. } => Some((*seq, 1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaying_changes_only_the_channel_of_channel_frames() {
        let f = Frame::Eof {
            channel: ChannelId(3),
            seq: 4,
        };
        assert_eq!(
            f.with_channel(ChannelId(8)),
            Frame::Eof {
                channel: ChannelId(8),
                seq: 4
            }
        );
        let p = Frame::Ping { nonce: 1 };
        assert_eq!(
            p.clone().with_channel(ChannelId(8)).channel(),
            ChannelId::CONNECTION
        );
    }

    #[test]
    fn resume_tokens_compare_by_value_and_never_print() {
        let a = ResumeToken::from_bytes([1; RESUME_TOKEN_LEN]);
        let mut other = [1; RESUME_TOKEN_LEN];
        other[31] = 2;
        assert_eq!(a, ResumeToken::from_bytes([1; RESUME_TOKEN_LEN]));
        assert_ne!(a, ResumeToken::from_bytes(other));
        assert_eq!(format!("{a:?}"), "ResumeToken(<redacted>)");
    }

    #[test]
    fn every_frame_type_and_signal_maps_back_from_its_code() {
        for t in FrameType::ALL {
            assert_eq!(FrameType::from_u8(t as u8), Some(t));
        }
        for s in Signal::ALL {
            assert_eq!(Signal::from_u8(s as u8), Some(s));
        }
        assert_eq!(FrameType::from_u8(0xff), None);
        assert_eq!(OpenFailCode::from_u16(77), OpenFailCode::Other(77));
    }
}
