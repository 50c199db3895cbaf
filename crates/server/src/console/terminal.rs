//! The terminal in the page: `GET /console/ws/terminal?target=…&cols=…&rows=…`
//! upgrades to a WebSocket (same Origin and a live console cookie only),
//! starts an `SSM-SessionManagerRunShell` session as the signed-in user
//! through `ops::dispatch` (so `ssm:StartSession` is decided and audited as
//! for the CLI), and joins the session broker as its client side through an
//! in-process pipe. The relay, the agent and the recording are the CLI's.
//!
//! Messages: binary both ways is terminal bytes (keystrokes up, output
//! down); text is JSON control — up `{"type":"resize","cols","rows"}`; down
//! `{"type":"started","sessionId","target"}`, `{"type":"exit","status"}`,
//! `{"type":"ended","message"}` and `{"type":"error","code","message","operation"}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airlock_transport::dial::Refused;
use airlock_transport::{handshake, mux};
use airlock_wire::{ChannelEvent, ChannelKind, CloseStatus, Config, Connection, Side, Stream};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;

use super::Console;
use super::session::{self, ConsoleUser};
use super::signin;
use crate::api_error::{ApiError, ErrorCode};
use crate::audit;
use crate::http::Shared;
use crate::iam::ids;
use crate::ops::Ctx;
use crate::sessions::{documents, store, stream};

/// Largest message the page may send (a big paste).
const MAX_MESSAGE: usize = 8 << 20;
/// Keystrokes go to the node in pieces of at most this size.
const INPUT_CHUNK: usize = 16 * 1024;
/// How often an open terminal checks that its console session is still
/// live (not signed out, not expired).
const LIVENESS_CHECK: Duration = Duration::from_secs(10);
/// How long the node has to answer the session handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
pub struct TermQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    cols: Option<u16>,
    #[serde(default)]
    rows: Option<u16>,
}

pub async fn ws(
    State(c): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<TermQuery>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ip = peer.ip().to_string();
    let checked = {
        let headers = headers.clone();
        let ip = ip.clone();
        crate::db::run(&c.app, move |conn| {
            let origin = session::check_origin(&headers, &uri);
            let user = session::lookup(conn, &headers, signin::now(), Some(ip.clone()));
            if let Err(e) = origin.as_ref().and(user.as_ref()) {
                let principal = user
                    .as_ref()
                    .map(|u| u.caller.arn.clone())
                    .unwrap_or_else(|_| "anonymous".into());
                audit::append(
                    conn,
                    &audit::Record {
                        request_id: &ids::random_hex(16),
                        principal: &principal,
                        action: "sts:Authenticate",
                        resource: uri.path(),
                        decision: "Deny",
                        source_ip: Some(&ip),
                        detail: Some(&e.message),
                        ..audit::Record::default()
                    },
                )?;
            }
            origin?;
            user
        })
        .await
    };
    let user = match checked {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(peer = %peer, error = %e.message, "console terminal refused");
            return e.into_response();
        }
    };
    upgrade
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| bridge(c, user, q, socket))
}

fn error_json(operation: &str, e: &ApiError) -> Message {
    Message::Text(
        json!({"type": "error", "code": e.code, "message": e.message, "operation": operation})
            .to_string()
            .into(),
    )
}

fn exit_code(st: &CloseStatus) -> i32 {
    match st {
        CloseStatus::Exited(c) => *c,
        CloseStatus::Killed { signal, .. } => 128 + i32::from(*signal),
        CloseStatus::None => 0,
    }
}

/// Runs one signed-API operation as the console user.
async fn op_as(
    app: &Shared,
    user: &ConsoleUser,
    operation: &'static str,
    input: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let caller = user.caller.clone();
    let st = app.clone();
    crate::db::run(app, move |conn| {
        let rid = ids::random_hex(16);
        let ctx = Ctx {
            conn,
            caller: &caller,
            request_id: &rid,
            state: &st,
        };
        crate::ops::dispatch(&ctx, "ssm", operation, &input)
    })
    .await
}

