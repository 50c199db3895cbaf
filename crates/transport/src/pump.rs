//! Pumping bytes between a channel and a local reader or writer (a process,
//! a PTY, a socket), the same way on the node and on the client; and how a
//! forwarded socket closes (a reset until its channel finished cleanly).

use std::os::fd::AsFd;
use std::time::Duration;

use airlock_wire::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::mux::{Channel, ChannelSender};

/// Bytes read from a process, PTY or socket at a time.
const PUMP_CHUNK: usize = 256 * 1024;

/// Once a process exited, how long its output may stay quiet (held open by
/// a background process) before its pump stops reading.
pub const QUIET_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Copies `from` into the channel until EOF; then half-closes the channel
/// when `eof` (not for one of several streams: Eof ends them all).
pub async fn pump_out<R: AsyncRead + Unpin>(from: R, to: ChannelSender, stream: Stream, eof: bool) {
    pump(from, to, stream, eof, None).await
}

/// [`pump_out`] for a process's output: once `exited` turns true, it also
/// ends when the output has been quiet for [`QUIET_AFTER_EXIT`]. Sending is
/// never cut short: what was read is delivered or the channel fails, so a
/// close after this never hides output (a session resuming after an
/// outage gets all of it).
pub async fn pump_process_output<R: AsyncRead + Unpin>(
    from: R,
    to: ChannelSender,
    stream: Stream,
    eof: bool,
    exited: watch::Receiver<bool>,
) {
    pump(from, to, stream, eof, Some(exited)).await
}

/// Resolves once the process exited and then `QUIET_AFTER_EXIT` passed.
async fn quiet_after_exit(exited: &mut Option<watch::Receiver<bool>>) {
    match exited {
        Some(rx) => {
            let _ = rx.wait_for(|e| *e).await;
            tokio::time::sleep(QUIET_AFTER_EXIT).await;
        }
        None => std::future::pending().await,
    }
}

async fn pump<R: AsyncRead + Unpin>(
    mut from: R,
    to: ChannelSender,
    stream: Stream,
    eof: bool,
    mut exited: Option<watch::Receiver<bool>>,
) {
    let mut buf = bytes::BytesMut::new();
    loop {
        // Reads fill the rest of the current buffer before a new one is
        // allocated, so the frames in flight share few allocations.
        if buf.capacity() < crate::bufio::MIN_READ {
            buf.reserve(PUMP_CHUNK);
        }
        let read = tokio::select! {
            r = from.read_buf(&mut buf) => r,
            () = quiet_after_exit(&mut exited) => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // A large read moves into the frame without a copy. A small
                // one (a keystroke, an sftp status) is copied out: a slice
                // would pin the whole buffer for as long as the frame waits
                // in the retransmit log for its ack.
                let data = if buf.len() < crate::bufio::COPY_BELOW {
                    let d = bytes::Bytes::copy_from_slice(&buf);
                    buf.clear();
                    d
                } else {
                    buf.split().freeze()
                };
                if to.send(stream, data).await.is_err() {
                    return;
                }
            }
        }
    }
    if eof {
        to.eof();
    }
}

/// Writes one received data chunk and returns its credit.
pub async fn write_in<W: AsyncWrite + Unpin>(
    to: &mut W,
    ch: &Channel,
    data: &[u8],
) -> std::io::Result<()> {
    to.write_all(data).await?;
    ch.consumed(data.len());
    Ok(())
}

/// With `abort`, closing the socket sends a reset (RST) instead of a FIN
/// (SO_LINGER with a zero timeout, which never blocks); without, it closes
/// gracefully again.
pub fn abort_on_close(socket: &impl AsFd, abort: bool) {
    let linger = nix::libc::linger {
        l_onoff: i32::from(abort),
        l_linger: 0,
    };
    if let Err(e) = nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Linger, &linger)
    {
        tracing::warn!(error = %e, "cannot set how a connection closes");
    }
}
