//! Test harness: a real `airlock server` on a port it picks itself
//! (`--listen 127.0.0.1:0`, read back from the files it announces), in a
//! temporary state directory and config directory, killed on drop.

#![allow(dead_code)]

pub mod browser;
pub mod forge;
pub mod root_agent;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `airlock` binary under test. `airlock server` runs the
/// `airlock-server` binary beside it, which cargo builds for this package's
/// tests only as a workspace member: build it (a no-op when fresh) once per
/// test process, so `cargo test -p airlock-cli` never runs a stale server.
/// Both binaries are named, with `AIRLOCK_TEST_FEATURES` (cargo features the
/// Makefile's test run uses), so that this build resolves features as the
/// test run did and rebuilds nothing.
pub fn airlock_bin() -> &'static str {
    static SERVER_BUILT: std::sync::Once = std::sync::Once::new();
    SERVER_BUILT.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--quiet",
                "--bin",
                "airlock",
                "--bin",
                "airlock-server",
                "--manifest-path",
            ])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"));
        // What cargo sets for a running test is not in a shell's build:
        // ring's build script tracks CARGO_MANIFEST_DIR, so passing it on
        // rebuilt ring, rustls and the server on every switch (~40 s).
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k == "CARGO_MANIFEST_DIR"
                || k == "CARGO_MANIFEST_PATH"
                || k == "CARGO_CRATE_NAME"
                || k == "CARGO_PRIMARY_PACKAGE"
                || k.starts_with("CARGO_PKG_")
            {
                cargo.env_remove(k.as_ref());
            }
        }
        if let Ok(f) = std::env::var("AIRLOCK_TEST_FEATURES")
            && !f.is_empty()
        {
            cargo.args(["--features", &f]);
        }
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo
            .status()
            .expect("run cargo build --bin airlock-server");
        assert!(status.success(), "cargo build --bin airlock-server failed");
    });
    env!("CARGO_BIN_EXE_airlock")
}

/// Where root tests take turns, across test binaries and processes.
const ROOT_LOCK: &str = "/run/airlock-tests.lock";

/// An exclusive `flock` on [`ROOT_LOCK`] (or `$TMPDIR/airlock-tests.lock`
/// where /run is not writable), held for a root test's duration. Cluster
/// tests share the 10.77.x.0/24 range, the host's nftables and Slurm's
/// ports; the other root tests mount file systems and add users. The lock
/// goes with its file descriptor, so a test that panics (or a process that
/// dies) releases it.
pub struct RootLock {
    _file: nix::fcntl::Flock<std::fs::File>,
}

/// Panics unless this runs as root, saying `why` root is needed. Root tests
/// are `#[ignore = "needs root"]` and run with `--include-ignored` as root:
/// none passes by skipping.
pub fn require_root(why: &str) {
    assert!(nix::unistd::geteuid().is_root(), "needs root: {why}");
}

/// Waits for, then takes, the root tests' lock (see [`RootLock`]).
pub fn root_lock() -> RootLock {
    use nix::fcntl::{Flock, FlockArg};
    use std::os::unix::fs::OpenOptionsExt;
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(p)
    };
    let fallback = std::env::temp_dir().join("airlock-tests.lock");
    let (path, file) = match open(Path::new(ROOT_LOCK)) {
        Ok(f) => (PathBuf::from(ROOT_LOCK), f),
        Err(_) => {
            let f = open(&fallback)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", fallback.display()));
            (fallback, f)
        }
    };
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
            eprintln!(
                "waiting for {} (held by {})",
                path.display(),
                read(&path).trim()
            );
            Flock::lock(file, FlockArg::LockExclusive)
                .unwrap_or_else(|(_, e)| panic!("flock {}: {e}", path.display()))
        }
        Err((_, e)) => panic!("flock {}: {e}", path.display()),
    };
    // Who holds it, for whoever waits next.
    let me = format!(
        "pid {} ({})\n",
        std::process::id(),
        std::thread::current().name().unwrap_or("?")
    );
    let _ = lock.set_len(0);
    let _ = std::os::unix::fs::FileExt::write_all_at(&*lock, me.as_bytes(), 0);
    RootLock { _file: lock }
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    /// The server's port: 0 (the server picks one) until a server has
    /// announced the one it bound; a restarted server asks for that one
    /// again, as agents and profiles point at it.
    port: AtomicU16,
    /// The address the server listens on (127.0.0.1 unless it runs on
    /// another "host").
    host: String,
}

