//! The node supervisor: PID 1 of a node. It builds the node's root
//! (a tmpfs with read-only binds of the host's `/usr`, the cluster's
//! `/etc`, `/home` and `/shared`, and the node's own identity), pivots into
//! it, waits for its network, then starts and restarts the node's services:
//! the agent, munged and slurmctld on the head node, slurmd on compute
//! nodes, and sshd on the node's loopback when it is installed.

use std::collections::HashMap;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::layout::node_paths as np;
use super::node::{NodeRole, NodeSpec};
use super::{ProviderError, Result, io};

fn mnt(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, dst, fstype, flags, data).map_err(|e| {
        ProviderError::Invalid(format!(
            "mounting {} on {}: {e}",
            src.map(|s| s.display().to_string()).unwrap_or_default(),
            dst.display()
        ))
    })
}

fn dir(p: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(p).map_err(io(format!("creating {}", p.display())))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", p.display())))
}

fn bind(src: &Path, dst: &Path, read_only: bool) -> Result<()> {
    if src.is_dir() {
        dir(dst, 0o755)?;
    } else {
        std::fs::write(dst, b"").map_err(io(format!("creating {}", dst.display())))?;
    }
    mnt(
        Some(src),
        dst,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    if read_only {
        mnt(
            None,
            dst,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(())
}

fn tmpfs(dst: &Path, mode: u32) -> Result<()> {
    dir(dst, 0o755)?;
    mnt(
        Some(Path::new("tmpfs")),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&format!("mode={mode:o}")),
    )
}

/// Builds the node's root under `root` (not yet pivoted).
fn build_root(spec: &NodeSpec, root: &Path) -> Result<()> {
    let c = |p: &str| spec.cluster_dir.join(p);
    mnt(
        Some(Path::new("tmpfs")),
        root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=755"),
    )?;
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(top);
        match std::fs::read_link(&host) {
            Ok(target) => std::os::unix::fs::symlink(target, root.join(top))
                .map_err(io(format!("linking /{top}")))?,
            Err(_) if host.is_dir() => bind(&host, &root.join(top), true)?,
            Err(_) => {}
        }
    }
    bind(Path::new("/usr"), &root.join("usr"), true)?;
    if Path::new("/opt").is_dir() {
        bind(Path::new("/opt"), &root.join("opt"), true)?;
    }
    bind(Path::new("/dev"), &root.join("dev"), false)?;
    bind(Path::new("/sys"), &root.join("sys"), false)?;
    bind(&c("etc"), &root.join("etc"), false)?;
    bind(&c("home"), &root.join("home"), false)?;
    bind(&c("shared"), &root.join("shared"), false)?;
    dir(&root.join("proc"), 0o555)?;
    dir(&root.join("root"), 0o700)?;
    tmpfs(&root.join("tmp"), 0o1777)?;
    let run = root.join("run");
    tmpfs(&run, 0o755)?;
    for d in ["sshd", "lock", "airlock/bin"] {
        dir(&run.join(d), 0o755)?;
    }
    bind(
        &c("munge"),
        &root.join(np::MUNGE_DIR.trim_start_matches('/')),
        false,
    )?;
    let airlock = root.join(np::AIRLOCK.trim_start_matches('/'));
    bind(&spec.exe, &airlock, true)?;
    for hook in ["slurm_resume", "slurm_suspend", "slurm_resume_fail"] {
        std::os::unix::fs::symlink("airlock", run.join("airlock/bin").join(hook))
            .map_err(io("linking the Slurm hooks"))?;
    }
    let var = root.join("var");
    tmpfs(&var, 0o755)?;
    for (d, mode) in [
        ("tmp", 0o1777),
        ("lib/munge", 0o700),
        ("log/munge", 0o700),
        ("lib/sudo", 0o700),
        ("cache", 0o755),
    ] {
        dir(&var.join(d), mode)?;
    }
    std::os::unix::fs::symlink("../run", var.join("run")).map_err(io("linking /var/run"))?;
    std::os::unix::fs::symlink("../run/lock", var.join("lock")).map_err(io("linking /var/lock"))?;
    bind(
        &spec.node_dir.join("agent"),
        &var.join("lib/airlock-agent"),
        false,
    )?;
    bind(&c("spool"), &var.join("spool/slurm"), false)?;
    bind(&c("log"), &var.join("log/slurm"), false)?;
    Ok(())
}

fn pivot(root: &Path) -> Result<()> {
    let old = root.join(".oldroot");
    dir(&old, 0o700)?;
    nix::unistd::pivot_root(root, &old)
        .map_err(|e| ProviderError::Invalid(format!("pivot_root: {e}")))?;
    std::env::set_current_dir("/").map_err(io("chdir /"))?;
    umount2("/.oldroot", MntFlags::MNT_DETACH)
        .map_err(|e| ProviderError::Invalid(format!("unmounting the old root: {e}")))?;
    let _ = std::fs::remove_dir("/.oldroot");
    mnt(
        Some(Path::new("proc")),
        Path::new("/proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
}

/// One supervised service.
struct Service {
    name: &'static str,
    argv: Vec<String>,
    /// Start only once this path exists (munged's socket for Slurm).
    after: Option<&'static str>,
}

fn services(spec: &NodeSpec) -> Vec<Service> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut v = Vec::new();
    if spec.role == NodeRole::HeadNode {
        v.push(Service {
            name: "munged",
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
            after: None,
        });
        v.push(Service {
            name: "slurmctld",
            argv: s(&["/usr/sbin/slurmctld", "-D", "-f", np::SLURM_CONF]),
            after: Some(np::MUNGE_SOCKET),
        });
    } else {
        v.push(Service {
            name: "slurmd",
            argv: s(&["/usr/sbin/slurmd", "-D", "-b", "-f", np::SLURM_CONF]),
            after: Some(np::MUNGE_SOCKET),
        });
    }
    v.push(Service {
        name: "airlock-agent",
        argv: s(&[np::AIRLOCK, "agent", "run", "--agent-dir", np::AGENT_DIR]),
        after: None,
    });
    if Path::new("/usr/sbin/sshd").exists() {
        v.push(Service {
            name: "sshd",
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
            after: None,
        });
    }
    v
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

fn start(s: &Service) -> Option<Pid> {
    if let Some(p) = s.after {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(p).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (prog, args) = s.argv.split_first()?;
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
    let text = std::fs::read(spec_path).map_err(io(format!("reading {}", spec_path.display())))?;
    let spec: NodeSpec = serde_json::from_slice(&text)
        .map_err(|e| ProviderError::Invalid(format!("{}: {e}", spec_path.display())))?;
    nix::unistd::sethostname(&spec.hostname)
        .map_err(|e| ProviderError::Invalid(format!("sethostname: {e}")))?;
    let root: PathBuf = spec.node_dir.join("root");
    build_root(&spec, &root)?;
    pivot(&root)?;
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
