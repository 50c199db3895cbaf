//! Where a cluster's files live on the host and in its nodes, and its
//! network plan (subnet, bridge, gateway).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// In-node paths, the same on every node.
pub mod node_paths {
    pub const AGENT_DIR: &str = "/var/lib/airlock-agent";
    pub const BIN_DIR: &str = "/run/airlock/bin";
    pub const AIRLOCK: &str = "/run/airlock/bin/airlock";
    /// Where the user data installs the agent: `$AIRLOCK_PREFIX/bin/airlock`.
    pub const PREFIX: &str = "/run/airlock";
    /// The machine's user data, as its first boot runs it.
    pub const USER_DATA: &str = "/run/airlock/user-data";
    pub const MUNGE_SOCKET: &str = "/run/munge/munge.socket.2";
    pub const SLURM_CONF: &str = "/etc/slurm/slurm.conf";
    pub const SLURM_SPOOL: &str = "/var/spool/slurm";
    pub const SLURM_LOG: &str = "/var/log/slurm";
    /// Where the cluster's volume is attached on every machine; nodes
    /// mount `/home` and `/shared` from it themselves.
    pub const VOLUME: &str = "/mnt/cluster-volume";
}

/// First two octets of every cluster subnet: `10.77.{index}.0/24`.
pub const SUBNET_BASE: &str = "10.77";

/// A cluster's network: its own /24 and bridge; the server's agent endpoint
/// listens on the gateway address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub index: u8,
    pub bridge: String,
    /// The config's `vpc_id` and subnet id this network stands for.
    pub vpc_id: String,
    pub subnet_id: String,
}

impl NetworkPlan {
    pub fn new(index: u8, vpc_id: &str, subnet_id: &str) -> Self {
        NetworkPlan {
            index,
            bridge: format!("airlock{index}"),
            vpc_id: vpc_id.to_owned(),
            subnet_id: subnet_id.to_owned(),
        }
    }
    pub fn cidr(&self) -> String {
        format!("{SUBNET_BASE}.{}.0/24", self.index)
    }
    /// The server's address on the bridge.
    pub fn gateway(&self) -> String {
        self.host(1)
    }
    /// `.2` is the head node; compute nodes take `.3` upwards.
    pub fn host(&self, n: u8) -> String {
        format!("{SUBNET_BASE}.{}.{n}", self.index)
    }
}

/// A cluster's directory on the host: `{root}/{name}`.
#[derive(Debug, Clone)]
pub struct ClusterLayout {
    pub dir: PathBuf,
    pub name: String,
}

impl ClusterLayout {
    pub fn new(root: &Path, name: &str) -> Self {
        ClusterLayout {
            dir: root.join(name),
            name: name.to_owned(),
        }
    }
    pub fn network_file(&self) -> PathBuf {
        self.dir.join("network.json")
    }
    /// The machine image's `/etc`: the host's, without the host's people.
    pub fn image_etc(&self) -> PathBuf {
        self.dir.join("image/etc")
    }
    /// The cluster's shared volume (`home/`, `shared/`), attached to every
    /// machine at [`node_paths::VOLUME`].
    pub fn volume(&self) -> PathBuf {
        self.dir.join("volume")
    }
    /// Where nodes' Slurm logs go (as ParallelCluster ships them to
    /// CloudWatch Logs).
    pub fn log(&self) -> PathBuf {
        self.dir.join("log")
    }
    pub fn nodes(&self) -> PathBuf {
        self.dir.join("nodes")
    }
    pub fn node(&self, instance_id: &str) -> PathBuf {
        self.nodes().join(instance_id)
    }
    pub fn read_network(&self) -> Option<NetworkPlan> {
        let text = std::fs::read_to_string(self.network_file()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Every cluster directory under `root`.
pub fn clusters(root: &Path) -> Vec<ClusterLayout> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(|n| ClusterLayout::new(root, n)))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The lowest subnet index not used by another cluster under `root`, nor
/// by an address already on this machine.
pub fn free_index(root: &Path, host_addrs: &str) -> Option<u8> {
    let used: Vec<u8> = clusters(root)
        .iter()
        .filter_map(|c| c.read_network().map(|n| n.index))
        .collect();
    (1..=250u8).find(|i| !used.contains(i) && !host_addrs.contains(&format!(" {SUBNET_BASE}.{i}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_fit_linux_interface_names() {
        let p = NetworkPlan::new(250, "vpc-1", "subnet-1");
        assert!(p.bridge.len() <= 15);
        assert_eq!(p.cidr(), "10.77.250.0/24");
        assert_eq!(p.gateway(), "10.77.250.1");
        assert_eq!(p.host(2), "10.77.250.2");
    }

    #[test]
    fn free_index_skips_used_and_host_subnets() {
        let d = tempfile::tempdir().unwrap();
        let c = ClusterLayout::new(d.path(), "a");
        std::fs::create_dir_all(&c.dir).unwrap();
        std::fs::write(
            c.network_file(),
            serde_json::to_string(&NetworkPlan::new(1, "v", "s")).unwrap(),
        )
        .unwrap();
        assert_eq!(free_index(d.path(), "inet 10.77.2.5/24"), Some(3));
    }
}
