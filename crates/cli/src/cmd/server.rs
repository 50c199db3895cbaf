//! `airlock server run | start | stop | status`: the server (the
//! `airlock-server` binary beside this one) in the foreground, or as a
//! daemon with a pid file and a log file, in the manner of `pg_ctl`.
//! This crate does not link the server: it runs it.
//!
//! `start` and `run` remember the settings they were given (`--listen`,
//! `--ping-interval`, `--region`, or their variables) in the state
//! directory's `server.settings` once the server runs, and a later start
//! without them uses them again: after `server start --listen
//! 127.0.0.1:8443` and `server stop`, a plain `server start` listens on
//! 127.0.0.1:8443, where the profile points. A port 0 is remembered as the
//! port the server bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use airlock_proto::state_dir::{self, DEFAULT_LISTEN, StateDir};
use anyhow::{Context, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Global;
use crate::client::{ApiClient, http_client, runtime};

#[derive(clap::Subcommand)]
pub enum ServerCommand {
    /// Run the server in the foreground (for systemd and tests).
    Run(ServerArgs),
    /// Start the server as a daemon.
    Start(ServerArgs),
    /// Stop the daemon.
    Stop(StateArgs),
    /// Show whether the server runs, its version, uptime and object counts.
    Status(StateArgs),
}

#[derive(clap::Args, Clone)]
pub struct StateArgs {
    /// State directory [default: /var/lib/airlock as root, else $XDG_STATE_HOME/airlock].
    #[arg(long, env = "AIRLOCK_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Address to serve HTTPS on; repeat for more (the first is the users' endpoint)
    /// [default: the last one given, else 127.0.0.1:7443].
    #[arg(long, env = "AIRLOCK_LISTEN", value_delimiter = ',')]
    listen: Vec<SocketAddr>,
    /// Seconds between agent heartbeats; three missed mean ConnectionLost
    /// [default: the last one given, else 10].
    #[arg(long, env = "AIRLOCK_PING_INTERVAL")]
    ping_interval: Option<u64>,
    /// Region written in instance ARNs [default: the last one given, else us-east-1].
    #[arg(long, env = "AIRLOCK_REGION")]
    region: Option<String>,
    /// Where cluster machines run: local (namespaces on this host) or ec2
    /// (docs/EC2.md) [default: the last one given, else local].
    #[arg(long, env = "AIRLOCK_PROVIDER", value_parser = ["local", "ec2"])]
    provider: Option<String>,
    /// Where cluster machines dial the server when it is not on their host
    /// (HOST:PORT; required with ec2) [default: the last one given].
    #[arg(long, env = "AIRLOCK_NODE_ENDPOINT")]
    node_endpoint: Option<SocketAddr>,
    /// With --provider ec2: the AMI of nodes whose configuration has no
    /// custom_ami [default: the last one given].
    #[arg(long, env = "AIRLOCK_EC2_IMAGE_ID", value_name = "AMI")]
    ec2_image_id: Option<String>,
    /// With --provider ec2: where every instance's image mounts the
    /// cluster's shared filesystem; nodes bind-mount /home and /shared from
    /// it instead of NFS from the head node [default: the last one given].
    #[arg(long, env = "AIRLOCK_EC2_SHARED_VOLUME", value_name = "PATH")]
    ec2_shared_volume: Option<String>,
}

/// The settings a server was last given, in `STATE/server.settings` (JSON);
/// what was never given is absent, so that it keeps following the default.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
struct Settings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    listen: Vec<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ping_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_endpoint: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ec2_image_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ec2_shared_volume: Option<String>,
}

fn settings_file(dir: &StateDir) -> PathBuf {
    dir.root().join("server.settings")
}

