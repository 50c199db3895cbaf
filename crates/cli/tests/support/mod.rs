//! Test harness: a real `airlock server` on an ephemeral loopback port, in a
//! temporary state directory and config directory, killed on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn airlock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub port: u16,
}

impl Env {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("tempdir"),
            port: free_port(),
        }
    }
    pub fn state_dir(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.tmp.path().join("dot-airlock")
    }
    pub fn listen(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// An `airlock` command with this environment's directories.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(airlock_bin());
        c.env("AIRLOCK_STATE_DIR", self.state_dir())
            .env("AIRLOCK_CONFIG_DIR", self.config_dir())
            .env("AIRLOCK_LISTEN", self.listen())
            .env_remove("AIRLOCK_PROFILE")
            .env_remove("AIRLOCK_ENDPOINT")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy");
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run airlock")
    }
    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "airlock {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
    pub fn ca(&self) -> PathBuf {
        self.config_dir().join("ca.pem")
    }
}

/// A foreground `airlock server run`, killed on drop.
pub struct Server {
    child: Child,
}

impl Server {
    pub fn start(env: &Env) -> Self {
        let child = env
            .cmd()
            .args(["server", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let s = Server { child };
        wait_healthy(env);
        s
    }
    pub fn stop(mut self) {
        let _ = nix_kill(self.child.id());
        let _ = self.child.wait();
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    Command::new("kill").arg(pid.to_string()).status().map(drop)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_healthy(env: &Env) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", env.port)).is_ok() && env.ca().exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not come up on {}", env.port);
}

/// Stops a daemon started with `airlock server start`, whatever happened.
pub struct DaemonGuard<'a>(pub &'a Env);

impl Drop for DaemonGuard<'_> {
    fn drop(&mut self) {
        let pid_file = self.0.state_dir().join("server.pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}
