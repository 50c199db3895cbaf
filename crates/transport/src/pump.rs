//! Pumping bytes between a channel and a local reader or writer (a process,
//! a PTY, a socket), the same way on the node and on the client; and how a
//! forwarded socket closes (a reset until its channel finished cleanly).

use std::os::fd::AsFd;

use airlock_wire::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::mux::{Channel, ChannelSender};

/// Bytes read from a process, PTY or socket at a time.
const PUMP_CHUNK: usize = 256 * 1024;

/// Copies `from` into the channel until EOF; then half-closes the channel
/// when `eof` (not for one of several streams: Eof ends them all).
pub async fn pump_out<R: AsyncRead + Unpin>(
    mut from: R,
    to: ChannelSender,
    stream: Stream,
    eof: bool,
) {
    let mut buf = bytes::BytesMut::new();
    loop {
        // Reads fill the rest of the current buffer before a new one is
        // allocated, so the frames in flight share few allocations.
        if buf.capacity() < crate::bufio::MIN_READ {
            buf.reserve(PUMP_CHUNK);
        }
        match from.read_buf(&mut buf).await {
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
