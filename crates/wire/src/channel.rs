//! One channel's state machine: opening, data with flow control and sequencing, half-close,
//! close, and resume after a reconnect.
//!
//! `OpenSent`/`OpenReceived` → `Open` → `HalfClosedLocal`/`HalfClosedRemote` → `Closing`
//! → `Closed`. A frame that is not allowed in the current state is a typed
//! [`ChannelError`]; the connection answers it with an `Error` frame for this channel only.

use crate::flow::{FlowError, RecvWindow, SendWindow};
use crate::frame::{
    AckKind, ChannelId, ChannelKind, CloseStatus, ErrorCode, Frame, FrameType, Open, OpenFailCode,
    Signal, Stream,
};
use crate::resume::{Accept, Item, RecvCursor, ResumeError, SendLog};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt;

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// We sent `Open` and wait for `OpenOk`/`OpenFail`.
    OpenSent,
    /// The peer sent `Open`; the application has not accepted or rejected it yet.
    OpenReceived,
    /// Both directions carry data.
    Open,
    /// We sent `Eof` (or `Close`); the peer may still send.
    HalfClosedLocal,
    /// The peer sent `Eof` (or `Close`); we may still send.
    HalfClosedRemote,
    /// Both directions ended; waiting for the `Close` exchange to finish.
    Closing,
    /// Both sides sent `Close`, or the channel failed.
    Closed,
}

impl fmt::Display for ChannelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An operation a channel state machine can be asked to perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A frame of this type arrived from the peer.
    Receive(FrameType),
    /// The application asked to send a frame of this type.
    Send(FrameType),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Receive(t) => write!(f, "receive {t}"),
            Action::Send(t) => write!(f, "send {t}"),
        }
    }
}

/// A channel-level fault. Faults from `handle` are the peer's; faults from `send_*` are the
/// application's misuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("cannot {action} in state {state}")]
    IllegalTransition { state: ChannelState, action: Action },
    #[error("stream {stream:?} is not allowed on this channel kind")]
    StreamNotAllowed { stream: Stream },
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Resume(#[from] ResumeError),
}

impl ChannelError {
    /// The code to send in the `Error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            ChannelError::IllegalTransition { .. } => ErrorCode::IllegalTransition,
            ChannelError::StreamNotAllowed { .. } => ErrorCode::Protocol,
            ChannelError::Flow(_) => ErrorCode::FlowControl,
            ChannelError::Resume(_) => ErrorCode::Sequence,
        }
    }
}

/// What the application learns from a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelEvent {
    /// Our `Open` was accepted.
    Opened,
    /// Our `Open` was refused (or lost in a reconnect).
    OpenFailed { code: OpenFailCode, reason: String },
    /// Data arrived. Report consumption with `consumed` to return credit.
    Data { stream: Stream, data: Bytes },
    /// The peer will send no more data.
    Eof,
    /// The peer's terminal changed size.
    Resize { cols: u16, rows: u16 },
    /// The peer asks to deliver a signal.
    Signal(Signal),
    /// The peer closed the channel. Answer with `send_close` if not done yet.
    Closed(CloseStatus),
    /// The peer reported a protocol error for this channel; it is gone.
    Error { code: ErrorCode, reason: String },
    /// More data may be written now.
    Writable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    OpenSent,
    OpenReceived,
    Established,
    Closed,
}

/// One channel's protocol state.
#[derive(Debug)]
pub struct Channel {
    id: ChannelId,
    /// Exec channels alone carry a stderr stream.
    exec: bool,
    phase: Phase,
    local_eof: bool,
    remote_eof: bool,
    local_close: bool,
    remote_close: bool,
    aborted: bool,
    /// The log was replayed since this side's last reconnect.
    replayed: bool,
    window: u32,
    send_window: SendWindow,
    recv_window: RecvWindow,
    log: SendLog,
    cursor: RecvCursor,
}

fn is_exec(kind: &ChannelKind) -> bool {
    matches!(kind, ChannelKind::Exec { .. })
}

fn log_bound(peer_window: u32) -> u64 {
    2 * u64::from(peer_window).max(1)
}

