//! Launching, describing and terminating nodes. A node is a user namespace
//! (the cluster's id range, see [`super::userns`]) owning `unshare`'s
//! network, UTS, mount and PID namespaces around the node supervisor
//! (`airlock node boot SPEC`, started in the node's directory), plugged
//! into its cluster's bridge.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::layout::{ClusterLayout, NetworkPlan};
use super::{ProviderError, Result, io, net, userns};

/// The head node or a compute node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRole {
    HeadNode,
    Compute,
}

/// What the supervisor reads at boot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSpec {
    pub instance_id: String,
    pub hostname: String,
    pub role: NodeRole,
    pub cluster_dir: PathBuf,
    pub node_dir: PathBuf,
    /// The `airlock` binary the node runs (agent, hooks).
    pub exe: PathBuf,
    /// Programs under `/usr` this machine's image lacks (the EC2 boot
    /// rig's image without Slurm): each is masked, not executable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// A launched node, as `node.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecord {
    pub instance_id: String,
    pub name: String,
    pub role: NodeRole,
    pub ip: String,
    pub host_n: u8,
    pub veth: String,
    /// The supervisor's pid (PID 1 of the node's PID namespace).
    pub pid: i32,
    pub launched_at: u64,
}

/// Everything a launch needs.
pub struct Launch<'a> {
    pub layout: &'a ClusterLayout,
    pub net: &'a NetworkPlan,
    pub instance_id: &'a str,
    pub name: &'a str,
    pub role: NodeRole,
    pub host_n: u8,
    pub server: &'a net::ServerEndpoint,
    pub exe: &'a Path,
    /// The script the machine's first boot runs (it fetches the agent,
    /// joins with a single-use token and runs it). Nothing else of the
    /// server's is placed on the machine.
    pub user_data: &'a str,
    /// See [`NodeSpec::masked`].
    pub masked: &'a [String],
}

