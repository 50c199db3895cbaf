//! Shared by the cluster end-to-end tests: a root server, configs, and a
//! guard that removes every cluster, bridge, table and node the test made,
//! even when it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{Env, Server, wait_for};

/// Panics unless this runs as root with every tool the local provider
/// drives. Cluster tests are `#[ignore = "needs root"]`; `make test` runs
/// them as root with `--include-ignored`, so none passes by skipping. They
/// share the 10.77.x.0/24 range: each holds `support::root_lock()`, one at
/// a time across test binaries.
pub fn require() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "cluster tests need root (network namespaces, bridges, nftables, Slurm)"
    );
    for tool in [
        "slurmctld",
        "slurmd",
        "munged",
        "nft",
        "ip",
        "unshare",
        "nsenter",
        "sudo",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is not installed (scripts/install-deps.sh installs it)"
        );
    }
}

/// The server's own "host" for the multi-host topology: a network
/// namespace reached from the cluster machines only through this host's
/// routing, where the server runs as an unprivileged user; this host runs
/// the provider helper, the only privileged part.
pub struct ServerHost {
    ns: String,
    helper: std::process::Child,
}

/// The server host's address, its port, and the uid the server runs as.
pub const SERVER_HOST_ADDR: &str = "10.76.0.2";
pub const SERVER_HOST_PORT: u16 = 7443;
const SERVER_UID: u32 = 65534;

