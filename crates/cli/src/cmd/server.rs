//! `airlock server run | start | stop | status`: the server (the
//! `airlock-server` binary beside this one) in the foreground, or as a
//! daemon with a pid file and a log file, in the manner of `pg_ctl`.
//! This crate does not link the server: it runs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use airlock_proto::state_dir::{self, DEFAULT_LISTEN, StateDir};
use anyhow::{Context, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
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
    /// Address to serve HTTPS on; repeat for more (the first is the users' endpoint).
    #[arg(long, env = "AIRLOCK_LISTEN", value_delimiter = ',', default_value = DEFAULT_LISTEN)]
    listen: Vec<SocketAddr>,
    /// Seconds between agent heartbeats; three missed mean ConnectionLost.
    #[arg(long, env = "AIRLOCK_PING_INTERVAL", default_value_t = 10)]
    ping_interval: u64,
    /// Region written in instance ARNs.
    #[arg(long, env = "AIRLOCK_REGION", default_value = "us-east-1")]
    region: String,
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
            let mut cmd = server_command(&a, &dir, &g.log_level, json_logs)?;
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
    a: &ServerArgs,
    dir: &StateDir,
    level: &str,
    json_logs: bool,
) -> anyhow::Result<std::process::Command> {
    let listen: Vec<String> = a.listen.iter().map(ToString::to_string).collect();
    let mut cmd = std::process::Command::new(server_binary()?);
    cmd.arg("--state-dir")
        .arg(dir.root())
        .arg("--listen")
        .arg(listen.join(","))
        .arg("--ping-interval")
        .arg(a.ping_interval.to_string())
        .arg("--region")
        .arg(&a.region)
        .arg("--node-binary")
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
    dir.prepare()?;
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
    let mut cmd = server_command(&a, &dir, level, true)?;
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
            let last = tail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let msg = last.strip_prefix("error: ").unwrap_or(last);
            bail!(
                "{} (server exited with {st}; log: {})",
                if msg.is_empty() {
                    "the server did not start"
                } else {
                    msg
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
    println!(
        "airlock server started (pid {}, endpoint {}, state directory {}, log {})",
        child.id(),
        endpoint_of(&dir).unwrap_or_default(),
        dir.root().display(),
        dir.log_file().display()
    );
    Ok(0)
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
    if g.json {
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
    #[test]
    fn durations_read_like_systemctl() {
        assert_eq!(super::human_duration(5), "5s");
        assert_eq!(super::human_duration(65), "1m 5s");
        assert_eq!(super::human_duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(super::human_duration(2 * 86400 + 3600), "2d 1h");
    }
}
