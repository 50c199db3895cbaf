//! Test harness: two `Connection`s joined by an in-memory transport that can lose
//! everything in flight.

#![allow(dead_code)]

use airlock_wire::{
    ChannelEvent, ChannelId, ChannelKind, CloseStatus, Config, Connection, DEFAULT_MAX_PAYLOAD,
    Event, Side, Stream,
};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};

/// One endpoint and what its application has seen.
pub struct End {
    pub conn: Connection,
    /// Bytes received per channel, in order.
    pub received: BTreeMap<ChannelId, Vec<u8>>,
    /// Bytes received but not yet reported consumed.
    pub unconsumed: BTreeMap<ChannelId, u64>,
    pub eof: BTreeMap<ChannelId, bool>,
    pub closed: BTreeMap<ChannelId, CloseStatus>,
    pub opened: Vec<ChannelId>,
    pub failures: Vec<Event>,
    /// Bytes in flight towards the other end.
    pub wire: VecDeque<u8>,
    /// Flushes and deliveries so far (to alternate between the two APIs for each).
    pub turns: u64,
}

impl End {
    pub fn new(config: Config) -> Self {
        End {
            conn: Connection::new(config, DEFAULT_MAX_PAYLOAD),
            received: BTreeMap::new(),
            unconsumed: BTreeMap::new(),
            eof: BTreeMap::new(),
            closed: BTreeMap::new(),
            opened: Vec::new(),
            failures: Vec::new(),
            wire: VecDeque::new(),
            turns: 0,
        }
    }

    /// Encodes every queued frame onto the wire, through `encode_transmit` and
    /// `encode_transmit_vectored` in turn (the drivers use the second).
    pub fn flush(&mut self) {
        self.turns += 1;
        if self.turns.is_multiple_of(2) {
            let mut pieces = Vec::new();
            self.conn
                .encode_transmit_vectored(&mut pieces, usize::MAX)
                .unwrap();
            for p in pieces {
                self.wire.extend(p.iter().copied());
            }
        } else {
            let mut buf = BytesMut::new();
            self.conn.encode_transmit(&mut buf, usize::MAX).unwrap();
            self.wire.extend(buf.iter().copied());
        }
    }

    /// Drains and records events; accepts every open request.
    pub fn drain_events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::OpenRequest { channel, .. } => {
                    self.conn.accept(channel).unwrap();
                    self.opened.push(channel);
                }
                Event::Channel { channel, event } => match event {
                    ChannelEvent::Opened => self.opened.push(channel),
                    ChannelEvent::Data { data, .. } => {
                        self.received
                            .entry(channel)
                            .or_default()
                            .extend_from_slice(&data);
                        *self.unconsumed.entry(channel).or_default() += data.len() as u64;
                    }
                    ChannelEvent::Eof => {
                        let again = self.eof.insert(channel, true);
                        assert_eq!(again, None, "Eof delivered twice on {channel}");
                    }
                    ChannelEvent::Closed(status) => {
                        assert!(
                            self.closed.insert(channel, status).is_none(),
                            "Close delivered twice"
                        );
                    }
                    ChannelEvent::Writable
                    | ChannelEvent::Resize { .. }
                    | ChannelEvent::Signal(_) => {}
                    other => self.failures.push(Event::Channel {
                        channel,
                        event: other,
                    }),
                },
                other @ Event::ChannelFailed { .. } => self.failures.push(other),
                Event::Pong { .. } => {}
            }
        }
    }

    /// Reports consumption of everything received on `channel`.
    pub fn consume_all(&mut self, channel: ChannelId) {
        let n = self.unconsumed.insert(channel, 0).unwrap_or(0);
        if n > 0 && self.conn.channel_state(channel).is_some() {
            self.conn.consumed(channel, n).unwrap();
        }
    }

    /// Writes as much of `data[*sent..]` as credit allows.
    pub fn write_some(&mut self, channel: ChannelId, data: &[u8], sent: &mut usize, max: usize) {
        let room = self.conn.writable(channel) as usize;
        let n = room.min(max).min(data.len() - *sent);
        if n > 0 {
            self.conn
                .send(
                    channel,
                    Stream::Main,
                    Bytes::copy_from_slice(&data[*sent..*sent + n]),
                )
                .unwrap();
            *sent += n;
        }
    }
}

/// Delivers up to `n` bytes of `from`'s wire to `to`.
pub fn deliver(from: &mut End, to: &mut End, n: usize) {
    let n = n.min(from.wire.len());
    let bytes: Vec<u8> = from.wire.drain(..n).collect();
    // `receive` and `receive_buf` in turn (the drivers use the second).
    to.turns += 1;
    if to.turns.is_multiple_of(2) {
        to.conn.receive_buf(BytesMut::from(&bytes[..])).unwrap();
    } else {
        to.conn.receive(&bytes).unwrap();
    }
    to.drain_events();
}

/// Flushes and delivers everything both ways until quiet.
pub fn settle(a: &mut End, b: &mut End) {
    for _ in 0..1000 {
        a.flush();
        b.flush();
        if a.wire.is_empty() && b.wire.is_empty() {
            return;
        }
        deliver(a, b, usize::MAX);
        deliver(b, a, usize::MAX);
    }
    panic!("connections never went quiet");
}

/// Drops everything in flight and reconnects both ends.
pub fn disconnect(a: &mut End, b: &mut End) {
    a.wire.clear();
    b.wire.clear();
    a.conn.reconnected(DEFAULT_MAX_PAYLOAD);
    b.conn.reconnected(DEFAULT_MAX_PAYLOAD);
    a.drain_events();
    b.drain_events();
}

/// A client (dialer) and agent (acceptor) with `window`-byte windows.
pub fn pair(window: u32) -> (End, End) {
    let mut c = Config::new(Side::Dialer);
    c.window = window;
    let mut s = Config::new(Side::Acceptor);
    s.window = window;
    (End::new(c), End::new(s))
}

/// Opens a TCP-forward channel from `a` and settles until it is open on both ends.
pub fn open_tcp(a: &mut End, b: &mut End) -> ChannelId {
    let id = a
        .conn
        .open(
            ChannelKind::TcpForward {
                host: "127.0.0.1".into(),
                port: 22,
            },
            None,
            None,
        )
        .unwrap();
    settle(a, b);
    assert!(a.opened.contains(&id) && b.opened.contains(&id));
    id
}
