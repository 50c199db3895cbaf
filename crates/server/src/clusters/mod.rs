//! Cluster stacks on the local provider: creating and deleting them as
//! ordered resources with events (`provision`), launching nodes with their
//! identities (`launch`), the power-saving hooks' API (`node_api`), the
//! fleet manager (`fleet`), key pairs (`key_pairs`), the database rows
//! (`store`), stack states (`status`) and what all of it can fail with
//! (`error`).

pub mod console_source;
pub mod error;
pub mod fleet;
pub mod key_pairs;
pub mod launch;
pub mod node_api;
pub mod provision;
pub mod status;
pub mod store;

pub use error::ClusterError;
pub use status::StackStatus;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use airlock_cluster::local::{ClusterLayout, layout};

use crate::http::Shared;

/// The local provider's settings and per-cluster locks.
pub struct Manager {
    /// `{state_dir}/clusters`.
    pub root: PathBuf,
    /// The `airlock` binary nodes run.
    pub exe: PathBuf,
    /// The port of the agent endpoint on each cluster's gateway.
    pub agent_port: u16,
    /// The fleet manager's last view of each cluster's Slurm nodes.
    pub slurm: console_source::SlurmCache,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Manager {
    /// `node_binary` is the `airlock` binary the nodes run (agent, node supervisor).
    pub fn new(state_dir: &Path, node_binary: PathBuf, agent_port: u16) -> Self {
        Manager {
            root: state_dir.join("clusters"),
            exe: node_binary,
            agent_port,
            slurm: Default::default(),
            locks: Mutex::new(HashMap::new()),
        }
    }
    pub fn layout(&self, name: &str) -> ClusterLayout {
        ClusterLayout::new(&self.root, name)
    }
    /// Serialises node launches and terminations within one cluster.
    pub fn lock(&self, name: &str) -> Arc<Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(name.to_owned()).or_default().clone()
    }
    pub fn head_pid(&self, name: &str) -> Option<i32> {
        airlock_cluster::local::node::list(&self.layout(name))
            .into_iter()
            .find(|n| n.role == airlock_cluster::local::node::NodeRole::HeadNode)
            .filter(airlock_cluster::local::node::is_running)
            .map(|n| n.pid)
    }
}

/// At start: finish or roll back what a crash interrupted, remove what no
/// stack owns, re-open the agent endpoints, then start the fleet manager.
pub fn start(st: Shared) {
    std::thread::spawn(move || {
        if nix::unistd::geteuid().is_root() {
            provision::reconcile(&st);
        }
        fleet::run(st);
    });
}

/// Known cluster directories on disk.
pub fn on_disk(m: &Manager) -> Vec<ClusterLayout> {
    layout::clusters(&m.root)
}
