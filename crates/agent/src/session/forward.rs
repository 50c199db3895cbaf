//! A TCP forward: the agent connects to `host:port` and pipes both ways,
//! with half-close in each direction (so scp, rsync and `ssh -N` behave).

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
                Some(ChannelEvent::Closed(_) | ChannelEvent::Error { .. }) | None => {
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
