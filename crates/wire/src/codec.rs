//! The codec: frames to bytes and back.
//!
//! Frame layout (big-endian): `version u8 | type u8 | flags u8 | reserved u8 | channel u32 |
//! length u32 | payload[length]`. The [`Decoder`] is incremental and bounded: it holds at most
//! one frame's bytes, rejects a length above its limit before buffering the payload, and
//! returns payloads as zero-copy [`Bytes`] slices of its buffer.

use crate::frame::{
    AckKind, ChannelId, ChannelKind, CloseStatus, ErrorCode, FRAME_VERSION, Frame, FrameType,
    HEADER_LEN, Hello, HelloAck, MAX_ENV, MAX_LONG_STR, MAX_MAX_PAYLOAD, MAX_SHORT_STR, Open,
    OpenFailCode, RESUME_TOKEN_LEN, ResumeToken, Signal, Stream,
};
use bytes::{BufMut, Bytes, BytesMut};

/// A fault in one frame whose header was sound: the frame was skipped and the stream can go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("unknown frame type 0x{0:02x}")]
    UnknownFrameType(u8),
    #[error("reserved header byte is 0x{0:02x}, must be 0")]
    ReservedByte(u8),
    #[error("flag bits 0x{flags:02x} are not defined for {frame_type} frames")]
    UnknownFlags { frame_type: FrameType, flags: u8 },
    #[error("{frame_type} frame must be on channel 0")]
    NotOnConnection { frame_type: FrameType },
    #[error("{frame_type} frame must not be on channel 0")]
    OnConnection { frame_type: FrameType },
    #[error("payload ends inside field `{field}`")]
    Truncated { field: &'static str },
    #[error("{count} bytes after the last field")]
    TrailingBytes { count: usize },
    #[error("field `{field}` is not UTF-8")]
    InvalidUtf8 { field: &'static str },
    #[error("field `{field}` is {len} bytes, limit {max}")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field `{field}` has invalid value {value}")]
    InvalidValue { field: &'static str, value: u64 },
    #[error("{count} environment variables, limit {MAX_ENV}")]
    TooManyEnv { count: usize },
}

/// Why the decoder could not produce a frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The version byte is not one this crate speaks. Framing is lost: close the connection.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// The header announces a payload above the limit. Framing is lost: close the connection.
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge { len: u32, max: u32 },
    /// One frame was malformed and skipped; the stream continues. Report it on `channel`.
    #[error("malformed frame on channel {channel}: {error}")]
    Malformed {
        channel: ChannelId,
        error: PayloadError,
    },
    /// The stream ended inside a frame (from [`Decoder::finish`]).
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
}

impl DecodeError {
    /// True when framing is lost and the connection must be closed.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, DecodeError::Malformed { .. })
    }

    /// The channel to report the error on (channel 0 means the whole connection).
    pub fn channel(&self) -> ChannelId {
        match self {
            DecodeError::Malformed { channel, .. } => *channel,
            _ => ChannelId::CONNECTION,
        }
    }

    /// The protocol error code to send in an `Error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::Malformed {
                error: PayloadError::UnknownFrameType(_),
                ..
            } => ErrorCode::UnknownFrameType,
            DecodeError::Malformed { .. } => ErrorCode::MalformedFrame,
            DecodeError::Truncated { .. } => ErrorCode::Protocol,
        }
    }
}

/// Why a frame could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("payload of {len} bytes exceeds the peer's limit of {max}")]
    TooLarge { len: usize, max: u32 },
    #[error("field `{field}` is {len} bytes, limit {max}")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{count} environment variables, limit {MAX_ENV}")]
    TooManyEnv { count: usize },
    #[error("{frame_type} frame cannot be sent on channel {channel}")]
    WrongChannel {
        frame_type: FrameType,
        channel: ChannelId,
    },
}

/// Encodes frames, refusing payloads above the peer's `max_payload`.
#[derive(Clone, Debug)]
pub struct Encoder {
    max_payload: u32,
}

