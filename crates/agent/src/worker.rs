//! A session worker: one process per open session (as the incumbent's
//! `ssm-session-worker`). It dials the session's stream with its token and
//! the node certificate, answers the client's handshake, and serves the
//! channels the session's document allows.

use std::sync::Arc;

use airlock_wire::{Config, Connection, ResumeToken, Side};
use anyhow::Context;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::identity::AgentDir;
use crate::session::{self, RunAs, SessionGrant, grant::Grant};
use airlock_transport::{dial, handshake, mux};

use airlock_proto::control::{STREAM_PROTOCOL, StartSession};

/// What the agent hands its worker on stdin (never on the command line):
/// the server's `StartSession` as it arrived, and how the agent runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerSpec {
    #[serde(flatten)]
    pub session: StartSession,
    pub as_self: bool,
}

pub async fn run(dir: AgentDir, spec: WorkerSpec) -> anyhow::Result<()> {
    let id = dir.load_identity()?;
    let cfg = Arc::new(dir.tls_config()?);
    let grant = Grant::for_document(&spec.session.document_name, &spec.session.parameters)
        .map_err(anyhow::Error::msg)?;
    let path = format!("/v1/session/{}/stream", spec.session.session_id);
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let resume = ResumeToken::from_bytes(bytes);
    let mut tls = dial::upgrade(
        cfg.clone(),
        &id.endpoint,
        &path,
        STREAM_PROTOCOL,
        &[("X-Airlock-Session-Token", &spec.session.token)],
    )
    .await
    .context("opening the session stream")?;
    let first = resume.clone();
    let (n, _) = handshake::accept(&mut tls, move |_| (false, first)).await?;
    let conn = Connection::new(Config::new(Side::Acceptor), n.peer_max_payload);
    let (endpoint, token) = (id.endpoint.clone(), spec.session.token.clone());
    let redial: mux::Redial = Box::new(move || {
        let (cfg, endpoint, path, token, resume) = (
            cfg.clone(),
            endpoint.clone(),
            path.clone(),
            token.clone(),
            resume.clone(),
        );
        Box::pin(async move {
            let mut tls = dial::upgrade(
                cfg,
                &endpoint,
                &path,
                STREAM_PROTOCOL,
                &[("X-Airlock-Session-Token", &token)],
            )
            .await?;
            let expected = resume.clone();
            let (n, resumed) = handshake::accept(&mut tls, move |offered| {
                (offered == Some(&expected), resume)
            })
            .await?;
            if !resumed {
                return Err(anyhow::anyhow!("the client did not resume this session").into());
            }
            Ok((Box::new(tls) as mux::Transport, n.peer_max_payload))
        })
    });
    let (_mux, incoming, task) = mux::start_resumable(Box::new(tls), conn, Some(redial));
    tracing::info!(session = %spec.session.session_id, principal = %spec.session.principal, document = %spec.session.document_name, "session worker serving");
    let policy = RunAs {
        default_user: spec.session.run_as.clone(),
        as_self: spec.as_self,
        shell_profile: spec.session.shell_profile.clone(),
    };
    let grant = SessionGrant {
        session_id: spec.session.session_id.clone(),
        document: grant,
        run_as: spec.session.run_as.clone(),
    };
    // Forwarded connections not yet finished reset as this process ends,
    // whatever ends it (session::forward).
    tokio::select! {
        _ = session::serve(incoming, policy, grant) => {}
        r = task => { let _ = r; }
        _ = until(spec.session.expires_at) => {
            tracing::info!(session = %spec.session.session_id, "maximum session duration reached; ending the session");
        }
    }
    tracing::info!(session = %spec.session.session_id, "session worker done");
    Ok(())
}

/// Sleeps until the Unix time `at`; forever when there is none.
async fn until(at: Option<i64>) {
    let Some(at) = at else {
        return std::future::pending().await;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let secs = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
}