impl Env {
    pub fn new() -> Self {
        Self::at("127.0.0.1")
    }
    /// With the server at `host` instead of on loopback.
    pub fn at(host: &str) -> Self {
        Self {
            tmp: tempfile::tempdir().expect("tempdir"),
            port: AtomicU16::new(0),
            host: host.to_owned(),
        }
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The port the server announced; panics before one has.
    pub fn port(&self) -> u16 {
        let p = self.port.load(Ordering::SeqCst);
        assert!(
            p != 0,
            "no server has announced its port yet (start one with Server::start, or wait for it with wait_healthy)"
        );
        p
    }
    pub fn state_dir(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.tmp.path().join("dot-airlock")
    }
    /// The server's `--listen`: port 0 until a server has announced one.
    pub fn listen(&self) -> String {
        format!("{}:{}", self.host, self.port.load(Ordering::SeqCst))
    }
    /// Every address the running server announced (`server.listen`).
    pub fn listen_addrs(&self) -> Vec<String> {
        read(&self.state_dir().join("server.listen"))
            .lines()
            .map(str::to_owned)
            .collect()
    }
    /// An `airlock` command with this environment's directories.
    pub fn cmd(&self) -> Command {
        self.cmd_via(&[])
    }
    /// [`Env::cmd`], run through `wrapper` (e.g. `ip netns exec NS setpriv …`).
    pub fn cmd_via(&self, wrapper: &[&str]) -> Command {
        let mut c = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(airlock_bin());
                c
            }
            None => Command::new(airlock_bin()),
        };
        c.env("AIRLOCK_STATE_DIR", self.state_dir())
            .env("AIRLOCK_CONFIG_DIR", self.config_dir())
            .env("AIRLOCK_LISTEN", self.listen())
            .env("AIRLOCK_PING_INTERVAL", "1")
            .env("AIRLOCK_FLEET_INTERVAL_MS", "1000")
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
        format!("https://{}:{}", self.host, self.port())
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
        Self::start_with(env, &[])
    }
    pub fn start_with(env: &Env, vars: &[(&str, &str)]) -> Self {
        forget_announcement(env);
        let child = env
            .cmd()
            .envs(vars.iter().copied())
            .args(["server", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let mut s = Server { child };
        wait_ready(env, Some(&mut s.child));
        s
    }
    /// Takes charge of a server started some other way (e.g. as another user).
    pub fn adopt(child: Child) -> Self {
        Server { child }
    }
    pub fn stop(mut self) {
        let _ = nix_kill(self.child.id());
        let _ = self.child.wait();
    }
    /// SIGKILL: a crash, with no chance to clean up.
    pub fn crash(mut self) {
        let _ = self.child.kill();
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

/// Removes what a previous server in `env`'s state directory announced, so
/// that only the next one's announcement counts.
pub fn forget_announcement(env: &Env) {
    for f in ["server.endpoint", "server.listen"] {
        let _ = std::fs::remove_file(env.state_dir().join(f));
    }
}

/// Waits until the server of `env`'s state directory has announced where it
/// listens (`server.listen`, then `server.endpoint`), the admin's CA is in
/// the config directory, and `/healthz` answers there; records the port in
/// `env`. Panics after 20 s saying what never became ready.
pub fn wait_healthy(env: &Env) {
    wait_ready(env, None);
}

fn wait_ready(env: &Env, mut child: Option<&mut Child>) {
    let secs = 20;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::from("nothing checked yet");
    loop {
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(st)) = c.try_wait()
        {
            panic!("the server exited ({st}) before it was ready; last seen: {last}");
        }
        match announced(env).and_then(|port| healthz(env, port).map(|()| port)) {
            Ok(port) => {
                env.port.store(port, Ordering::SeqCst);
                return;
            }
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            panic!(
                "the server of {} was not ready within {secs} s: {last}",
                env.state_dir().display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The port the server announced, once `server.listen` lists it, the
/// endpoint file names it, and the CA the clients need is there.
fn announced(env: &Env) -> Result<u16, String> {
    let state = env.state_dir();
    let endpoint = std::fs::read_to_string(state.join("server.endpoint"))
        .map_err(|_| "no server.endpoint file yet".to_owned())?;
    let port: u16 = endpoint
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("server.endpoint has no port: {endpoint:?}"))?;
    if port == 0 {
        return Err("server.endpoint names port 0, not the bound port".into());
    }
    let listen = read(&state.join("server.listen"));
    if !listen.lines().any(|l| l.ends_with(&format!(":{port}"))) {
        return Err(format!(
            "server.listen does not list port {port}: {listen:?}"
        ));
    }
    let known = env.port.load(Ordering::SeqCst);
    if known != 0 && known != port {
        return Err(format!(
            "server.endpoint names port {port}, not {known}, the port this test's agents and profiles use"
        ));
    }
    if !env.ca().exists() {
        return Err(format!("no CA at {} yet", env.ca().display()));
    }
    Ok(port)
}

/// One `GET /healthz` on `port`, trusting the CA of `env`.
fn healthz(env: &Env, port: u16) -> Result<(), String> {
    let pem = std::fs::read(env.ca()).map_err(|e| format!("{}: {e}", env.ca().display()))?;
    let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("the CA: {e}"))?;
    let url = format!("https://{}:{port}/healthz", env.host);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let st = rt.block_on(async {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        http.get(&url)
            .send()
            .await
            .map(|r| r.status())
            .map_err(|e| format!("{url}: {e}"))
    })?;
    if st.is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {st}"))
    }
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

/// Polls `f` until it returns Some, or panics after `secs` with `what`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a process of this host runs `command`: its arguments, joined by
/// spaces, end with it (`sleep 600` matches `sleep 600` and `sh -c sleep 600`).
/// For sessions of agents that run them as this user, on this host.
pub fn runs(command: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .any(|c| {
            let args: Vec<_> = c
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(String::from_utf8_lossy)
                .collect();
            args.join(" ").ends_with(command)
        })
}

/// A TCP echo server on loopback; returns its port.
pub fn echo_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let mut w = s;
                let _ = std::io::copy(&mut r, &mut w);
                let _ = w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// A running `airlock agent run`, killed on drop.
pub struct Agent {
    child: Child,
    pub dir: PathBuf,
}

impl Agent {
    pub fn start(env: &Env, dir: &Path) -> Self {
        Self::start_with(env, dir, &[])
    }

    /// Starts the agent with extra environment variables.
    pub fn start_with(env: &Env, dir: &Path, vars: &[(&str, &str)]) -> Self {
        let log = std::fs::File::create(dir.with_extension("log")).expect("agent log");
        let child = env
            .cmd()
            .envs(vars.iter().copied())
            .args([
                "--log-level",
                "info",
                "agent",
                "run",
                "--sessions-as-self",
                "--agent-dir",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn agent");
        Agent {
            child,
            dir: dir.to_owned(),
        }
    }
    pub fn log(&self) -> String {
        read(&self.dir.with_extension("log"))
    }
    /// Sends a signal (e.g. STOP/CONT) to the agent process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status();
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates a role that `service` (e.g. `ssm.amazonaws.com`) may assume,
/// with the managed policy agents need when `managed_policy`.
pub fn create_node_role(env: &Env, role: &str, service: &str, managed_policy: bool) {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    env.ok(&[
        "iam",
        "create-role",
        "--role-name",
        role,
        "--assume-role-policy-document",
        &trust,
    ]);
    if managed_policy {
        env.ok(&[
            "iam",
            "attach-role-policy",
            "--role-name",
            role,
            "--policy-arn",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        ]);
    }
}

/// Creates a role (optionally with the managed policy), an activation for
/// it, and registers an agent directory; returns the instance id.
pub fn register_agent(env: &Env, role: &str, managed_policy: bool, dir: &Path) -> String {
    create_node_role(env, role, "ssm.amazonaws.com", managed_policy);
    register_with(
        env,
        &["--json", "activation", "create", "--role", role],
        dir,
    )
}

/// Registers an agent directory with the activation `create` makes (an
/// `airlock` command printing its ActivationCode and ActivationId as
/// JSON); returns the instance id.
pub fn register_with(env: &Env, create: &[&str], dir: &Path) -> String {
    let act: serde_json::Value = serde_json::from_str(&env.ok(create)).expect("json");
    let out = env.ok(&[
        "agent",
        "register",
        "--agent-dir",
        dir.to_str().expect("utf8"),
        "--activation-code",
        act["ActivationCode"].as_str().expect("code"),
        "--activation-id",
        act["ActivationId"].as_str().expect("id"),
        "--endpoint",
        &env.endpoint(),
    ]);
    out.split_whitespace()
        .find(|w| w.starts_with("mi-"))
        .map(|w| w.trim_end_matches('.').to_owned())
        .expect("instance id")
}

/// The instance's row from `airlock --json instances`.
pub fn instance(env: &Env, id: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "instances"])).expect("json");
    v["InstanceInformationList"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["InstanceId"] == id).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// `airlock connect` on a real PTY, read by a background thread.
pub struct Terminal {
    pub pty: pty_process::blocking::Pty,
    pub child: std::process::Child,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    pub fn open(env: &Env, target: &str) -> Self {
        let (pty, pts) = pty_process::blocking::open().unwrap();
        pty.resize(pty_process::Size::new(30, 100)).unwrap();
        let mut cmd = pty_process::blocking::Command::new(airlock_bin());
        for (k, v) in [
            ("AIRLOCK_CONFIG_DIR", env.config_dir().display().to_string()),
            ("TERM", "xterm".into()),
        ] {
            cmd = cmd.env(k, v);
        }
        let child = cmd.args(["connect", target]).spawn(pts).unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pty.try_clone_reader();
        let s2 = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s2.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal { pty, child, screen }
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }
    pub fn send(&mut self, s: &str) {
        self.pty.write_all(s.as_bytes()).unwrap();
        self.pty.flush().unwrap();
    }
    pub fn expect(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what:?}; the screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub trait CloneReader {
    fn try_clone_reader(&self) -> std::fs::File;
}

impl CloneReader for pty_process::blocking::Pty {
    fn try_clone_reader(&self) -> std::fs::File {
        use std::os::fd::AsFd;
        std::fs::File::from(self.as_fd().try_clone_to_owned().unwrap())
    }
}

/// A user with the session policy, a saved profile of the same name, and
/// optional tags (`Key=K,Value=V`).
pub fn session_user(env: &Env, name: &str, tags: &[&str]) {
    let mut args = vec!["iam", "create-user", "--user-name", name];
    if !tags.is_empty() {
        args.push("--tags");
        args.extend_from_slice(tags);
    }
    env.ok(&args);
    env.ok(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        name,
        "--policy-arn",
        "arn:aws:iam::aws:policy/AirlockSessionUser",
    ]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        name,
        "--save-profile",
        name,
    ]);
}

/// A server and one registered agent, online; all stopped on drop.
pub struct Node {
    pub env: Env,
    pub server: Server,
    pub agent: Agent,
    pub id: String,
}

/// Starts a [`Node`]; the agent gets `agent_vars` in its environment.
pub fn node_with(agent_vars: &[(&str, &str)]) -> Node {
    let env = Env::new();
    let server = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let agent = Agent::start_with(&env, &dir, agent_vars);
    wait_for(15, "the node to come online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    Node {
        env,
        server,
        agent,
        id,
    }
}

/// A [`Node`] with the agent's default environment.
pub fn node() -> Node {
    node_with(&[])
}

/// The text of standard base64 (as the AWS CLI shows user data).
pub fn base64_decode(b64: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .expect("base64");
    String::from_utf8(bytes).expect("UTF-8")
}
