//! The tokio driver of the session protocol (used by the agent and by the
//! client): it owns one transport and an `airlock_wire::Connection`, and
//! hands the application one [`Channel`] per channel. It never blocks on I/O:
//! a reader task feeds it bytes, a writer task takes encoded frames, and flow
//! control bounds every buffer.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use airlock_wire::{
    ChannelEvent, ChannelId, ChannelKind, ChannelState, CloseStatus, Connection, Event, Open,
    OpenFailCode, Signal, Stream,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Bytes read from the transport at a time.
const READ_CHUNK: usize = 256 * 1024;
/// Encoded bytes handed to the writer at a time (frame heads, and the data
/// of large frames as shared slices: written with one vectored write).
const WRITE_CHUNK: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("the session connection is closed")]
    Closed,
    #[error("the channel was refused: {0}")]
    Refused(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The transport dropped and the session could not be resumed.
    #[error("the session was lost: {0}")]
    Lost(String),
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
    EndWhenIdle,
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

    /// The session is over once no channel is open or opening (each has the
    /// peer's `Close`): a transport lost after that ends the driver instead
    /// of being redialled, as nothing is left to resume. The transport stays
    /// open until then, so the peer, which closed, also ends first. For
    /// sessions of one channel (a command, a shell), called once it is open.
    pub fn end_when_idle(&self) {
        let _ = self.cmd(Cmd::EndWhenIdle);
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
    end_when_idle: bool,
}

impl Driver {
    /// [`Mux::end_when_idle`] was asked and every channel is closed both
    /// ways (one still held only waits for the peer's acknowledgement).
    fn done(&self) -> bool {
        self.end_when_idle
            && self.opening.is_empty()
            && self.channels.keys().all(|&id| {
                matches!(
                    self.conn.channel_state(id),
                    None | Some(ChannelState::Closed)
                )
            })
    }

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
            Cmd::EndWhenIdle => self.end_when_idle = true,
        }
    }
}

/// A boxed transport.
pub type Transport = Box<dyn Io>;

/// What a transport must be.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Dials a new transport and runs the resuming handshake on it; returns
/// the transport and the peer's payload limit.
pub type Redial = Box<
    dyn FnMut() -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<(Transport, u32), crate::dial::DialError>>
                    + Send,
            >,
        > + Send,
>;

/// Starts driving `conn` over `io` (after the handshake). Returns the handle
/// and the stream of channels the peer opens; the future ends with the
/// transport (or, with `redial`, when no new transport came within the
/// resume window).
pub fn start<T>(
    io: T,
    conn: Connection,
) -> (
    Mux,
    mpsc::UnboundedReceiver<Incoming>,
    tokio::task::JoinHandle<Result<(), MuxError>>,
)
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    start_resumable(Box::new(io), conn, None)
}

/// As [`start`], but a lost transport is replaced by `redial` and every
/// channel resumes where it stopped.
pub fn start_resumable(
    io: Transport,
    conn: Connection,
    redial: Option<Redial>,
) -> (
    Mux,
    mpsc::UnboundedReceiver<Incoming>,
    tokio::task::JoinHandle<Result<(), MuxError>>,
) {
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
        end_when_idle: false,
    };
    let task = tokio::spawn(run(io, driver, rx, redial));
    (mux, in_rx, task)
}

/// Why one transport ended.
enum Ended {
    /// The peer or the network went away: resume if we can.
    Lost,
    /// The protocol failed or the application is gone: stop.
    Fatal(MuxError),
}