async fn bridge(c: Arc<Console>, user: ConsoleUser, q: TermQuery, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let app = c.app.clone();
    let started = op_as(
        &app,
        &user,
        "StartSession",
        json!({"Target": q.target, "DocumentName": documents::RUN_SHELL}),
    )
    .await;
    let v = match started {
        Ok(v) => v,
        Err(e) => {
            let _ = tx.send(error_json("StartSession", &e)).await;
            let _ = tx.close().await;
            return;
        }
    };
    let id = v["SessionId"].as_str().unwrap_or_default().to_owned();
    let _ = tx
        .send(Message::Text(
            json!({"type": "started", "sessionId": id, "target": v["Target"]})
                .to_string()
                .into(),
        ))
        .await;
    let cols = q.cols.filter(|c| (1..=1000).contains(c)).unwrap_or(80);
    let rows = q.rows.filter(|r| (1..=1000).contains(r)).unwrap_or(24);
    let opened = async {
        let (m, task) = attach(&app, &id).await?;
        let ch = m
            .open(
                ChannelKind::Shell {
                    term: "xterm-256color".into(),
                    cols,
                    rows,
                    env: vec![("LANG".into(), "C.UTF-8".into())],
                    command: None,
                },
                Some(id.clone()),
                None,
            )
            .await
            .map_err(|e| ApiError::new(ErrorCode::SessionError, e.to_string()))?;
        Ok::<_, ApiError>((m, task, ch))
    }
    .await;
    let (_mux, task, mut ch) = match opened {
        Ok(x) => x,
        Err(e) => {
            let _ = tx.send(error_json("StartSession", &e)).await;
            let _ = tx.close().await;
            end_session(&app, &user, &id).await;
            return;
        }
    };
    let sender = ch.sender();
    let mut output = tokio::spawn(async move {
        loop {
            match ch.recv().await {
                Some(ChannelEvent::Data { data, .. }) => {
                    let n = data.len();
                    if tx.send(Message::Binary(data)).await.is_err() {
                        break;
                    }
                    ch.consumed(n);
                }
                Some(ChannelEvent::Closed(st)) => {
                    let m = json!({"type": "exit", "status": exit_code(&st)});
                    let _ = tx.send(Message::Text(m.to_string().into())).await;
                    break;
                }
                Some(ChannelEvent::Error { reason, .. }) => {
                    let e = ApiError::new(ErrorCode::SessionError, reason);
                    let _ = tx.send(error_json("StartSession", &e)).await;
                    break;
                }
                None => {
                    let m = json!({"type": "ended", "message": "The session ended: it was terminated, timed out, or its node went away."});
                    let _ = tx.send(Message::Text(m.to_string().into())).await;
                    break;
                }
                Some(_) => {}
            }
        }
        let _ = tx.close().await;
    });
    let mut check = tokio::time::interval(LIVENESS_CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            _ = &mut output => break,
            _ = check.tick() => {
                let hash = user.cookie_sha256.clone();
                let live = crate::db::run(&app, move |c| session::is_live(c, &hash, signin::now()))
                    .await
                    .unwrap_or(false);
                if !live {
                    tracing::info!(session = %id, "console session over; ending its terminal");
                    break;
                }
            }
            m = rx.next() => match m {
                Some(Ok(Message::Binary(b))) => {
                    let mut ok = true;
                    for chunk in b.chunks(INPUT_CHUNK) {
                        if sender.send(Stream::Main, Bytes::copy_from_slice(chunk)).await.is_err() {
                            ok = false;
                            break;
                        }
                    }
                    if !ok {
                        break;
                    }
                }
                Some(Ok(Message::Text(t))) => control(&sender, t.as_str()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    output.abort();
    end_session(&app, &user, &id).await;
    task.abort();
}

#[derive(Deserialize)]
struct Control {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    cols: u16,
    #[serde(default)]
    rows: u16,
}

fn control(sender: &mux::ChannelSender, text: &str) {
    match serde_json::from_str::<Control>(text) {
        Ok(c)
            if c.kind == "resize"
                && (1..=1000).contains(&c.cols)
                && (1..=1000).contains(&c.rows) =>
        {
            sender.resize(c.cols, c.rows)
        }
        _ => tracing::debug!("ignored a console control message"),
    }
}

/// Ends the session as the user, as the CLI does when it exits (a no-op
/// when it has already ended).
async fn end_session(app: &Shared, user: &ConsoleUser, id: &str) {
    let sid = id.to_owned();
    let ended = crate::db::run(app, move |c| Ok(store::get(c, &sid)?.end_date.is_some()))
        .await
        .unwrap_or(true);
    if ended {
        return;
    }
    if let Err(e) = op_as(app, user, "TerminateSession", json!({"SessionId": id})).await {
        tracing::warn!(session = %id, error = %e.message, "could not terminate the console's session");
    }
}

/// Joins the session as its client through an in-process pipe and runs
/// the protocol handshake; a lost relay (the agent reconnecting) is
/// resumed the same way until the session ends.
async fn attach(
    app: &Shared,
    id: &str,
) -> Result<(mux::Mux, tokio::task::JoinHandle<Result<(), mux::MuxError>>), ApiError> {
    let handshake_failed = |e: String| ApiError::new(ErrorCode::TargetNotConnected, e);
    let mut io = pipe(app, id).await?;
    let (n, ack) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake::dial(&mut io, None))
        .await
        .map_err(|_| {
            handshake_failed(format!(
                "the node did not answer within {} s: its agent could not start the session",
                HANDSHAKE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| handshake_failed(e.to_string()))?;
    let conn = Connection::new(Config::new(Side::Dialer), n.peer_max_payload);
    let resume = ack.token;
    let (app2, id2) = (app.clone(), id.to_owned());
    let redial: mux::Redial = Box::new(move || {
        let (app, id, resume) = (app2.clone(), id2.clone(), resume.clone());
        Box::pin(async move {
            let mut io = pipe(&app, &id).await.map_err(|e| Refused {
                status: e.status(),
                code: Some(e.code),
                message: e.message,
            })?;
            let (n, ack) = handshake::dial(&mut io, Some(resume)).await?;
            if !ack.resumed {
                return Err(anyhow::anyhow!("the node did not resume the session").into());
            }
            Ok((Box::new(io) as mux::Transport, n.peer_max_payload))
        })
    });
    let (m, _incoming, task) = mux::start_resumable(Box::new(io), conn, Some(redial));
    Ok((m, task))
}

/// A fresh pipe whose far end is the session's client side at the broker;
/// refused once the session has ended.
async fn pipe(app: &Shared, id: &str) -> Result<tokio::io::DuplexStream, ApiError> {
    let sid = id.to_owned();
    let s = crate::db::run(app, move |c| Ok(store::get(c, &sid)?)).await?;
    if s.end_date.is_some() {
        return Err(ApiError::new(
            ErrorCode::SessionEnded,
            format!("Session {id} has ended."),
        ));
    }
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    tokio::spawn(stream::join(app.clone(), s, true, Box::new(theirs)));
    Ok(ours)
}
