//! `airlock agent register | run | status`: the node agent.

use std::path::PathBuf;

use airlock_agent::identity::AgentDir;
use anyhow::Context;

#[derive(clap::Args, Clone)]
pub struct DirArg {
    /// Agent directory [default: /var/lib/airlock-agent as root, else $XDG_STATE_HOME/airlock-agent].
    #[arg(long, env = "AIRLOCK_AGENT_DIR")]
    agent_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum AgentCommand {
    /// Join this machine with a hybrid activation (`airlock activation
    /// create`), or as the instance a join token was minted for (what a
    /// node's user data does).
    Register {
        #[command(flatten)]
        dir: DirArg,
        /// The activation's code (shown once by `airlock activation create`).
        #[arg(
            long,
            required_unless_present = "join_token",
            requires = "activation_id"
        )]
        activation_code: Option<String>,
        /// The activation's id.
        #[arg(
            long,
            required_unless_present = "join_token",
            requires = "activation_code"
        )]
        activation_id: Option<String>,
        /// The instance id the join token is for (with --join-token).
        #[arg(long, requires = "join_token")]
        instance_id: Option<String>,
        /// A single-use join token, instead of an activation.
        #[arg(
            long,
            requires = "instance_id",
            conflicts_with_all = ["activation_code", "activation_id"]
        )]
        join_token: Option<String>,
        /// The server, e.g. https://airlock.example.com:7443.
        #[arg(long)]
        endpoint: String,
        /// The server's CA certificate [default: ~/.airlock/ca.pem].
        #[arg(long)]
        ca_bundle: Option<PathBuf>,
    },
    /// Run the agent in the foreground (for the node supervisor or systemd).
    Run {
        #[command(flatten)]
        dir: DirArg,
        /// Run sessions as the agent's own user (personal machines, tests).
        #[arg(long, env = "AIRLOCK_AGENT_SESSIONS_AS_SELF")]
        sessions_as_self: bool,
    },
    /// Serve one session (started by the agent; reads its spec on stdin).
    #[command(hide = true)]
    SessionWorker {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        session_id: String,
    },
    /// Show the agent's state the way `systemctl status` shows a service.
    Status(DirArg),
}

pub fn run(c: AgentCommand) -> anyhow::Result<i32> {
    match c {
        AgentCommand::Register {
            dir,
            activation_code,
            activation_id,
            instance_id,
            join_token,
            endpoint,
            ca_bundle,
        } => {
            let credential = match (activation_id, activation_code, instance_id, join_token) {
                (_, _, Some(instance_id), Some(join_token)) => {
                    airlock_agent::register::Credential::Join {
                        instance_id,
                        join_token,
                    }
                }
                (Some(activation_id), Some(activation_code), None, None) => {
                    airlock_agent::register::Credential::Activation {
                        activation_id,
                        activation_code,
                    }
                }
                _ => anyhow::bail!(
                    "give --activation-id and --activation-code, or --instance-id and --join-token"
                ),
            };
            let dir = AgentDir::locate(dir.agent_dir)?;
            let ca_path = match ca_bundle {
                Some(p) => p,
                None => airlock_proto::profile::ClientFiles::locate()?.ca_path(),
            };
            let ca = std::fs::read(&ca_path).with_context(|| {
                format!(
                    "reading the server's CA {} (give it with --ca-bundle)",
                    ca_path.display()
                )
            })?;
            let rt = crate::client::runtime()?;
            let id = rt.block_on(airlock_agent::register::register(
                &dir,
                &endpoint,
                &ca,
                &credential,
            ))?;
            println!("Registered as {id}. Start the agent with `airlock agent run`.");
            Ok(0)
        }
        AgentCommand::Run {
            dir,
            sessions_as_self,
        } => {
            let dir = AgentDir::locate(dir.agent_dir)?;
            let rt = tokio::runtime::Runtime::new()?;
            let opts = airlock_agent::control::AgentOptions { sessions_as_self };
            rt.block_on(airlock_agent::control::run(dir, opts))?;
            Ok(0)
        }
        AgentCommand::SessionWorker { dir, session_id } => {
            let dir = AgentDir::locate(dir.agent_dir)?;
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
            let spec: airlock_agent::worker::WorkerSpec =
                serde_json::from_str(&input).context("reading the session spec on stdin")?;
            anyhow::ensure!(
                spec.session.session_id == session_id,
                "the session spec is for another session"
            );
            // One session per process: one thread drives its TLS stream and
            // channels without waking another thread for every frame.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(airlock_agent::worker::run(dir, spec))?;
            Ok(0)
        }
        AgentCommand::Status(d) => {
            let dir = AgentDir::locate(d.agent_dir)?;
            let (text, active) = airlock_agent::status::render(&dir);
            print!("{text}");
            Ok(if active { 0 } else { 3 })
        }
    }
}
