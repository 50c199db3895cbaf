//! The node's daemons: started by airlock's init (a service file in
//! [`INIT_SERVICES_DIR`] and `SIGHUP` to PID 1) or by systemd, then waited
//! for until they are ready.

use std::time::Duration;

use airlock_proto::node_config::{Daemon, INIT_SERVICES_DIR, InitService};

use super::keys::{MUNGE_KEY, SSH_HOST_KEY};
use super::system::{self, System};

/// What starts daemons on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// PID 1 is airlock's node supervisor.
    Airlock,
    Systemd,
}

/// The init of this machine, if it has one `apply` can drive.
pub fn detect(sys: &dyn System) -> Option<Init> {
    if system::is_dir(sys, INIT_SERVICES_DIR) {
        Some(Init::Airlock)
    } else if system::is_dir(sys, "/run/systemd/system") {
        Some(Init::Systemd)
    } else {
        None
    }
}

pub const NO_INIT: &str = "this machine has neither airlock's init nor systemd";

pub const MUNGE_SOCKET: &str = "/run/munge/munge.socket.2";
pub const SLURM_CONF: &str = "/etc/slurm/slurm.conf";
const SSHD: &str = "/usr/sbin/sshd";

/// How often readiness is polled.
pub const POLL: Duration = Duration::from_millis(50);

/// What changed earlier in this run, which running daemons must pick up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Changed {
    pub slurm_conf: bool,
    /// `slurm.conf`'s nodes changed (`NodeName=` lines).
    pub slurm_nodes: bool,
    pub munge_key: bool,
    pub ssh_host_key: bool,
}

/// Whether `d` can run here at all (sshd only where it is installed).
pub fn installed(sys: &dyn System, d: Daemon) -> bool {
    d != Daemon::Sshd || system::exists(sys, SSHD)
}

/// `d` as a service of airlock's init.
pub fn service(d: Daemon) -> InitService {
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let munge_key_file = format!("--key-file={MUNGE_KEY}");
    let socket = format!("--socket={MUNGE_SOCKET}");
    let (argv, after) = match d {
        Daemon::Munged => (
            v(&[
                "/usr/sbin/munged",
                "--foreground",
                "--force",
                socket.as_str(),
                munge_key_file.as_str(),
                "--pid-file=/run/munged.pid",
                "--log-file=/var/log/munge/munged.log",
                "--seed-file=/var/lib/munge/munged.seed",
            ]),
            vec![],
        ),
        Daemon::Slurmctld => (
            v(&["/usr/sbin/slurmctld", "-D", "-f", SLURM_CONF]),
            v(&[MUNGE_SOCKET]),
        ),
        Daemon::Slurmd => (
            v(&["/usr/sbin/slurmd", "-D", "-b", "-f", SLURM_CONF]),
            v(&[MUNGE_SOCKET]),
        ),
        Daemon::Sshd => (
            v(&[
                SSHD,
                "-D",
                "-e",
                "-o",
                "ListenAddress=127.0.0.1",
                "-o",
                "PidFile=/run/sshd.pid",
                "-h",
                SSH_HOST_KEY,
            ]),
            vec![],
        ),
    };
    InitService { argv, after }
}

/// The software that provides `d`.
fn package(d: Daemon) -> &'static str {
    match d {
        Daemon::Munged => "munge",
        Daemon::Slurmctld | Daemon::Slurmd => "Slurm",
        Daemon::Sshd => "OpenSSH server",
    }
}

/// `d`'s systemd unit (Debian's names).
pub fn unit(d: Daemon) -> &'static str {
    match d {
        Daemon::Munged => "munge",
        Daemon::Slurmctld => "slurmctld",
        Daemon::Slurmd => "slurmd",
        Daemon::Sshd => "ssh",
    }
}

