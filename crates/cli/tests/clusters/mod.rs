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

/// A root server and the clusters it made; cleans up on drop.
pub struct Lab {
    pub env: Env,
    pub server: Option<Server>,
    pub key: PathBuf,
}

impl Lab {
    pub fn start() -> Self {
        Self::start_with(&[])
    }
    /// With extra environment for the server (e.g. a fault drill).
    pub fn start_with(vars: &[(&str, &str)]) -> Self {
        let env = Env::new();
        let server = Server::start_with(&env, vars);
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
        self.server = Some(Server::start(&self.env));
    }
    pub fn restart_server(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        self.server = Some(Server::start(&self.env));
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
