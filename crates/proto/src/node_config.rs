//! A cluster node's configuration, as the server sends it down the node's
//! control channel once it has joined (ParallelCluster's cfn-init and
//! cookbook, in one message): who the node is, its `/etc/hosts`, the
//! cluster's users, the munge key and `slurm.conf`, the shared storage to
//! mount and the daemons to run. The agent applies it idempotently
//! (`airlock_agent::node_config`) and reports each step back
//! ([`StepStatus`]).
//!
//! The munge key and the ssh host key are secrets: they travel only here,
//! on the node's mTLS control channel, never in user data.

use serde::{Deserialize, Serialize};

/// The node types of ParallelCluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeType {
    HeadNode,
    Compute,
}

/// A daemon the node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Daemon {
    Munged,
    Slurmctld,
    Slurmd,
    Sshd,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Munged => "munged",
            Daemon::Slurmctld => "slurmctld",
            Daemon::Slurmd => "slurmd",
            Daemon::Sshd => "sshd",
        }
    }
}

/// A login of the cluster (ParallelCluster's `cluster_user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// May run anything with sudo, without a password (as on EC2 images).
    pub sudo: bool,
    /// OpenSSH public key lines for `~/.ssh/authorized_keys` (the key pair).
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

/// Where a shared directory comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Kind")]
pub enum StorageSource {
    /// The head node exports it over NFS to the cluster's subnet; compute
    /// nodes mount `Server:Path` (ParallelCluster's way, on real machines).
    Nfs {
        #[serde(rename = "Server")]
        server: String,
    },
    /// The provider attached the cluster's volume to every machine at
    /// `Source` (the local provider: this kernel has no NFS); the node
    /// bind-mounts `Source/<dir>` on the directory.
    Volume {
        #[serde(rename = "Source")]
        source: String,
    },
}

/// The cluster's shared directories and how they are reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SharedStorage {
    /// Absolute paths (`/home`, `/shared`).
    pub dirs: Vec<String>,
    pub source: StorageSource,
    /// The cluster's subnet, to which the head node exports (NFS only).
    pub export_to: String,
}

/// Everything a node needs to become part of its cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeConfig {
    pub cluster_name: String,
    pub node_type: NodeType,
    /// The Slurm node name, also the hostname.
    pub hostname: String,
    /// `/etc/hosts` entries after `localhost`: (address, name).
    pub hosts: Vec<(String, String)>,
    pub users: Vec<ClusterUser>,
    /// The cluster's munge key, base64.
    pub munge_key: String,
    /// The cluster's ssh host key (OpenSSH private key text), so every node
    /// presents the same host key through the tunnel.
    pub ssh_host_key: String,
    pub slurm_conf: String,
    pub storage: SharedStorage,
    /// In the order they start.
    pub daemons: Vec<Daemon>,
}

/// Where a machine's own init (the local provider's node supervisor, PID 1
/// of the machine) reads the services it runs: one `NAME.json` each, an
/// [`InitService`]. A node's configuration writes them and sends PID 1
/// `SIGHUP`; PID 1 starts what is new and keeps it running. Machines with
/// systemd use units instead.
pub const INIT_SERVICES_DIR: &str = "/run/airlock/init";

/// One service of the local provider's init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitService {
    pub argv: Vec<String>,
    /// Start only once these paths exist (munged's socket for Slurm).
    #[serde(default)]
    pub after: Vec<String>,
}

/// A configuration step's progress, reported by the agent as a stack event
/// (`HeadNode - CREATE_IN_PROGRESS: starting slurmctld`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    InProgress,
    Complete,
    Failed,
}

/// The step a node reports `Complete` once its whole configuration is
/// applied (or `Failed`, naming the step that failed, in its reason).
pub const NODE_CONFIGURED: &str = "node configured";

/// Longest text of one step (its name or failure reason) a node may send.
pub const MAX_STEP_CHARS: usize = 512;

/// A step's text as a node sent it, made safe for a terminal: control
/// characters dropped, at most [`MAX_STEP_CHARS`].
pub fn printable_step(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_STEP_CHARS)
        .collect()
}