impl Encoder {
    /// An encoder for a peer that accepts payloads up to `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        Encoder { max_payload }
    }

    /// The peer's payload limit.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Sets the peer's payload limit (after the handshake).
    pub fn set_max_payload(&mut self, max_payload: u32) {
        self.max_payload = max_payload;
    }

    /// Appends the encoded frame to `dst`. On error `dst` is unchanged.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some(data) = self.encode_split(frame, dst)? {
            dst.extend_from_slice(data);
        }
        Ok(())
    }

    /// As [`encode`](Self::encode), but a `Data` frame's data is not copied: it is
    /// returned, and goes on the wire right after what was appended to `dst` (for vectored
    /// writes). On error `dst` is unchanged.
    pub fn encode_split<'f>(
        &self,
        frame: &'f Frame,
        dst: &mut BytesMut,
    ) -> Result<Option<&'f Bytes>, EncodeError> {
        let ty = frame.frame_type();
        let channel = frame.channel();
        let channel_ok = match ty {
            FrameType::Error => true,
            t if t.is_connection_level() => channel.is_connection(),
            _ => !channel.is_connection(),
        };
        if !channel_ok {
            return Err(EncodeError::WrongChannel {
                frame_type: ty,
                channel,
            });
        }
        validate(frame)?;
        let len = payload_len(frame);
        if len > self.max_payload as usize {
            return Err(EncodeError::TooLarge {
                len,
                max: self.max_payload,
            });
        }
        let data = match frame {
            Frame::Data { data, .. } => Some(data),
            _ => None,
        };
        dst.reserve(HEADER_LEN + len - data.map_or(0, |d| d.len()));
        let flag_bits = match frame {
            Frame::Ack { kind, .. } => kind.flags(),
            _ => 0,
        };
        dst.put_u8(FRAME_VERSION);
        dst.put_u8(ty as u8);
        dst.put_u8(flag_bits);
        dst.put_u8(0);
        dst.put_u32(channel.0);
        dst.put_u32(len as u32);
        write_payload(frame, dst);
        Ok(data)
    }

    /// Encodes into a fresh vector.
    pub fn encode_to_vec(&self, frame: &Frame) -> Result<Vec<u8>, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(frame, &mut buf)?;
        Ok(buf.to_vec())
    }
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), EncodeError> {
    if s.len() > max {
        return Err(EncodeError::FieldTooLong {
            field,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

fn validate(frame: &Frame) -> Result<(), EncodeError> {
    match frame {
        Frame::Error { reason, .. } | Frame::OpenFail { reason, .. } => {
            check_len("reason", reason, MAX_LONG_STR)
        }
        Frame::Open { open, .. } => {
            if let Some(s) = &open.session {
                check_len("session", s, MAX_SHORT_STR)?;
            }
            if let Some(s) = &open.run_as {
                check_len("run_as", s, MAX_SHORT_STR)?;
            }
            match &open.kind {
                ChannelKind::Shell {
                    term, env, command, ..
                } => {
                    check_len("term", term, MAX_SHORT_STR)?;
                    if env.len() > MAX_ENV {
                        return Err(EncodeError::TooManyEnv { count: env.len() });
                    }
                    for (k, v) in env {
                        check_len("env key", k, MAX_SHORT_STR)?;
                        check_len("env value", v, MAX_LONG_STR)?;
                    }
                    if let Some(c) = command {
                        check_len("command", c, MAX_LONG_STR)?;
                    }
                    Ok(())
                }
                ChannelKind::Exec { command, .. } => check_len("command", command, MAX_LONG_STR),
                ChannelKind::TcpForward { host, .. } => check_len("host", host, MAX_SHORT_STR),
            }
        }
        _ => Ok(()),
    }
}

fn str_len(s: &str) -> usize {
    2 + s.len()
}

fn opt_str_len(s: &Option<String>) -> usize {
    1 + s.as_deref().map_or(0, str_len)
}

fn payload_len(frame: &Frame) -> usize {
    match frame {
        Frame::Hello(h) => 1 + 1 + 4 + 1 + h.resume.as_ref().map_or(0, |_| RESUME_TOKEN_LEN),
        Frame::HelloAck(_) => 1 + 4 + 1 + RESUME_TOKEN_LEN,
        Frame::Ping { .. } | Frame::Pong { .. } => 8,
        Frame::Error { reason, .. } | Frame::OpenFail { reason, .. } => 2 + str_len(reason),
        Frame::Open { open, .. } => {
            let kind = match &open.kind {
                ChannelKind::Shell {
                    term, env, command, ..
                } => {
                    str_len(term)
                        + 4
                        + 1
                        + env
                            .iter()
                            .map(|(k, v)| str_len(k) + str_len(v))
                            .sum::<usize>()
                        + opt_str_len(command)
                }
                ChannelKind::Exec { command, .. } => str_len(command) + 1,
                ChannelKind::TcpForward { host, .. } => str_len(host) + 2,
            };
            4 + opt_str_len(&open.session) + opt_str_len(&open.run_as) + 1 + kind
        }
        Frame::OpenOk { .. } => 4,
        Frame::Data { data, .. } => 8 + 1 + data.len(),
        Frame::WindowUpdate { .. } | Frame::Ack { .. } | Frame::Eof { .. } => 8,
        Frame::Close { status, .. } => {
            8 + match status {
                CloseStatus::None => 1,
                CloseStatus::Exited(_) => 5,
                CloseStatus::Killed { .. } => 3,
            }
        }
        Frame::Resize { .. } => 12,
        Frame::Signal { .. } => 9,
    }
}

fn put_str(dst: &mut BytesMut, s: &str) {
    // Lengths were validated against limits below u16::MAX.
    dst.put_u16(s.len() as u16);
    dst.put_slice(s.as_bytes());
}

fn put_opt_str(dst: &mut BytesMut, s: &Option<String>) {
    match s {
        None => dst.put_u8(0),
        Some(s) => {
            dst.put_u8(1);
            put_str(dst, s);
        }
    }
}

fn write_payload(frame: &Frame, dst: &mut BytesMut) {
    match frame {
        Frame::Hello(h) => {
            dst.put_u8(h.min_revision);
            dst.put_u8(h.max_revision);
            dst.put_u32(h.max_payload);
            match &h.resume {
                None => dst.put_u8(0),
                Some(t) => {
                    dst.put_u8(1);
                    dst.put_slice(t.as_bytes());
                }
            }
        }
        Frame::HelloAck(a) => {
            dst.put_u8(a.revision);
            dst.put_u32(a.max_payload);
            dst.put_u8(u8::from(a.resumed));
            dst.put_slice(a.token.as_bytes());
        }
        Frame::Ping { nonce } | Frame::Pong { nonce } => dst.put_u64(*nonce),
        Frame::Error { code, reason, .. } => {
            dst.put_u16(code.to_u16());
            put_str(dst, reason);
        }
        Frame::OpenFail { code, reason, .. } => {
            dst.put_u16(code.to_u16());
            put_str(dst, reason);
        }
        Frame::Open { open, .. } => {
            dst.put_u32(open.window);
            put_opt_str(dst, &open.session);
            put_opt_str(dst, &open.run_as);
            dst.put_u8(open.kind.code());
            match &open.kind {
                ChannelKind::Shell {
                    term,
                    cols,
                    rows,
                    env,
                    command,
                } => {
                    put_str(dst, term);
                    dst.put_u16(*cols);
                    dst.put_u16(*rows);
                    dst.put_u8(env.len() as u8);
                    for (k, v) in env {
                        put_str(dst, k);
                        put_str(dst, v);
                    }
                    put_opt_str(dst, command);
                }
                ChannelKind::Exec { command, stdin } => {
                    put_str(dst, command);
                    dst.put_u8(u8::from(*stdin));
                }
                ChannelKind::TcpForward { host, port } => {
                    put_str(dst, host);
                    dst.put_u16(*port);
                }
            }
        }
        Frame::OpenOk { window, .. } => dst.put_u32(*window),
        Frame::Data { seq, stream, .. } => {
            // The data itself is the caller's (see `encode_split`).
            dst.put_u64(*seq);
            dst.put_u8(*stream as u8);
        }
        Frame::WindowUpdate { limit, .. } => dst.put_u64(*limit),
        Frame::Ack { received, .. } => dst.put_u64(*received),
        Frame::Eof { seq, .. } => dst.put_u64(*seq),
        Frame::Close { seq, status, .. } => {
            dst.put_u64(*seq);
            match status {
                CloseStatus::None => dst.put_u8(0),
                CloseStatus::Exited(code) => {
                    dst.put_u8(1);
                    dst.put_i32(*code);
                }
                CloseStatus::Killed {
                    signal,
                    core_dumped,
                } => {
                    dst.put_u8(2);
                    dst.put_u8(*signal);
                    dst.put_u8(u8::from(*core_dumped));
                }
            }
        }
        Frame::Resize {
            seq, cols, rows, ..
        } => {
            dst.put_u64(*seq);
            dst.put_u16(*cols);
            dst.put_u16(*rows);
        }
        Frame::Signal { seq, signal, .. } => {
            dst.put_u64(*seq);
            dst.put_u8(*signal as u8);
        }
    }
}

/// Incremental, bounded frame decoder.
///
/// ```
/// use airlock_wire::{Decoder, Encoder, Frame, DEFAULT_MAX_PAYLOAD};
/// let bytes = Encoder::new(DEFAULT_MAX_PAYLOAD).encode_to_vec(&Frame::Ping { nonce: 7 }).unwrap();
/// let mut dec = Decoder::new(DEFAULT_MAX_PAYLOAD);
/// let mut input = &bytes[..];
/// let mut frames = Vec::new();
/// while !input.is_empty() {
///     let n = dec.feed(input);
///     input = &input[n..];
///     while let Some(f) = dec.next_frame().unwrap() {
///         frames.push(f);
///     }
/// }
/// assert_eq!(frames, vec![Frame::Ping { nonce: 7 }]);
/// ```
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_payload: u32,
    fatal: Option<DecodeError>,
}

impl Decoder {
    /// A decoder that accepts payloads up to `max_payload` bytes (what this side announced),
    /// clamped to [`MAX_MAX_PAYLOAD`].
    pub fn new(max_payload: u32) -> Self {
        Decoder {
            buf: BytesMut::new(),
            max_payload: max_payload.min(MAX_MAX_PAYLOAD),
            fatal: None,
        }
    }

    /// Most bytes the decoder buffers: one header plus one maximal payload.
    pub fn capacity(&self) -> usize {
        HEADER_LEN + self.max_payload as usize
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes as many bytes of `data` as fit under [`capacity`](Self::capacity) and returns
    /// how many it took. Call [`next_frame`](Self::next_frame) until `None` between calls.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let room = self.capacity().saturating_sub(self.buf.len());
        let n = room.min(data.len());
        if let Some(chunk) = data.get(..n) {
            self.buf.extend_from_slice(chunk);
        }
        n
    }

    /// As [`feed`](Self::feed), but moves the bytes out of `data` (and returns how many it
    /// took): with nothing buffered, the chunk is taken without a copy; a partial frame is
    /// completed by copying only the bytes it lacks. Call [`next_frame`](Self::next_frame)
    /// until `None` between calls.
    pub fn feed_buf(&mut self, data: &mut BytesMut) -> usize {
        let room = self.capacity().saturating_sub(self.buf.len());
        if self.buf.is_empty() {
            self.buf = data.split_to(room.min(data.len()));
            return self.buf.len();
        }
        let wanted = match self.buf.get(..HEADER_LEN) {
            None => HEADER_LEN - self.buf.len(),
            Some(header) => {
                let total = HEADER_LEN.saturating_add(Header::parse(header).len as usize);
                total.saturating_sub(self.buf.len())
            }
        };
        let n = wanted.min(room).min(data.len());
        self.buf.extend_from_slice(&data.split_to(n));
        n
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    ///
    /// After a fatal error (see [`DecodeError::is_fatal`]) every call returns that error.
    /// After a non-fatal one the bad frame has been consumed and decoding may continue.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        let Some(header) = self.buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let h = Header::parse(header);
        if h.version != FRAME_VERSION {
            return Err(self.poison(DecodeError::UnsupportedVersion(h.version)));
        }
        if h.len > self.max_payload {
            return Err(self.poison(DecodeError::FrameTooLarge {
                len: h.len,
                max: self.max_payload,
            }));
        }
        let total = HEADER_LEN + h.len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut frame_bytes = self.buf.split_to(total).freeze();
        let payload = frame_bytes.split_off(HEADER_LEN);
        let channel = ChannelId(h.channel);
        decode_payload(&h, payload)
            .map(Some)
            .map_err(|error| DecodeError::Malformed { channel, error })
    }

    /// Call at end of stream: an error if a partial frame is left over.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Truncated {
                buffered: self.buf.len(),
            })
        }
    }

    fn poison(&mut self, e: DecodeError) -> DecodeError {
        self.buf.clear();
        self.fatal = Some(e.clone());
        e
    }
}

