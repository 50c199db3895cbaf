//! The agent's main loop: dial the server, say Hello, wait to be registered,
//! heartbeat, and on any failure reconnect with backoff. A refusal (the
//! role lacks the rights to register) is logged with its reason.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LinesCodec};

use airlock_proto::control::{
    self as proto, AgentMessage, AuthorizeKey, Decoded, NodeFacts, Reply, ServerMessage,
    SlurmCommand, StartSession,
};
use airlock_proto::node_config::{NODE_CONFIGURED, NodeConfig, StepStatus};
use airlock_transport::dial;
use tokio::sync::mpsc::Sender;

use crate::identity::AgentDir;
use crate::status::{AgentStatus, now_rfc3339};

pub use airlock_proto::control::{CONTROL_PATH, CONTROL_PROTOCOL};
/// Reconnect delays: from [`FIRST_RETRY`], doubling up to [`SHORT_CAP`]
/// while the server has been gone less than [`LONG_OUTAGE`], then up to
/// [`LONG_CAP`]; each delay is drawn from its upper half at random, so
/// agents do not retry in step.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const SHORT_CAP: Duration = Duration::from_secs(2);
const LONG_CAP: Duration = Duration::from_secs(30);
const LONG_OUTAGE: Duration = Duration::from_secs(60);
/// Longest a write to the server may take before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The capped, jittered exponential backoff between connection attempts.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    down_since: Option<tokio::time::Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST_RETRY,
            down_since: None,
        }
    }
}

impl Backoff {
    /// The server acknowledged a Hello: start again from the first delay.
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// How long to wait before the next attempt.
    pub fn delay(&mut self) -> Duration {
        self.delay_at(tokio::time::Instant::now())
    }

    /// [`Backoff::delay`] as of `now`.
    fn delay_at(&mut self, now: tokio::time::Instant) -> Duration {
        let since = *self.down_since.get_or_insert(now);
        let cap = if now.duration_since(since) < LONG_OUTAGE {
            SHORT_CAP
        } else {
            LONG_CAP
        };
        let d = self.next.min(cap);
        self.next = (self.next * 2).min(cap);
        let half = d / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

enum Outcome {
    Refused(String),
    Lost(String),
}

/// The facts the agent reports about its node: its Hello message.
pub fn hello(local_ip: Option<String>) -> AgentMessage {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let uname = nix::sys::utsname::uname().ok();
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let pretty = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".into());
    AgentMessage::Hello {
        facts: NodeFacts {
            computer_name: host,
            ip_address: local_ip.or_else(primary_ip).unwrap_or_default(),
            platform_type: uname
                .map(|u| u.sysname().to_string_lossy().into_owned())
                .unwrap_or_else(|| "Linux".into()),
            platform_name: pretty,
            agent_version: crate::VERSION.into(),
        },
    }
}

/// The address the kernel would use to leave this host (no packet is sent).
fn primary_ip() -> Option<String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    Some(s.local_addr().ok()?.ip().to_string())
}

/// How the agent runs.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// Run sessions as the agent's own user, never switching users.
    pub sessions_as_self: bool,
}

/// Session workers by session id.
type Workers = std::collections::HashMap<String, tokio::process::Child>;

fn start_worker(dir: &AgentDir, opts: &AgentOptions, session: StartSession, workers: &mut Workers) {
    use tokio::io::AsyncWriteExt;
    let spec = crate::worker::WorkerSpec {
        session,
        as_self: opts.sessions_as_self,
    };
    if spec.session.session_id.is_empty() || spec.session.token.is_empty() {
        tracing::warn!("StartSession without a session id or token ignored");
        return;
    }
    // /proc/self/exe still runs this binary after it was replaced on disk.
    let exe = match std::path::Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot find the airlock executable for a session worker");
                return;
            }
        },
    };
    // Named as the executable it is, not `/proc/self/exe`, in ps and in
    // `airlock agent status`.
    let name = std::fs::read_link(&exe).unwrap_or_else(|_| exe.clone());
    let child = tokio::process::Command::new(exe)
        .arg0(name)
        .arg("agent")
        .arg("session-worker")
        .arg("--agent-dir")
        .arg(&dir.0)
        .arg("--session-id")
        .arg(&spec.session.session_id)
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    match child {
        Ok(mut c) => {
            if let (Some(mut stdin), Ok(json)) = (c.stdin.take(), serde_json::to_vec(&spec)) {
                tokio::spawn(async move {
                    let _ = stdin.write_all(&json).await;
                });
            }
            tracing::info!(session = %spec.session.session_id, document = %spec.session.document_name, pid = ?c.id(), "session worker started");
            workers.insert(spec.session.session_id, c);
        }
        Err(e) => tracing::error!(error = %e, "cannot start a session worker"),
    }
}

