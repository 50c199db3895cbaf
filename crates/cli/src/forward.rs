//! The local ends of TCP-forward channels (`port-forward`, `proxy`): piping
//! both ways with half-close, and telling a stream that finished from one
//! that was lost. Only a clean close by the far side ends a stream cleanly;
//! a lost one resets the local TCP connection, never a FIN that reads as a
//! complete transfer.

use std::os::fd::AsFd;
use std::time::Duration;

use airlock_transport::mux::{Channel, Mux};
use airlock_transport::pump::abort_on_close;
use airlock_wire::{ChannelEvent, ChannelKind, Stream};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How a piped stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PipeEnd {
    /// The far side closed the channel: everything was delivered.
    Finished,
    /// The channel or the session went away first (the reason, if known).
    Lost(String),
    /// Writing to the local side failed (it went away).
    Local(String),
}

/// Pipes `rd` into the channel and the channel into `wr`, half-closing
/// each way on end of stream; returns the writer and how it ended.
pub async fn pipe<R, W>(rd: R, mut wr: W, mut ch: Channel) -> (W, PipeEnd)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    // Aborted when this future ends or is dropped, so the reader (and with
    // it the local socket) never outlives the pipe.
    let _up = AbortOnDrop(tokio::spawn(airlock_transport::pump::pump_out(
        rd,
        ch.sender(),
        Stream::Main,
        true,
    )));
    let end = loop {
        match ch.recv().await {
            Some(ChannelEvent::Data { data, .. }) => {
                if let Err(e) = async {
                    wr.write_all(&data).await?;
                    wr.flush().await
                }
                .await
                {
                    break PipeEnd::Local(e.to_string());
                }
                ch.consumed(data.len());
            }
            Some(ChannelEvent::Eof) => {
                let _ = wr.flush().await;
                let _ = wr.shutdown().await;
            }
            Some(ChannelEvent::Closed(_)) => break PipeEnd::Finished,
            Some(ChannelEvent::Error { reason, .. }) => break PipeEnd::Lost(reason),
            None => break PipeEnd::Lost(String::new()),
            Some(_) => {}
        }
    };
    let _ = wr.flush().await;
    (wr, end)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards one accepted local connection through a new channel to
/// `host:port`. Told to stop by `stop` (its value is the reason), or when
/// the stream is lost, it resets the local connection.
pub async fn one_connection(
    mux: Mux,
    tcp: tokio::net::TcpStream,
    target: (String, u16),
    session: String,
    mut stop: watch::Receiver<Option<String>>,
) {
    let _ = tcp.set_nodelay(true);
    // Until the stream finishes cleanly, however this process ends, the
    // local connection closes with a reset, never a FIN.
    abort_on_close(&tcp, true);
    let Ok(handle) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let (host, port) = target;
    let kind = ChannelKind::TcpForward { host, port };
    let ch = match mux.open(kind, Some(session), None).await {
        Ok(ch) => ch,
        Err(e) => {
            eprintln!("connection refused by the node: {e}");
            return;
        }
    };
    let (rd, wr) = tokio::io::split(tcp);
    let end = tokio::select! {
        (_, end) = pipe(rd, wr, ch) => end,
        why = stop.wait_for(Option::is_some) => {
            PipeEnd::Lost(why.ok().and_then(|w| w.clone()).unwrap_or_default())
        }
    };
    match end {
        PipeEnd::Finished => abort_on_close(&handle, false),
        PipeEnd::Local(e) => tracing::debug!(error = %e, "the local connection went away"),
        PipeEnd::Lost(why) => {
            let why = if why.is_empty() {
                "the session was lost".into()
            } else {
                why
            };
            eprintln!("connection reset: {why}");
        }
    }
}

/// Resolves on SIGINT, SIGTERM or SIGHUP (ssh ends a ProxyCommand so).
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

/// How long connections get to reset after the session ends.
pub const DRAIN: Duration = Duration::from_secs(2);