async fn run(
    io: Transport,
    mut d: Driver,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    mut redial: Option<Redial>,
) -> Result<(), MuxError> {
    let mut io = io;
    let result = loop {
        match drive(io, &mut d, &mut cmds).await {
            Ended::Fatal(e) => break Err(e),
            Ended::Lost if d.done() => break Ok(()),
            Ended::Lost => {}
        }
        let Some(dial) = redial.as_mut() else {
            break Ok(());
        };
        tracing::info!("session transport lost; reconnecting");
        let deadline = tokio::time::Instant::now() + airlock_wire::RESUME_WINDOW;
        let mut backoff = Duration::from_millis(200);
        let window = || {
            format!(
                "it could not be resumed within the resume window ({} s)",
                airlock_wire::RESUME_WINDOW.as_secs()
            )
        };
        let next = loop {
            match tokio::time::timeout_at(deadline, dial()).await {
                Ok(Ok(t)) => break Ok(t),
                Ok(Err(e)) => {
                    if matches!(&e, crate::dial::DialError::Refused(r) if r.ends_session()) {
                        tracing::info!(error = %e, "the session has ended");
                        break Err(
                            "the server ended it (terminated, timed out, or its node is gone)"
                                .to_owned(),
                        );
                    }
                    tracing::debug!(error = %e, "reconnect failed; retrying");
                }
                Err(_) => break Err(window()),
            }
            if tokio::time::Instant::now() + backoff > deadline {
                break Err(window());
            }
            // Short and jittered: a session should resume soon after the
            // server is back, and its many redials should not come in step.
            let half = backoff / 2;
            tokio::time::sleep(half + half.mul_f64(rand::random::<f64>())).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        };
        match next {
            Ok((t, peer_max)) => {
                d.conn.reconnected(peer_max);
                tracing::info!("session resumed");
                io = t;
            }
            Err(why) => break Err(MuxError::Lost(why)),
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
    result
}

/// Drives one transport until it ends.
async fn drive(io: Transport, d: &mut Driver, cmds: &mut mpsc::UnboundedReceiver<Cmd>) -> Ended {
    let (mut rd, mut wr) = tokio::io::split(io);
    let (read_tx, mut read_rx) = mpsc::channel::<BytesMut>(16);
    let (write_tx, mut write_rx) = mpsc::channel::<Vec<Bytes>>(8);
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        loop {
            // The connection takes what was read without a copy. A small
            // read is copied out instead, so its frames do not pin the whole
            // buffer while the application holds them.
            if buf.capacity() < crate::bufio::MIN_READ {
                buf.reserve(READ_CHUNK);
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = if n < crate::bufio::COPY_BELOW {
                        let c = BytesMut::from(&buf[..]);
                        buf.clear();
                        c
                    } else {
                        buf.split()
                    };
                    if read_tx.send(chunk).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(pieces) = write_rx.recv().await {
            if crate::bufio::write_all_pieces(&mut wr, pieces)
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut ping = tokio::time::interval(airlock_wire::PING_INTERVAL);
    ping.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    let mut nonce = 0u64;
    let ended = loop {
        if d.conn.has_transmit() {
            match write_tx.try_reserve() {
                Ok(permit) => {
                    let mut pieces = Vec::new();
                    if let Err(e) = d.conn.encode_transmit_vectored(&mut pieces, WRITE_CHUNK) {
                        break Ended::Fatal(MuxError::Protocol(e.to_string()));
                    }
                    permit.send(pieces);
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break Ended::Lost,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
        }
        let want_write = d.conn.has_transmit();
        tokio::select! {
            bytes = read_rx.recv() => match bytes {
                Some(b) => {
                    last_heard = tokio::time::Instant::now();
                    let r = d.conn.receive_buf(b);
                    d.dispatch_events();
                    if let Err(e) = r {
                        // Flush the Error frame the connection queued, then stop.
                        let mut pieces = Vec::new();
                        let _ = d.conn.encode_transmit_vectored(&mut pieces, usize::MAX);
                        let _ = write_tx.send(pieces).await;
                        break Ended::Fatal(MuxError::Protocol(e.to_string()));
                    }
                }
                None => break Ended::Lost,
            },
            c = cmds.recv() => match c {
                Some(c) => {
                    d.command(c);
                    d.dispatch_events();
                }
                None => break Ended::Fatal(MuxError::Closed),
            },
            permit = write_tx.reserve(), if want_write => match permit {
                Ok(p) => {
                    let mut pieces = Vec::new();
                    if let Err(e) = d.conn.encode_transmit_vectored(&mut pieces, WRITE_CHUNK) {
                        break Ended::Fatal(MuxError::Protocol(e.to_string()));
                    }
                    p.send(pieces);
                }
                Err(_) => break Ended::Lost,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > airlock_wire::DEAD_AFTER {
                    tracing::warn!("no data or pong for {:?}: the session peer is dead", airlock_wire::DEAD_AFTER);
                    break Ended::Lost;
                }
                nonce += 1;
                d.conn.ping(nonce);
            }
        }
    };
    drop(write_tx);
    match ended {
        Ended::Lost => writer.abort(),
        Ended::Fatal(_) => {
            let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        }
    }
    reader.abort();
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_wire::{ChannelKind, Config, Side};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A redial that counts its calls and fails as a server that ended the
    /// session does, so the driver stops at once.
    fn counting_redial(calls: Arc<AtomicUsize>) -> Redial {
        Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Err(crate::dial::DialError::Refused(crate::dial::Refused {
                    status: 410,
                    code: Some(airlock_proto::ErrorCode::SessionEnded),
                    message: "ended".into(),
                }))
            })
        })
    }

    /// A dialer runs one command channel that the far side closes with an
    /// exit status, then the far side's transport goes away. Returns the
    /// status, how the dialer's driver ended and how often it redialled.
    async fn one_command(end_when_idle: bool) -> (CloseStatus, Result<(), MuxError>, usize) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let calls = Arc::new(AtomicUsize::new(0));
        let (client, _, client_task) = start_resumable(
            Box::new(a),
            Connection::new(Config::new(Side::Dialer), 1 << 16),
            Some(counting_redial(calls.clone())),
        );
        let (_node, mut incoming, node_task) =
            start(b, Connection::new(Config::new(Side::Acceptor), 1 << 16));
        let node = tokio::spawn(async move {
            let ch = incoming
                .recv()
                .await
                .expect("an open")
                .accept()
                .await
                .expect("accept");
            ch.close(CloseStatus::Exited(3));
            // The far side answers our close; then its transport goes.
            let mut ch = ch;
            while !matches!(ch.recv().await, Some(ChannelEvent::Closed(_)) | None) {}
        });
        let kind = ChannelKind::Exec {
            command: "true".into(),
            stdin: false,
        };
        let mut ch = client.open(kind, None, None).await.expect("open");
        if end_when_idle {
            client.end_when_idle();
        }
        let status = loop {
            match ch.recv().await.expect("an event") {
                ChannelEvent::Closed(st) => break st,
                _ => continue,
            }
        };
        node.await.expect("node");
        node_task.abort();
        let ended = tokio::time::timeout(Duration::from_secs(10), client_task)
            .await
            .expect("the driver ends")
            .expect("no panic");
        (status, ended, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_finished_one_channel_session_is_not_redialled_when_its_transport_goes() {
        let (status, ended, redials) = one_command(true).await;
        assert_eq!(status, CloseStatus::Exited(3));
        assert!(ended.is_ok(), "{ended:?}");
        assert_eq!(redials, 0);
    }

    #[tokio::test]
    async fn without_end_when_idle_a_lost_transport_is_redialled() {
        let (status, ended, redials) = one_command(false).await;
        assert_eq!(status, CloseStatus::Exited(3));
        assert!(matches!(ended, Err(MuxError::Lost(_))), "{ended:?}");
        assert_eq!(redials, 1);
    }
}