struct Header {
    version: u8,
    ty: u8,
    flags: u8,
    reserved: u8,
    channel: u32,
    len: u32,
}

impl Header {
    /// `b` is exactly `HEADER_LEN` bytes.
    fn parse(b: &[u8]) -> Header {
        let byte = |i: usize| b.get(i).copied().unwrap_or(0);
        let word = |i: usize| u32::from_be_bytes([byte(i), byte(i + 1), byte(i + 2), byte(i + 3)]);
        Header {
            version: byte(0),
            ty: byte(1),
            flags: byte(2),
            reserved: byte(3),
            channel: word(4),
            len: word(8),
        }
    }
}

/// Reads fields off a payload, never panicking.
struct Reader {
    data: Bytes,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, PayloadError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let Some(end) = end else {
            return Err(PayloadError::Truncated { field });
        };
        let out = self.data.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], PayloadError> {
        let b = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, PayloadError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, PayloadError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, PayloadError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    fn i32(&mut self, field: &'static str) -> Result<i32, PayloadError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, PayloadError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, PayloadError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(PayloadError::InvalidValue {
                field,
                value: u64::from(v),
            }),
        }
    }

    fn string(&mut self, field: &'static str, max: usize) -> Result<String, PayloadError> {
        let len = self.u16(field)? as usize;
        if len > max {
            return Err(PayloadError::FieldTooLong { field, len, max });
        }
        let b = self.take(len, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| PayloadError::InvalidUtf8 { field })
    }

    fn opt_string(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Option<String>, PayloadError> {
        if self.bool(field)? {
            Ok(Some(self.string(field, max)?))
        } else {
            Ok(None)
        }
    }

    fn rest(&mut self) -> Bytes {
        let out = self.data.slice(self.pos..);
        self.pos = self.data.len();
        out
    }

    fn finish(self) -> Result<(), PayloadError> {
        match self.data.len() - self.pos.min(self.data.len()) {
            0 => Ok(()),
            count => Err(PayloadError::TrailingBytes { count }),
        }
    }
}