/// How long a worker told to end (SIGTERM: it resets its forwarded
/// connections first) has before it is killed.
const WORKER_GRACE: Duration = Duration::from_secs(5);

/// Ends a session worker: SIGTERM, then SIGKILL after [`WORKER_GRACE`].
fn stop_worker(mut c: tokio::process::Child) {
    if let Some(pid) = c.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    tokio::spawn(async move {
        if tokio::time::timeout(WORKER_GRACE, c.wait()).await.is_err() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    });
}

/// The control channel after the handshake: JSON lines over mTLS.
pub type ControlIo = Framed<dial::Tls, LinesCodec>;

/// How the server answered Hello.
pub enum Handshake {
    /// Registered: heartbeat on `io` every `interval`.
    Registered {
        io: Box<ControlIo>,
        interval: Duration,
    },
    /// The server refused this node, for the reason given.
    Refused(String),
}

/// The heartbeat; the server answers each with `{"Type":"Pong"}`.
pub fn ping() -> String {
    proto::encode(&AgentMessage::Ping)
}

/// Dials the control channel, says Hello (built by `hello` from the local
/// address of the connection) and reads the server's answer.
pub async fn open(
    cfg: Arc<rustls::ClientConfig>,
    endpoint: &str,
    hello: impl FnOnce(Option<String>) -> AgentMessage,
) -> anyhow::Result<Handshake> {
    open_from(cfg, endpoint, hello, None).await
}

/// [`open`] from a given local address (the agent simulator's agents).
pub async fn open_from(
    cfg: Arc<rustls::ClientConfig>,
    endpoint: &str,
    hello: impl FnOnce(Option<String>) -> AgentMessage,
    local: Option<std::net::IpAddr>,
) -> anyhow::Result<Handshake> {
    let tls = dial::upgrade_from(cfg, endpoint, CONTROL_PATH, CONTROL_PROTOCOL, &[], local).await?;
    let local_ip = tls
        .get_ref()
        .0
        .local_addr()
        .ok()
        .map(|a| a.ip().to_string());
    let mut io = Framed::new(tls, LinesCodec::new_with_max_length(64 * 1024));
    io.send(proto::encode(&hello(local_ip))).await?;
    let first = tokio::time::timeout(Duration::from_secs(15), io.next())
        .await
        .map_err(|_| anyhow!("no answer to Hello within 15 s"))?
        .ok_or_else(|| anyhow!("the server closed the control channel"))?
        .context("reading the control channel")?;
    match proto::decode::<ServerMessage>(&first).context("reading the answer to Hello")? {
        Decoded::Known(ServerMessage::Registered {
            ping_interval_secs, ..
        }) => Ok(Handshake::Registered {
            io: Box::new(io),
            interval: Duration::from_secs(ping_interval_secs.clamp(1, 300)),
        }),
        Decoded::Known(ServerMessage::Refused { reason }) => Ok(Handshake::Refused(reason)),
        Decoded::Known(m) => Err(anyhow!("unexpected answer to Hello: {m:?}")),
        Decoded::Unknown(kind) => Err(anyhow!("unexpected answer to Hello: a {kind} message")),
    }
}

/// Writes one message up the control channel, within [`WRITE_TIMEOUT`].
async fn send_up(io: &mut ControlIo, m: &AgentMessage) -> anyhow::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, io.send(proto::encode(m)))
        .await
        .map_err(|_| anyhow!("the server took over {WRITE_TIMEOUT:?} to take a message"))??;
    Ok(())
}

/// Installs a pushed key and, when the server waits for it, says how it went.
async fn authorize_key(k: AuthorizeKey, up: Sender<AgentMessage>) {
    let (user, by, request_id) = (k.os_user.clone(), k.pushed_by.clone(), k.request_id);
    let r = tokio::task::spawn_blocking(move || crate::authorized_keys::install(&k))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match &r {
        Ok(()) => tracing::info!(%user, pushed_by = %by, "accepted a pushed key until it expires"),
        Err(e) => tracing::warn!(%user, error = %e, "refused a pushed key"),
    }
    if let Some(request_id) = request_id {
        let (exit_code, error) = match r {
            Ok(()) => (0, String::new()),
            Err(e) => (1, e),
        };
        let _ = up
            .send(AgentMessage::Reply(Reply {
                request_id,
                exit_code,
                output: String::new(),
                error,
            }))
            .await;
    }
}

