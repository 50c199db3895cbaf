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
    /// Instance id, hostname, or CLUSTER/head.
    target: String,
}

#[derive(clap::Args)]
pub struct StartArgs {
    #[arg(long)]
    target: String,
    #[arg(long, default_value = RUN_SHELL)]
    document_name: String,
    /// name=value[,name=value…], e.g. portNumber=22,localPortNumber=9922.
    #[arg(long)]
    parameters: Option<String>,
}

#[derive(clap::Args)]
pub struct ExecArgs {
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
    /// Instance id or hostname (ssh's %h).
    target: String,
    /// Port on the node (ssh's %p).
    port: u16,
}

/// Quotes one word for `sh -c`.
fn sh_quote(w: &str) -> String {
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
    match a.document_name.as_str() {
        RUN_SHELL | "AWS-StartInteractiveCommand" => {
            crate::terminal::shell(g, &a.target, &a.document_name, params)
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
                    target: a.target,
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
            proxy(
                g,
                ProxyArgs {
                    target: a.target,
                    port,
                },
            )
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
    let profile = if g.profile == "default" {
        String::new()
    } else {
        format!(" --profile {}", g.profile)
    };
    println!("# airlock: reach managed nodes through the airlock server (no inbound SSH).");
    println!("Host i-* mi-*");
    println!("    ProxyCommand {exe}{profile} proxy %h %p");
    println!("    StrictHostKeyChecking accept-new");
    Ok(0)
}
