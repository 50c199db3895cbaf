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
use crate::{dial, handshake, mux};

pub const STREAM_PROTOCOL: &str = "airlock-session/1";

/// What the agent hands its worker on stdin (never on the command line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerSpec {
    pub session_id: String,
    pub token: String,
    pub document_name: String,
    pub parameters: serde_json::Value,
    pub run_as: Option<String>,
    pub as_self: bool,
    /// Commands typed into login shells at their start.
    #[serde(default)]
    pub shell_profile: Option<String>,
    /// The user the server authorised the session for (for the log).
    #[serde(default)]
    pub principal: String,
    /// Unix seconds when the session ends (`maxSessionDuration`).
    #[serde(default)]
    pub expires_at: Option<i64>,
}

pub async fn run(dir: AgentDir, spec: WorkerSpec) -> anyhow::Result<()> {
    let id = dir.load_identity()?;
    let cfg = Arc::new(dial::tls_config(&dir)?);
    let grant =
        Grant::for_document(&spec.document_name, &spec.parameters).map_err(anyhow::Error::msg)?;
    let path = format!("/v1/session/{}/stream", spec.session_id);
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let resume = ResumeToken::from_bytes(bytes);
    let mut tls = dial::upgrade(
        cfg.clone(),
        &id.endpoint,
        &path,
        STREAM_PROTOCOL,
        &[("X-Airlock-Session-Token", &spec.token)],
    )
    .await
    .context("opening the session stream")?;
    let first = resume.clone();
    let (n, _) = handshake::accept(&mut tls, move |_| (false, first)).await?;
    let conn = Connection::new(Config::new(Side::Acceptor), n.peer_max_payload);
    let (endpoint, token) = (id.endpoint.clone(), spec.token.clone());
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
            anyhow::ensure!(resumed, "the client did not resume this session");
            Ok((Box::new(tls) as mux::Transport, n.peer_max_payload))
        })
    });
    let (_mux, incoming, task) = mux::start_resumable(Box::new(tls), conn, Some(redial));
    tracing::info!(session = %spec.session_id, principal = %spec.principal, document = %spec.document_name, "session worker serving");
    let policy = RunAs {
        default_user: spec.run_as.clone(),
        as_self: spec.as_self,
        shell_profile: spec.shell_profile.clone(),
    };
    let grant = SessionGrant {
        session_id: spec.session_id.clone(),
        document: grant,
        run_as: spec.run_as.clone(),
    };
    // Forwarded connections not yet finished reset as this process ends,
    // whatever ends it (session::forward).
    tokio::select! {
        _ = session::serve(incoming, policy, grant) => {}
        r = task => { let _ = r; }
        _ = until(spec.expires_at) => {
            tracing::info!(session = %spec.session_id, "maximum session duration reached; ending the session");
        }
    }
    tracing::info!(session = %spec.session_id, "session worker done");
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