fn decode_payload(h: &Header, payload: Bytes) -> Result<Frame, PayloadError> {
    let ty = FrameType::from_u8(h.ty).ok_or(PayloadError::UnknownFrameType(h.ty))?;
    if h.reserved != 0 {
        return Err(PayloadError::ReservedByte(h.reserved));
    }
    if h.flags & !ty.allowed_flags() != 0 {
        return Err(PayloadError::UnknownFlags {
            frame_type: ty,
            flags: h.flags,
        });
    }
    let channel = ChannelId(h.channel);
    if ty.is_connection_level() && !channel.is_connection() {
        return Err(PayloadError::NotOnConnection { frame_type: ty });
    }
    if !ty.is_connection_level() && ty != FrameType::Error && channel.is_connection() {
        return Err(PayloadError::OnConnection { frame_type: ty });
    }
    let mut r = Reader {
        data: payload,
        pos: 0,
    };
    let frame = match ty {
        FrameType::Hello => {
            let min_revision = r.u8("min_revision")?;
            let max_revision = r.u8("max_revision")?;
            let max_payload = r.u32("max_payload")?;
            let resume = if r.bool("resume")? {
                Some(ResumeToken::from_bytes(r.array("token")?))
            } else {
                None
            };
            Frame::Hello(Hello {
                min_revision,
                max_revision,
                max_payload,
                resume,
            })
        }
        FrameType::HelloAck => Frame::HelloAck(HelloAck {
            revision: r.u8("revision")?,
            max_payload: r.u32("max_payload")?,
            resumed: r.bool("resumed")?,
            token: ResumeToken::from_bytes(r.array("token")?),
        }),
        FrameType::Ping => Frame::Ping {
            nonce: r.u64("nonce")?,
        },
        FrameType::Pong => Frame::Pong {
            nonce: r.u64("nonce")?,
        },
        FrameType::Error => Frame::Error {
            channel,
            code: ErrorCode::from_u16(r.u16("code")?),
            reason: r.string("reason", MAX_LONG_STR)?,
        },
        FrameType::Open => Frame::Open {
            channel,
            open: decode_open(&mut r)?,
        },
        FrameType::OpenOk => Frame::OpenOk {
            channel,
            window: r.u32("window")?,
        },
        FrameType::OpenFail => Frame::OpenFail {
            channel,
            code: OpenFailCode::from_u16(r.u16("code")?),
            reason: r.string("reason", MAX_LONG_STR)?,
        },
        FrameType::Data => {
            let seq = r.u64("seq")?;
            let stream = match r.u8("stream")? {
                0 => Stream::Main,
                1 => Stream::Stderr,
                v => {
                    return Err(PayloadError::InvalidValue {
                        field: "stream",
                        value: u64::from(v),
                    });
                }
            };
            Frame::Data {
                channel,
                seq,
                stream,
                data: r.rest(),
            }
        }
        FrameType::WindowUpdate => Frame::WindowUpdate {
            channel,
            limit: r.u64("limit")?,
        },
        FrameType::Ack => Frame::Ack {
            channel,
            received: r.u64("received")?,
            kind: AckKind::from_flags(h.flags).ok_or(PayloadError::UnknownFlags {
                frame_type: ty,
                flags: h.flags,
            })?,
        },
        FrameType::Eof => Frame::Eof {
            channel,
            seq: r.u64("seq")?,
        },
        FrameType::Close => {
            let seq = r.u64("seq")?;
            let status = match r.u8("status")? {
                0 => CloseStatus::None,
                1 => CloseStatus::Exited(r.i32("exit_code")?),
                2 => CloseStatus::Killed {
                    signal: r.u8("signal")?,
                    core_dumped: r.bool("core_dumped")?,
                },
                v => {
                    return Err(PayloadError::InvalidValue {
                        field: "status",
                        value: u64::from(v),
                    });
                }
            };
            Frame::Close {
                channel,
                seq,
                status,
            }
        }
        FrameType::Resize => Frame::Resize {
            channel,
            seq: r.u64("seq")?,
            cols: r.u16("cols")?,
            rows: r.u16("rows")?,
        },
        FrameType::Signal => {
            let seq = r.u64("seq")?;
            let code = r.u8("signal")?;
            let signal = Signal::from_u8(code).ok_or(PayloadError::InvalidValue {
                field: "signal",
                value: u64::from(code),
            })?;
            Frame::Signal {
                channel,
                seq,
                signal,
            }
        }
    };
    r.finish()?;
    Ok(frame)
}

