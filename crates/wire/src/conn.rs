//! The connection: many channels multiplexed over one transport, sans-IO.
//!
//! The driver feeds received bytes to [`Connection::receive`] (or decoded frames to
//! [`Connection::handle_frame`]), takes [`Event`]s from [`Connection::poll_event`], and
//! writes what [`Connection::poll_transmit`] or [`Connection::encode_transmit`] gives it.
//! A `Connection` outlives its transport: after a reconnect, call
//! [`Connection::reconnected`] and every open channel resumes where it stopped.
//!
//! A fault in one channel's frame ends that channel with an `Error` frame; the other
//! channels are not touched. Only a fault in the framing itself ends the connection.

use crate::channel::{Channel, ChannelError, ChannelEvent, ChannelState};
use crate::codec::{DecodeError, Decoder, EncodeError, Encoder};
use crate::flow::DEFAULT_WINDOW;
use crate::frame::{
    ChannelId, ChannelKind, CloseStatus, DATA_OVERHEAD, DEFAULT_MAX_PAYLOAD, ErrorCode, Frame,
    FrameType, MAX_LONG_STR, Open, OpenFailCode, Signal, Stream,
};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Which end of the transport this is. It decides channel id parity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Dialed the transport; opens odd channel ids.
    Dialer,
    /// Accepted the transport; opens even channel ids.
    Acceptor,
}

/// Settings for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub side: Side,
    /// Largest payload this side accepts (announced in the handshake).
    pub max_payload: u32,
    /// Credit granted to the peer on each new channel.
    pub window: u32,
}

impl Config {
    /// Defaults: 256 KiB payloads, 4 MiB windows.
    pub fn new(side: Side) -> Self {
        Config {
            side,
            max_payload: DEFAULT_MAX_PAYLOAD,
            window: DEFAULT_WINDOW,
        }
    }
}

/// Something the application must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer wants to open a channel: call `accept` or `reject`.
    OpenRequest { channel: ChannelId, open: Open },
    /// Something happened on a channel.
    Channel {
        channel: ChannelId,
        event: ChannelEvent,
    },
    /// The peer broke the protocol on this channel; we sent it an `Error` and dropped it.
    ChannelFailed {
        channel: ChannelId,
        code: ErrorCode,
        reason: String,
    },
    /// Answer to our `Ping`.
    Pong { nonce: u64 },
}

/// A fault that ends the connection. An `Error` frame for channel 0 has been queued
/// (unless the peer sent it); flush the transmit queue, then close the transport.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error("framing lost: {0}")]
    Decode(DecodeError),
    #[error("peer ended the connection ({code:?}): {reason}")]
    Peer { code: ErrorCode, reason: String },
    #[error("{frame_type} frame after the handshake")]
    Handshake { frame_type: FrameType },
    #[error("malformed connection frame: {0}")]
    Malformed(DecodeError),
    #[error("cannot encode a queued frame: {0}")]
    Encode(EncodeError),
}

impl ConnectionError {
    /// The code sent in the `Error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConnectionError::Decode(e) | ConnectionError::Malformed(e) => e.code(),
            ConnectionError::Peer { code, .. } => *code,
            ConnectionError::Handshake { .. } => ErrorCode::Protocol,
            ConnectionError::Encode(_) => ErrorCode::Internal,
        }
    }
}

/// The application misused the API (local error; nothing was sent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("no channel {0}")]
    UnknownChannel(ChannelId),
    #[error("all channel ids are used")]
    ChannelIdsExhausted,
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Many channels over one transport.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    encoder: Encoder,
    decoder: Decoder,
    channels: BTreeMap<ChannelId, Channel>,
    next_local: u32,
    peer_high: u32,
    outbox: VecDeque<Frame>,
    events: VecDeque<Event>,
    failed: Option<ConnectionError>,
}

impl Connection {
    /// A connection after the handshake; `peer_max_payload` comes from it.
    pub fn new(config: Config, peer_max_payload: u32) -> Self {
        Connection {
            config,
            encoder: Encoder::new(peer_max_payload),
            decoder: Decoder::new(config.max_payload),
            channels: BTreeMap::new(),
            next_local: match config.side {
                Side::Dialer => 1,
                Side::Acceptor => 2,
            },
            peer_high: 0,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            failed: None,
        }
    }

    /// The connection's settings.
    pub fn config(&self) -> Config {
        self.config
    }

    fn max_chunk(&self) -> usize {
        (self.encoder.max_payload() as usize)
            .saturating_sub(DATA_OVERHEAD)
            .max(1)
    }

