//! `airlock provider serve`: the privileged helper that runs the local
//! provider (networks, namespaces, firewall rules) for an unprivileged
//! server, on a Unix socket only that server's user may use.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;

use airlock_cluster::local::LocalProvider;
use airlock_cluster::local::net::ServerEndpoint;
use airlock_cluster::provider::Provider;

#[derive(Subcommand)]
pub enum ProviderCommand {
    /// Serve the local provider to an unprivileged server (run as root).
    Serve {
        /// The socket to listen on (the server's --provider-socket).
        #[arg(long)]
        socket: PathBuf,
        /// The only user the helper serves (the server's uid).
        #[arg(long)]
        allow_uid: u32,
        /// Where the clusters' machines and files live.
        #[arg(long, default_value = "/var/lib/airlock-provider/clusters")]
        clusters_dir: PathBuf,
        /// Where machines dial the server when it is on another host
        /// (the server's --node-endpoint).
        #[arg(long, conflicts_with = "agent_port")]
        node_endpoint: Option<SocketAddr>,
        /// The server's port on each cluster's gateway, when it runs on
        /// this host (its first --listen port).
        #[arg(long)]
        agent_port: Option<u16>,
        /// The `airlock` binary machines boot with [default: this one].
        #[arg(long)]
        node_binary: Option<PathBuf>,
    },
}

pub fn run(c: ProviderCommand) -> anyhow::Result<i32> {
    let ProviderCommand::Serve {
        socket,
        allow_uid,
        clusters_dir,
        node_endpoint,
        agent_port,
        node_binary,
    } = c;
    let server = match (node_endpoint, agent_port) {
        (Some(a), _) => ServerEndpoint {
            routed: Some(a.ip().to_string()),
            port: a.port(),
        },
        (None, Some(p)) => ServerEndpoint::on_gateway(p),
        (None, None) => bail!("give --node-endpoint HOST:PORT or --agent-port PORT"),
    };
    let exe = match node_binary {
        Some(p) => p,
        None => std::env::current_exe().context("finding this airlock binary")?,
    };
    let provider = LocalProvider::new(clusters_dir, exe, server);
    provider.check()?;
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(format!("removing the old {}", socket.display())),
    }
    let listener = std::os::unix::net::UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    std::os::unix::fs::chown(&socket, Some(allow_uid), None)
        .with_context(|| format!("giving {} to uid {allow_uid}", socket.display()))?;
    tracing::warn!(socket = %socket.display(), allow_uid, "provider helper ready");
    eprintln!(
        "airlock provider helper serving uid {allow_uid} on {}",
        socket.display()
    );
    let e = airlock_cluster::remote::serve(Arc::new(provider), listener, allow_uid);
    Err(e).context("accepting provider calls")
}