fn decode_open(r: &mut Reader) -> Result<Open, PayloadError> {
    let window = r.u32("window")?;
    let session = r.opt_string("session", MAX_SHORT_STR)?;
    let run_as = r.opt_string("run_as", MAX_SHORT_STR)?;
    let kind = match r.u8("kind")? {
        1 => {
            let term = r.string("term", MAX_SHORT_STR)?;
            let cols = r.u16("cols")?;
            let rows = r.u16("rows")?;
            let count = r.u8("env count")? as usize;
            if count > MAX_ENV {
                return Err(PayloadError::TooManyEnv { count });
            }
            let mut env = Vec::with_capacity(count);
            for _ in 0..count {
                let k = r.string("env key", MAX_SHORT_STR)?;
                let v = r.string("env value", MAX_LONG_STR)?;
                env.push((k, v));
            }
            let command = r.opt_string("command", MAX_LONG_STR)?;
            ChannelKind::Shell {
                term,
                cols,
                rows,
                env,
                command,
            }
        }
        2 => ChannelKind::Exec {
            command: r.string("command", MAX_LONG_STR)?,
            stdin: r.bool("stdin")?,
        },
        3 => ChannelKind::TcpForward {
            host: r.string("host", MAX_SHORT_STR)?,
            port: r.u16("port")?,
        },
        v => {
            return Err(PayloadError::InvalidValue {
                field: "kind",
                value: u64::from(v),
            });
        }
    };
    Ok(Open {
        window,
        session,
        run_as,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::DEFAULT_MAX_PAYLOAD;

    fn encode(f: &Frame) -> Vec<u8> {
        Encoder::new(DEFAULT_MAX_PAYLOAD).encode_to_vec(f).unwrap()
    }

    fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, DecodeError>> {
        let mut d = Decoder::new(DEFAULT_MAX_PAYLOAD);
        assert_eq!(d.feed(bytes), bytes.len());
        let mut out = Vec::new();
        loop {
            match d.next_frame() {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn split_encoding_leaves_only_the_data_to_the_caller() {
        let enc = Encoder::new(DEFAULT_MAX_PAYLOAD);
        let data = Bytes::from(vec![9u8; 5000]);
        let f = Frame::Data {
            channel: ChannelId(3),
            seq: 77,
            stream: Stream::Main,
            data: data.clone(),
        };
        let mut head = BytesMut::new();
        let rest = enc.encode_split(&f, &mut head).unwrap();
        assert_eq!(rest, Some(&data));
        assert_eq!(head.len(), HEADER_LEN + 9);
        head.extend_from_slice(&data);
        assert_eq!(&head[..], &encode(&f)[..]);
        let ping = Frame::Ping { nonce: 1 };
        let mut buf = BytesMut::new();
        assert_eq!(enc.encode_split(&ping, &mut buf).unwrap(), None);
        assert_eq!(&buf[..], &encode(&ping)[..]);
    }

    #[test]
    fn data_frame_has_documented_layout() {
        let f = Frame::Data {
            channel: ChannelId(7),
            seq: 0x0102,
            stream: Stream::Stderr,
            data: Bytes::from_static(b"hi"),
        };
        assert_eq!(
            encode(&f),
            [
                1, 0x20, 0, 0, 0, 0, 0, 7, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 1, 2, 1, b'h', b'i'
            ]
        );
    }

    #[test]
    fn unsupported_version_is_fatal_and_sticky() {
        let mut bytes = encode(&Frame::Ping { nonce: 1 });
        bytes[0] = 9;
        let mut d = Decoder::new(DEFAULT_MAX_PAYLOAD);
        d.feed(&bytes);
        assert_eq!(d.next_frame(), Err(DecodeError::UnsupportedVersion(9)));
        assert_eq!(d.next_frame(), Err(DecodeError::UnsupportedVersion(9)));
        assert!(d.next_frame().unwrap_err().is_fatal());
    }

    #[test]
    fn oversize_length_is_rejected_before_payload_arrives() {
        let mut d = Decoder::new(MIN_TEST_LIMIT);
        let mut header = encode(&Frame::Ping { nonce: 1 });
        header[8..12].copy_from_slice(&(MIN_TEST_LIMIT + 1).to_be_bytes());
        d.feed(&header[..HEADER_LEN]);
        assert_eq!(
            d.next_frame(),
            Err(DecodeError::FrameTooLarge {
                len: MIN_TEST_LIMIT + 1,
                max: MIN_TEST_LIMIT
            })
        );
    }

    const MIN_TEST_LIMIT: u32 = 1024;

    #[test]
    fn malformed_frame_on_one_channel_leaves_the_next_frame_intact() {
        let mut bad = encode(&Frame::Signal {
            channel: ChannelId(3),
            seq: 0,
            signal: Signal::Int,
        });
        let last = bad.len() - 1;
        bad[last] = 200; // not a signal
        let good = encode(&Frame::Eof {
            channel: ChannelId(5),
            seq: 9,
        });
        let out = decode_all(&[bad, good].concat());
        assert_eq!(
            out,
            vec![
                Err(DecodeError::Malformed {
                    channel: ChannelId(3),
                    error: PayloadError::InvalidValue {
                        field: "signal",
                        value: 200
                    },
                }),
                Ok(Frame::Eof {
                    channel: ChannelId(5),
                    seq: 9
                }),
            ]
        );
        assert!(!out[0].as_ref().unwrap_err().is_fatal());
    }

    #[test]
    fn unknown_frame_type_is_skipped_with_its_code() {
        let mut bytes = encode(&Frame::Eof {
            channel: ChannelId(1),
            seq: 0,
        });
        bytes[1] = 0x7f;
        let out = decode_all(&bytes);
        let err = out[0].as_ref().unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnknownFrameType);
        assert_eq!(err.channel(), ChannelId(1));
    }

    #[test]
    fn connection_frames_on_a_channel_are_rejected() {
        let mut bytes = encode(&Frame::Ping { nonce: 1 });
        bytes[7] = 4;
        let out = decode_all(&bytes);
        assert_eq!(
            out[0],
            Err(DecodeError::Malformed {
                channel: ChannelId(4),
                error: PayloadError::NotOnConnection {
                    frame_type: FrameType::Ping
                },
            })
        );
    }

    #[test]
    fn channel_frames_on_channel_zero_are_rejected_by_encoder_and_decoder() {
        let f = Frame::Eof {
            channel: ChannelId::CONNECTION,
            seq: 0,
        };
        assert!(matches!(
            Encoder::new(DEFAULT_MAX_PAYLOAD).encode_to_vec(&f),
            Err(EncodeError::WrongChannel { .. })
        ));
        let mut bytes = encode(&Frame::Eof {
            channel: ChannelId(1),
            seq: 0,
        });
        bytes[7] = 0;
        assert!(matches!(
            decode_all(&bytes)[0],
            Err(DecodeError::Malformed {
                error: PayloadError::OnConnection { .. },
                ..
            })
        ));
    }

    #[test]
    fn undefined_flag_bits_are_rejected() {
        let mut bytes = encode(&Frame::Eof {
            channel: ChannelId(1),
            seq: 0,
        });
        bytes[2] = 0x80;
        assert!(matches!(
            decode_all(&bytes)[0],
            Err(DecodeError::Malformed {
                error: PayloadError::UnknownFlags { .. },
                ..
            })
        ));
    }

    #[test]
    fn ack_request_flag_without_resume_is_rejected() {
        let mut bytes = encode(&Frame::Ack {
            channel: ChannelId(1),
            received: 0,
            kind: AckKind::ResumeRequest,
        });
        assert_eq!(bytes[2], 0x03);
        bytes[2] = 0x02;
        assert!(matches!(
            decode_all(&bytes)[0],
            Err(DecodeError::Malformed {
                error: PayloadError::UnknownFlags { .. },
                ..
            })
        ));
    }

    #[test]
    fn trailing_bytes_in_a_payload_are_rejected() {
        let mut bytes = encode(&Frame::Eof {
            channel: ChannelId(1),
            seq: 0,
        });
        bytes[11] += 1;
        bytes.push(0);
        assert_eq!(
            decode_all(&bytes)[0],
            Err(DecodeError::Malformed {
                channel: ChannelId(1),
                error: PayloadError::TrailingBytes { count: 1 },
            })
        );
    }

    #[test]
    fn string_longer_than_its_limit_is_rejected_before_reading_it() {
        let f = Frame::Open {
            channel: ChannelId(1),
            open: Open {
                window: 1,
                session: None,
                run_as: None,
                kind: ChannelKind::TcpForward {
                    host: "h".into(),
                    port: 22,
                },
            },
        };
        let mut bytes = encode(&f);
        // host length field sits after window(4) + 2 absent options + kind byte.
        let at = HEADER_LEN + 4 + 1 + 1 + 1;
        bytes[at..at + 2].copy_from_slice(&1000u16.to_be_bytes());
        assert_eq!(
            decode_all(&bytes)[0],
            Err(DecodeError::Malformed {
                channel: ChannelId(1),
                error: PayloadError::FieldTooLong {
                    field: "host",
                    len: 1000,
                    max: MAX_SHORT_STR
                },
            })
        );
    }

    #[test]
    fn encoder_refuses_payload_above_peer_limit() {
        let f = Frame::Data {
            channel: ChannelId(1),
            seq: 0,
            stream: Stream::Main,
            data: Bytes::from(vec![0u8; 2000]),
        };
        let mut buf = BytesMut::new();
        let err = Encoder::new(1024).encode(&f, &mut buf).unwrap_err();
        assert_eq!(
            err,
            EncodeError::TooLarge {
                len: 2009,
                max: 1024
            }
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn feed_stops_at_capacity_and_resumes_after_draining() {
        let f = Frame::Data {
            channel: ChannelId(1),
            seq: 0,
            stream: Stream::Main,
            data: Bytes::from(vec![7u8; 1000]),
        };
        let one = Encoder::new(MIN_TEST_LIMIT).encode_to_vec(&f).unwrap();
        let two = [one.clone(), one].concat();
        let mut d = Decoder::new(MIN_TEST_LIMIT);
        let took = d.feed(&two);
        assert_eq!(took, d.capacity());
        assert_eq!(d.next_frame().unwrap(), Some(f.clone()));
        assert_eq!(d.feed(&two[took..]), two.len() - took);
        assert_eq!(d.next_frame().unwrap(), Some(f));
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn finish_reports_a_partial_frame() {
        let bytes = encode(&Frame::Ping { nonce: 3 });
        let mut d = Decoder::new(DEFAULT_MAX_PAYLOAD);
        d.feed(&bytes[..5]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(DecodeError::Truncated { buffered: 5 }));
    }

    #[test]
    fn truncated_payload_names_the_missing_field() {
        let mut bytes = encode(&Frame::Resize {
            channel: ChannelId(2),
            seq: 1,
            cols: 80,
            rows: 24,
        });
        bytes.truncate(bytes.len() - 2);
        bytes[11] -= 2;
        assert_eq!(
            decode_all(&bytes)[0],
            Err(DecodeError::Malformed {
                channel: ChannelId(2),
                error: PayloadError::Truncated { field: "rows" },
            })
        );
    }

    #[test]
    fn unknown_error_codes_survive_a_round_trip() {
        let f = Frame::Error {
            channel: ChannelId(0),
            code: ErrorCode::Other(999),
            reason: "x".into(),
        };
        assert_eq!(decode_all(&encode(&f)), vec![Ok(f)]);
        assert_eq!(
            ErrorCode::from_u16(ErrorCode::Sequence.to_u16()),
            ErrorCode::Sequence
        );
    }
}