impl Channel {
    /// Starts a channel we open; returns it and the `Open` frame to send.
    /// `open.window` is the credit we grant the peer.
    pub fn open_local(id: ChannelId, open: Open) -> (Channel, Frame) {
        let ch = Channel::new(id, is_exec(&open.kind), Phase::OpenSent, open.window, 0);
        (ch, Frame::Open { channel: id, open })
    }

    /// Starts a channel the peer opened with `open`.
    pub fn open_remote(id: ChannelId, open: &Open) -> Channel {
        Channel::new(id, is_exec(&open.kind), Phase::OpenReceived, 0, open.window)
    }

    fn new(id: ChannelId, exec: bool, phase: Phase, window: u32, peer_window: u32) -> Channel {
        Channel {
            id,
            exec,
            phase,
            local_eof: false,
            remote_eof: false,
            local_close: false,
            remote_close: false,
            aborted: false,
            replayed: false,
            window,
            send_window: SendWindow::new(peer_window),
            recv_window: RecvWindow::new(window),
            log: SendLog::new(log_bound(peer_window)),
            cursor: RecvCursor::new(),
        }
    }

    /// The channel id.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The current state.
    pub fn state(&self) -> ChannelState {
        match self.phase {
            Phase::OpenSent => ChannelState::OpenSent,
            Phase::OpenReceived => ChannelState::OpenReceived,
            Phase::Closed => ChannelState::Closed,
            Phase::Established => {
                match (
                    self.local_eof || self.local_close,
                    self.remote_eof || self.remote_close,
                ) {
                    (false, false) => ChannelState::Open,
                    (true, false) => ChannelState::HalfClosedLocal,
                    (false, true) => ChannelState::HalfClosedRemote,
                    (true, true) => ChannelState::Closing,
                }
            }
        }
    }