fn write_private(path: &Path, data: &str) -> Result<()> {
    std::fs::write(path, data).map_err(io(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("setting the mode of {}", path.display())))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The first child of `pid` (the supervisor under `unshare --fork`).
fn child_of(pid: u32, deadline: Instant) -> Result<i32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(c) = text.split_whitespace().next().and_then(|c| c.parse().ok()) {
            return Ok(c);
        }
        if Instant::now() > deadline {
            return Err(ProviderError::Invalid(format!(
                "the node supervisor did not start (no child of unshare {pid})"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Launches a node and returns once its network is up and its supervisor
/// has been told to start its services.
pub fn launch(l: &Launch<'_>) -> Result<NodeRecord> {
    let dir = l.layout.node(l.instance_id);
    let agent = dir.join("agent");
    std::fs::create_dir_all(dir.join("root")).map_err(io("creating the node directory"))?;
    std::fs::create_dir_all(&agent).map_err(io("creating the agent directory"))?;
    for d in [&dir, &agent] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
            .map_err(io("setting the node directory's mode"))?;
    }
    write_private(&dir.join("user-data"), l.user_data)?;
    let spec = NodeSpec {
        instance_id: l.instance_id.to_owned(),
        hostname: l.name.to_owned(),
        role: l.role,
        cluster_dir: l.layout.dir.clone(),
        node_dir: dir.clone(),
        exe: l.exe.to_owned(),
        masked: l.masked.to_vec(),
    };
    let spec_path = dir.join("spec.json");
    std::fs::write(
        &spec_path,
        serde_json::to_vec_pretty(&spec).map_err(|e| ProviderError::Invalid(e.to_string()))?,
    )
    .map_err(io("writing spec.json"))?;
    // The node's root owns its directory (it reaches it from its cwd: the
    // host directories above may not be searchable by the node's ids).
    let base = userns::base(l.net);
    if !userns::owns_cluster(l.layout, base) {
        userns::own_cluster(l.layout, base)?;
    }
    userns::shift_tree(&dir, base)?;
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("console.log"))
        .map_err(io("opening console.log"))?;
    let console2 = console.try_clone().map_err(io("console.log"))?;
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--net",
        "--uts",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
    ])
    .arg("--propagation=private")
    .arg(l.exe)
    .args(["node", "boot"])
    .arg(&spec_path)
    .current_dir(&dir)
    .stdin(Stdio::piped())
    .stdout(console)
    .stderr(console2);
    // SAFETY: setsid is async-signal-safe; the node must outlive this
    // process's session and terminal.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let pending = userns::prepare(&mut cmd, base)?;
    let spawned = cmd.spawn();
    let maps = pending.finish();
    let mut child = match (spawned, maps) {
        (Ok(c), Ok(())) => c,
        (Ok(mut c), Err(e)) => {
            let _ = c.kill();
            let _ = c.wait();
            return Err(e);
        }
        (Err(e), maps) => {
            return Err(ProviderError::Command {
                cmd: "unshare".into(),
                detail: match maps {
                    Err(m) => format!("{e}; {m}"),
                    Ok(()) => format!("{e} (util-linux is needed, and user namespaces enabled)"),
                },
            });
        }
    };
    let upid = child.id();
    let mut go = child.stdin.take();
    // Reap `unshare` whenever the node ends.
    std::thread::spawn(move || child.wait());
    let console_log = dir.join("console.log");
    let fail = |e: ProviderError| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(upid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        // The node's own words are in its console; they go with the error.
        let console = std::fs::read_to_string(&console_log).unwrap_or_default();
        match console.lines().rev().take(5).collect::<Vec<_>>() {
            v if v.is_empty() => e,
            v => ProviderError::Invalid(format!(
                "{e}; the node's console: {}",
                v.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )),
        }
    };
    let pid = child_of(upid, Instant::now() + Duration::from_secs(10)).map_err(fail)?;
    let ip = l.net.host(l.host_n);
    let veth = net::attach(l.net, upid as i32, l.host_n, &ip, l.server).map_err(fail)?;
    if let Some(mut s) = go.take() {
        s.write_all(b"go\n")
            .map_err(io("starting the node"))
            .map_err(fail)?;
    }
    let rec = NodeRecord {
        instance_id: l.instance_id.to_owned(),
        name: l.name.to_owned(),
        role: l.role,
        ip,
        host_n: l.host_n,
        veth,
        pid,
        launched_at: unix_now(),
    };
    std::fs::write(
        dir.join("node.json"),
        serde_json::to_vec_pretty(&rec).map_err(|e| ProviderError::Invalid(e.to_string()))?,
    )
    .map_err(io("writing node.json"))?;
    Ok(rec)
}

/// Whether the node's supervisor is still running.
pub fn is_running(rec: &NodeRecord) -> bool {
    std::fs::read(format!("/proc/{}/cmdline", rec.pid))
        .map(|c| String::from_utf8_lossy(&c).contains(&rec.instance_id))
        .unwrap_or(false)
}

/// Every node recorded under the cluster, running or not.
pub fn list(layout: &ClusterLayout) -> Vec<NodeRecord> {
    let Ok(rd) = std::fs::read_dir(layout.nodes()) else {
        return Vec::new();
    };
    let mut v: Vec<NodeRecord> = rd
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("node.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    v.sort_by_key(|r| r.host_n);
    v
}

/// Kills the node's namespaces (every process in them dies with PID 1),
/// removes its veth and its files.
pub fn terminate(layout: &ClusterLayout, rec: &NodeRecord) -> Result<()> {
    if is_running(rec) {
        let pid = nix::unistd::Pid::from_raw(rec.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_running(rec) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = super::run("ip", &["link", "del", &rec.veth], None);
    remove_tree(&layout.node(&rec.instance_id))
}

/// Removes a directory, refusing if anything is mounted beneath it.
pub fn remove_tree(dir: &Path) -> Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy();
    if mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m.starts_with(prefix.as_ref()))
    {
        return Err(ProviderError::Invalid(format!(
            "{} still has mounts beneath it; not removing it",
            dir.display()
        )));
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ProviderError::Io {
            what: format!("removing {}", dir.display()),
            source: e,
        }),
    }
}

/// Kills a node's namespaces and leaves its files, as a crash or a spot
/// reclaim would; the fleet manager cleans up.
pub fn kill(rec: &NodeRecord) {
    if is_running(rec) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(rec.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
