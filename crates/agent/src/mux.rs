//! The tokio driver of the session protocol (used by the agent and by the
//! client): it owns one transport and an `airlock_wire::Connection`, and
//! hands the application one [`Channel`] per channel. It never blocks on I/O:
//! a reader task feeds it bytes, a writer task takes encoded frames, and flow
//! control bounds every buffer.

use std::collections::{HashMap, VecDeque};

use airlock_wire::{
    ChannelEvent, ChannelId, ChannelKind, CloseStatus, Connection, Event, Open, OpenFailCode,
    Signal, Stream,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Bytes read from the transport at a time.
const READ_CHUNK: usize = 256 * 1024;
/// Encoded bytes handed to the writer at a time.
const WRITE_CHUNK: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("the session connection is closed")]
    Closed,
    #[error("the channel was refused: {0}")]
    Refused(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

enum Cmd {
    Open {
        kind: ChannelKind,
        session: Option<String>,
        run_as: Option<String>,
        reply: oneshot::Sender<Result<Channel, MuxError>>,
    },
    Accept {
        id: ChannelId,
        reply: oneshot::Sender<Result<Channel, MuxError>>,
    },
    Reject {
        id: ChannelId,
        code: OpenFailCode,
        reason: String,
    },
    Send {
        id: ChannelId,
        stream: Stream,
        data: Bytes,
        done: oneshot::Sender<Result<(), MuxError>>,
    },
    Eof(ChannelId),
    Close(ChannelId, CloseStatus),
    Resize(ChannelId, u16, u16),
    Signal(ChannelId, Signal),
    Consumed(ChannelId, u64),
}

/// A handle to the connection; cheap to clone.
#[derive(Clone)]
pub struct Mux {
    tx: mpsc::UnboundedSender<Cmd>,
}

/// A channel the peer asked to open: accept or reject it.
pub struct Incoming {
    pub id: ChannelId,
    pub open: Open,
    mux: Mux,
}

/// One channel: receive its events, send data and control.
pub struct Channel {
    pub id: ChannelId,
    mux: Mux,
    rx: mpsc::UnboundedReceiver<ChannelEvent>,
}

impl Mux {
    fn cmd(&self, c: Cmd) -> Result<(), MuxError> {
        self.tx.send(c).map_err(|_| MuxError::Closed)
    }

    /// Opens a channel and waits until the peer accepts it.
    pub async fn open(
        &self,
        kind: ChannelKind,
        session: Option<String>,
        run_as: Option<String>,
    ) -> Result<Channel, MuxError> {
        let (reply, rx) = oneshot::channel();
        self.cmd(Cmd::Open {
            kind,
            session,
            run_as,
            reply,
        })?;
        rx.await.map_err(|_| MuxError::Closed)?
    }
}

impl Incoming {
    pub async fn accept(self) -> Result<Channel, MuxError> {
        let (reply, rx) = oneshot::channel();
        self.mux.cmd(Cmd::Accept { id: self.id, reply })?;
        rx.await.map_err(|_| MuxError::Closed)?
    }
    pub fn reject(self, code: OpenFailCode, reason: &str) {
        let _ = self.mux.cmd(Cmd::Reject {
            id: self.id,
            code,
            reason: reason.to_owned(),
        });
    }
}

impl Channel {
    /// The next event, or None when the connection is gone.
    pub async fn recv(&mut self) -> Option<ChannelEvent> {
        self.rx.recv().await
    }
    /// Sends data, waiting for flow-control credit as needed.
    pub async fn send(&self, stream: Stream, data: Bytes) -> Result<(), MuxError> {
        self.sender().send(stream, data).await
    }
    /// Returns credit after the application has used `n` received bytes.
    pub fn consumed(&self, n: usize) {
        let _ = self.mux.cmd(Cmd::Consumed(self.id, n as u64));
    }
    pub fn eof(&self) {
        self.sender().eof();
    }
    pub fn close(&self, status: CloseStatus) {
        self.sender().close(status);
    }
    pub fn resize(&self, cols: u16, rows: u16) {
        self.sender().resize(cols, rows);
    }
    pub fn signal(&self, s: Signal) {
        self.sender().signal(s);
    }
    /// A second handle for sending from another task.
    pub fn sender(&self) -> ChannelSender {
        ChannelSender {
            id: self.id,
            mux: self.mux.clone(),
        }
    }
}

/// The sending half of a channel, for use from another task.
#[derive(Clone)]
pub struct ChannelSender {
    pub id: ChannelId,
    mux: Mux,
}

impl ChannelSender {
    pub async fn send(&self, stream: Stream, data: Bytes) -> Result<(), MuxError> {
        if data.is_empty() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        self.mux.cmd(Cmd::Send {
            id: self.id,
            stream,
            data,
            done,
        })?;
        rx.await.map_err(|_| MuxError::Closed)?
    }
    pub fn eof(&self) {
        let _ = self.mux.cmd(Cmd::Eof(self.id));
    }
    pub fn close(&self, status: CloseStatus) {
        let _ = self.mux.cmd(Cmd::Close(self.id, status));
    }
    pub fn resize(&self, cols: u16, rows: u16) {
        let _ = self.mux.cmd(Cmd::Resize(self.id, cols, rows));
    }
    pub fn signal(&self, s: Signal) {
        let _ = self.mux.cmd(Cmd::Signal(self.id, s));
    }
}

struct Pending {
    stream: Stream,
    data: Bytes,
    done: oneshot::Sender<Result<(), MuxError>>,
}

struct Driver {
    conn: Connection,
    mux: Mux,
    channels: HashMap<ChannelId, mpsc::UnboundedSender<ChannelEvent>>,
    opening: HashMap<ChannelId, oneshot::Sender<Result<Channel, MuxError>>>,
    pending: HashMap<ChannelId, VecDeque<Pending>>,
    incoming: mpsc::UnboundedSender<Incoming>,
}

impl Driver {
    fn new_channel(&mut self, id: ChannelId) -> Channel {
        let (tx, rx) = mpsc::unbounded_channel();
        self.channels.insert(id, tx);
        Channel {
            id,
            mux: self.mux.clone(),
            rx,
        }
    }

    fn dispatch_events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::OpenRequest { channel, open } => {
                    let inc = Incoming {
                        id: channel,
                        open,
                        mux: self.mux.clone(),
                    };
                    if self.incoming.send(inc).is_err() {
                        let _ = self.conn.reject(
                            channel,
                            OpenFailCode::ResourceShortage,
                            "not accepting channels",
                        );
                    }
                }
                Event::Channel { channel, event } => match event {
                    ChannelEvent::Opened => {
                        if let Some(reply) = self.opening.remove(&channel) {
                            let ch = self.new_channel(channel);
                            let _ = reply.send(Ok(ch));
                        }
                    }
                    ChannelEvent::OpenFailed { reason, .. } => {
                        if let Some(reply) = self.opening.remove(&channel) {
                            let _ = reply.send(Err(MuxError::Refused(reason)));
                        }
                    }
                    ChannelEvent::Writable => self.flush_pending(channel),
                    other => {
                        if matches!(other, ChannelEvent::Closed(_)) {
                            // Answer the peer's Close; an error means we closed already.
                            let _ = self.conn.close(channel, CloseStatus::None);
                        }
                        let last =
                            matches!(other, ChannelEvent::Closed(_) | ChannelEvent::Error { .. });
                        if let Some(tx) = self.channels.get(&channel) {
                            let _ = tx.send(other);
                        }
                        if last && self.conn.channel_state(channel).is_none() {
                            self.forget(channel);
                        }
                    }
                },
                Event::ChannelFailed {
                    channel,
                    code,
                    reason,
                } => {
                    if let Some(tx) = self.channels.get(&channel) {
                        let _ = tx.send(ChannelEvent::Error { code, reason });
                    }
                    self.forget(channel);
                }
                Event::Pong { .. } => {}
            }
        }
    }

    fn forget(&mut self, id: ChannelId) {
        self.channels.remove(&id);
        if let Some(q) = self.pending.remove(&id) {
            for p in q {
                let _ = p.done.send(Err(MuxError::Closed));
            }
        }
    }

    fn flush_pending(&mut self, id: ChannelId) {
        let Some(q) = self.pending.get_mut(&id) else {
            return;
        };
        while let Some(front) = q.front_mut() {
            let room = self.conn.writable(id) as usize;
            if room == 0 {
                break;
            }
            let n = room.min(front.data.len());
            let chunk = front.data.split_to(n);
            if let Err(e) = self.conn.send(id, front.stream, chunk) {
                if let Some(p) = q.pop_front() {
                    let _ = p.done.send(Err(MuxError::Protocol(e.to_string())));
                }
                continue;
            }
            if front.data.is_empty()
                && let Some(p) = q.pop_front()
            {
                let _ = p.done.send(Ok(()));
            }
        }
        if q.is_empty() {
            self.pending.remove(&id);
        }
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Open {
                kind,
                session,
                run_as,
                reply,
            } => match self.conn.open(kind, session, run_as) {
                Ok(id) => {
                    self.opening.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(MuxError::Protocol(e.to_string())));
                }
            },
            Cmd::Accept { id, reply } => match self.conn.accept(id) {
                Ok(()) => {
                    let ch = self.new_channel(id);
                    let _ = reply.send(Ok(ch));
                }
                Err(e) => {
                    let _ = reply.send(Err(MuxError::Protocol(e.to_string())));
                }
            },
            Cmd::Reject { id, code, reason } => {
                let _ = self.conn.reject(id, code, &reason);
            }
            Cmd::Send {
                id,
                stream,
                data,
                done,
            } => {
                self.pending
                    .entry(id)
                    .or_default()
                    .push_back(Pending { stream, data, done });
                self.flush_pending(id);
            }
            Cmd::Eof(id) => {
                let _ = self.conn.send_eof(id);
            }
            Cmd::Close(id, st) => {
                let _ = self.conn.close(id, st);
            }
            Cmd::Resize(id, c, r) => {
                let _ = self.conn.resize(id, c, r);
            }
            Cmd::Signal(id, s) => {
                let _ = self.conn.signal(id, s);
            }
            Cmd::Consumed(id, n) => {
                let _ = self.conn.consumed(id, n);
            }
        }
    }
}

