//! The agents' side of the API: `POST /v1/agent/register` redeems an
//! activation or a join token for a node certificate, and `GET /v1/agent/control` upgrades
//! an mTLS connection to the control channel (JSON lines): Hello, the role
//! check, then Ping/Pong until either side goes away.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LinesCodec};

use super::join::{self, JoinError};
use super::store::{self, InstanceError, InstanceIdentity, PingStatus};
use airlock_proto::control::{self as proto, Decoded};
use airlock_proto::registration::{Credential, RegisterRequest, RegisterResponse};

use super::{AgentMessage, ServerMessage};
use crate::api_error::ApiError;
use crate::http::Shared;
use crate::http::tls::PeerCert;
use crate::iam::{authz, ids};

pub use airlock_proto::control::{CONTROL_PROTOCOL, MAX_LINE};
/// What a role must allow for its agent to register.
pub const REGISTRATION_ACTIONS: [&str; 2] = [
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
];

/// A redemption: the instance id and its certificate, or the reason to
/// audit and the error the caller sees.
type Redeemed = Result<(String, String), (String, ApiError)>;

/// Redeems a credential and a CSR for an instance id and a client
/// certificate: an activation makes a new `mi-` instance; a join token gives
/// its certificate to the instance it was minted for ([`super::join`]).
/// Either way the attempt is audited as `ssm:RegisterManagedInstance`, with
/// the real reason of a refusal.
pub async fn register(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    let st = state.clone();
    let result = crate::http::blocking(move || {
        let i: RegisterRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("invalid request: {e}")))?;
        let mut conn = crate::db::checkout(&st.db)?;
        let csr = i.csr;
        crate::db::write_tx(&mut conn, |conn| {
            let issue = |id: &str| st.pki.issue_node_cert(id, &csr).map_err(|e| e.to_string());
            let (principal, outcome): (String, Redeemed) = match &i.credential {
                Credential::Activation {
                    activation_id,
                    activation_code,
                } => (
                    format!("activation/{activation_id}"),
                    store::redeem_activation(conn, activation_id, activation_code, |id| {
                        issue(id).map_err(InstanceError::CsrRefused)
                    })
                    .map_err(|e| (e.to_string(), e.into())),
                ),
                Credential::Join {
                    instance_id,
                    join_token,
                } => (
                    format!("join/{instance_id}"),
                    join::redeem(conn, instance_id, join_token, |id| {
                        issue(id).map_err(JoinError::CsrRefused)
                    })
                    .map(|cert| (instance_id.clone(), cert))
                    .map_err(|e| (e.to_string(), e.into())),
                ),
            };
            let resource = match (&outcome, &i.credential) {
                (Ok((id, _)), _) => id.as_str(),
                (Err(_), Credential::Join { instance_id, .. }) => instance_id.as_str(),
                (Err(_), Credential::Activation { .. }) => "*",
            };
            crate::audit::append(
                conn,
                &crate::audit::Record {
                    request_id: &ids::random_hex(16),
                    principal: &principal,
                    action: "ssm:RegisterManagedInstance",
                    resource,
                    decision: if outcome.is_ok() { "Allow" } else { "Deny" },
                    source_ip: Some(&peer.ip().to_string()),
                    detail: outcome.as_ref().err().map(|(why, _)| why.as_str()),
                    ..Default::default()
                },
            )?;
            let (instance_id, cert) = outcome.map_err(|(_, e)| e)?;
            Ok::<_, ApiError>(RegisterResponse {
                instance_id,
                certificate: cert,
                ca_certificate: st.pki.ca_cert_pem.clone(),
            })
        })
    })
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The ARN of an instance, as policies name it.
pub fn instance_arn(region: &str, account: &str, id: &InstanceIdentity) -> String {
    if id.resource_type == "ManagedInstance" {
        format!(
            "arn:aws:ssm:{region}:{account}:managed-instance/{}",
            id.instance_id
        )
    } else {
        format!("arn:aws:ec2:{region}:{account}:instance/{}", id.instance_id)
    }
}

/// Upgrades to the control channel; the client certificate names the node.
pub async fn control(
    State(state): State<Shared>,
    Extension(PeerCert(fp)): Extension<PeerCert>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let Some(fp) = fp else {
        return ApiError::unauthenticated("the control channel needs a node certificate")
            .into_response();
    };
    let st = state.clone();
    let identity = crate::db::run(&st, move |conn| Ok(store::identity_by_cert(conn, &fp)?)).await;
    let identity = match identity {
        Ok(Some(i)) => i,
        Ok(None) => {
            return ApiError::unauthenticated(
                "this node certificate is not registered (was the instance deregistered?)",
            )
            .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(CONTROL_PROTOCOL));
    if !wants_upgrade {
        return ApiError::validation(format!("expected Upgrade: {CONTROL_PROTOCOL}"))
            .into_response();
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = Framed::new(
                    TokioIo::new(upgraded),
                    LinesCodec::new_with_max_length(MAX_LINE),
                );
                run_channel(state, identity, peer, io).await;
            }
            Err(e) => tracing::warn!(error = %e, "control channel upgrade failed"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    resp.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static(CONTROL_PROTOCOL));
    resp
}

type Io = Framed<TokioIo<hyper::upgrade::Upgraded>, LinesCodec>;

/// Longest a write to an agent may take: an agent that stops reading
/// (stopped, or its network gone with TCP still open) is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

async fn send(io: &mut Io, m: &ServerMessage) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, io.send(proto::encode(m))).await,
        Ok(Ok(()))
    )
}

