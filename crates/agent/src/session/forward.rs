//! A TCP forward: the agent connects to `host:port` and pipes both ways,
//! with half-close in each direction (so scp, rsync and `ssh -N` behave).
//! Until its channel finishes cleanly a forwarded connection closes with a
//! reset, however it ends (channel lost, worker killed): the program on the
//! node never reads a cut stream as a whole one.

use std::os::fd::AsFd;

use airlock_wire::{ChannelEvent, CloseStatus, OpenFailCode, Stream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use airlock_transport::mux::Incoming;
use airlock_transport::pump::{abort_on_close, pump_out, write_in};

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