impl NodeConfig {
    /// Checks what the node would otherwise write blindly: a hostname and
    /// user names that are names, absolute clean paths, and no user the
    /// node's system accounts could collide with.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !s.starts_with('-')
        };
        if !name_ok(&self.hostname) {
            return Err(format!("hostname {:?} is not a host name", self.hostname));
        }
        for (addr, host) in &self.hosts {
            if addr.parse::<std::net::IpAddr>().is_err() {
                return Err(format!("hosts entry {addr:?} is not an address"));
            }
            if !host.split('.').all(name_ok) {
                return Err(format!("hosts entry {host:?} is not a host name"));
            }
        }
        for u in &self.users {
            if !name_ok(&u.name) || u.name.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(format!("user {:?} is not a login name", u.name));
            }
            if u.uid < 1000 || u.gid < 1000 || u.uid >= 60000 || u.gid >= 60000 {
                return Err(format!(
                    "user {} must have ids from 1000 to 59999, not a system account's",
                    u.name
                ));
            }
            if u.authorized_keys.iter().any(|k| k.contains(['\n', '\r'])) {
                return Err(format!("a key of user {} spans lines", u.name));
            }
        }
        for d in &self.storage.dirs {
            let clean = d.starts_with('/')
                && d.len() > 1
                && d[1..]
                    .split('/')
                    .all(|p| !p.is_empty() && p != "." && p != "..");
            if !clean {
                return Err(format!(
                    "shared directory {d:?} is not a clean absolute path"
                ));
            }
        }
        match &self.storage.source {
            StorageSource::Volume { source }
                if !source.starts_with('/') || source.contains("..") =>
            {
                return Err(format!("volume {source:?} is not a clean absolute path"));
            }
            StorageSource::Nfs { server } if !server.split('.').all(name_ok) => {
                return Err(format!(
                    "NFS server {server:?} is not a host name or address"
                ));
            }
            _ => {}
        }
        let cidr_ok = self
            .storage
            .export_to
            .split_once('/')
            .is_some_and(|(a, p)| {
                a.parse::<std::net::IpAddr>().is_ok() && p.parse::<u8>().is_ok_and(|p| p <= 128)
            });
        if !cidr_ok {
            return Err(format!(
                "export_to {:?} is not a network (address/prefix)",
                self.storage.export_to
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> NodeConfig {
        NodeConfig {
            cluster_name: "c".into(),
            node_type: NodeType::HeadNode,
            hostname: "head".into(),
            hosts: vec![("10.0.0.2".into(), "head".into())],
            users: vec![ClusterUser {
                name: "ubuntu".into(),
                uid: 1000,
                gid: 1000,
                sudo: true,
                authorized_keys: vec!["ssh-ed25519 AAAA k".into()],
            }],
            munge_key: "a2V5".into(),
            ssh_host_key: "-----BEGIN OPENSSH PRIVATE KEY-----".into(),
            slurm_conf: "ClusterName=c\n".into(),
            storage: SharedStorage {
                dirs: vec!["/home".into(), "/shared".into()],
                source: StorageSource::Nfs {
                    server: "10.0.0.2".into(),
                },
                export_to: "10.0.0.0/24".into(),
            },
            daemons: vec![Daemon::Munged, Daemon::Slurmctld],
        }
    }

    #[test]
    fn a_sample_passes_and_round_trips() {
        let c = sample();
        assert_eq!(c.check(), Ok(()));
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains(r#""Kind":"Nfs""#) && j.contains(r#""Daemons":["munged","slurmctld"]"#));
        assert_eq!(serde_json::from_str::<NodeConfig>(&j).unwrap(), c);
    }

    #[test]
    fn what_a_node_would_write_blindly_is_checked() {
        let bad: [fn(&mut NodeConfig); 9] = [
            |c| c.storage.export_to = "* (rw,no_root_squash)".into(),
            |c| {
                c.storage.source = StorageSource::Nfs {
                    server: "-o x".into(),
                }
            },
            |c| c.hostname = "../etc".into(),
            |c| c.hosts[0].0 = "10.0.0.300".into(),
            |c| c.hosts[0].1 = "a b".into(),
            |c| c.users[0].uid = 0,
            |c| c.users[0].name = "Root".into(),
            |c| c.storage.dirs[0] = "/home/../etc".into(),
            |c| c.users[0].authorized_keys[0] = "k\ncommand=x".into(),
        ];
        for f in bad {
            let mut c = sample();
            f(&mut c);
            assert!(c.check().is_err(), "{c:?}");
        }
    }

    #[test]
    fn step_text_is_made_printable() {
        assert_eq!(printable_step("a\u{1b}[2Jb\n"), "a[2Jb");
        assert_eq!(printable_step(&"x".repeat(9999)).len(), MAX_STEP_CHARS);
    }
}
