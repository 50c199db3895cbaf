//! The provider interface: the way the stack engine and the fleet manager
//! touch machines. A provider makes a cluster's network and security group,
//! launches an instance from a launch spec, terminates it, and describes
//! instances with EC2's states. The local provider (`local::LocalProvider`)
//! is one; an EC2 provider is another.

use airlock_config::model::ClusterModel;
use serde::{Deserialize, Serialize};

pub use crate::local::ProviderError;
pub use crate::local::node::NodeRole;
pub use airlock_proto::node_config::StorageSource;

pub type Result<T> = std::result::Result<T, ProviderError>;

/// A cluster's network as the provider made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// What the stack shows as the network's physical id.
    pub physical_id: String,
    pub cidr: String,
    /// The address machines reach the server at (its agent endpoint).
    pub server_address: String,
    /// The address the head node will have, where the provider decides it
    /// before launch (the local provider does; `slurm.conf` names it).
    pub head_address: Option<String>,
}

/// EC2's instance states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }
}

/// An instance as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    pub name: String,
    pub role: NodeRole,
    pub private_ip: String,
    pub state: InstanceState,
    /// Why it is in that state, when the provider knows (a spot reclaim).
    pub state_reason: Option<String>,
    /// Unix seconds.
    pub launched_at: u64,
}

impl Instance {
    pub fn is_running(&self) -> bool {
        self.state == InstanceState::Running
    }
}

/// Everything a launch needs.
pub struct LaunchSpec<'a> {
    pub cluster: &'a str,
    /// The id the server gave the instance (its certificate names it).
    pub instance_id: &'a str,
    /// The Slurm node name (`head`, `queue1-st-t2micro-1`).
    pub name: &'a str,
    pub role: NodeRole,
    /// The script the machine runs at its first boot, as EC2's user data:
    /// it fetches the agent, joins with a single-use token and runs it.
    pub user_data: &'a str,
}

/// A place that runs a cluster's machines.
pub trait Provider: Send + Sync {
    /// Whether this process can use the provider (the local one needs root).
    fn check(&self) -> Result<()>;
    /// Provider resources made from the configuration before the head
    /// node, and the checks of the configuration only the provider can
    /// make (EC2: the region, the key pair, the launch templates). Called
    /// first in a stack's creation; what it made goes with
    /// [`Provider::delete_network`]. Nothing to do by default.
    fn prepare(&self, cluster: &str, model: &ClusterModel) -> Result<()> {
        let _ = (cluster, model);
        Ok(())
    }
    /// Makes the cluster's network; `vpc_id` and `subnet_id` are the
    /// configuration's names for it.
    fn create_network(&self, cluster: &str, vpc_id: &str, subnet_id: &str) -> Result<Network>;
    /// The network of a cluster, if it has one.
    fn network(&self, cluster: &str) -> Option<Network>;
    /// Applies the cluster's security group (what may reach its machines);
    /// returns its id.
    fn create_security_group(&self, cluster: &str) -> Result<String>;
    /// How the cluster's nodes reach `/home` and `/shared`: NFS from the
    /// head node on a real network, or a volume the provider attaches.
    fn shared_storage(&self, net: &Network) -> StorageSource;
    /// Makes a live cluster's network and security group whole again after
    /// a restart of the server.
    fn restore(&self, cluster: &str) -> Result<()>;
    fn delete_security_group(&self, cluster: &str) -> Result<()>;
    /// Deletes the network and whatever else of the cluster is left.
    fn delete_network(&self, cluster: &str) -> Result<()>;
    /// Launches one instance; returns once it is running.
    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Instance>;
    /// Terminates an instance (gone already is fine).
    fn terminate(&self, cluster: &str, instance_id: &str) -> Result<()>;
    /// Stops an instance as a spot reclaim would: no clean shutdown, and
    /// it is left for the fleet manager to find.
    fn interrupt(&self, cluster: &str, instance_id: &str) -> Result<()>;
    /// The cluster's instances, terminated ones included until cleaned up.
    fn describe(&self, cluster: &str) -> Vec<Instance>;
    /// [`Provider::describe`], or why the provider could not say: where
    /// an empty answer would be acted on (the fleet manager, a teardown),
    /// "cannot tell" must not read as "no instances".
    fn try_describe(&self, cluster: &str) -> Result<Vec<Instance>> {
        Ok(self.describe(cluster))
    }
    /// Every cluster the provider holds anything for.
    fn clusters(&self) -> Vec<String>;
}
