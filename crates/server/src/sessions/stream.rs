//! `GET /v1/session/{id}/stream`: each side of a session (the client with
//! its token; the agent with its token and the target's node certificate)
//! upgrades to a raw byte stream, and the broker relays between the two.
//! With a recording token instead, it streams the session's recording.
//! A side left waiting alone ends its session ([`super::lifecycle`]).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::preferences::CapAction;
use super::{Arrival, Io, lifecycle, recording_relay, store};
use crate::api_error::ApiError;
use crate::http::Shared;
use crate::http::tls::PeerCert;
use crate::instances::store as instances;

/// The protocol name in the `Upgrade` header.
pub use airlock_proto::control::STREAM_PROTOCOL;
pub const TOKEN_HEADER: &str = "x-airlock-session-token";
/// How long one side of a session waits for the other.
pub const PAIRING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn stream(
    State(state): State<Shared>,
    Extension(PeerCert(fp)): Extension<PeerCert>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(session_id): Path<String>,
    mut req: Request,
) -> Response {
    if let Some(t) = req.headers().get(super::replay::TOKEN_HEADER) {
        let t = t.to_str().unwrap_or_default().to_owned();
        return super::replay::serve(&state, &session_id, &t).await;
    }
    let token = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let upgrade_ok = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(STREAM_PROTOCOL));
    if !upgrade_ok {
        return ApiError::validation(format!("expected Upgrade: {STREAM_PROTOCOL}"))
            .into_response();
    }
    let sid = session_id.clone();
    let checked = crate::db::run(&state, move |c| {
        let side = store::token_side(c, &sid, &token)?;
        let session = store::get(c, &sid).ok();
        let node = match &fp {
            Some(fp) => instances::identity_by_cert(c, fp)?.map(|i| i.instance_id),
            None => None,
        };
        Ok((side, session, node))
    })
    .await;
    let (side, session) = match checked {
        Ok((Some("client"), Some(s), _)) => (true, s),
        Ok((Some("agent"), Some(s), Some(node))) if node == s.target => (false, s),
        Ok(_) => {
            tracing::warn!(session = %session_id, peer = %peer, "session stream refused: bad token or identity");
            return ApiError::access_denied(
                "the session token is not valid for this session (it may have ended)",
            )
            .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(u) => Box::new(TokioIo::new(u)) as Io,
            Err(e) => {
                tracing::warn!(error = %e, "session stream upgrade failed");
                return;
            }
        };
        join(state, session, side, io).await;
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    resp.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static(STREAM_PROTOCOL));
    resp
}

/// Brings one side (`is_client`, or the agent) of a session's stream to the
/// broker: relays once the other side is there too, else waits for it up to
/// the pairing timeout (a new session) or the resume window (a redial),
/// then ends the session with the reason. Returns when the relay (or the
/// wait) ends.
pub async fn join(state: Shared, session: store::Session, is_client: bool, io: Io) {
    let id = session.session_id.clone();
    match state.broker.arrive(&id, is_client, io) {
        Some(Arrival::Paired(client, agent)) => start_relay(state, session, client, agent).await,
        Some(Arrival::Parked(generation)) => {
            let ever_paired = session.status != store::SessionStatus::Connecting;
            let wait = if ever_paired {
                lifecycle::resume_window()
            } else {
                // From the session's start (or the restart), so that
                // redials do not stretch it.
                let restart = std::time::SystemTime::now()
                    .checked_sub(state.started.elapsed())
                    .unwrap_or(std::time::UNIX_EPOCH);
                let from = super::clocks::parse(&session.start_date)
                    .unwrap_or(restart)
                    .max(restart);
                (from + lifecycle::pairing_timeout())
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default()
            };
            tokio::time::sleep(wait).await;
            if state.broker.expire(&id, is_client, generation) {
                let agent_gone = state.hub.offline_since(&session.target).is_some();
                let why = lifecycle::unpaired(is_client, ever_paired, agent_gone);
                tracing::warn!(session = %id, client = is_client, reason = %why.reason, "the other side of the session never arrived");
                lifecycle::end(&state, &id, &session.target, why).await;
            }
        }
        None => tracing::error!(session = %id, "the session broker is unusable"),
    }
}

