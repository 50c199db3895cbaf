//! The client end of a session: `StartSession` through the API, then the
//! session stream (TLS to the server, which relays to the node's agent), the
//! protocol handshake, and the channel driver.

use std::sync::Arc;

use airlock_transport::{dial, handshake, mux};
use airlock_wire::{ChannelEvent, CloseStatus, Config, Connection, Side, Stream};
use anyhow::{Context, anyhow};
use serde_json::{Value, json};

use crate::client::ApiClient;

pub const STREAM_PROTOCOL: &str = "airlock-session/1";

/// A started session and its driver.
pub struct Session {
    pub id: String,
    pub mux: mux::Mux,
    /// The session's driver; it ends when the session ends or is lost.
    pub task: tokio::task::JoinHandle<Result<(), mux::MuxError>>,
}

impl Session {
    /// Waits for the driver to end and says why the session is gone.
    pub async fn lost(&mut self) -> String {
        lost_reason((&mut self.task).await)
    }

    /// [`Session::lost`] when the driver has ended or ends within `wait`.
    pub async fn lost_within(&mut self, wait: std::time::Duration) -> String {
        match tokio::time::timeout(wait, self.lost()).await {
            Ok(why) => why,
            Err(_) => "the session's stream ended before the far side closed it".into(),
        }
    }
}

/// Parses `k=v,k2=v2` (AWS CLI shorthand for `--parameters`).
pub fn parse_parameters(s: &str) -> anyhow::Result<Value> {
    let mut m = serde_json::Map::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow!("bad parameter {part:?}: expected name=value"))?;
        if let Some(a) = m
            .entry(k.trim().to_owned())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            a.push(json!(v.trim()))
        }
    }
    Ok(Value::Object(m))
}

/// Starts a session on `target` with `document` and connects to it.
pub fn start(
    client: &ApiClient,
    target: &str,
    document: &str,
    parameters: Value,
) -> anyhow::Result<Session> {
    let v = client.call(
        "ssm",
        "StartSession",
        &json!({"Target": target, "DocumentName": document, "Parameters": parameters}),
    )?;
    let id = v["SessionId"]
        .as_str()
        .ok_or_else(|| anyhow!("no SessionId in the answer"))?
        .to_owned();
    let token = v["TokenValue"]
        .as_str()
        .ok_or_else(|| anyhow!("no TokenValue in the answer"))?
        .to_owned();
    let url = v["StreamUrl"]
        .as_str()
        .ok_or_else(|| anyhow!("no StreamUrl in the answer"))?
        .to_owned();
    let ca = match &client.ca {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => {
            return Err(anyhow!(
                "no CA bundle for the server: set ca_bundle in ~/.airlock/config"
            ));
        }
    };
    let cfg = Arc::new(dial::user_tls_config(&ca)?);
    let endpoint = client.endpoint.clone();
    let (m, task) = client.block_on(async move {
        let mut tls = dial::upgrade(cfg.clone(), &endpoint, &url, STREAM_PROTOCOL, &[("X-Airlock-Session-Token", &token)])
            .await
            .context("opening the session stream")?;
        let (n, ack) = tokio::time::timeout(std::time::Duration::from_secs(30), handshake::dial(&mut tls, None))
            .await
            .map_err(|_| anyhow!("the node did not answer within 30 s: its agent could not start the session (see `airlock agent status` on the node)"))??;
        let conn = Connection::new(Config::new(Side::Dialer), n.peer_max_payload);
        let resume = ack.token;
        let redial: mux::Redial = Box::new(move || {
            let (cfg, endpoint, url, token, resume) =
                (cfg.clone(), endpoint.clone(), url.clone(), token.clone(), resume.clone());
            Box::pin(async move {
                let mut tls =
                    dial::upgrade(cfg, &endpoint, &url, STREAM_PROTOCOL, &[("X-Airlock-Session-Token", &token)]).await?;
                let (n, ack) = handshake::dial(&mut tls, Some(resume)).await?;
                if !ack.resumed {
                    return Err(anyhow!("the node did not resume the session").into());
                }
                Ok((Box::new(tls) as mux::Transport, n.peer_max_payload))
            })
        });
        let (m, _incoming, task) = mux::start_resumable(Box::new(tls), conn, Some(redial));
        Ok::<_, anyhow::Error>((m, task))
    })?;
    Ok(Session { id, mux: m, task })
}

/// Why a session is gone, from how its driver ended.
pub fn lost_reason(ended: Result<Result<(), mux::MuxError>, tokio::task::JoinError>) -> String {
    match ended {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => "the session's connection closed".into(),
        Err(e) => format!("the session's driver failed: {e}"),
    }
}

/// Ends the session on the server (best effort, as the AWS plugin does).
pub fn terminate(client: &ApiClient, id: &str) {
    if let Err(e) = client.call("ssm", "TerminateSession", &json!({"SessionId": id})) {
        tracing::warn!(error = %e, "could not terminate the session");
    }
}

/// The exit code a close status means for the client.
pub fn exit_code(st: &CloseStatus) -> i32 {
    match st {
        CloseStatus::Exited(c) => *c,
        CloseStatus::Killed { signal, .. } => 128 + i32::from(*signal),
        CloseStatus::None => 0,
    }
}

/// Copies a channel's output to stdout/stderr until it closes; returns the close status.
pub async fn drain_output(ch: &mut mux::Channel) -> anyhow::Result<CloseStatus> {
    use tokio::io::AsyncWriteExt;
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    loop {
        match ch.recv().await {
            Some(ChannelEvent::Data { stream, data }) => {
                match stream {
                    Stream::Main => {
                        out.write_all(&data).await?;
                        out.flush().await?;
                    }
                    Stream::Stderr => {
                        err.write_all(&data).await?;
                        err.flush().await?;
                    }
                }
                ch.consumed(data.len());
            }
            Some(ChannelEvent::Closed(st)) => return Ok(st),
            Some(ChannelEvent::Error { reason, .. }) => {
                return Err(anyhow!("session error: {reason}"));
            }
            None => {
                return Err(anyhow!(
                    "the session ended: the server terminated it (terminate, idle timeout or maximum duration) or could not be reached for 60 s"
                ));
            }
            Some(_) => {}
        }
    }
}

/// Reads stdin on a plain thread (a blocking read in tokio's pool would
/// keep the runtime from shutting down), sending chunks; None at EOF.
pub fn stdin_reader() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut input = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Sends stdin to a channel, then half-closes it.
pub fn forward_stdin(tx: airlock_transport::mux::ChannelSender) {
    let mut rx = stdin_reader();
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if tx
                .send(Stream::Main, bytes::Bytes::from(chunk))
                .await
                .is_err()
            {
                return;
            }
        }
        tx.eof();
    });
}