    fn is_peer_id(&self, id: ChannelId) -> bool {
        let odd = id.0 % 2 == 1;
        match self.config.side {
            Side::Dialer => !odd,
            Side::Acceptor => odd,
        }
    }

    // ----- receiving -----

    /// Feeds bytes from the transport and processes every complete frame.
    pub fn receive(&mut self, mut bytes: &[u8]) -> Result<(), ConnectionError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while !bytes.is_empty() {
            let n = self.decoder.feed(bytes);
            bytes = bytes.get(n..).unwrap_or_default();
            self.drain_decoder()?;
        }
        Ok(())
    }

    /// As [`receive`](Self::receive), but takes the bytes by value, so the payloads of
    /// whole frames in `bytes` are handed out without a copy.
    pub fn receive_buf(&mut self, mut bytes: BytesMut) -> Result<(), ConnectionError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while !bytes.is_empty() {
            self.decoder.feed_buf(&mut bytes);
            self.drain_decoder()?;
        }
        Ok(())
    }

    fn drain_decoder(&mut self) -> Result<(), ConnectionError> {
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => self.handle_frame(frame)?,
                Ok(None) => return Ok(()),
                Err(e) if e.is_fatal() => return Err(self.fail(ConnectionError::Decode(e))),
                Err(e) if e.channel().is_connection() => {
                    return Err(self.fail(ConnectionError::Malformed(e)));
                }
                Err(e) => self.channel_fault(e.channel(), e.code(), e.to_string()),
            }
        }
    }

    /// Processes one decoded frame (for transports that deliver whole frames).
    pub fn handle_frame(&mut self, frame: Frame) -> Result<(), ConnectionError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let channel = frame.channel();
        match frame {
            Frame::Hello(_) | Frame::HelloAck(_) => {
                let frame_type = frame.frame_type();
                Err(self.fail(ConnectionError::Handshake { frame_type }))
            }
            Frame::Ping { nonce } => {
                self.outbox.push_back(Frame::Pong { nonce });
                Ok(())
            }
            Frame::Pong { nonce } => {
                self.events.push_back(Event::Pong { nonce });
                Ok(())
            }
            Frame::Error { code, reason, .. } if channel.is_connection() => {
                let e = ConnectionError::Peer { code, reason };
                self.failed = Some(e.clone());
                Err(e)
            }
            Frame::Open { open, .. } => {
                self.handle_open(channel, open);
                Ok(())
            }
            frame => {
                self.handle_channel_frame(channel, frame);
                Ok(())
            }
        }
    }

    fn handle_open(&mut self, channel: ChannelId, open: Open) {
        if !self.is_peer_id(channel) {
            self.send_error(
                channel,
                ErrorCode::Protocol,
                "channel id has the opener's wrong parity",
            );
            return;
        }
        if self.channels.contains_key(&channel) || channel.0 <= self.peer_high {
            if let Some(mut ch) = self.channels.remove(&channel) {
                ch.abort();
            }
            let reason = format!("channel id {channel} was already used");
            self.send_error(channel, ErrorCode::ChannelInUse, &reason);
            self.events.push_back(Event::ChannelFailed {
                channel,
                code: ErrorCode::ChannelInUse,
                reason,
            });
            return;
        }
        self.peer_high = channel.0;
        self.channels
            .insert(channel, Channel::open_remote(channel, &open));
        self.events.push_back(Event::OpenRequest { channel, open });
    }

    fn handle_channel_frame(&mut self, channel: ChannelId, frame: Frame) {
        let is_error = matches!(frame, Frame::Error { .. });
        let Some(ch) = self.channels.get_mut(&channel) else {
            if !is_error {
                self.send_error(channel, ErrorCode::UnknownChannel, "no such channel");
            }
            return;
        };
        match ch.handle(frame, &mut self.outbox) {
            Ok(Some(event)) => self.events.push_back(Event::Channel { channel, event }),
            Ok(None) => {}
            Err(e) => {
                self.channel_fault(channel, e.code(), e.to_string());
                return;
            }
        }
        self.reap(channel);
    }

    fn channel_fault(&mut self, channel: ChannelId, code: ErrorCode, reason: String) {
        if let Some(mut ch) = self.channels.remove(&channel) {
            ch.abort();
        }
        self.send_error(channel, code, &reason);
        self.events.push_back(Event::ChannelFailed {
            channel,
            code,
            reason,
        });
    }

    fn send_error(&mut self, channel: ChannelId, code: ErrorCode, reason: &str) {
        let reason = reason[..reason.floor_char_boundary(MAX_LONG_STR)].to_owned();
        self.outbox.push_back(Frame::Error {
            channel,
            code,
            reason,
        });
    }

    fn fail(&mut self, e: ConnectionError) -> ConnectionError {
        self.send_error(ChannelId::CONNECTION, e.code(), &e.to_string());
        self.failed = Some(e.clone());
        e
    }

    fn reap(&mut self, channel: ChannelId) {
        if self
            .channels
            .get(&channel)
            .is_some_and(Channel::is_finished)
        {
            self.channels.remove(&channel);
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- transmitting -----

    /// The next frame to write, split to the peer's payload limit.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        let frame = self.outbox.pop_front()?;
        let max = self.max_chunk();
        match frame {
            Frame::Data {
                channel,
                seq,
                stream,
                mut data,
            } if data.len() > max => {
                let head = data.split_to(max);
                self.outbox.push_front(Frame::Data {
                    channel,
                    seq: seq + max as u64,
                    stream,
                    data,
                });
                Some(Frame::Data {
                    channel,
                    seq,
                    stream,
                    data: head,
                })
            }
            frame => Some(frame),
        }
    }

    /// Encodes queued frames into `dst` until it holds at least `limit` bytes or the queue
    /// is empty. Returns the number of frames encoded.
    pub fn encode_transmit(
        &mut self,
        dst: &mut BytesMut,
        limit: usize,
    ) -> Result<usize, ConnectionError> {
        let mut n = 0;
        while dst.len() < limit {
            let Some(frame) = self.poll_transmit() else {
                break;
            };
            self.encoder
                .encode(&frame, dst)
                .map_err(ConnectionError::Encode)?;
            n += 1;
        }
        Ok(n)
    }

    /// As [`encode_transmit`](Self::encode_transmit), for vectored writes: appends to `out`
    /// the pieces to write in order, until they hold at least `limit` bytes or the queue is
    /// empty. The data of large `Data` frames is a shared slice, not a copy. Returns the
    /// number of frames encoded.
    pub fn encode_transmit_vectored(
        &mut self,
        out: &mut Vec<Bytes>,
        limit: usize,
    ) -> Result<usize, ConnectionError> {
        /// Data shorter than this is copied next to its header: one piece, not two.
        const SHARE_FROM: usize = 4096;
        let mut head = BytesMut::new();
        let (mut total, mut n) = (0, 0);
        while total + head.len() < limit {
            let Some(frame) = self.poll_transmit() else {
                break;
            };
            match self.encoder.encode_split(&frame, &mut head) {
                Ok(Some(data)) if data.len() >= SHARE_FROM => {
                    total += head.len() + data.len();
                    out.push(head.split().freeze());
                    out.push(data.clone());
                }
                Ok(Some(data)) => head.extend_from_slice(data),
                Ok(None) => {}
                Err(e) => return Err(ConnectionError::Encode(e)),
            }
            n += 1;
        }
        if !head.is_empty() {
            out.push(head.freeze());
        }
        Ok(n)
    }

    /// True when frames wait to be written.
    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Frames waiting to be written. A driver that cannot write should stop reading from
    /// the transport while this is high: replies (acks, pongs, errors) queue up here.
    pub fn queued_frames(&self) -> usize {
        self.outbox.len()
    }

    /// True once a connection-level fault ended the connection.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    // ----- channel operations -----

    /// Opens a channel. The `Open` is queued; wait for `ChannelEvent::Opened`.
    pub fn open(
        &mut self,
        kind: ChannelKind,
        session: Option<String>,
        run_as: Option<String>,
    ) -> Result<ChannelId, UsageError> {
        let id = ChannelId(self.next_local);
        let open = Open {
            window: self.config.window,
            session,
            run_as,
            kind,
        };
        let (ch, frame) = Channel::open_local(id, open);
        self.encoder.encode(&frame, &mut BytesMut::new())?;
        self.next_local = self
            .next_local
            .checked_add(2)
            .ok_or(UsageError::ChannelIdsExhausted)?;
        self.channels.insert(id, ch);
        self.outbox.push_back(frame);
        Ok(id)
    }

    fn channel(&mut self, id: ChannelId) -> Result<&mut Channel, UsageError> {
        self.channels
            .get_mut(&id)
            .ok_or(UsageError::UnknownChannel(id))
    }

    fn with_channel<T>(
        &mut self,
        id: ChannelId,
        f: impl FnOnce(&mut Channel, &mut VecDeque<Frame>) -> Result<T, ChannelError>,
    ) -> Result<T, UsageError> {
        let mut out = std::mem::take(&mut self.outbox);
        let result = match self.channels.get_mut(&id) {
            Some(ch) => f(ch, &mut out).map_err(UsageError::from),
            None => Err(UsageError::UnknownChannel(id)),
        };
        self.outbox = out;
        self.reap(id);
        result
    }

    /// Accepts a channel the peer opened.
    pub fn accept(&mut self, id: ChannelId) -> Result<(), UsageError> {
        let window = self.config.window;
        let frame = self.channel(id)?.accept(window)?;
        self.outbox.push_back(frame);
        Ok(())
    }

    /// Refuses a channel the peer opened.
    pub fn reject(
        &mut self,
        id: ChannelId,
        code: OpenFailCode,
        reason: &str,
    ) -> Result<(), UsageError> {
        let reason = reason[..reason.floor_char_boundary(MAX_LONG_STR)].to_owned();
        let frame = self.channel(id)?.reject(code, reason)?;
        self.outbox.push_back(frame);
        self.reap(id);
        Ok(())
    }

    /// Data bytes `send` accepts now on `id` (0 for unknown channels).
    pub fn writable(&self, id: ChannelId) -> u64 {
        self.channels.get(&id).map_or(0, Channel::writable)
    }

    /// Queues data; it must fit in [`writable`](Self::writable).
    pub fn send(&mut self, id: ChannelId, stream: Stream, data: Bytes) -> Result<(), UsageError> {
        let chunk = self.max_chunk();
        self.with_channel(id, |ch, out| ch.send_data(stream, data, chunk, out))
    }

    /// Half-closes our direction of `id`.
    pub fn send_eof(&mut self, id: ChannelId) -> Result<(), UsageError> {
        self.with_channel(id, |ch, out| ch.send_eof(out))
    }

    /// Closes our side of `id` with an exit status.
    pub fn close(&mut self, id: ChannelId, status: CloseStatus) -> Result<(), UsageError> {
        self.with_channel(id, |ch, out| ch.send_close(status, out))
    }

    /// Sends a terminal size.
    pub fn resize(&mut self, id: ChannelId, cols: u16, rows: u16) -> Result<(), UsageError> {
        self.with_channel(id, |ch, out| ch.send_resize(cols, rows, out))
    }

    /// Asks the peer to deliver a signal.
    pub fn signal(&mut self, id: ChannelId, signal: Signal) -> Result<(), UsageError> {
        self.with_channel(id, |ch, out| ch.send_signal(signal, out))
    }

    /// Reports that the application consumed `n` bytes of `id`'s data (returns credit).
    pub fn consumed(&mut self, id: ChannelId, n: u64) -> Result<(), UsageError> {
        self.with_channel(id, |ch, out| ch.consumed(n, out))
    }

    /// Queues a `Ping` (see [`crate::liveness`]).
    pub fn ping(&mut self, nonce: u64) {
        self.outbox.push_back(Frame::Ping { nonce });
    }

    /// Queues a connection `Error`; the driver then flushes and closes.
    pub fn shutdown(&mut self, code: ErrorCode, reason: &str) {
        self.send_error(ChannelId::CONNECTION, code, reason);
    }

    /// A channel's state, if it exists.
    pub fn channel_state(&self, id: ChannelId) -> Option<ChannelState> {
        self.channels.get(&id).map(Channel::state)
    }

    /// Ids of every channel still held.
    pub fn channel_ids(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.keys().copied()
    }

    // ----- resume -----

    /// A new transport replaced the dropped one (after a handshake that resumed this
    /// connection). Resets the decoder, keeps queued frames that were never sent, and queues
    /// a resume `Ack` and the window of every channel, so the peer replays exactly what we
    /// miss and we replay what it misses. Channels whose `Open` went out on the old
    /// transport without an answer fail with `OpenFailed`.
    pub fn reconnected(&mut self, peer_max_payload: u32) {
        self.decoder = Decoder::new(self.config.max_payload);
        self.encoder.set_max_payload(peer_max_payload);
        let old = std::mem::take(&mut self.outbox);
        let mut queued_opens = HashSet::new();
        let mut kept: VecDeque<Frame> = VecDeque::new();
        for frame in old {
            match &frame {
                Frame::Open { channel, .. } => {
                    queued_opens.insert(*channel);
                    kept.push_back(frame);
                }
                Frame::OpenOk { .. } | Frame::OpenFail { .. } | Frame::Error { .. } => {
                    kept.push_back(frame)
                }
                // Sequenced frames are replayed from the log; acks, windows and pings are
                // regenerated.
                _ => {}
            }
        }
        let mut out = VecDeque::new();
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(ch) = self.channels.get_mut(&id) else {
                continue;
            };
            if queued_opens.contains(&id) {
                continue;
            }
            if let Some(event) = ch.reconnected(&mut out) {
                self.events.push_back(Event::Channel { channel: id, event });
            }
            self.reap(id);
        }
        kept.extend(out);
        self.outbox = kept;
    }
}
