//! The node supervisor: PID 1 of a node. It builds the node's root
//! (see [`super::rootfs`]), pivots into it, waits for its network, then
//! starts and restarts the node's services:
//! the agent, munged and slurmctld on the head node, slurmd on compute
//! nodes, and sshd on the node's loopback when it is installed. The agent's
//! first start is the machine's user data (which fetches the agent, joins
//! and runs it); later starts run the installed agent.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::layout::node_paths as np;
use super::node::{NodeRole, NodeSpec};
use super::rootfs::{self, dir};
use super::{ProviderError, Result, io};

/// One supervised service.
struct Service {
    name: &'static str,
    /// How to start until the agent has an identity (the user data, which
    /// is re-run only while it has not joined).
    first: Option<Vec<String>>,
    argv: Vec<String>,
    /// Start only once these paths exist (munged's socket for Slurm; the
    /// agent binary the user data installs, for slurmctld's power-saving
    /// hooks, which Slurm checks at its start).
    after: &'static [&'static str],
}

fn services(spec: &NodeSpec) -> Vec<Service> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    // The agent first: its user data installs the binary Slurm's hooks run.
    let mut v = vec![Service {
        name: "airlock-agent",
        first: Some(s(&["/bin/sh", np::USER_DATA])),
        argv: s(&[np::AIRLOCK, "agent", "run", "--agent-dir", np::AGENT_DIR]),
        after: &[],
    }];
    if spec.role == NodeRole::HeadNode {
        v.push(Service {
            name: "munged",
            first: None,
            argv: s(&[
                "/usr/sbin/munged",
                "--foreground",
                "--force",
                &format!("--socket={}", np::MUNGE_SOCKET),
                &format!("--key-file={}", np::MUNGE_KEY),
                "--pid-file=/run/munged.pid",
                "--log-file=/var/log/munge/munged.log",
                "--seed-file=/var/lib/munge/munged.seed",
            ]),
            after: &[],
        });
        v.push(Service {
            name: "slurmctld",
            first: None,
            argv: s(&["/usr/sbin/slurmctld", "-D", "-f", np::SLURM_CONF]),
            after: &[np::MUNGE_SOCKET, np::AIRLOCK],
        });
    } else {
        v.push(Service {
            name: "slurmd",
            first: None,
            argv: s(&["/usr/sbin/slurmd", "-D", "-b", "-f", np::SLURM_CONF]),
            after: &[np::MUNGE_SOCKET],
        });
    }
    if Path::new("/usr/sbin/sshd").exists() {
        v.push(Service {
            name: "sshd",
            first: None,
            argv: s(&[
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-o",
                "ListenAddress=127.0.0.1",
                "-o",
                "PidFile=/run/sshd.pid",
                "-h",
                np::SSH_HOST_KEY,
            ]),
            after: &[],
        });
    }
    v
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether the machine's agent has joined (its identity is on disk).
fn joined() -> bool {
    Path::new(np::AGENT_DIR).join("identity.json").exists()
}

fn start(s: &Service) -> Option<Pid> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.after.iter().all(|p| Path::new(p).exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let argv = match &s.first {
        Some(f) if !joined() => f,
        _ => &s.argv,
    };
    let (prog, args) = argv.split_first()?;
    match Command::new(prog)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            format!(
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{}",
                np::BIN_DIR
            ),
        )
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("SLURM_CONF", np::SLURM_CONF)
        .env("AIRLOCK_PREFIX", np::PREFIX)
        .spawn()
    {
        Ok(c) => {
            eprintln!("supervisor: started {} (pid {})", s.name, c.id());
            Some(Pid::from_raw(c.id() as i32))
        }
        Err(e) => {
            eprintln!("supervisor: cannot start {}: {e}", s.name);
            None
        }
    }
}

/// Runs the supervisor (`airlock node boot SPEC`); returns when stopped.
pub fn boot(spec_path: &Path) -> Result<()> {
    // The provider starts us in the node's directory; the host directories
    // above it may not be searchable by the node's ids, so go relative.
    let local = Path::new(".").join(spec_path.file_name().unwrap_or_default());
    let text = std::fs::read(&local).map_err(io(format!("reading {}", spec_path.display())))?;
    let spec: NodeSpec = serde_json::from_slice(&text)
        .map_err(|e| ProviderError::Invalid(format!("{}: {e}", spec_path.display())))?;
    nix::unistd::sethostname(&spec.hostname)
        .map_err(|e| ProviderError::Invalid(format!("sethostname: {e}")))?;
    let (node, cluster) = (Path::new("."), Path::new("../.."));
    let root: PathBuf = node.join("root");
    rootfs::build(node, cluster, &root)?;
    // The user data, where the machine's first boot runs it (as EC2's
    // instance metadata hands it over).
    let user_data = std::fs::read(node.join("user-data")).map_err(io("reading the user data"))?;
    let target = root.join(np::USER_DATA.trim_start_matches('/'));
    std::fs::write(&target, user_data).map_err(io("placing the user data"))?;
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io("setting the user data's mode"))?;
    rootfs::pivot(&root)?;
    for d in [
        format!("{}/ctld", np::SLURM_SPOOL),
        format!("{}/d/{}", np::SLURM_SPOOL, spec.hostname),
    ] {
        dir(Path::new(&d), 0o755)?;
    }
    // Wait for the provider to plug in the network.
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
        return Err(ProviderError::Invalid(
            "the provider went away before the network was ready".into(),
        ));
    }
    let act = SigAction::new(
        SigHandler::Handler(on_term),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        let _ = sigaction(Signal::SIGTERM, &act);
        let _ = sigaction(Signal::SIGINT, &act);
    }
    let list = services(&spec);
    let mut running: HashMap<Pid, usize> = HashMap::new();
    for (i, s) in list.iter().enumerate() {
        if let Some(p) = start(s) {
            running.insert(p, i);
        }
    }
    eprintln!("supervisor: {} up as {}", spec.instance_id, spec.hostname);
    while !STOP.load(Ordering::SeqCst) {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, _)) | Ok(WaitStatus::Signaled(pid, _, _)) => {
                if let Some(i) = running.remove(&pid) {
                    eprintln!("supervisor: {} exited; restarting in 1 s", list[i].name);
                    std::thread::sleep(Duration::from_secs(1));
                    if let Some(p) = start(&list[i]) {
                        running.insert(p, i);
                    }
                }
            }
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => std::thread::sleep(Duration::from_secs(1)),
            Err(_) => {}
        }
    }
    for pid in running.keys() {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    std::thread::sleep(Duration::from_secs(1));
    Ok(())
}