/// One node configuration is applied at a time.
static CONFIGURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Applies a node configuration, one at a time, reporting every step.
async fn configure(cfg: NodeConfig, dir: AgentDir, up: Sender<AgentMessage>) {
    let _one_at_a_time = CONFIGURING.lock().await;
    let host = cfg.hostname.clone();
    let up2 = up.clone();
    let applied = tokio::task::spawn_blocking(move || {
        crate::node_config::apply(&cfg, &mut |s: crate::node_config::Step<'_>| {
            let _ = up2.blocking_send(AgentMessage::NodeConfigurationStep {
                step: s.name.to_owned(),
                status: s.status,
                reason: s.reason,
            });
        })
    })
    .await
    .unwrap_or_else(|e| Err(format!("the configuration task failed: {e}")));
    let (status, reason) = match applied {
        Ok(()) => {
            tracing::info!(hostname = %host, "node configured");
            (StepStatus::Complete, None)
        }
        Err(why) => {
            tracing::error!(hostname = %host, reason = %why, "node configuration failed");
            (StepStatus::Failed, Some(why))
        }
    };
    // For `airlock agent status` and the node's admin: when, and how.
    let record = serde_json::json!({
        "Hostname": host,
        "Status": status,
        "Reason": reason,
        "At": now_rfc3339(),
    });
    if let Err(e) = dir.write_private(
        &dir.node_configuration_file(),
        record.to_string().as_bytes(),
    ) {
        tracing::warn!(error = %e, "cannot record the node configuration's outcome");
    }
    let _ = up
        .send(AgentMessage::NodeConfigurationStep {
            step: NODE_CONFIGURED.into(),
            status,
            reason,
        })
        .await;
}

/// Longest a Slurm command the server asked for may run.
const SLURM_TIMEOUT: Duration = Duration::from_secs(25);

/// Runs one of Slurm's commands for the server and replies with its output.
async fn run_slurm(c: SlurmCommand, up: Sender<AgentMessage>) {
    let run = tokio::process::Command::new(c.program.name())
        .args(&c.args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let reply = match tokio::time::timeout(SLURM_TIMEOUT, run).await {
        Ok(Ok(o)) => Reply {
            request_id: c.request_id,
            exit_code: o.status.code().unwrap_or(-1),
            output: String::from_utf8_lossy(&o.stdout).into_owned(),
            error: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Ok(Err(e)) => Reply {
            request_id: c.request_id,
            exit_code: 127,
            output: String::new(),
            error: format!("cannot run {}: {e}", c.program.name()),
        },
        Err(_) => Reply {
            request_id: c.request_id,
            exit_code: 124,
            output: String::new(),
            error: format!("{} ran over {SLURM_TIMEOUT:?}", c.program.name()),
        },
    };
    let _ = up.send(AgentMessage::Reply(reply)).await;
}

async fn session(
    cfg: Arc<rustls::ClientConfig>,
    endpoint: &str,
    status: &mut AgentStatus,
    dir: &AgentDir,
    opts: &AgentOptions,
    workers: &mut Workers,
    backoff: &mut Backoff,
) -> anyhow::Result<Outcome> {
    let (mut io, interval) = match open(cfg, endpoint, hello).await? {
        Handshake::Registered { io, interval } => (io, interval),
        Handshake::Refused(reason) => return Ok(Outcome::Refused(reason)),
    };
    backoff.reset();
    tracing::info!(instance = %status.instance_id, "registered; online");
    status.state = "Online".into();
    status.reason = None;
    status.since = now_rfc3339();
    status.last_pong = Some(now_rfc3339());
    status.save(dir);
    // What background work (configuration steps, replies) sends up.
    let (up_tx, mut up_rx) = tokio::sync::mpsc::channel::<AgentMessage>(64);
    send_up(&mut io, &AgentMessage::GetNodeConfiguration).await?;
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    let dead_after = interval * 3;
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            Some(m) = up_rx.recv() => send_up(&mut io, &m).await?,
            _ = tick.tick() => {
                workers.retain(|_, c| matches!(c.try_wait(), Ok(None)));
                if last.elapsed() > dead_after {
                    return Ok(Outcome::Lost(format!("no answer from the server for {dead_after:?}")));
                }
                tokio::time::timeout(WRITE_TIMEOUT, io.send(ping()))
                    .await
                    .map_err(|_| anyhow!("the server took over {WRITE_TIMEOUT:?} to take a heartbeat"))??;
            }
            msg = io.next() => match msg {
                Some(Ok(line)) => {
                    last = tokio::time::Instant::now();
                    match proto::decode::<ServerMessage>(&line) {
                        Ok(Decoded::Known(ServerMessage::Pong)) => {
                            status.last_pong = Some(now_rfc3339());
                            status.save(dir);
                        }
                        Ok(Decoded::Known(ServerMessage::Refused { reason })) => {
                            return Ok(Outcome::Refused(reason));
                        }
                        Ok(Decoded::Known(ServerMessage::StartSession(s))) => start_worker(dir, opts, s, workers),
                        Ok(Decoded::Known(ServerMessage::TerminateSession { session_id: id })) => {
                            match workers.remove(&id) {
                                Some(c) => {
                                    tracing::info!(session = %id, "the server ended the session; ending its worker");
                                    stop_worker(c);
                                }
                                None => tracing::info!(session = %id, "the server ended a session with no worker here"),
                            }
                        }
                        Ok(Decoded::Known(ServerMessage::AuthorizeKey(k))) => {
                            tokio::spawn(authorize_key(k, up_tx.clone()));
                        }
                        Ok(Decoded::Known(ServerMessage::NodeConfiguration { configuration })) => {
                            match configuration {
                                Some(cfg) => {
                                    tokio::spawn(configure(*cfg, dir.clone(), up_tx.clone()));
                                }
                                None => tracing::debug!("this machine is no cluster's node: nothing to configure"),
                            }
                        }
                        Ok(Decoded::Known(ServerMessage::RunSlurmCommand(c))) => {
                            tokio::spawn(run_slurm(c, up_tx.clone()));
                        }
                        Ok(Decoded::Known(ServerMessage::Registered { .. })) => {
                            tracing::debug!("ignored a second Registered");
                        }
                        Ok(Decoded::Unknown(kind)) => {
                            tracing::debug!(%kind, "skipped a control message of a type this agent does not know");
                        }
                        Err(e) => tracing::warn!(error = %e, "ignored a control message"),
                    }
                }
                Some(Err(e)) => return Ok(Outcome::Lost(e.to_string())),
                None => return Ok(Outcome::Lost("the server closed the control channel".into())),
            },
        }
    }
}

