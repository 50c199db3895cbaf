//! `airlock`: the one binary. `main` only parses arguments, sets up logging
//! and hands each subcommand to its module.

mod client;
mod cmd;
mod forward;
mod output;
mod session_client;
mod stdio;
mod terminal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Slurm clusters that nobody reaches over SSH.
#[derive(Parser)]
#[command(name = "airlock", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand accepts.
#[derive(clap::Args, Clone, Debug)]
pub struct Global {
    /// Profile in ~/.airlock/config and ~/.airlock/credentials.
    #[arg(
        long,
        global = true,
        env = "AIRLOCK_PROFILE",
        default_value = "default"
    )]
    pub profile: String,
    /// Server URL, overriding the profile's (e.g. https://127.0.0.1:7443).
    #[arg(long, global = true, env = "AIRLOCK_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Print listings and results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, global = true, env = "AIRLOCK_LOG", default_value = "warn")]
    pub log_level: String,
    /// Log format.
    #[arg(
        long,
        global = true,
        env = "AIRLOCK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create a cluster from a ParallelCluster configuration (v2 INI or v3 YAML).
    Create(cmd::cluster::CreateArgs),
    /// Delete a cluster and everything it made.
    Delete(cmd::cluster::NameArgs),
    /// A cluster's stack status, resources and outputs.
    Status { name: String },
    /// Clusters and their status.
    List,
    /// ssh to a cluster's head node through airlock, following [aliases] ssh.
    Ssh(cmd::cluster::SshArgs),
    /// EC2-style key pairs.
    #[command(subcommand)]
    Ec2(cmd::ec2::Ec2Command),
    /// Slurm's power-saving hooks (ResumeProgram, SuspendProgram, ResumeFailProgram).
    #[command(subcommand)]
    Slurm(cmd::slurm::SlurmCommand),
    /// Drills for failure handling.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// The node supervisor (run by the local provider inside a node).
    #[command(subcommand, hide = true)]
    Node(NodeCommand),
    /// Run and manage the airlock server.
    #[command(subcommand)]
    Server(cmd::server::ServerCommand),
    /// The privileged provider helper for an unprivileged server.
    #[command(subcommand)]
    Provider(cmd::provider::ProviderCommand),
    /// Validate, show and convert cluster configuration files.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Users, access keys, roles and policies (AWS CLI shape).
    #[command(subcommand)]
    Iam(cmd::iam::IamCommand),
    /// The node agent: register, run, status.
    #[command(subcommand)]
    Agent(cmd::agent::AgentCommand),
    /// Hybrid activations for machines outside any cluster.
    #[command(subcommand)]
    Activation(cmd::activation::ActivationCommand),
    /// Managed nodes and their ping status.
    Instances(cmd::instances::InstancesArgs),
    /// Query the audit log of API decisions.
    Audit(cmd::audit::AuditArgs),
    /// Open a shell on a node (short for `session start --target`).
    Connect(cmd::session::ConnectArgs),
    /// Run a command on a node; its exit status becomes airlock's.
    Exec(cmd::session::ExecArgs),
    /// Forward a local port to a port on (or reached from) a node.
    PortForward(cmd::session::PortForwardArgs),
    /// stdio ProxyCommand for ssh: `ssh -o ProxyCommand='airlock proxy %h %p' user@i-…`.
    Proxy(cmd::session::ProxyArgs),
    /// Print the ~/.ssh/config block that sends ssh through airlock.
    SshConfig,
    /// Sessions: start (any document), list, show, terminate, replay.
    #[command(subcommand)]
    Session(cmd::sessions::SessionCommand),
    /// Print a one-time sign-in link to the web console (valid for 60 s).
    Console(cmd::console::ConsoleArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Simulate a spot reclaim of a node: a notice, then termination.
    InterruptSpot {
        /// The node's name, e.g. spot1-dy-c5large-1.
        node: String,
        #[arg(long)]
        cluster: String,
        /// Seconds between the notice and the reclaim.
        #[arg(long, default_value_t = 2)]
        notice_seconds: u64,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Boot a node from its spec (PID 1 of the node's namespaces).
    Boot { spec: std::path::PathBuf },
}

fn init_logging(g: &Global) {
    let filter = tracing_subscriber::EnvFilter::try_new(&g.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match g.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    airlock_transport::malloc::tune();
    let cli = Cli::parse_from(cmd::slurm::argv0_alias(std::env::args().collect()));
    init_logging(&cli.global);
    // Listings end quietly when their reader goes away (`airlock instances |
    // head -1`), like other tools, instead of panicking on EPIPE. Not for
    // the server, agent or tunnels, which must see EPIPE as an error.
    if matches!(
        cli.command,
        Command::Instances(_)
            | Command::List
            | Command::Status { .. }
            | Command::Iam(_)
            | Command::Audit(_)
            | Command::Config(_)
            | Command::Ec2(_)
            | Command::SshConfig
            | Command::Completions { .. }
    ) {
        // SAFETY: no other thread exists yet.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let g = cli.global;
    let result = match cli.command {
        Command::Create(a) => cmd::cluster::create(&g, a),
        Command::Delete(a) => cmd::cluster::delete(&g, a),
        Command::Status { name } => cmd::cluster::status(&g, &name),
        Command::List => cmd::cluster::list(&g),
        Command::Ssh(a) => cmd::cluster::ssh(&g, a),
        Command::Ec2(c) => cmd::ec2::run(&g, c),
        Command::Slurm(c) => cmd::slurm::run(c),
        Command::Debug(DebugCommand::InterruptSpot { node, cluster, notice_seconds }) => {
            client::ApiClient::from_global(&g)
                .and_then(|c| c.call("cluster", "InterruptSpotInstance", &serde_json::json!({"ClusterName": cluster, "NodeName": node, "NoticeSeconds": notice_seconds})))
                .map(|v| {
                    println!("Spot interruption notice sent to {} ({}); reclaimed in {} s", node, output::s(&v, "InstanceId"), notice_seconds);
                    0
                })
        }
        Command::Node(NodeCommand::Boot { spec }) => airlock_cluster::local::supervisor::boot(&spec).map(|()| 0).map_err(Into::into),
        Command::Server(c) => cmd::server::run(&g, c),
        Command::Provider(c) => cmd::provider::run(c),
        Command::Config(c) => cmd::config::run(&g, c),
        Command::Iam(c) => cmd::iam::run(&g, c),
        Command::Audit(a) => cmd::audit::run(&g, a),
        Command::Agent(c) => cmd::agent::run(c),
        Command::Activation(c) => cmd::activation::run(&g, c),
        Command::Instances(a) => cmd::instances::run(&g, a),
        Command::Connect(a) => cmd::session::connect(&g, a),
        Command::Exec(a) => cmd::session::exec(&g, a),
        Command::PortForward(a) => cmd::session::port_forward(&g, a),
        Command::Proxy(a) => cmd::session::proxy(&g, a),
        Command::SshConfig => cmd::session::ssh_config(&g),
        Command::Session(c) => cmd::sessions::run(&g, c),
        Command::Console(a) => cmd::console::run(&g, a),
        Command::Completions { shell } => {
            let mut c = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut c, "airlock", &mut std::io::stdout());
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("{}", output::error_line(&e));
            ExitCode::from(output::exit_code(&e))
        }
    }
}
