//! A TCP forward: the agent connects to `host:port` and pipes both ways,
//! with half-close in each direction (so scp, rsync and `ssh -N` behave).
//! A channel lost before the client closed it resets the connection, so
//! the program on the node never reads a cut stream as a whole one.

use airlock_wire::{ChannelEvent, CloseStatus, OpenFailCode, Stream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{pump_out, write_in};
use crate::mux::Incoming;

pub async fn run(inc: Incoming, host: &str, port: u16) -> anyhow::Result<()> {
    let tcp = match TcpStream::connect((host, port)).await {
        Ok(t) => t,
        Err(e) => {
            inc.reject(
                OpenFailCode::ConnectFailed,
                &format!("cannot connect to {host}:{port}: {e}"),
            );
            return Ok(());
        }
    };
    let _ = tcp.set_nodelay(true);
    let _live = Live::register(&tcp);
    let mut ch = inc.accept().await?;
    let (rd, mut wr) = tcp.into_split();
    let mut up = tokio::spawn(pump_out(rd, ch.sender(), Stream::Main, true));
    let (mut write_open, mut up_done) = (true, false);
    while write_open || !up_done {
        tokio::select! {
            _ = &mut up, if !up_done => up_done = true,
            ev = ch.recv() => match ev {
                Some(ChannelEvent::Data { data, .. }) => {
                    if !write_open {
                        ch.consumed(data.len());
                    } else if write_in(&mut wr, &ch, &data).await.is_err() {
                        write_open = false;
                        ch.consumed(data.len());
                    }
                }
                Some(ChannelEvent::Eof) => {
                    let _ = wr.shutdown().await;
                    write_open = false;
                }
                // Close implies Eof: the client finished.
                Some(ChannelEvent::Closed(_)) => {
                    up.abort();
                    return Ok(());
                }
                // Lost: the node side must not read a clean end of stream.
                Some(ChannelEvent::Error { .. }) | None => {
                    reset(wr);
                    up.abort();
                    return Ok(());
                }
                Some(_) => {}
            },
        }
    }
    ch.close(CloseStatus::None);
    Ok(())
}

/// Closes the connection with a reset (RST) once its read half goes too,
/// never with the FIN a dropped write half would send.
fn reset(wr: tokio::net::tcp::OwnedWriteHalf) {
    reset_on_close(wr.as_ref());
    wr.forget();
}

/// Forwarded connections still open in this process (duplicated fds), so
/// that a worker ending before its channels did resets them all.
static LIVE: std::sync::Mutex<Vec<(u64, std::os::fd::OwnedFd)>> = std::sync::Mutex::new(Vec::new());
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One connection in [`LIVE`], for as long as its forward runs.
struct Live(u64);

impl Live {
    fn register(tcp: &TcpStream) -> Option<Live> {
        use std::os::fd::AsFd;
        let fd = tcp.as_fd().try_clone_to_owned().ok()?;
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        LIVE.lock().ok()?.push((id, fd));
        Some(Live(id))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(mut l) = LIVE.lock() {
            l.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Makes every forwarded connection still open close with a reset when the
/// process exits (called when a worker ends before its channels did);
/// returns how many there were. The process must then exit without
/// dropping them: a dropped write half would send a FIN first.
pub fn reset_all() -> usize {
    LIVE.lock()
        .map(|l| {
            for (_, fd) in l.iter() {
                reset_on_close(fd);
            }
            l.len()
        })
        .unwrap_or(0)
}

/// Makes a socket close with a reset (RST) rather than a FIN: SO_LINGER
/// with a zero timeout (which never blocks).
pub fn reset_on_close(socket: &impl std::os::fd::AsFd) {
    let abort = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    if let Err(e) = nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Linger, &abort)
    {
        tracing::warn!(error = %e, "cannot make a connection close with a reset");
    }
}