/// Starts `d` (or has it pick up what changed) and waits until it is
/// ready. Returns whether it had been set up before this run.
pub fn start(
    sys: &mut dyn System,
    d: Daemon,
    init: Option<Init>,
    changed: Changed,
) -> Result<bool, String> {
    let init = init.ok_or_else(|| NO_INIT.to_string())?;
    if init == Init::Airlock {
        let service = service(d);
        let bin = service.argv.first().map(String::as_str).unwrap_or_default();
        if !system::is_program(sys, bin) {
            return Err(format!(
                "{bin} is not an installed program on this machine: its image has no {} (a node's image needs Slurm and munge; docs/EC2.md)",
                package(d)
            ));
        }
    }
    if d == Daemon::Sshd {
        system::ensure_dir(sys, "/run/sshd", Some(0o755))?;
    }
    let before = match init {
        Init::Airlock => {
            let path = format!("{INIT_SERVICES_DIR}/{}.json", d.name());
            let before = system::exists(sys, &path);
            let mut json = serde_json::to_vec_pretty(&service(d))
                .map_err(|e| format!("encoding the service of {}: {e}", d.name()))?;
            json.push(b'\n');
            if system::put(sys, &path, &json, 0o644)? {
                sys.hup_init()?;
            }
            before
        }
        Init::Systemd => {
            let u = unit(d);
            let active = sys.run(&["systemctl", "is-active", "--quiet", u]).is_ok();
            let stale = match d {
                Daemon::Munged => changed.munge_key,
                Daemon::Slurmctld | Daemon::Slurmd => changed.slurm_conf,
                Daemon::Sshd => changed.ssh_host_key,
            };
            if !active {
                sys.run(&["systemctl", "enable", "--now", u])?;
            } else if stale {
                sys.run(&["systemctl", "restart", u])?;
            }
            active
        }
    };
    wait_ready(sys, d)?;
    Ok(before)
}

/// The `NodeName=` lines of a `slurm.conf`: the cluster's nodes.
pub fn node_lines(conf: &str) -> Vec<&str> {
    conf.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("NodeName="))
        .collect()
}

/// Restarts slurmctld under airlock's init, which restarts a service that
/// exits: asks it to shut down (it saves its state), waits until it no
/// longer answers, then until it is back.
pub fn restart_slurmctld(sys: &mut dyn System) -> Result<(), String> {
    sys.run(&["scontrol", "shutdown", "slurmctld"])?;
    let start = sys.now();
    while sys
        .run(&["scontrol", "ping"])
        .is_ok_and(|out| out.contains("is UP"))
    {
        if sys.now().saturating_sub(start) >= Duration::from_secs(30) {
            return Err(
                "slurmctld did not stop within 30 s of `scontrol shutdown slurmctld`".into(),
            );
        }
        sys.pause(POLL);
    }
    wait_ready(sys, Daemon::Slurmctld)
}

/// Waits, up to its deadline, until `d` serves: munged's socket exists,
/// slurmctld answers `scontrol ping`. Others are not waited for.
pub fn wait_ready(sys: &mut dyn System, d: Daemon) -> Result<(), String> {
    let (limit, what) = match d {
        Daemon::Munged => (Duration::from_secs(10), format!("create {MUNGE_SOCKET}")),
        Daemon::Slurmctld => (
            Duration::from_secs(60),
            "answer `scontrol ping`".to_string(),
        ),
        Daemon::Slurmd | Daemon::Sshd => return Ok(()),
    };
    let start = sys.now();
    let mut last = String::new();
    loop {
        let ready = match d {
            Daemon::Munged => system::exists(sys, MUNGE_SOCKET),
            _ => match sys.run(&["scontrol", "ping"]) {
                Ok(out) => {
                    last = out.trim().to_string();
                    out.contains("is UP")
                }
                Err(e) => {
                    last = e;
                    false
                }
            },
        };
        if ready {
            return Ok(());
        }
        if sys.now().saturating_sub(start) >= limit {
            let mut reason = format!("{} did not {what} within {} s", d.name(), limit.as_secs());
            if !last.is_empty() {
                reason.push_str(&format!(": {last}"));
            }
            return Err(reason);
        }
        sys.pause(POLL);
    }
}
