//! The node supervisor: PID 1 of a machine, its init. It builds the
//! machine's root (see [`super::rootfs`]), pivots into it, waits for its
//! network, then runs the machine's user data and nothing else: the user
//! data fetches the agent, joins and runs it (later starts run the
//! installed agent). The daemons (munged, slurmctld or slurmd, sshd) are
//! started when the node's configuration writes them to
//! [`INIT_SERVICES_DIR`] and sends `SIGHUP`, as a cookbook would enable
//! systemd units; every service is restarted when it exits.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use airlock_proto::node_config::{INIT_SERVICES_DIR, InitService};

use super::layout::node_paths as np;
use super::node::NodeSpec;
use super::rootfs::{self, dir};
use super::{ProviderError, Result, io};

/// One supervised service.
struct Service {
    name: String,
    /// How to start until the agent has an identity (the user data, which
    /// is re-run only while it has not joined).
    first: Option<Vec<String>>,
    argv: Vec<String>,
    /// Start only once these paths exist (munged's socket for Slurm).
    after: Vec<String>,
}

/// The machine's own service: its agent, first started as the user data.
fn agent() -> Service {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    Service {
        name: "airlock-agent".into(),
        first: Some(s(&["/bin/sh", np::USER_DATA])),
        argv: s(&[np::AIRLOCK, "agent", "run", "--agent-dir", np::AGENT_DIR]),
        after: Vec::new(),
    }
}

/// The services the node's configuration asked for, from
/// [`INIT_SERVICES_DIR`], by name.
fn configured() -> Vec<Service> {
    let Ok(rd) = std::fs::read_dir(INIT_SERVICES_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<Service> = rd
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_stem()?.to_str()?.to_owned();
            if path.extension()? != "json" {
                return None;
            }
            let text = std::fs::read(&path).ok()?;
            match serde_json::from_slice::<InitService>(&text) {
                Ok(s) if !s.argv.is_empty() => Some(Service {
                    name,
                    first: None,
                    argv: s.argv,
                    after: s.after,
                }),
                _ => {
                    eprintln!("supervisor: ignoring {}: not a service", path.display());
                    None
                }
            }
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_hup(_: i32) {
    RELOAD.store(true, Ordering::SeqCst);
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
    rootfs::build(node, cluster, &root, &spec.masked)?;
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
    let hup = SigAction::new(
        SigHandler::Handler(on_hup),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handlers only store to atomics.
    unsafe {
        let _ = sigaction(Signal::SIGTERM, &act);
        let _ = sigaction(Signal::SIGINT, &act);
        let _ = sigaction(Signal::SIGHUP, &hup);
    }
    let mut running: HashMap<Pid, Service> = HashMap::new();
    let a = agent();
    if let Some(p) = start(&a) {
        running.insert(p, a);
    }
    eprintln!("supervisor: {} up as {}", spec.instance_id, spec.hostname);
    while !STOP.load(Ordering::SeqCst) {
        if RELOAD.swap(false, Ordering::SeqCst) {
            for s in configured() {
                if !running.values().any(|r| r.name == s.name)
                    && let Some(p) = start(&s)
                {
                    running.insert(p, s);
                }
            }
        }
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, _)) | Ok(WaitStatus::Signaled(pid, _, _)) => {
                if let Some(s) = running.remove(&pid) {
                    // A configured service is restarted as it is written now.
                    let again = match s.first {
                        Some(_) => Some(s),
                        None => configured().into_iter().find(|c| c.name == s.name),
                    };
                    if let Some(s) = again {
                        eprintln!("supervisor: {} exited; restarting in 1 s", s.name);
                        std::thread::sleep(Duration::from_secs(1));
                        if let Some(p) = start(&s) {
                            running.insert(p, s);
                        }
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