    /// True when the channel is closed and nothing awaits acknowledgement: it can be dropped.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Closed
            && (self.aborted || self.log.is_empty() || !self.closed_normally())
    }

    fn closed_normally(&self) -> bool {
        self.local_close && self.remote_close && !self.aborted
    }

    /// Established, or closed by the `Close` exchange with items still to acknowledge.
    fn live(&self) -> bool {
        self.phase == Phase::Established || (self.phase == Phase::Closed && self.closed_normally())
    }

    /// Data bytes that may be sent now (credit and retransmit room).
    pub fn writable(&self) -> u64 {
        if self.phase != Phase::Established || self.local_eof || self.local_close {
            return 0;
        }
        self.send_window.available().min(self.log.data_room())
    }

    /// Marks the channel failed (after an `Error` either way).
    pub fn abort(&mut self) {
        self.phase = Phase::Closed;
        self.aborted = true;
    }

    fn illegal(&self, action: Action) -> ChannelError {
        ChannelError::IllegalTransition {
            state: self.state(),
            action,
        }
    }

    /// Accepts a channel the peer opened, granting `window` bytes of credit.
    pub fn accept(&mut self, window: u32) -> Result<Frame, ChannelError> {
        if self.phase != Phase::OpenReceived {
            return Err(self.illegal(Action::Send(FrameType::OpenOk)));
        }
        self.phase = Phase::Established;
        self.window = window;
        self.recv_window = RecvWindow::new(window);
        Ok(Frame::OpenOk {
            channel: self.id,
            window,
        })
    }

    /// Refuses a channel the peer opened.
    pub fn reject(&mut self, code: OpenFailCode, reason: String) -> Result<Frame, ChannelError> {
        if self.phase != Phase::OpenReceived {
            return Err(self.illegal(Action::Send(FrameType::OpenFail)));
        }
        self.phase = Phase::Closed;
        Ok(Frame::OpenFail {
            channel: self.id,
            code,
            reason,
        })
    }

    fn push(&mut self, item: Item, out: &mut VecDeque<Frame>) -> Result<(), ChannelError> {
        let frame_item = item.clone();
        let seq = self.log.push(item)?;
        out.push_back(frame_item.to_frame(self.id, seq));
        Ok(())
    }

    /// Sends data in frames of at most `max_chunk` bytes. `data` must fit in
    /// [`writable`](Self::writable); on error nothing is sent.
    pub fn send_data(
        &mut self,
        stream: Stream,
        data: Bytes,
        max_chunk: usize,
        out: &mut VecDeque<Frame>,
    ) -> Result<(), ChannelError> {
        if self.phase != Phase::Established || self.local_eof || self.local_close {
            return Err(self.illegal(Action::Send(FrameType::Data)));
        }
        self.check_stream(stream)?;
        let len = data.len() as u64;
        let available = self.writable();
        if len > available {
            return Err(FlowError::NoCredit {
                requested: len,
                available,
            }
            .into());
        }
        self.send_window.record_sent(len)?;
        let chunk = max_chunk.max(1);
        let mut rest = data;
        while !rest.is_empty() {
            let piece = rest.split_to(chunk.min(rest.len()));
            self.push(
                Item::Data {
                    stream,
                    data: piece,
                },
                out,
            )?;
        }
        Ok(())
    }

    fn check_stream(&self, stream: Stream) -> Result<(), ChannelError> {
        if stream == Stream::Stderr && !self.exec {
            return Err(ChannelError::StreamNotAllowed { stream });
        }
        Ok(())
    }

    /// Half-closes our direction.
    pub fn send_eof(&mut self, out: &mut VecDeque<Frame>) -> Result<(), ChannelError> {
        if self.phase != Phase::Established || self.local_eof || self.local_close {
            return Err(self.illegal(Action::Send(FrameType::Eof)));
        }
        self.push(Item::Eof, out)?;
        self.local_eof = true;
        Ok(())
    }

    /// Closes our side with `status`; the channel is `Closed` once the peer's `Close` is in.
    pub fn send_close(
        &mut self,
        status: CloseStatus,
        out: &mut VecDeque<Frame>,
    ) -> Result<(), ChannelError> {
        if self.phase != Phase::Established || self.local_close {
            return Err(self.illegal(Action::Send(FrameType::Close)));
        }
        self.push(Item::Close(status), out)?;
        self.local_close = true;
        if self.remote_close {
            self.phase = Phase::Closed;
        }
        Ok(())
    }

    /// Sends a terminal size change.
    pub fn send_resize(
        &mut self,
        cols: u16,
        rows: u16,
        out: &mut VecDeque<Frame>,
    ) -> Result<(), ChannelError> {
        if self.phase != Phase::Established || self.local_close {
            return Err(self.illegal(Action::Send(FrameType::Resize)));
        }
        self.push(Item::Resize { cols, rows }, out)
    }

    /// Asks the peer to deliver a signal. Not subject to the data window.
    pub fn send_signal(
        &mut self,
        signal: Signal,
        out: &mut VecDeque<Frame>,
    ) -> Result<(), ChannelError> {
        if self.phase != Phase::Established || self.local_close {
            return Err(self.illegal(Action::Send(FrameType::Signal)));
        }
        self.push(Item::Signal(signal), out)
    }

    /// The application consumed `n` received data bytes; may queue a `WindowUpdate`.
    pub fn consumed(&mut self, n: u64, out: &mut VecDeque<Frame>) -> Result<(), ChannelError> {
        let limit = self.recv_window.consume(n)?;
        if let Some(limit) = limit
            && self.phase == Phase::Established
            && !self.remote_eof
            && !self.remote_close
        {
            out.push_back(Frame::WindowUpdate {
                channel: self.id,
                limit,
            });
        }
        Ok(())
    }

    /// After a new transport replaced a dropped one: queues the resume `Ack` and the current
    /// window. Returns an event when the channel cannot survive (it was still opening).
    pub fn reconnected(&mut self, out: &mut VecDeque<Frame>) -> Option<ChannelEvent> {
        match self.phase {
            Phase::OpenSent => {
                self.phase = Phase::Closed;
                Some(ChannelEvent::OpenFailed {
                    code: OpenFailCode::TargetUnavailable,
                    reason: "connection lost while opening".into(),
                })
            }
            _ if self.live() => {
                self.replayed = false;
                self.announce_resume(AckKind::ResumeRequest, out);
                None
            }
            Phase::OpenReceived | Phase::Established | Phase::Closed => None,
        }
    }

    /// Queues our resume point (entering resynchronisation) and our current window.
    fn announce_resume(&mut self, kind: AckKind, out: &mut VecDeque<Frame>) {
        let received = self.cursor.resume_ack();
        out.push_back(Frame::Ack {
            channel: self.id,
            received,
            kind,
        });
        out.push_back(Frame::WindowUpdate {
            channel: self.id,
            limit: self.recv_window.limit(),
        });
    }

    /// Processes a frame from the peer for this channel. Replies (acks, replays) go to `out`.
    pub fn handle(
        &mut self,
        frame: Frame,
        out: &mut VecDeque<Frame>,
    ) -> Result<Option<ChannelEvent>, ChannelError> {
        let ty = frame.frame_type();
        let illegal = |s: &Self| Err(s.illegal(Action::Receive(ty)));
        match frame {
            Frame::OpenOk { window, .. } => {
                if self.phase != Phase::OpenSent {
                    return illegal(self);
                }
                self.phase = Phase::Established;
                self.send_window = SendWindow::new(window);
                self.log = SendLog::new(log_bound(window));
                Ok(Some(ChannelEvent::Opened))
            }
            Frame::OpenFail { code, reason, .. } => {
                if self.phase != Phase::OpenSent {
                    return illegal(self);
                }
                self.phase = Phase::Closed;
                Ok(Some(ChannelEvent::OpenFailed { code, reason }))
            }
            Frame::Error { code, reason, .. } => {
                self.abort();
                Ok(Some(ChannelEvent::Error { code, reason }))
            }
            Frame::WindowUpdate { limit, .. } => {
                if !self.live() {
                    return illegal(self);
                }
                let grew = self.send_window.update(limit);
                Ok((grew && self.writable() > 0).then_some(ChannelEvent::Writable))
            }
            Frame::Ack { received, kind, .. } => {
                if !self.live() {
                    return illegal(self);
                }
                let before = self.writable();
                let replay = match kind {
                    AckKind::Plain => false,
                    AckKind::Resume => !self.replayed,
                    AckKind::ResumeRequest => {
                        self.announce_resume(AckKind::Resume, out);
                        true
                    }
                };
                if replay {
                    self.replayed = true;
                    for (seq, item) in self.log.replay_from(received)? {
                        out.push_back(item.to_frame(self.id, seq));
                    }
                } else {
                    self.log.ack(received)?;
                }
                Ok((before == 0 && self.writable() > 0).then_some(ChannelEvent::Writable))
            }
            Frame::Data { .. }
            | Frame::Eof { .. }
            | Frame::Close { .. }
            | Frame::Resize { .. }
            | Frame::Signal { .. } => self.handle_sequenced(frame, out),
            Frame::Hello(_)
            | Frame::HelloAck(_)
            | Frame::Ping { .. }
            | Frame::Pong { .. }
            | Frame::Open { .. } => illegal(self),
        }
    }

    fn handle_sequenced(
        &mut self,
        frame: Frame,
        out: &mut VecDeque<Frame>,
    ) -> Result<Option<ChannelEvent>, ChannelError> {
        let ty = frame.frame_type();
        if !self.live() {
            return Err(self.illegal(Action::Receive(ty)));
        }
        let Some((seq, item)) = Item::from_frame(frame) else {
            return Err(self.illegal(Action::Receive(ty)));
        };
        let skip = match self.cursor.accept(seq, item.units())? {
            Accept::Duplicate | Accept::Dropped => return Ok(None),
            Accept::Deliver { skip } => skip,
        };
        if self.remote_close || (self.remote_eof && matches!(item, Item::Data { .. } | Item::Eof)) {
            return Err(self.illegal(Action::Receive(ty)));
        }
        let (event, threshold) = match item {
            Item::Data { stream, data } => {
                self.check_stream(stream)?;
                let data = data.slice((skip as usize).min(data.len())..);
                self.recv_window.on_data(data.len() as u64)?;
                let threshold = u64::from(self.window / 4).max(1);
                (ChannelEvent::Data { stream, data }, threshold)
            }
            Item::Eof => {
                self.remote_eof = true;
                (ChannelEvent::Eof, 1)
            }
            Item::Close(status) => {
                self.remote_close = true;
                if self.local_close {
                    self.phase = Phase::Closed;
                }
                (ChannelEvent::Closed(status), 1)
            }
            Item::Resize { cols, rows } => (ChannelEvent::Resize { cols, rows }, 1),
            Item::Signal(signal) => (ChannelEvent::Signal(signal), 1),
        };
        if let Some(received) = self.cursor.ack_due(threshold) {
            out.push_back(Frame::Ack {
                channel: self.id,
                received,
                kind: AckKind::Plain,
            });
        }
        Ok(Some(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ChannelKind;

    fn tcp_open(window: u32) -> Open {
        Open {
            window,
            session: None,
            run_as: None,
            kind: ChannelKind::TcpForward {
                host: "localhost".into(),
                port: 22,
            },
        }
    }

    /// An opener and an acceptor, both `Open`, with the given windows.
    fn pair(window: u32) -> (Channel, Channel) {
        let (mut a, open) = Channel::open_local(ChannelId(1), tcp_open(window));
        let Frame::Open { open, .. } = open else {
            unreachable!()
        };
        let mut b = Channel::open_remote(ChannelId(1), &open);
        let ok = b.accept(window).unwrap();
        let mut out = VecDeque::new();
        assert_eq!(a.handle(ok, &mut out).unwrap(), Some(ChannelEvent::Opened));
        (a, b)
    }

    #[test]
    fn data_before_open_ok_is_an_illegal_transition() {
        let (mut a, _) = Channel::open_local(ChannelId(1), tcp_open(10));
        let data = Frame::Data {
            channel: ChannelId(1),
            seq: 0,
            stream: Stream::Main,
            data: Bytes::from_static(b"x"),
        };
        assert_eq!(
            a.handle(data, &mut VecDeque::new()),
            Err(ChannelError::IllegalTransition {
                state: ChannelState::OpenSent,
                action: Action::Receive(FrameType::Data),
            })
        );
    }

    #[test]
    fn data_after_peer_eof_is_an_illegal_transition() {
        let (mut a, mut b) = pair(100);
        let mut out = VecDeque::new();
        b.send_eof(&mut out).unwrap();
        a.handle(out.pop_front().unwrap(), &mut VecDeque::new())
            .unwrap();
        assert_eq!(a.state(), ChannelState::HalfClosedRemote);
        let late = Frame::Data {
            channel: ChannelId(1),
            seq: 1,
            stream: Stream::Main,
            data: Bytes::from_static(b"x"),
        };
        assert!(matches!(
            a.handle(late, &mut VecDeque::new()),
            Err(ChannelError::IllegalTransition {
                state: ChannelState::HalfClosedRemote,
                ..
            })
        ));
    }

    #[test]
    fn sending_after_local_eof_is_refused_but_receiving_continues() {
        let (mut a, mut b) = pair(100);
        let mut out = VecDeque::new();
        a.send_eof(&mut out).unwrap();
        assert_eq!(a.state(), ChannelState::HalfClosedLocal);
        assert!(
            a.send_data(Stream::Main, Bytes::from_static(b"x"), 10, &mut out)
                .is_err()
        );
        let mut to_a = VecDeque::new();
        b.send_data(Stream::Main, Bytes::from_static(b"reply"), 10, &mut to_a)
            .unwrap();
        let ev = a.handle(to_a.pop_front().unwrap(), &mut out).unwrap();
        assert_eq!(
            ev,
            Some(ChannelEvent::Data {
                stream: Stream::Main,
                data: Bytes::from_static(b"reply")
            })
        );
    }

    #[test]
    fn close_exchange_reaches_closed_and_finishes_after_ack() {
        let (mut a, mut b) = pair(100);
        let (mut to_a, mut to_b) = (VecDeque::new(), VecDeque::new());
        b.send_close(CloseStatus::Exited(3), &mut to_a).unwrap();
        let ev = a.handle(to_a.pop_front().unwrap(), &mut to_b).unwrap();
        assert_eq!(ev, Some(ChannelEvent::Closed(CloseStatus::Exited(3))));
        a.send_close(CloseStatus::None, &mut to_b).unwrap();
        assert_eq!(a.state(), ChannelState::Closed);
        assert!(!a.is_finished(), "our Close is not acknowledged yet");
        while let Some(f) = to_b.pop_front() {
            b.handle(f, &mut to_a).unwrap();
        }
        assert_eq!(b.state(), ChannelState::Closed);
        while let Some(f) = to_a.pop_front() {
            a.handle(f, &mut to_b).unwrap();
        }
        assert!(a.is_finished());
    }

    #[test]
    fn sender_is_held_to_the_peers_window_until_it_is_updated() {
        let (mut a, mut b) = pair(8);
        let mut to_b = VecDeque::new();
        assert_eq!(a.writable(), 8);
        a.send_data(Stream::Main, Bytes::from_static(b"12345678"), 4, &mut to_b)
            .unwrap();
        assert_eq!(to_b.len(), 2);
        assert_eq!(a.writable(), 0);
        assert!(matches!(
            a.send_data(Stream::Main, Bytes::from_static(b"9"), 4, &mut to_b),
            Err(ChannelError::Flow(FlowError::NoCredit { .. }))
        ));
        let mut to_a = VecDeque::new();
        while let Some(f) = to_b.pop_front() {
            b.handle(f, &mut to_a).unwrap();
        }
        b.consumed(8, &mut to_a).unwrap();
        let mut got_writable = false;
        while let Some(f) = to_a.pop_front() {
            got_writable |= a.handle(f, &mut to_b).unwrap() == Some(ChannelEvent::Writable);
        }
        assert!(got_writable);
        assert_eq!(a.writable(), 8);
    }

    #[test]
    fn peer_exceeding_its_window_is_a_flow_error() {
        let (mut a, _) = pair(4);
        let data = Frame::Data {
            channel: ChannelId(1),
            seq: 0,
            stream: Stream::Main,
            data: Bytes::from_static(b"12345"),
        };
        assert!(matches!(
            a.handle(data, &mut VecDeque::new()),
            Err(ChannelError::Flow(FlowError::Overrun { .. }))
        ));
    }

    #[test]
    fn stderr_on_a_tcp_channel_is_refused() {
        let (mut a, _) = pair(100);
        let data = Frame::Data {
            channel: ChannelId(1),
            seq: 0,
            stream: Stream::Stderr,
            data: Bytes::from_static(b"x"),
        };
        assert_eq!(
            a.handle(data, &mut VecDeque::new()),
            Err(ChannelError::StreamNotAllowed {
                stream: Stream::Stderr
            })
        );
    }

    #[test]
    fn open_ok_twice_is_an_illegal_transition() {
        let (mut a, _) = pair(100);
        assert!(matches!(
            a.handle(
                Frame::OpenOk {
                    channel: ChannelId(1),
                    window: 1
                },
                &mut VecDeque::new()
            ),
            Err(ChannelError::IllegalTransition {
                state: ChannelState::Open,
                ..
            })
        ));
    }

    #[test]
    fn a_channel_still_opening_fails_on_reconnect() {
        let (mut a, _) = Channel::open_local(ChannelId(1), tcp_open(10));
        let ev = a.reconnected(&mut VecDeque::new());
        assert!(matches!(ev, Some(ChannelEvent::OpenFailed { .. })));
        assert_eq!(a.state(), ChannelState::Closed);
    }

    #[test]
    fn replayed_eof_after_resume_is_not_delivered_twice() {
        let (mut a, mut b) = pair(100);
        let mut to_a = VecDeque::new();
        b.send_eof(&mut to_a).unwrap();
        let eof = to_a.pop_front().unwrap();
        let mut to_b = VecDeque::new();
        assert_eq!(
            a.handle(eof.clone(), &mut to_b).unwrap(),
            Some(ChannelEvent::Eof)
        );
        // The Ack was lost; the peer replays the Eof.
        assert_eq!(a.handle(eof, &mut to_b).unwrap(), None);
    }
}