async fn run_channel(state: Shared, id: InstanceIdentity, peer: SocketAddr, mut io: Io) {
    let interval = state.ping_interval;
    let hello = match tokio::time::timeout(Duration::from_secs(10), io.next()).await {
        Ok(Some(Ok(line))) => match proto::decode::<AgentMessage>(&line) {
            Ok(Decoded::Known(m)) => Some(m),
            _ => None,
        },
        _ => None,
    };
    let Some(AgentMessage::Hello { facts }) = hello else {
        send(
            &mut io,
            &ServerMessage::Refused {
                reason: "expected Hello".into(),
            },
        )
        .await;
        return;
    };
    if let Err(why) = facts.check() {
        let reason = format!("the agent's Hello was refused: {why}");
        tracing::warn!(instance = %id.instance_id, peer = %peer, %reason, "agent registration refused");
        let (i2, r2) = (id.instance_id.clone(), reason.clone());
        let _ = crate::db::run(&state, move |c| {
            Ok(store::set_status(
                c,
                &i2,
                PingStatus::Inactive,
                None,
                Some(&r2),
            )?)
        })
        .await;
        send(&mut io, &ServerMessage::Refused { reason }).await;
        return;
    }
    let source_ip = peer.ip().to_string();
    let (iid, role) = (id.instance_id.clone(), id.role_name.clone());
    let check = {
        let id = id.clone();
        let region = state.region.clone();
        let ip = source_ip.clone();
        crate::db::run(&state, move |conn| {
            // One IMMEDIATE transaction (it reads, then writes the audit
            // entries): the decisions' entries commit together.
            crate::db::immediate(conn, || {
                let account = crate::iam::store::account_id(conn)?;
                let arn = instance_arn(&region, &account, &id);
                let rid = ids::random_hex(16);
                let node = authz::NodeCaller {
                    role_name: &id.role_name,
                    instance_id: &id.instance_id,
                    source_ip: Some(&ip),
                };
                let decided = authz::authorize_role_actions(
                    conn,
                    &rid,
                    &node,
                    &REGISTRATION_ACTIONS,
                    &arn,
                    &[],
                );
                Ok::<_, ApiError>(decided.map_err(|e| e.message))
            })
        })
        .await
    };
    let refusal = match check {
        Ok(Ok(())) => None,
        Ok(Err(msg)) => Some(format!(
            "{msg}; attach arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore to role {role}"
        )),
        Err(e) => Some(e.message),
    };
    if let Some(reason) = refusal {
        tracing::warn!(instance = %iid, role = %role, %reason, "agent registration refused");
        // A cluster node configures itself over this channel: without it,
        // its stack resource fails now, with why, rather than timing out.
        setup_failed(&state, &iid, "opening the control channel", reason.clone()).await;
        let (i2, r2, f2) = (iid.clone(), reason.clone(), facts.clone());
        let _ = crate::db::run(&state, move |c| {
            Ok(store::set_status(
                c,
                &i2,
                PingStatus::Inactive,
                Some(&f2),
                Some(&r2),
            )?)
        })
        .await;
        send(&mut io, &ServerMessage::Refused { reason }).await;
        return;
    }
    let (tx, mut rx) = mpsc::channel::<ServerMessage>(64);
    let generation = state.hub.attach(&iid, tx);
    {
        let (i2, f2) = (iid.clone(), facts.clone());
        let _ = crate::db::run(&state, move |c| {
            Ok(store::set_status(
                c,
                &i2,
                PingStatus::Online,
                Some(&f2),
                None,
            )?)
        })
        .await;
    }
    tracing::info!(instance = %iid, role = %role, peer = %peer, "agent online");
    let mut ok = send(
        &mut io,
        &ServerMessage::Registered {
            instance_id: iid.clone(),
            ping_interval_secs: interval.as_secs().max(1),
        },
    )
    .await;
    let dead_after = interval * 3;
    // Liveness counts only what the agent sends; writing to it proves nothing.
    let mut deadline = tokio::time::Instant::now() + dead_after;
    while ok {
        tokio::select! {
            msg = tokio::time::timeout_at(deadline, io.next()) => match msg {
                Ok(Some(Ok(line))) => match proto::decode::<AgentMessage>(&line) {
                    Ok(Decoded::Known(AgentMessage::Ping)) => {
                        deadline = tokio::time::Instant::now() + dead_after;
                        state.hub.record_ping(&iid, crate::iam::store::now_iso());
                        ok = send(&mut io, &ServerMessage::Pong).await;
                    }
                    Ok(Decoded::Known(AgentMessage::GetNodeConfiguration)) => {
                        ok = answer_node_configuration(&state, &iid, &mut io).await;
                    }
                    Ok(Decoded::Known(AgentMessage::NodeConfigurationStep { step, status, reason })) => {
                        let (st, i2) = (state.clone(), iid.clone());
                        let r = crate::http::blocking(move || {
                            Ok(crate::clusters::node_config::record_step(&st, &i2, &step, status, reason.as_deref())?)
                        })
                        .await;
                        if let Err(e) = r {
                            tracing::warn!(instance = %iid, error = %e.message, "cannot record a node configuration step");
                        }
                    }
                    Ok(Decoded::Known(AgentMessage::Reply(reply))) => {
                        let id = reply.request_id;
                        if !state.hub.deliver(&iid, reply) {
                            tracing::warn!(instance = %iid, request = id, "a reply to no request of this node's was dropped");
                        }
                    }
                    Ok(Decoded::Unknown(kind)) => {
                        tracing::debug!(instance = %iid, kind = %kind, "skipped a control message of a type this server does not know");
                    }
                    Ok(Decoded::Known(AgentMessage::Hello { .. })) => {
                        tracing::warn!(instance = %iid, "protocol error on the control channel: a second Hello");
                        ok = false;
                    }
                    Err(e) => {
                        tracing::warn!(instance = %iid, error = %e, "protocol error on the control channel");
                        ok = false;
                    }
                },
                Ok(Some(Err(e))) => {
                    tracing::warn!(instance = %iid, error = %e, "control channel read failed");
                    ok = false;
                }
                Ok(None) => ok = false,
                Err(_) => {
                    tracing::warn!(instance = %iid, "no heartbeat for {:?}: connection lost", dead_after);
                    ok = false;
                }
            },
            down = rx.recv() => match down {
                Some(m) => ok = send(&mut io, &m).await,
                None => ok = false,
            },
        }
    }
    if state.hub.detach(&iid, generation) {
        tracing::info!(instance = %iid, "agent connection lost");
        let i2 = iid.clone();
        let _ = crate::db::run(&state, move |c| {
            Ok(store::set_status(
                c,
                &i2,
                PingStatus::ConnectionLost,
                None,
                None,
            )?)
        })
        .await;
        fail_unstarted_sessions(&state, &iid).await;
    }
}

