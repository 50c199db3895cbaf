//! Cluster stacks through a provider: creating and deleting them as
//! ordered resources with events (`provision`), launching nodes with their
//! identities (`launch`), what each node is told to become
//! (`node_config`), Slurm's commands on the head node through its agent
//! (`head`), the power-saving hooks' API (`node_api`), updates (`update`), the
//! fleet manager (`fleet`), key pairs (`key_pairs`), the database rows
//! (`store`), stack states (`status`), which provider runs the machines
//! (`select`) and what all of it can fail with (`error`).

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
pub mod select;
pub mod status;
pub mod store;
pub mod update;

pub use error::ClusterError;
pub use status::{ComputeFleetStatus, StackStatus};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_cluster::local::LocalProvider;
use airlock_cluster::local::net::ServerEndpoint;
use airlock_cluster::provider::Provider;
use airlock_cluster::remote::RemoteProvider;

use crate::http::Shared;

/// The clusters' provider, the nodes' configuration states and the fleet
/// manager's cache.
pub struct Manager {
    /// The only way the stack engine and the fleet manager touch machines.
    provider: Arc<dyn Provider>,
    /// The `airlock` binary nodes run (served at `/v1/agent/binary`).
    pub exe: PathBuf,
    /// The port of the agent endpoint on each cluster's network.
    pub agent_port: u16,
    /// Where machines dial the server when it is not on their cluster's
    /// gateway (another host, reached through a routed hop).
    pub node_endpoint: Option<SocketAddr>,
    /// The fleet manager's last view of each cluster's Slurm nodes.
    pub slurm: console_source::SlurmCache,
    /// How far each node's configuration got.
    pub setup: node_config::SetupStates,
}

/// Where the clusters' machines come from and how they reach the server.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// A privileged helper's socket (`airlock provider serve`); without
    /// one the local provider runs in the server (which then needs root).
    pub provider_socket: Option<PathBuf>,
    /// The address machines dial, when not their cluster's gateway
    /// (required with EC2).
    pub node_endpoint: Option<SocketAddr>,
    /// The local provider, or one made before the start
    /// ([`select::choose`]: EC2).
    pub provider: select::ProviderChoice,
}

impl Manager {
    /// `node_binary` is the `airlock` binary the nodes run (agent, node
    /// supervisor); `agent_port` the port nodes dial on their gateway.
    pub fn new(
        state_dir: &Path,
        node_binary: PathBuf,
        agent_port: u16,
        o: &ClusterOptions,
    ) -> Self {
        let provider: Arc<dyn Provider> = match (&o.provider, &o.provider_socket) {
            (select::ProviderChoice::Ready(p), _) => p.clone(),
            (select::ProviderChoice::Local, Some(socket)) => {
                Arc::new(RemoteProvider::new(socket.clone()))
            }
            (select::ProviderChoice::Local, None) => Arc::new(LocalProvider::new(
                state_dir.join("clusters"),
                node_binary.clone(),
                ServerEndpoint {
                    routed: o.node_endpoint.map(|a| a.ip().to_string()),
                    port: o.node_endpoint.map_or(agent_port, |a| a.port()),
                },
            )),
        };
        Manager {
            provider,
            exe: node_binary,
            agent_port,
            node_endpoint: o.node_endpoint,
            slurm: Default::default(),
            setup: Default::default(),
        }
    }

    /// The provider, as the stack engine and the fleet manager use it.
    pub fn provider(&self) -> &dyn Provider {
        self.provider.as_ref()
    }

    /// The server as a machine's user data names it.
    pub fn node_url(&self) -> String {
        match self.node_endpoint {
            Some(a) => format!("https://{a}"),
            None => format!("https://airlock-server:{}", self.agent_port),
        }
    }

    /// Whether the server serves each cluster's gateway itself (it is on
    /// the machines' host); with a routed endpoint it does not.
    pub fn serves_gateways(&self) -> bool {
        self.node_endpoint.is_none()
    }
}

/// At start: finish or roll back what a crash interrupted, remove what no
/// stack owns, re-open the agent endpoints, then start the fleet manager.
pub fn start(st: Shared) {
    std::thread::spawn(move || {
        if st.clusters.provider().check().is_ok() {
            provision::reconcile(&st);
        }
        fleet::run(st);
    });
}