impl Settings {
    /// The remembered settings; none when there is no file yet.
    fn load(dir: &StateDir) -> anyhow::Result<Self> {
        let path = settings_file(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not valid (fix it, or remove it to start from the defaults)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn save(&self, dir: &StateDir) -> anyhow::Result<()> {
        let path = settings_file(dir);
        std::fs::write(&path, format!("{}\n", serde_json::to_string_pretty(self)?))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// What was given overrides what was remembered.
    fn merge(self, a: &ServerArgs) -> Self {
        Settings {
            listen: if a.listen.is_empty() {
                self.listen
            } else {
                a.listen.clone()
            },
            ping_interval: a.ping_interval.or(self.ping_interval),
            region: a.region.clone().or(self.region),
            provider: a.provider.clone().or(self.provider),
            node_endpoint: a.node_endpoint.or(self.node_endpoint),
            ec2_image_id: a.ec2_image_id.clone().or(self.ec2_image_id),
            ec2_shared_volume: a.ec2_shared_volume.clone().or(self.ec2_shared_volume),
        }
    }

    fn listen(&self) -> Vec<SocketAddr> {
        if self.listen.is_empty() {
            DEFAULT_LISTEN.parse().map(|a| vec![a]).unwrap_or_default()
        } else {
            self.listen.clone()
        }
    }

    /// Port 0 replaced by the port the server bound, from `server.listen`.
    fn bound(mut self, dir: &StateDir) -> Self {
        let bound: Vec<SocketAddr> = std::fs::read_to_string(dir.listen_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if bound.len() == self.listen.len() {
            for (asked, got) in self.listen.iter_mut().zip(bound) {
                if asked.port() == 0 && asked.ip() == got.ip() {
                    *asked = got;
                }
            }
        }
        self
    }
}

/// The settings this start uses: remembered ones where none were given.
fn settings(a: &ServerArgs, dir: &StateDir) -> anyhow::Result<Settings> {
    dir.prepare()?;
    Ok(Settings::load(dir)?.merge(a))
}

fn state_dir(a: &StateArgs) -> anyhow::Result<StateDir> {
    Ok(StateDir::new(match &a.state_dir {
        Some(p) => p.clone(),
        None => state_dir::default_path()?,
    }))
}

pub fn run(g: &Global, c: ServerCommand) -> anyhow::Result<i32> {
    match c {
        ServerCommand::Run(a) => {
            use std::os::unix::process::CommandExt;
            let dir = state_dir(&a.state)?;
            let json_logs = g.log_format == crate::LogFormat::Json;
            let settings = settings(&a, &dir)?;
            let mut cmd =
                server_command(server_binary()?, &settings, &dir, &g.log_level, json_logs)?;
            // Remembered before the server runs, as it replaces this process.
            settings.save(&dir)?;
            // exec: signals and the pid are the server's own.
            Err(anyhow!(cmd.exec()).context("running airlock-server"))
        }
        ServerCommand::Start(a) => start(g, a),
        ServerCommand::Stop(a) => stop(&state_dir(&a)?),
        ServerCommand::Status(a) => status(g, &state_dir(&a)?),
    }
}

/// The pid in the pid file, if that process is alive.
fn running_pid(dir: &StateDir) -> Option<Pid> {
    let text = std::fs::read_to_string(dir.pid_file()).ok()?;
    let pid = Pid::from_raw(text.trim().parse().ok()?);
    kill(pid, None).ok().map(|_| pid)
}

fn not_running(dir: &StateDir) -> anyhow::Error {
    anyhow!(
        "the airlock server is not running (state directory {}); start it with `airlock server start`",
        dir.root().display()
    )
}

/// The endpoint a running server announced in its state directory.
fn endpoint_of(dir: &StateDir) -> Option<String> {
    std::fs::read_to_string(dir.endpoint_file())
        .ok()
        .map(|s| s.trim().to_owned())
}

fn healthy(dir: &StateDir) -> bool {
    let (Some(ep), Ok(rt)) = (endpoint_of(dir), runtime()) else {
        return false;
    };
    let Ok(http) = http_client(Some(&dir.pki().join("ca.pem"))) else {
        return false;
    };
    rt.block_on(async {
        matches!(http.get(format!("{ep}/healthz")).timeout(Duration::from_secs(2)).send().await,
            Ok(r) if r.status().is_success())
    })
}

/// The `airlock-server` binary: `$AIRLOCK_SERVER_BIN`, else beside this
/// one, else on `PATH`.
fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("AIRLOCK_SERVER_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().context("finding the airlock executable")?;
    let beside = me.with_file_name("airlock-server");
    if beside.is_file() {
        return Ok(beside);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("airlock-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!(
                "cannot find the airlock-server binary beside {} or on PATH (build it with `cargo build --bin airlock-server`, or set AIRLOCK_SERVER_BIN)",
                me.display()
            )
        })
}

/// `airlock-server` with this command's options; nodes run this binary.
fn server_command(
    server: PathBuf,
    s: &Settings,
    dir: &StateDir,
    level: &str,
    json_logs: bool,
) -> anyhow::Result<std::process::Command> {
    let listen: Vec<String> = s.listen().iter().map(ToString::to_string).collect();
    let mut cmd = std::process::Command::new(server);
    // The server's own defaults fill what was never given; the variables
    // this command read are not passed on twice.
    for var in [
        "AIRLOCK_LISTEN",
        "AIRLOCK_PING_INTERVAL",
        "AIRLOCK_REGION",
        "AIRLOCK_PROVIDER",
        "AIRLOCK_NODE_ENDPOINT",
        "AIRLOCK_EC2_IMAGE_ID",
        "AIRLOCK_EC2_SHARED_VOLUME",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--state-dir")
        .arg(dir.root())
        .arg("--listen")
        .arg(listen.join(","));
    if let Some(p) = s.ping_interval {
        cmd.arg("--ping-interval").arg(p.to_string());
    }
    if let Some(r) = &s.region {
        cmd.arg("--region").arg(r);
    }
    if let Some(p) = &s.provider {
        cmd.arg("--provider").arg(p);
    }
    if let Some(e) = s.node_endpoint {
        cmd.arg("--node-endpoint").arg(e.to_string());
    }
    if let Some(ami) = &s.ec2_image_id {
        cmd.arg("--ec2-image-id").arg(ami);
    }
    if let Some(v) = &s.ec2_shared_volume {
        cmd.arg("--ec2-shared-volume").arg(v);
    }
    cmd.arg("--node-binary")
        .arg(std::env::current_exe().context("finding the airlock executable")?)
        .arg("--log-level")
        .arg(level);
    if json_logs {
        cmd.args(["--log-format", "json"]);
    }
    Ok(cmd)
}

fn start(g: &Global, a: ServerArgs) -> anyhow::Result<i32> {
    let dir = state_dir(&a.state)?;
    if let Some(pid) = running_pid(&dir) {
        bail!(
            "the airlock server is already running (pid {pid}, state directory {}); see `airlock server status`",
            dir.root().display()
        );
    }
    let settings = settings(&a, &dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log_file())
        .with_context(|| format!("opening the log file {}", dir.log_file().display()))?;
    let log_len = log.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(dir.endpoint_file());
    let level = if g.log_level == "warn" {
        "info"
    } else {
        &g.log_level
    };
    let mut cmd = server_command(server_binary()?, &settings, &dir, level, true)?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd.spawn().context("starting the server process")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait()? {
            let tail = std::fs::read_to_string(dir.log_file())
                .ok()
                .map(|t| t.get(log_len as usize..).unwrap_or("").to_owned())
                .unwrap_or_default();
            let msg = start_error(&tail);
            bail!(
                "{} (server exited with {st}; log: {})",
                if msg.is_empty() {
                    "the server did not start"
                } else {
                    &msg
                },
                dir.log_file().display()
            );
        }
        if healthy(&dir) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the server did not become healthy within 20 s; see {}",
                dir.log_file().display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    settings.bound(&dir).save(&dir)?;
    println!(
        "airlock server started (pid {}, endpoint {}, state directory {}, log {})",
        child.id(),
        endpoint_of(&dir).unwrap_or_default(),
        dir.root().display(),
        dir.log_file().display()
    );
    Ok(0)
}

/// What a server that exited at start said: its last `error:` line and
/// the hint lines after it, else its last line.
fn start_error(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines
        .iter()
        .rposition(|l| l.starts_with("error: "))
        .unwrap_or(lines.len().saturating_sub(1));
    let msg = lines.get(from..).unwrap_or_default().join("\n");
    msg.strip_prefix("error: ").unwrap_or(&msg).to_owned()
}

fn stop(dir: &StateDir) -> anyhow::Result<i32> {
    let pid = running_pid(dir).ok_or_else(|| not_running(dir))?;
    kill(pid, Signal::SIGTERM).with_context(|| format!("signalling pid {pid}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while kill(pid, None).is_ok() {
        if Instant::now() > deadline {
            kill(pid, Signal::SIGKILL).ok();
            eprintln!("warning: the server did not stop within 10 s and was killed");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(dir.pid_file());
    println!("airlock server stopped (pid {pid})");
    Ok(0)
}

fn status(g: &Global, dir: &StateDir) -> anyhow::Result<i32> {
    let pid = running_pid(dir).ok_or_else(|| not_running(dir))?;
    let mut g = g.clone();
    if g.endpoint.is_none() {
        g.endpoint = endpoint_of(dir);
    }
    let v = ApiClient::from_global(&g)?.call("airlock", "DescribeServer", &json!({}))?;
    if crate::output::wants_data(&g) {
        crate::output::value(&v);
        return Ok(0);
    }
    let up = v["UptimeSeconds"].as_u64().unwrap_or(0);
    println!("Status:          running");
    println!("PID:             {pid}");
    println!("Version:         {}", v["Version"].as_str().unwrap_or(""));
    println!("Uptime:          {}", human_duration(up));
    println!("Endpoint:        {}", g.endpoint.unwrap_or_default());
    println!("Listen:          {}", crate::output::s(&v, "Listen"));
    println!(
        "State directory: {}",
        v["StateDirectory"].as_str().unwrap_or("")
    );
    println!("Account:         {}", v["AccountId"].as_str().unwrap_or(""));
    if let Some(counts) = v["Counts"].as_object() {
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("Objects:         {}", parts.join(", "));
    }
    let full = &v["DiskFull"];
    let n = |k: &str| full[k].as_u64().unwrap_or(0);
    if n("RefusedWrites") + n("AuditRecordsWaiting") + n("AuditRecordsLost") > 0 {
        println!(
            "Disk full:       {} writes refused, {} audit records waiting for space, {} lost",
            n("RefusedWrites"),
            n("AuditRecordsWaiting"),
            n("AuditRecordsLost")
        );
    }
    Ok(0)
}

fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_args(line: &str) -> Result<ServerArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: ServerArgs,
        }
        let words = std::iter::once("start").chain(line.split(' ').filter(|w| !w.is_empty()));
        <P as clap::Parser>::try_parse_from(words).map(|p| p.a)
    }

    fn args(line: &str) -> ServerArgs {
        try_args(line).unwrap()
    }

    #[test]
    fn given_settings_override_remembered_ones_and_the_rest_are_kept() {
        let remembered = || Settings {
            listen: vec!["127.0.0.1:8443".parse().unwrap()],
            ping_interval: Some(3),
            provider: Some("ec2".into()),
            node_endpoint: Some("10.0.0.5:7443".parse().unwrap()),
            ..Settings::default()
        };
        assert_eq!(remembered().merge(&args("")), remembered());
        let s = remembered().merge(&args(
            "--listen 127.0.0.1:9443,127.0.0.2:0 --region eu-west-1 --ec2-image-id ami-1",
        ));
        assert_eq!(
            (
                s.provider.as_deref(),
                s.node_endpoint,
                s.ec2_image_id.as_deref()
            ),
            (Some("ec2"), "10.0.0.5:7443".parse().ok(), Some("ami-1"))
        );
        assert_eq!(
            s.listen(),
            [
                "127.0.0.1:9443".parse().unwrap(),
                "127.0.0.2:0".parse().unwrap()
            ]
        );
        assert_eq!(
            (s.ping_interval, s.region.as_deref()),
            (Some(3), Some("eu-west-1"))
        );
        assert_eq!(
            Settings::default().listen(),
            [DEFAULT_LISTEN.parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn settings_are_remembered_in_the_state_directory_with_port_0_as_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().join("state"));
        assert_eq!(settings(&args(""), &dir).unwrap(), Settings::default());
        let s = settings(&args("--listen 127.0.0.1:0 --ping-interval 2"), &dir).unwrap();
        assert_eq!(settings(&args(""), &dir).unwrap(), Settings::default());
        std::fs::write(dir.listen_file(), "127.0.0.1:40123\n").unwrap();
        s.bound(&dir).save(&dir).unwrap();
        let again = settings(&args(""), &dir).unwrap();
        assert_eq!(again.listen(), ["127.0.0.1:40123".parse().unwrap()]);
        assert_eq!(again.ping_interval, Some(2));
        std::fs::write(settings_file(&dir), "{").unwrap();
        let e = format!("{:#}", Settings::load(&dir).unwrap_err());
        assert!(e.contains("server.settings is not valid"), "{e}");
    }

    #[test]
    fn the_provider_settings_reach_the_server_command_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().join("state"));
        let s = Settings::default().merge(&args(
            "--provider ec2 --node-endpoint 10.0.0.5:7443 --ec2-image-id ami-0abc",
        ));
        let cmd = server_command("/bin/true".into(), &s, &dir, "info", false).unwrap();
        let line: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = line.join(" ");
        assert!(
            line.contains("--provider ec2 --node-endpoint 10.0.0.5:7443 --ec2-image-id ami-0abc"),
            "{line}"
        );
        assert!(
            cmd.get_envs()
                .any(|(k, v)| k == "AIRLOCK_PROVIDER" && v.is_none()),
            "the variable read here is not passed on twice"
        );
        let e = try_args("--provider gcp").err().unwrap().to_string();
        assert!(e.contains("possible values: local, ec2"), "{e}");
    }

    #[test]
    fn a_failed_start_reports_the_error_with_its_hint() {
        let log =
            "INFO starting\nError: ignored\nerror: cannot start: no endpoint\n  hint: give one\n\n";
        assert_eq!(
            start_error(log),
            "cannot start: no endpoint\n  hint: give one"
        );
        assert_eq!(start_error("just this\n"), "just this");
        assert_eq!(start_error(""), "");
    }

    #[test]
    fn durations_read_like_systemctl() {
        assert_eq!(super::human_duration(5), "5s");
        assert_eq!(super::human_duration(65), "1m 5s");
        assert_eq!(super::human_duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(super::human_duration(2 * 86400 + 3600), "2d 1h");
    }
}
