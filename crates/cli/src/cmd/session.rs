//! Sessions from the command line, in the shape of the AWS CLI and the
//! Session Manager plugin: `connect` and `session start` (a shell or a
//! document), `exec`, `port-forward` and `proxy`.

use airlock_wire::ChannelKind;
use anyhow::anyhow;
use serde_json::{Value, json};

use crate::Global;
use crate::client::ApiClient;
use crate::forward::{self, PipeEnd};
use crate::session_client::{self as sc, drain_output, exit_code};

pub const RUN_SHELL: &str = "SSM-SessionManagerRunShell";

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The node: an instance id, a hostname, CLUSTER/head or CLUSTER/NODE.
    target: String,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// The node: an instance id (mi-… or i-…), a hostname, CLUSTER/head or
    /// CLUSTER/NODE.
    #[arg(long)]
    target: String,
    /// The session document: SSM-SessionManagerRunShell (a shell),
    /// AWS-StartInteractiveCommand, AWS-StartNonInteractiveCommand,
    /// AWS-StartPortForwardingSession,
    /// AWS-StartPortForwardingSessionToRemoteHost or AWS-StartSSHSession.
    #[arg(long, default_value = RUN_SHELL)]
    document_name: String,
    /// name=value[,name=value…], e.g. portNumber=22,localPortNumber=9922.
    #[arg(long)]
    parameters: Option<String>,
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// The node: an instance id, a hostname, CLUSTER/head or CLUSTER/NODE.
    target: String,
    /// Do not send stdin (like ssh -n).
    #[arg(short = 'n', long)]
    no_stdin: bool,
    /// The command and its arguments (after --).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct PortForwardArgs {
    /// The node: an instance id, a hostname, CLUSTER/head or CLUSTER/NODE.
    target: String,
    /// The port on the node (or on --host, reached from the node).
    #[arg(long)]
    remote_port: u16,
    /// The local port to listen on (0 picks one).
    #[arg(long, default_value_t = 0)]
    local_port: u16,
    /// A host reached from the node (AWS-StartPortForwardingSessionToRemoteHost).
    #[arg(long)]
    host: Option<String>,
}

#[derive(clap::Args)]
pub struct ProxyArgs {
    /// The node (ssh's %h, or %n as typed): an instance id, a hostname,
    /// CLUSTER/head, CLUSTER/NODE, or NODE.CLUSTER (head.mycluster), the
    /// form scp and rsync accept.
    target: String,
    /// Port on the node (ssh's %p).
    port: u16,
}

/// Quotes one word for `sh -c`.
pub(crate) fn sh_quote(w: &str) -> String {
    if !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

pub fn exec(g: &Global, a: ExecArgs) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    let command = if a.command.len() == 1 {
        a.command[0].clone()
    } else {
        a.command
            .iter()
            .map(|w| sh_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let s = sc::start(
        &client,
        &a.target,
        "AWS-StartNonInteractiveCommand",
        json!({"command": [command.clone()]}),
    )?;
    let stdin = !a.no_stdin;
    let result = client.block_on(async {
        let mut ch = s
            .mux
            .open(
                ChannelKind::Exec { command, stdin },
                Some(s.id.clone()),
                None,
            )
            .await?;
        s.mux.end_when_idle();
        if stdin {
            sc::forward_stdin(ch.sender());
        }
        drain_output(&mut ch).await
    });
    sc::terminate(&client, &s.id);
    Ok(exit_code(&result?))
}

pub fn connect(g: &Global, a: ConnectArgs) -> anyhow::Result<i32> {
    start(
        g,
        StartArgs {
            target: a.target,
            document_name: RUN_SHELL.into(),
            parameters: None,
        },
    )
}

pub fn start(g: &Global, a: StartArgs) -> anyhow::Result<i32> {
    let params = match &a.parameters {
        Some(p) => sc::parse_parameters(p)?,
        None => json!({}),
    };
    start_document(g, a.target, &a.document_name, params)
}

/// Starts a session of `document` on `target` with its parameters (each a
/// list of strings, `{"portNumber": ["22"]}`) and runs it to its end, as
/// `session start` and `ssm start-session` do.
pub fn start_document(
    g: &Global,
    target: String,
    document: &str,
    params: Value,
) -> anyhow::Result<i32> {
    match document {
        RUN_SHELL | "AWS-StartInteractiveCommand" => {
            crate::terminal::shell(g, &target, document, params)
        }
        "AWS-StartNonInteractiveCommand" => {
            let command = params
                .get("command")
                .and_then(|v| v.get(0))
                .and_then(Value::as_str)
                .ok_or_else(|| crate::output::BadInput("--parameters must give command".into()))?;
            exec(
                g,
                ExecArgs {
                    target,
                    no_stdin: false,
                    command: vec![command.to_owned()],
                },
            )
        }
        "AWS-StartPortForwardingSession" | "AWS-StartPortForwardingSessionToRemoteHost" => {
            let one = |k: &str| {
                params
                    .get(k)
                    .and_then(|v| v.get(0))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let remote_port = one("portNumber")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| anyhow!("--parameters must give portNumber"))?;
            let local_port = one("localPortNumber")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            port_forward(
                g,
                PortForwardArgs {
                    target,
                    remote_port,
                    local_port,
                    host: one("host"),
                },
            )
        }
        "AWS-StartSSHSession" => {
            let port = params
                .get("portNumber")
                .and_then(|v| v.get(0))
                .and_then(Value::as_str)
                .and_then(|p| p.parse().ok())
                .unwrap_or(22);
            proxy(g, ProxyArgs { target, port })
        }
        other => Err(anyhow!(
            "document {other} cannot be started from the command line"
        )),
    }
}

pub fn port_forward(g: &Global, a: PortForwardArgs) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    let (doc, params, host) = match &a.host {
        Some(h) => (
            "AWS-StartPortForwardingSessionToRemoteHost",
            json!({"host": [h], "portNumber": [a.remote_port.to_string()]}),
            h.clone(),
        ),
        None => (
            "AWS-StartPortForwardingSession",
            json!({"portNumber": [a.remote_port.to_string()]}),
            "localhost".into(),
        ),
    };
    let mut s = sc::start(&client, &a.target, doc, params)?;
    eprintln!("\nStarting session with SessionId: {}", s.id);
    let result: anyhow::Result<()> = client.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.local_port))
            .await
            .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{}: {e}", a.local_port))?;
        let port = listener.local_addr()?.port();
        eprintln!("Port {port} opened for sessionId {}.", s.id);
        eprintln!("Waiting for connections...");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(None::<String>);
        let mut conns = tokio::task::JoinSet::new();
        let stop = forward::stop_signal();
        tokio::pin!(stop);
        let lost = loop {
            tokio::select! {
                _ = &mut stop => break None,
                ended = &mut s.task => break Some(sc::lost_reason(ended)),
                acc = listener.accept() => {
                    let (tcp, _) = acc?;
                    eprintln!("\nConnection accepted for session [{}]", s.id);
                    let target = (host.clone(), a.remote_port);
                    conns.spawn(forward::one_connection(s.mux.clone(), tcp, target, s.id.clone(), stop_rx.clone()));
                }
            }
        };
        // Connections still open were cut short: each is reset, not closed.
        let why = lost.clone().unwrap_or_else(|| "the port forward was stopped".into());
        let _ = stop_tx.send(Some(why));
        let _ = tokio::time::timeout(forward::DRAIN, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        match lost {
            Some(why) => Err(anyhow!("session {} ended before the port forward was stopped: {why}", s.id)),
            None => Ok(()),
        }
    });
    sc::terminate(&client, &s.id);
    eprintln!("\nExiting session with sessionId: {}.", s.id);
    result.map(|_| 0)
}