async fn start_relay(state: Shared, session: store::Session, client: Io, agent: Io) {
    let id = session.session_id.clone();
    let prefs = crate::db::run(&state, super::preferences::load)
        .await
        .unwrap_or_default();
    let rec = match recording_relay::open(&state, &session, &prefs).await {
        recording_relay::Opened::Recording(r) => Some((r, prefs.recording_cap_action)),
        recording_relay::Opened::Unrecorded => None,
        recording_relay::Opened::SessionEnded => return,
    };
    let i2 = id.clone();
    let _ = crate::db::run(&state, move |c| {
        Ok(store::set_status(c, &i2, store::SessionStatus::Connected)?)
    })
    .await;
    tracing::info!(session = %id, "session streams paired");
    state.broker.touch(&id);
    let task = tokio::spawn(relay(client, agent, rec, state.clone(), id.clone()));
    let handle = task.abort_handle();
    state.broker.relay_started(&id, handle.clone());
    let client_closed = matches!(task.await, Ok(Ended::ClientClosed));
    state.broker.relay_ended(&id, &handle, client_closed);
    tracing::info!(session = %id, client_closed, "session stream relay ended");
}

/// Why a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The client's stream reached a clean end (FIN).
    ClientClosed,
    /// Anything else: an error, the agent's side, a recording cap.
    Other,
}

type Rec = Option<(recording_relay::SharedRecorder, CapAction)>;

async fn pipe(
    mut from: tokio::io::ReadHalf<Io>,
    mut to: tokio::io::WriteHalf<Io>,
    rec: Rec,
    from_client: bool,
    state: Shared,
    id: String,
) -> bool {
    let mut buf = vec![0u8; 256 * 1024];
    let mut eof = false;
    // Heartbeats, acks and window updates are not activity: only they
    // flow while a user is idle.
    let mut frames = airlock_wire::FrameScanner::default();
    loop {
        let n = match from.read(&mut buf).await {
            // A TLS peer that closes without close_notify (killed, or
            // simply exiting) shows as UnexpectedEof: its FIN arrived.
            Ok(0) => {
                eof = true;
                break;
            }
            Err(e) => {
                eof = e.kind() == std::io::ErrorKind::UnexpectedEof;
                break;
            }
            Ok(n) => n,
        };
        let mut active = false;
        frames.feed(&buf[..n], |t| active |= t.is_none_or(|t| t.is_activity()));
        if active {
            state.broker.touch(&id);
        }
        let (stop, gap) = rec
            .as_ref()
            .and_then(|(r, _)| {
                let mut r = r.lock().ok()?;
                let stop = r.feed(from_client, &buf[..n]);
                Some((stop, r.take_gap()))
            })
            .unwrap_or_default();
        if let Some(lost) = gap {
            tokio::spawn(recording_relay::gap(state.clone(), id.clone(), lost));
        }
        if let (Some(stop), Some((_, action))) = (stop, &rec) {
            let action = *action;
            tokio::spawn(recording_relay::stopped(
                state.clone(),
                id.clone(),
                stop,
                action,
            ));
            if action == CapAction::Terminate {
                break;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    eof
}

/// Relays until either side goes away; then both transports close, and
/// the ends may reconnect to resume. The recording is synced every second.
async fn relay(client: Io, agent: Io, rec: Rec, state: Shared, id: String) -> Ended {
    let (cr, cw) = tokio::io::split(client);
    let (ar, aw) = tokio::io::split(agent);
    let up = pipe(cr, aw, rec.clone(), true, state.clone(), id.clone());
    let down = pipe(ar, cw, rec.clone(), false, state, id);
    let sync = async {
        match &rec {
            Some((r, _)) => recording_relay::sync_loop(r.clone()).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        eof = up => if eof { Ended::ClientClosed } else { Ended::Other },
        _ = down => Ended::Other,
        _ = sync => Ended::Other,
    };
    if let Some((r, _)) = rec {
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(mut r) = r.lock() {
                r.flush();
            }
        })
        .await;
    }
    ended
}
