//! `airlock-server`: the server in the foreground, as systemd or
//! `airlock server start` runs it. `airlock server …` finds this binary
//! beside itself; the daemon's start, stop and status live there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Parser;

use airlock_server::clusters::select::{self, ProviderKind};
use airlock_server::state_dir::{self, StateDir};

/// The airlock server: identity, policies, audit, sessions and clusters.
#[derive(Parser)]
#[command(name = "airlock-server", version, about)]
struct Args {
    /// State directory [default: /var/lib/airlock as root, else $XDG_STATE_HOME/airlock].
    #[arg(long, env = "AIRLOCK_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Address to serve HTTPS on; repeat for more (the first is the users' endpoint; port 0 picks one).
    #[arg(long, env = "AIRLOCK_LISTEN", value_delimiter = ',', default_value = airlock_server::DEFAULT_LISTEN)]
    listen: Vec<SocketAddr>,
    /// Seconds between agent heartbeats; three missed mean ConnectionLost.
    #[arg(long, env = "AIRLOCK_PING_INTERVAL", default_value_t = 10)]
    ping_interval: u64,
    /// Region written in instance ARNs.
    #[arg(long, env = "AIRLOCK_REGION", default_value = "us-east-1")]
    region: String,
    /// The `airlock` binary cluster nodes run [default: `airlock` beside this binary].
    #[arg(long, env = "AIRLOCK_NODE_BINARY")]
    node_binary: Option<PathBuf>,
    /// Where cluster machines dial the server when it is not on their host
    /// (HOST:PORT, an address it listens on; user data carries it).
    #[arg(long, env = "AIRLOCK_NODE_ENDPOINT")]
    node_endpoint: Option<SocketAddr>,
    /// The socket of the privileged provider helper (`airlock provider
    /// serve`); without it the server runs the local provider itself, as root.
    #[arg(long, env = "AIRLOCK_PROVIDER_SOCKET")]
    provider_socket: Option<PathBuf>,
    /// Where cluster machines run: local (namespaces on this host) or ec2
    /// (EC2 instances; needs --node-endpoint and a build with the `ec2`
    /// feature; see docs/EC2.md).
    #[arg(long, env = "AIRLOCK_PROVIDER", value_enum, default_value_t = ProviderKind::Local)]
    provider: ProviderKind,
    /// With --provider ec2: the AMI of nodes whose configuration has no
    /// custom_ami (an image with Slurm, munge and cloud-init; docs/EC2.md).
    #[arg(long, env = "AIRLOCK_EC2_IMAGE_ID", value_name = "AMI")]
    ec2_image_id: Option<String>,
    /// With --provider ec2: where every instance's image mounts the
    /// cluster's shared filesystem (EFS, FSx); nodes bind-mount /home and
    /// /shared from it instead of NFS from the head node (docs/EC2.md).
    #[arg(long, env = "AIRLOCK_EC2_SHARED_VOLUME", value_name = "PATH")]
    ec2_shared_volume: Option<String>,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, env = "AIRLOCK_LOG", default_value = "info")]
    log_level: String,
    /// Log format: text or json.
    #[arg(long, env = "AIRLOCK_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn node_binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let me = std::env::current_exe().context("finding the airlock-server executable")?;
    let beside = me.with_file_name("airlock");
    if beside.is_file() {
        return Ok(beside);
    }
    Err(anyhow!(
        "cannot find the airlock binary that cluster nodes run: it is not beside {} (pass --node-binary or set AIRLOCK_NODE_BINARY)",
        me.display()
    ))
}

fn run(a: Args) -> anyhow::Result<()> {
    let state_dir = match a.state_dir {
        Some(p) => p,
        None => state_dir::default_path()?,
    };
    // Before anything is served: a provider the server cannot use stops it.
    let provider = select::choose(select::Selection {
        kind: a.provider,
        ec2_image_id: a.ec2_image_id,
        ec2_shared_volume: a.ec2_shared_volume,
        node_endpoint: a.node_endpoint,
        provider_socket: a.provider_socket.as_deref(),
    })?;
    let opts = airlock_server::ServerOptions {
        state_dir: StateDir::new(state_dir).root().to_owned(),
        listen: a.listen,
        ping_interval: Duration::from_secs(a.ping_interval),
        region: a.region,
        node_binary: node_binary(a.node_binary)?,
        clusters: airlock_server::clusters::ClusterOptions {
            provider_socket: a.provider_socket,
            node_endpoint: a.node_endpoint,
            provider,
        },
    };
    tokio::runtime::Runtime::new()?.block_on(airlock_server::run(opts))
}

fn main() -> ExitCode {
    airlock_transport::malloc::tune();
    let a = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&a.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if a.log_format == "json" {
        fmt.json().init();
    } else {
        fmt.init();
    }
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