pub fn proxy(g: &Global, a: ProxyArgs) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    let mut s = sc::start(
        &client,
        &a.target,
        "AWS-StartSSHSession",
        json!({"portNumber": [a.port.to_string()]}),
    )?;
    let result = client.block_on(async {
        let ch = s
            .mux
            .open(
                ChannelKind::TcpForward {
                    host: "localhost".into(),
                    port: a.port,
                },
                Some(s.id.clone()),
                None,
            )
            .await?;
        s.mux.end_when_idle();
        let piped = forward::pipe(crate::stdio::stdin(), crate::stdio::stdout(), ch);
        let end = tokio::select! {
            (_, end) = piped => end,
            // ssh ends its ProxyCommand with a signal when it is done.
            _ = forward::stop_signal() => return Ok(()),
        };
        match end {
            PipeEnd::Finished | PipeEnd::Local(_) => Ok(()),
            PipeEnd::Lost(why) => {
                let why = if why.is_empty() {
                    s.lost_within(std::time::Duration::from_secs(1)).await
                } else {
                    why
                };
                Err(anyhow!(
                    "session {} was lost before the stream ended: {why}",
                    s.id
                ))
            }
        }
    });
    sc::terminate(&client, &s.id);
    result.map(|_| 0)
}

/// `airlock ssh-config`: the block for `~/.ssh/config`.
pub fn ssh_config(g: &Global) -> anyhow::Result<i32> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "airlock".into());
    print!("{}", ssh_config_block(&exe, &g.profile));
    Ok(0)
}

/// The `Host` blocks that send ssh through `EXE proxy`: instance ids, and
/// the names `airlock proxy` resolves too: `CLUSTER/head`, `CLUSTER/NODE`,
/// a cluster's node names (`QUEUE-dy-…`, `QUEUE-st-…`) and `head`, and
/// `head.CLUSTER` / `NODE.CLUSTER` for scp and rsync (which read a `/`
/// before the `:` as a local path). Those go as `%n`, the name as typed:
/// ssh lowercases `%h`, and cluster names keep their case.
fn ssh_config_block(exe: &str, profile: &str) -> String {
    let profile = if profile == "default" {
        String::new()
    } else {
        format!(" --profile {profile}")
    };
    format!(
        "# airlock: reach managed nodes through the airlock server (no inbound SSH).\n\
         Host i-* mi-*\n\
         \x20   ProxyCommand {exe}{profile} proxy %h %p\n\
         \x20   StrictHostKeyChecking accept-new\n\
         # Cluster nodes: CLUSTER/head, CLUSTER/NODE, node names (spot1-dy-c5large-1, head),\n\
         # and head.CLUSTER or NODE.CLUSTER for scp and rsync (scp f ubuntu@head.mycluster:).\n\
         Host */* head head.* *-dy-* *-st-*\n\
         \x20   ProxyCommand {exe}{profile} proxy %n %p\n\
         \x20   StrictHostKeyChecking accept-new\n"
    )
}

#[cfg(test)]
mod tests {
    use super::ssh_config_block;

    #[test]
    fn ssh_config_covers_cluster_node_names_and_keeps_their_case() {
        let b = ssh_config_block("/usr/bin/airlock", "default");
        assert!(
            b.contains("Host i-* mi-*\n    ProxyCommand /usr/bin/airlock proxy %h %p\n"),
            "{b}"
        );
        assert!(
            b.contains(
                "Host */* head head.* *-dy-* *-st-*\n    ProxyCommand /usr/bin/airlock proxy %n %p\n"
            ),
            "{b}"
        );
        let b = ssh_config_block("airlock", "lab");
        assert_eq!(b.matches("airlock --profile lab proxy").count(), 2, "{b}");
    }
}
