//! Cluster stacks through a provider: creating and deleting them as
//! ordered resources with events (`provision`), launching nodes with their
//! identities (`launch`), what each node is told to become
//! (`node_config`), Slurm's commands on the head node through its agent
//! (`head`), the power-saving hooks' API (`node_api`), the
//! fleet manager (`fleet`), key pairs (`key_pairs`), the database rows
//! (`store`), stack states (`status`) and what all of it can fail with
//! (`error`).

pub mod console_source;
pub mod error;
pub mod fleet;
pub mod fleet_plan;
pub mod head;
pub mod key_pairs;
pub mod launch;
pub mod node_api;
pub mod node_config;
pub mod provision;
pub mod status;
pub mod store;

pub use error::ClusterError;
pub use status::StackStatus;

use std::path::{Path, PathBuf};

use airlock_cluster::local::LocalProvider;
use airlock_cluster::provider::Provider;

use crate::http::Shared;

/// The clusters' provider, the nodes' configuration states and the fleet
/// manager's cache.
pub struct Manager {
    /// The only way the stack engine and the fleet manager touch machines.
    provider: Box<dyn Provider>,
    /// The `airlock` binary nodes run (served at `/v1/agent/binary`).
    pub exe: PathBuf,
    /// The port of the agent endpoint on each cluster's network.
    pub agent_port: u16,
    /// The fleet manager's last view of each cluster's Slurm nodes.
    pub slurm: console_source::SlurmCache,
    /// How far each node's configuration got.
    pub setup: node_config::SetupStates,
}

impl Manager {
    /// `node_binary` is the `airlock` binary the nodes run (agent, node supervisor).
    pub fn new(state_dir: &Path, node_binary: PathBuf, agent_port: u16) -> Self {
        Manager {
            provider: Box::new(LocalProvider::new(
                state_dir.join("clusters"),
                node_binary.clone(),
                agent_port,
            )),
            exe: node_binary,
            agent_port,
            slurm: Default::default(),
            setup: Default::default(),
        }
    }

    /// The provider, as the stack engine and the fleet manager use it.
    pub fn provider(&self) -> &dyn Provider {
        self.provider.as_ref()
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
