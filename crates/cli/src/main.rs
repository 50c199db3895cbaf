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
#[command(next_help_heading = "Global options")]
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
    /// Print results as JSON (the same as --output json).
    #[arg(long, global = true, default_value_if("output", "json", "true"))]
    pub json: bool,
    /// Result format: json, text (tab-separated values, as the AWS CLI prints
    /// them) or table [default: tables for listings, JSON for the rest].
    #[arg(long, global = true, env = "AIRLOCK_DEFAULT_OUTPUT", value_enum)]
    pub output: Option<output::Format>,
    /// A JMESPath query applied to the JSON result before it prints
    /// (e.g. 'Users[].UserName').
    #[arg(long, global = true, value_parser = output::parse_query)]
    pub query: Option<String>,
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
    Status {
        /// The cluster's name (see `airlock list`).
        name: String,
    },
    /// Clusters and their status.
    List,
    /// Update a cluster to a new configuration (pcluster update): prints the change set, applies what can be.
    Update(cmd::cluster_update::UpdateArgs),
    /// Start a cluster's compute fleet (pcluster start): partitions UP, static nodes launched.
    Start(cmd::cluster_update::FleetArgs),
    /// Stop a cluster's compute fleet (pcluster stop): partitions INACTIVE, every compute node powered down.
    Stop(cmd::cluster_update::FleetArgs),
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
    /// `aws ssm` names: start-session, describe-sessions, get-connection-status, … with the AWS CLI's options and JSON.
    #[command(subcommand)]
    Ssm(cmd::ssm::SsmCommand),
    /// Print a one-time sign-in link to the web console (valid for 60 s).
    Console(cmd::console::ConsoleArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (roff), one per command: airlock.1, airlock-iam-create-user.1, …
    Man {
        /// The directory to write them to, e.g. /usr/local/share/man/man1.
        #[arg(long, value_name = "DIR")]
        out_dir: std::path::PathBuf,
    },
    /// Print airlock's version, as `pcluster version` prints its own (JSON).
    Version,
    /// pcluster 3: create a cluster (JSON output, as `pcluster create-cluster`).
    CreateCluster(cmd::pcluster3::CreateClusterArgs),
    /// pcluster 3: start deleting a cluster (as `pcluster delete-cluster`).
    DeleteCluster(cmd::pcluster3::ClusterNameArgs),
    /// pcluster 3: a cluster's status and head node (as `pcluster describe-cluster`).
    DescribeCluster(cmd::pcluster3::ClusterNameArgs),
    /// pcluster 3: the clusters (as `pcluster list-clusters`).
    ListClusters(cmd::pcluster3::ListClustersArgs),
    /// pcluster 3: a cluster's instances (as `pcluster describe-cluster-instances`).
    DescribeClusterInstances(cmd::pcluster3::DescribeInstancesArgs),
    /// pcluster 3: update a cluster (as `pcluster update-cluster`).
    UpdateCluster(cmd::cluster_update::UpdateClusterArgs),
    /// pcluster 3: START_REQUESTED or STOP_REQUESTED (as `pcluster update-compute-fleet`).
    UpdateComputeFleet(cmd::cluster_update::UpdateComputeFleetArgs),
    /// pcluster 3: the compute fleet's status (as `pcluster describe-compute-fleet`).
    DescribeComputeFleet(cmd::pcluster3::ClusterNameArgs),
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Simulate a spot reclaim of a node: a notice, then termination.
    InterruptSpot {
        /// The node's name, e.g. spot1-dy-c5large-1.
        node: String,
        /// The cluster the node belongs to.
        #[arg(long)]
        cluster: String,
        /// Seconds between the notice and the reclaim.
        #[arg(long, default_value_t = 2)]
        notice_seconds: u64,
    },
    /// Boot an EC2 endpoint's instances (moto's, which boots nothing) as
    /// machines on this host that run their user data (root; docs/EC2.md).
    Ec2BootRig(cmd::ec2_boot_rig::BootRigArgs),
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Boot a node from its spec (PID 1 of the node's namespaces).
    Boot { spec: std::path::PathBuf },
}

/// Logging to stderr (coloured only on a terminal), and how results print
/// (`--output`, `--query`): set once, before any command runs.
fn init_logging(g: &Global) {
    use std::io::IsTerminal;
    output::init(output::Style::new(g.json, g.output, g.query.clone()));
    let filter = tracing_subscriber::EnvFilter::try_new(&g.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
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
            | Command::Ssm(
                cmd::ssm::SsmCommand::DescribeInstanceInformation
                    | cmd::ssm::SsmCommand::DescribeSessions { .. }
                    | cmd::ssm::SsmCommand::DescribeActivations
            )
            | Command::SshConfig
            | Command::Completions { .. }
            | Command::Version
            | Command::ListClusters(_)
            | Command::DescribeCluster(_)
            | Command::DescribeClusterInstances(_)
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
        Command::Update(a) => cmd::cluster_update::update(&g, a),
        Command::Start(a) => cmd::cluster_update::start_stop(&g, a, false),
        Command::Stop(a) => cmd::cluster_update::start_stop(&g, a, true),
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
        Command::Debug(DebugCommand::Ec2BootRig(a)) => cmd::ec2_boot_rig::run(a),
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
        Command::Ssm(c) => cmd::ssm::run(&g, c),
        Command::Console(a) => cmd::console::run(&g, a),
        Command::Completions { shell } => {
            let mut c = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut c, "airlock", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { out_dir } => cmd::man::run(&out_dir),
        Command::Version => cmd::pcluster3::version(),
        Command::CreateCluster(a) => cmd::pcluster3::create(&g, a),
        Command::DeleteCluster(a) => cmd::pcluster3::delete(&g, a),
        Command::DescribeCluster(a) => cmd::pcluster3::describe(&g, a),
        Command::ListClusters(a) => cmd::pcluster3::list(&g, a),
        Command::DescribeClusterInstances(a) => cmd::pcluster3::instances(&g, a),
        Command::UpdateCluster(a) => cmd::cluster_update::update_cluster(&g, a),
        Command::UpdateComputeFleet(a) => cmd::cluster_update::update_compute_fleet(&g, a),
        Command::DescribeComputeFleet(a) => {
            cmd::cluster_update::describe_compute_fleet(&g, &a.cluster_name)
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

#[cfg(test)]
mod help_tests {
    use clap::{CommandFactory, Parser};

    /// Every command and argument under `c` without help text, as
    /// `airlock iam create-user --user-name`.
    fn missing_help(c: &clap::Command, path: &str, out: &mut Vec<String>) {
        for a in c.get_arguments() {
            let builtin = matches!(a.get_id().as_str(), "help" | "version");
            if !builtin && !a.is_hide_set() && a.get_help().is_none() {
                out.push(format!("{path} <{}>", a.get_id()));
            }
        }
        for sub in c.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let p = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                out.push(p.clone());
            }
            missing_help(sub, &p, out);
        }
    }

    #[test]
    fn every_command_and_argument_has_help() {
        let mut missing = Vec::new();
        missing_help(&super::Cli::command(), "airlock", &mut missing);
        assert!(missing.is_empty(), "no help text:\n{}", missing.join("\n"));
    }

    #[test]
    fn global_options_are_grouped_under_their_own_heading() {
        let cli = super::Cli::command();
        for id in [
            "profile",
            "endpoint",
            "output",
            "query",
            "json",
            "log_level",
        ] {
            let a = cli.get_arguments().find(|a| a.get_id() == id);
            assert_eq!(
                a.and_then(|a| a.get_help_heading()),
                Some("Global options"),
                "{id}"
            );
        }
    }

    #[test]
    fn output_json_and_json_are_the_same() {
        let parse = |line: &str| {
            let g = super::Cli::try_parse_from(line.split(' ')).unwrap().global;
            crate::output::Style::new(g.json, g.output, g.query)
        };
        let json = parse("airlock list --json");
        assert_eq!(json.format, Some(crate::output::Format::Json));
        assert_eq!(parse("airlock --output json list"), json);
        assert!(
            super::Cli::try_parse_from(["airlock", "list", "--output", "json"])
                .unwrap()
                .global
                .json
        );
        assert_eq!(
            parse("airlock list --output text --query Clusters[].ClusterName")
                .query
                .as_deref(),
            Some("Clusters[].ClusterName")
        );
        let bad = super::Cli::try_parse_from(["airlock", "list", "--query", "Clusters["]);
        assert_eq!(
            bad.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::ValueValidation)
        );
    }
}

/// The README's examples are commands airlock accepts: every `airlock …`
/// line of its `sh` blocks parses (optional `[…]` parts included).
#[cfg(test)]
mod readme_tests {
    use clap::Parser;

    /// The `airlock` command lines of the README's `sh` blocks, as words.
    fn readme_commands(readme: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut in_sh = false;
        let mut line = String::new();
        for raw in readme.lines() {
            if raw.starts_with("```") {
                in_sh = !in_sh && raw.trim() == "```sh";
                continue;
            }
            if !in_sh {
                continue;
            }
            // A shell substitution stands for one word.
            let raw = raw.replace("$(id -u airlock)", "1000");
            if let Some(head) = raw.trim_end().strip_suffix('\\') {
                line.push_str(head);
                line.push(' ');
                continue;
            }
            line.push_str(&raw);
            for command in std::mem::take(&mut line).split(';') {
                let words = shlex::split(command).unwrap_or_default();
                let words: Vec<String> = words
                    .into_iter()
                    .take_while(|w| w != "#" && !w.starts_with('>') && w != "|")
                    .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                    .map(|w| w.replace(['[', ']'], ""))
                    .collect();
                if words.first().is_some_and(|w| w == "airlock") {
                    out.push(words);
                }
            }
        }
        out
    }

    #[test]
    fn every_airlock_command_in_the_readme_parses() {
        let commands = readme_commands(include_str!("../../../README.md"));
        assert!(commands.len() >= 40, "found only {}", commands.len());
        let bad: Vec<String> = commands
            .iter()
            .filter_map(|w| {
                super::Cli::try_parse_from(w)
                    .err()
                    .map(|e| format!("{}\n  {}", w.join(" "), e.kind()))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "README commands airlock refuses:\n{}",
            bad.join("\n")
        );
    }

    #[test]
    fn continuations_comments_and_optional_parts_are_read() {
        let md = "```sh\nairlock create c -c x.ini [--nowait]   # a comment\n\
                  FOO=1 airlock a \\\n    --b 'c d'; airlock e > f\n```\nairlock not-in-a-block\n";
        let got = readme_commands(md);
        let want: Vec<Vec<&str>> = vec![
            vec!["airlock", "create", "c", "-c", "x.ini", "--nowait"],
            vec!["airlock", "a", "--b", "c d"],
            vec!["airlock", "e"],
        ];
        assert_eq!(got, want);
    }
}
