//! Serving a session's channels on the node: shells on a PTY, commands with
//! stdout and stderr apart, and TCP forwards, each as the session's login.

pub mod exec;
pub mod forward;
pub mod grant;
pub mod login;
pub mod shell;

use airlock_wire::{ChannelKind, OpenFailCode};
use tokio::sync::mpsc;

use airlock_transport::mux::Incoming;

/// Who sessions run as.
#[derive(Debug, Clone, Default)]
pub struct RunAs {
    /// The login when the channel names none (else `ssm-user`).
    pub default_user: Option<String>,
    /// Run every session as the agent's own user (personal machines, tests).
    pub as_self: bool,
    /// Typed into login shells at their start (the preferences' shell profile).
    pub shell_profile: Option<String>,
}

/// What the server decided for a session, as it reached the agent on its
/// control channel. The client's `Open` frames are held to it.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    pub session_id: String,
    /// The channels the session's document allows.
    pub document: grant::Grant,
    /// The login the server chose; None means the node's default.
    pub run_as: Option<String>,
}

impl SessionGrant {
    /// Why an `Open` from the client falls outside the grant, if it does.
    /// The client may leave `session` and `run_as` empty or repeat the
    /// server's; anything else is refused, never obeyed.
    pub fn refusal(&self, open: &airlock_wire::Open) -> Option<&'static str> {
        if open
            .session
            .as_deref()
            .is_some_and(|s| s != self.session_id)
        {
            return Some("the channel names another session");
        }
        if open.run_as.is_some() && open.run_as != self.run_as {
            return Some("the run-as user is decided by the server, not the client");
        }
        if !self.document.allows(&open.kind) {
            return Some("the session's document does not allow this channel");
        }
        None
    }
}

/// Serves every channel the client opens until the connection ends,
/// holding the client to the session's grant.
pub async fn serve(
    mut incoming: mpsc::UnboundedReceiver<Incoming>,
    policy: RunAs,
    grant: SessionGrant,
) {
    while let Some(inc) = incoming.recv().await {
        if let Some(why) = grant.refusal(&inc.open) {
            tracing::warn!(session = %grant.session_id, kind = ?inc.open.kind, client_run_as = ?inc.open.run_as, reason = why, "channel refused");
            inc.reject(OpenFailCode::AccessDenied, why);
            continue;
        }
        let run_as = grant.run_as.clone().or_else(|| policy.default_user.clone());
        let as_self = policy.as_self;
        let profile = policy.shell_profile.clone();
        tokio::spawn(async move {
            let kind = inc.open.kind.clone();
            let login = match login::resolve(run_as.as_deref(), as_self) {
                Ok(l) => l,
                Err(reason) => {
                    tracing::warn!(%reason, "session refused");
                    inc.reject(OpenFailCode::AccessDenied, &reason);
                    return;
                }
            };
            let result = match kind {
                ChannelKind::Shell {
                    term,
                    cols,
                    rows,
                    env,
                    command,
                } => {
                    let profile = if command.is_none() { profile } else { None };
                    let spec = shell::ShellSpec {
                        term: &term,
                        cols,
                        rows,
                        env,
                        command,
                        profile,
                    };
                    shell::run(inc, &login, spec).await
                }
                ChannelKind::Exec { command, stdin } => {
                    exec::run(inc, &login, &command, stdin).await
                }
                ChannelKind::TcpForward { host, port } => forward::run(inc, &host, port).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "channel ended with an error");
            }
        });
    }
}