/// Fails a cluster node's configuration at `step` (its stack resource
/// fails with `why`); nothing for other machines.
async fn setup_failed(state: &Shared, instance_id: &str, step: &'static str, why: String) {
    let (st, i2) = (state.clone(), instance_id.to_owned());
    let r = crate::http::blocking(move || {
        Ok(crate::clusters::node_config::record_step(
            &st,
            &i2,
            step,
            airlock_proto::node_config::StepStatus::Failed,
            Some(&why),
        )?)
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(instance = %instance_id, error = %e.message, "cannot record a failed node configuration");
    }
}

/// Answers `GetNodeConfiguration`; a configuration that cannot be built
/// fails the node's setup with why (the stack resource waiting on it
/// fails), and nothing is sent. False if the channel failed.
async fn answer_node_configuration(state: &Shared, instance_id: &str, io: &mut Io) -> bool {
    let (st, i2) = (state.clone(), instance_id.to_owned());
    let built =
        crate::http::blocking(move || Ok(crate::clusters::node_config::build(&st, &i2)?)).await;
    match built {
        Ok(cfg) => {
            let m = ServerMessage::NodeConfiguration {
                configuration: cfg.map(Box::new),
            };
            send(io, &m).await
        }
        Err(e) => {
            tracing::warn!(instance = %instance_id, error = %e.message, "cannot build the node's configuration");
            let why = format!("the server cannot build its configuration: {}", e.message);
            setup_failed(state, instance_id, "getting the node configuration", why).await;
            true
        }
    }
}

/// Sessions on a node whose control channel was lost, and that its agent
/// never joined, fail now: their clients stop waiting at once.
async fn fail_unstarted_sessions(state: &Shared, instance_id: &str) {
    let i2 = instance_id.to_owned();
    let waiting = crate::db::run(state, move |c| {
        Ok(crate::sessions::store::list(c, true)?
            .into_iter()
            .filter(|s| {
                s.target == i2 && s.status == crate::sessions::store::SessionStatus::Connecting
            })
            .map(|s| s.session_id)
            .collect::<Vec<_>>())
    })
    .await
    .unwrap_or_default();
    for id in waiting {
        let why = crate::sessions::lifecycle::agent_lost();
        crate::sessions::lifecycle::end(state, &id, instance_id, why).await;
    }
}