/// Starts driving `conn` over `io` (after the handshake). Returns the handle
/// and the stream of channels the peer opens; the future ends with the
/// transport.
pub fn start<T>(
    io: T,
    conn: Connection,
) -> (
    Mux,
    mpsc::UnboundedReceiver<Incoming>,
    tokio::task::JoinHandle<Result<(), MuxError>>,
)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let mux = Mux { tx };
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        conn,
        mux: mux.clone(),
        channels: HashMap::new(),
        opening: HashMap::new(),
        pending: HashMap::new(),
        incoming: in_tx,
    };
    let task = tokio::spawn(run(io, driver, rx));
    (mux, in_rx, task)
}

async fn run<T>(
    io: T,
    mut d: Driver,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) -> Result<(), MuxError>
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let (read_tx, mut read_rx) = mpsc::channel::<Bytes>(16);
    let (write_tx, mut write_rx) = mpsc::channel::<BytesMut>(8);
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            buf.reserve(READ_CHUNK);
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if read_tx.send(buf.split().freeze()).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(b) = write_rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut cmds_open = true;
    let result = loop {
        if d.conn.has_transmit() {
            match write_tx.try_reserve() {
                Ok(permit) => {
                    let mut buf = BytesMut::new();
                    if let Err(e) = d.conn.encode_transmit(&mut buf, WRITE_CHUNK) {
                        break Err(MuxError::Protocol(e.to_string()));
                    }
                    permit.send(buf);
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break Err(MuxError::Closed),
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
        }
        let want_write = d.conn.has_transmit();
        tokio::select! {
            bytes = read_rx.recv() => match bytes {
                Some(b) => {
                    let r = d.conn.receive(&b);
                    d.dispatch_events();
                    if let Err(e) = r {
                        // Flush the Error frame the connection queued, then stop.
                        let mut buf = BytesMut::new();
                        let _ = d.conn.encode_transmit(&mut buf, usize::MAX);
                        let _ = write_tx.send(buf).await;
                        break Err(MuxError::Protocol(e.to_string()));
                    }
                }
                None => break Ok(()),
            },
            c = cmds.recv(), if cmds_open => match c {
                Some(c) => {
                    d.command(c);
                    d.dispatch_events();
                }
                None => cmds_open = false,
            },
            permit = write_tx.reserve(), if want_write => match permit {
                Ok(p) => {
                    let mut buf = BytesMut::new();
                    if let Err(e) = d.conn.encode_transmit(&mut buf, WRITE_CHUNK) {
                        break Err(MuxError::Protocol(e.to_string()));
                    }
                    p.send(buf);
                }
                Err(_) => break Err(MuxError::Closed),
            },
        }
    };
    // Tell every channel the connection is gone.
    for (_, reply) in d.opening.drain() {
        let _ = reply.send(Err(MuxError::Closed));
    }
    let ids: Vec<ChannelId> = d.pending.keys().copied().collect();
    for id in ids {
        d.forget(id);
    }
    d.channels.clear();
    drop(write_tx);
    let _ = writer.await;
    reader.abort();
    result
}
