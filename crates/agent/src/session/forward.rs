//! A TCP forward: the agent connects to `host:port` and pipes both ways,
//! with half-close in each direction (so scp, rsync and `ssh -N` behave).
//! Until its channel finishes cleanly a forwarded connection closes with a
//! reset, however it ends (channel lost, worker killed): the program on the
//! node never reads a cut stream as a whole one.

use std::os::fd::AsFd;

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
    abort_on_close(&tcp, true);
    let mut ch = inc.accept().await?;
    // A plain split: dropping its write half sends no FIN of its own.
    let graceful = tcp.as_fd().try_clone_to_owned()?;
    let (rd, mut wr) = tokio::io::split(tcp);
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
                    abort_on_close(&graceful, false);
                    up.abort();
                    return Ok(());
                }
                // Lost: the connection is reset as it closes.
                Some(ChannelEvent::Error { .. }) | None => {
                    up.abort();
                    return Ok(());
                }
                Some(_) => {}
            },
        }
    }
    abort_on_close(&graceful, false);
    ch.close(CloseStatus::None);
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