fn sh(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl ServerHost {
    /// The namespace and its link (10.76.0.1 here, 10.76.0.2 there), and
    /// the helper serving the provider to the server's uid.
    fn make(env: &Env) -> Self {
        let ns = "alksrv".to_owned();
        let quiet = |a: &[&str]| {
            let _ = Command::new("ip").args(a).output();
        };
        quiet(&["netns", "del", &ns]);
        quiet(&["link", "del", "alksrvh"]);
        sh(&["ip", "netns", "add", &ns]);
        sh(&[
            "ip", "link", "add", "alksrvh", "type", "veth", "peer", "name", "alksrvn",
        ]);
        sh(&["ip", "link", "set", "alksrvn", "netns", &ns]);
        sh(&["ip", "addr", "add", "10.76.0.1/30", "dev", "alksrvh"]);
        sh(&["ip", "link", "set", "alksrvh", "up"]);
        let inside = |a: &[&str]| {
            let mut v = vec!["ip", "netns", "exec", ns.as_str()];
            v.extend_from_slice(a);
            sh(&v);
        };
        inside(&["ip", "link", "set", "lo", "up"]);
        inside(&["ip", "addr", "add", "10.76.0.2/30", "dev", "alksrvn"]);
        inside(&["ip", "link", "set", "alksrvn", "up"]);
        inside(&["ip", "route", "add", "default", "via", "10.76.0.1"]);
        // The server's user owns its state; this host's root owns the rest.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in [env.state_dir(), env.config_dir()] {
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::chown(&d, Some(SERVER_UID), Some(SERVER_UID)).unwrap();
        }
        let clusters = env.state_dir().join("clusters");
        std::fs::create_dir_all(&clusters).unwrap();
        let socket = env.tmp.path().join("provider.sock");
        let log = std::fs::File::create(env.tmp.path().join("provider.log")).unwrap();
        let endpoint = format!("{SERVER_HOST_ADDR}:{SERVER_HOST_PORT}");
        let helper = Command::new(crate::support::airlock_bin())
            .args(["provider", "serve", "--socket"])
            .arg(&socket)
            .args(["--allow-uid", &SERVER_UID.to_string(), "--clusters-dir"])
            .arg(&clusters)
            .args(["--node-endpoint", &endpoint])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("airlock provider serve");
        crate::support::wait_for(10, "the provider helper's socket", || {
            socket.exists().then_some(())
        });
        ServerHost { ns, helper }
    }

    /// Starts the server in the namespace, as [`SERVER_UID`].
    fn start_server(&self, env: &Env) -> Server {
        crate::support::forget_announcement(env);
        let uid = SERVER_UID.to_string();
        let endpoint = format!("{SERVER_HOST_ADDR}:{SERVER_HOST_PORT}");
        let socket = env.tmp.path().join("provider.sock");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.tmp.path().join("server.log"))
            .unwrap();
        let child = env
            .cmd_via(&[
                "ip",
                "netns",
                "exec",
                &self.ns,
                "setpriv",
                "--reuid",
                &uid,
                "--regid",
                &uid,
                "--clear-groups",
                "--",
            ])
            .env("AIRLOCK_LISTEN", &endpoint)
            .env("AIRLOCK_NODE_ENDPOINT", &endpoint)
            .env("AIRLOCK_PROVIDER_SOCKET", &socket)
            .env("HOME", env.tmp.path())
            .args(["server", "run"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn the server on its host");
        crate::support::wait_healthy(env);
        Server::adopt(child)
    }
}

impl Drop for ServerHost {
    fn drop(&mut self) {
        let _ = self.helper.kill();
        let _ = self.helper.wait();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip").args(["link", "del", "alksrvh"]).status();
    }
}

/// A root server and the clusters it made; cleans up on drop.
pub struct Lab {
    pub env: Env,
    pub server: Option<Server>,
    pub key: PathBuf,
    /// Set when the server runs on its own host (the multi-host topology).
    pub server_host: Option<ServerHost>,
}

impl Lab {
    pub fn start() -> Self {
        Self::start_with(&[])
    }
    /// The multi-host topology: the server unprivileged on its own host,
    /// the provider helper the only root part (see [`ServerHost`]).
    pub fn start_on_server_host() -> Self {
        let env = Env::at(SERVER_HOST_ADDR);
        let host = ServerHost::make(&env);
        let server = host.start_server(&env);
        let mut lab = Self::with(env, server);
        lab.server_host = Some(host);
        lab
    }
    /// With extra environment for the server (e.g. a fault drill).
    pub fn start_with(vars: &[(&str, &str)]) -> Self {
        let env = Env::new();
        let server = Server::start_with(&env, vars);
        Self::with(env, server)
    }
    /// A server started some other way (on the EC2 provider, say).
    pub fn adopt(env: Env, server: Server) -> Self {
        Self::with(env, server)
    }
    fn with(env: Env, server: Server) -> Self {
        let key = env.tmp.path().join("id_ed25519");
        let o = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen");
        assert!(o.status.success());
        Lab {
            env,
            server: Some(server),
            key,
            server_host: None,
        }
    }
    /// Where machines reach the server: their gateway, or the server host.
    pub fn node_endpoint(&self, cluster: &str) -> String {
        match self.server_host {
            Some(_) => format!("{SERVER_HOST_ADDR}:{SERVER_HOST_PORT}"),
            None => format!("10.77.{}.1:{}", index_of(self, cluster), self.env.port()),
        }
    }
    fn start_server(&self) -> Server {
        match &self.server_host {
            Some(h) => h.start_server(&self.env),
            None => Server::start(&self.env),
        }
    }
    pub fn import_key(&self, name: &str) {
        let material = format!("file://{}.pub", self.key.display());
        self.env.ok(&[
            "ec2",
            "import-key-pair",
            "--key-name",
            name,
            "--public-key-material",
            &material,
        ]);
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.env.tmp.path().join(name);
        std::fs::write(&p, text).expect("write config");
        p
    }
    pub fn clusters_root(&self) -> PathBuf {
        self.env.state_dir().join("clusters")
    }
    /// The cluster's nodes whose namespace is alive.
    pub fn running_nodes(&self, cluster: &str) -> Vec<airlock_cluster::local::node::NodeRecord> {
        let l = airlock_cluster::local::ClusterLayout::new(&self.clusters_root(), cluster);
        airlock_cluster::local::node::list(&l)
            .into_iter()
            .filter(airlock_cluster::local::node::is_running)
            .collect()
    }
    /// Runs a command on a node through a session; returns stdout.
    pub fn exec(&self, target: &str, cmd: &str) -> String {
        let o = self.env.run(&["exec", target, "--", "bash", "-c", cmd]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    pub fn wait_online(&self, target: &str) {
        wait_for(30, &format!("{target} to be Online"), || {
            self.env
                .run(&["exec", target, "--", "true"])
                .status
                .success()
                .then_some(())
        });
    }
    /// Kills the server with SIGKILL and starts it again (without drills).
    pub fn crash_and_restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.crash();
        }
        self.server = Some(self.start_server());
    }
    pub fn restart_server(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        self.server = Some(self.start_server());
    }
}

/// Everything the local provider made under `root`, removed without the
/// server: the fallback when `airlock delete` could not run.
pub fn force_cleanup(root: &Path) {
    use airlock_cluster::local::{layout, net, node};
    for c in layout::clusters(root) {
        for n in node::list(&c) {
            let _ = node::terminate(&c, &n);
        }
        if let Some(p) = c.read_network() {
            net::delete_host_table(&p);
            let _ = net::delete_bridge(&p);
        }
        let _ = node::remove_tree(&c.dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.server.is_some() {
            let names = self.env.run(&["list", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&names.stdout).unwrap_or_default();
            for c in v["Clusters"].as_array().into_iter().flatten() {
                if let Some(n) = c["ClusterName"].as_str() {
                    let _ = self.env.run(&["delete", n]);
                }
            }
        }
        force_cleanup(&self.clusters_root());
    }
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Nothing of the cluster is left on the host.
pub fn assert_gone(lab: &Lab, name: &str, index: &str) {
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!("airlock{index}:")),
        "bridge left: {links}"
    );
    assert!(
        !links.contains(&format!("alk{index}-")),
        "veth left: {links}"
    );
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    assert!(!String::from_utf8_lossy(&tables.stdout).contains(&format!("airlock_{index}")));
    assert!(
        !lab.clusters_root().join(name).exists(),
        "cluster directory left"
    );
    let dir = lab.clusters_root().join(name).display().to_string();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(c) = std::fs::read(p.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&c).contains(&dir),
                "process left: {}",
                String::from_utf8_lossy(&c)
            );
        }
    }
}

/// The bridge index of a cluster (from its network.json).
pub fn index_of(lab: &Lab, name: &str) -> String {
    let c = airlock_cluster::local::ClusterLayout::new(&lab.clusters_root(), name);
    c.read_network()
        .map(|n| n.index.to_string())
        .expect("network.json")
}
