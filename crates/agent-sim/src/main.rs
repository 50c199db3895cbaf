//! `airlock-agent-sim`: N simulated agents against one server, for the
//! agent-scale benchmark (`bench/agents.sh`). Prints a JSON report.

use std::path::PathBuf;
use std::time::Duration;

use airlock_agent_sim::{Activation, Options};
use anyhow::Context;
use clap::Parser;

/// Registers N agents with activation codes, connects them all to the
/// control channel, heartbeats, and reports heartbeat round trips as JSON.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server, `https://host:port`.
    #[arg(long, env = "AIRLOCK_ENDPOINT")]
    endpoint: String,
    /// The server's CA (`~/.airlock/ca.pem` of the admin).
    #[arg(long)]
    ca_bundle: PathBuf,
    /// An activation `ID:CODE`; repeat it to spread agents over several
    /// (an activation registers at most 1000 machines).
    #[arg(long = "activation", required = true)]
    activations: Vec<Activation>,
    /// How many agents.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Registrations and handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Heartbeat interval in seconds (default: the server's, as agents do).
    #[arg(long)]
    interval: Option<f64>,
    /// Seconds to hold once all agents are up (default: until SIGINT/SIGTERM).
    #[arg(long)]
    hold: Option<f64>,
    /// Written once all agents have connected or failed.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Dial a dropped channel again with the agent's backoff, as agents do
    /// (for timing the fleet's return after a server restart).
    #[arg(long)]
    reconnect: bool,
    /// With --reconnect: a JSON line is appended each time the whole fleet
    /// is connected again after an outage.
    #[arg(long, requires = "reconnect")]
    reconnect_file: Option<PathBuf>,
    /// Dial each agent from its own loopback address (127.1.0.1 on); the
    /// server must be on loopback.
    #[arg(long)]
    own_addresses: bool,
}

/// Raises the soft limit on open files to the hard limit: every agent holds
/// a socket.
fn raise_nofile(agents: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
        if (hard as usize) < agents + 256 {
            eprintln!(
                "airlock-agent-sim: warning: at most {hard} open files for {agents} agents; raise `ulimit -Hn`"
            );
        }
    }
}

async fn stop_signal() {
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

fn secs(s: Option<f64>, what: &str) -> anyhow::Result<Option<Duration>> {
    s.map(|v| Duration::try_from_secs_f64(v).with_context(|| format!("bad --{what} {v}")))
        .transpose()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    raise_nofile(a.agents);
    let ca_pem = std::fs::read(&a.ca_bundle)
        .with_context(|| format!("reading the CA {}", a.ca_bundle.display()))?;
    let opts = Options {
        endpoint: a.endpoint.trim_end_matches('/').to_owned(),
        ca_pem,
        activations: a.activations,
        agents: a.agents,
        concurrency: a.concurrency,
        interval: secs(a.interval, "interval")?.filter(|d| !d.is_zero()),
        hold: secs(a.hold, "hold")?,
        ready_file: a.ready_file,
        reconnect: a.reconnect,
        reconnect_file: a.reconnect_file,
        own_addresses: a.own_addresses,
    };
    let report = airlock_agent_sim::run(opts, stop_signal()).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
