//! The generated slurm.conf against the real Slurm from the distro: a
//! slurmctld with its own munged comes up on it, and `sinfo` shows the seed's
//! queue as ParallelCluster users know it (`spot1*`, 16 nodes `idle~`).
//! Needs root and slurm-wlm + munge; skips with a message otherwise.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_cluster::slurm_conf::{SlurmSettings, render};
use airlock_config::v2::{LoadOptions, load_str};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(cmd: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(cmd).exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

#[test]
#[ignore = "needs root"]
fn slurmctld_runs_the_generated_config_and_sinfo_shows_the_seed_queue() {
    assert!(is_root(), "needs root (slurmctld and munged)");
    assert!(
        have("slurmctld") && have("munged") && have("sinfo"),
        "slurm-wlm and munge are not installed (scripts/install-deps.sh)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for sub in ["state", "spool", "log", "hooks", "munge"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = d.join("munge/munge.key");
    std::fs::write(
        &key,
        (0..1024).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    let socket = d.join("munge/munge.socket");
    let munged = Command::new("munged")
        .arg("--foreground")
        .arg("--force")
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--key-file={}", key.display()))
        .arg(format!(
            "--pid-file={}",
            d.join("munge/munged.pid").display()
        ))
        .arg(format!(
            "--log-file={}",
            d.join("munge/munged.log").display()
        ))
        .arg(format!(
            "--seed-file={}",
            d.join("munge/munged.seed").display()
        ))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _munged = Daemon(munged);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "munged did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    for hook in [
        "slurm_resume",
        "slurm_suspend",
        "slurm_resume_fail",
        "slurm_prolog",
    ] {
        let p = d.join("hooks").join(hook);
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let report = load_str(
        include_str!("../../../examples/ssm.ini"),
        &LoadOptions::new("ssm.ini"),
    );
    let settings = SlurmSettings {
        cluster_name: "ssm-cluster".into(),
        head_host: host,
        head_addr: "127.0.0.1".into(),
        hook_dir: d.join("hooks").display().to_string(),
        resume_timeout: 60,
        state_dir: d.join("state").display().to_string(),
        spool_dir: d.join("spool").display().to_string(),
        log_dir: d.join("log").display().to_string(),
        slurm_user: "root".into(),
        munge_socket: Some(socket.display().to_string()),
        fleet_stopped: false,
    };
    let conf_text = render(&report.model.unwrap(), &settings).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf_text = format!("{conf_text}SlurmctldPort={port}\n");
    let conf = d.join("slurm.conf");
    std::fs::write(&conf, &conf_text).unwrap();
    let ctld = Command::new("slurmctld")
        .args(["-D", "-i", "-f"])
        .arg(&conf)
        .env("SLURM_CONF", &conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("log/slurmctld.stderr")).unwrap())
        .spawn()
        .unwrap();
    let _ctld = Daemon(ctld);
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let o = Command::new("sinfo")
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        if o.status.success() {
            break String::from_utf8_lossy(&o.stdout).into_owned();
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(d.join("log/slurmctld.log")).unwrap_or_default();
            panic!(
                "sinfo never answered: {}\n{log}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("{out}");
    assert!(out.contains("spot1*"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("idle~")
            && l.contains(" 16 ")
            && l.contains("spot1-dy-c5large-[1-16]")),
        "{out}"
    );
    let node = Command::new("scontrol")
        .args(["show", "node", "spot1-dy-c5large-1"])
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    let node = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.contains("CPUTot=2") && node.contains("RealMemory=4096"),
        "{node}"
    );
}