/// Runs the agent until SIGINT or SIGTERM.
pub async fn run(dir: AgentDir, opts: AgentOptions) -> anyhow::Result<()> {
    let mut workers = Workers::new();
    let id = dir.load_identity()?;
    let cfg = Arc::new(dir.tls_config()?);
    let pid = std::process::id();
    dir.write_private(&dir.pid_file(), format!("{pid}\n").as_bytes())?;
    let mut status = AgentStatus {
        pid,
        started_at: now_rfc3339(),
        instance_id: id.instance_id.clone(),
        endpoint: id.endpoint.clone(),
        state: "Connecting".into(),
        reason: None,
        since: now_rfc3339(),
        last_pong: None,
    };
    status.save(&dir);
    if !nix::unistd::geteuid().is_root() || opts.sessions_as_self {
        tracing::warn!(
            "sessions will run as this agent's own user, not as ssm-user or run-as users"
        );
    }
    tracing::info!(instance = %id.instance_id, endpoint = %id.endpoint, "agent starting");
    let mut backoff = Backoff::default();
    let stop = shutdown();
    tokio::pin!(stop);
    loop {
        let outcome = tokio::select! {
            o = session(cfg.clone(), &id.endpoint, &mut status, &dir, &opts, &mut workers, &mut backoff) => o,
            _ = &mut stop => break,
        };
        let (state, reason) = match outcome {
            Ok(Outcome::Refused(reason)) => {
                tracing::error!(%reason, "the server refused this agent's registration");
                ("Refused", reason)
            }
            Ok(Outcome::Lost(reason)) => {
                tracing::warn!(%reason, "control channel lost; reconnecting");
                ("Connecting", reason)
            }
            Err(e) => {
                let reason = format!("{e:#}");
                tracing::warn!(error = %reason, "cannot reach the server; retrying");
                ("Connecting", reason)
            }
        };
        status.state = state.into();
        status.reason = Some(reason);
        status.since = now_rfc3339();
        status.save(&dir);
        tokio::select! {
            _ = tokio::time::sleep(backoff.delay()) => {}
            _ = &mut stop => break,
        }
    }
    let _ = std::fs::remove_file(dir.pid_file());
    let _ = std::fs::remove_file(dir.status_file());
    tracing::info!("agent stopped");
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_capped_and_reset_by_a_registration() {
        let mut b = Backoff::default();
        let first = b.delay();
        assert!(
            first >= FIRST_RETRY / 2 && first <= FIRST_RETRY,
            "{first:?}"
        );
        for _ in 0..10 {
            assert!(b.delay() <= SHORT_CAP);
        }
        let later = tokio::time::Instant::now() + LONG_OUTAGE;
        let mut longest = Duration::ZERO;
        for _ in 0..10 {
            longest = longest.max(b.delay_at(later));
        }
        assert!(longest > SHORT_CAP && longest <= LONG_CAP, "{longest:?}");
        b.reset();
        assert!(b.delay() <= FIRST_RETRY);
        let spread: std::collections::HashSet<_> =
            (0..20).map(|_| Backoff::default().delay()).collect();
        assert!(spread.len() > 10, "agents must not retry in step");
    }
}
