//! The local provider behind the [`Provider`] interface: a cluster's
//! network is a bridge, a /24 and a host nftables table; its security group
//! is each node's nftables table; an instance is a node of namespaces
//! (`node`) booted from the cluster's machine image (`image`), with the
//! cluster's volume attached for the shared storage its nodes mount.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::image;
use super::layout::{self, ClusterLayout, NetworkPlan, free_index};
use super::node::{self, Launch, NodeRecord, NodeRole};
use super::{ProviderError, net};
use crate::provider::{
    Instance, InstanceState, LaunchSpec, Network, Provider, Result, StorageSource,
};

/// The first compute node's host number; `.1` is the server, `.2` the head.
const FIRST_COMPUTE: u8 = 3;

pub struct LocalProvider {
    /// `{state_dir}/clusters`.
    root: PathBuf,
    /// The `airlock` binary nodes run.
    exe: PathBuf,
    /// Where machines reach the server's agent endpoint.
    server: net::ServerEndpoint,
    /// Serialises launches and terminations within one cluster.
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl LocalProvider {
    pub fn new(root: PathBuf, exe: PathBuf, server: net::ServerEndpoint) -> Self {
        LocalProvider {
            root,
            exe,
            server,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn layout(&self, cluster: &str) -> ClusterLayout {
        ClusterLayout::new(&self.root, cluster)
    }

    fn network_of(&self, plan: &NetworkPlan) -> Network {
        network_of(plan, &self.server)
    }

    fn lock(&self, cluster: &str) -> Arc<Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(cluster.to_owned()).or_default().clone()
    }

    fn plan(&self, cluster: &str) -> Result<NetworkPlan> {
        self.layout(cluster).read_network().ok_or_else(|| {
            ProviderError::Invalid(format!("cluster {cluster} has no network (network.json)"))
        })
    }
}

/// The host number a node gets: `.2` for the head, else the lowest free one.
fn host_number(role: NodeRole, used: &[u8]) -> Option<u8> {
    match role {
        NodeRole::HeadNode => Some(2),
        NodeRole::Compute => (FIRST_COMPUTE..=254u8).find(|n| !used.contains(n)),
    }
}

fn network_of(plan: &NetworkPlan, server: &net::ServerEndpoint) -> Network {
    Network {
        physical_id: format!("{} ({} on {})", plan.subnet_id, plan.cidr(), plan.bridge),
        cidr: plan.cidr(),
        server_address: server.addr(plan),
        head_address: Some(plan.host(2)),
    }
}

fn instance_of(rec: &NodeRecord) -> Instance {
    let running = node::is_running(rec);
    Instance {
        instance_id: rec.instance_id.clone(),
        name: rec.name.clone(),
        role: rec.role,
        private_ip: rec.ip.clone(),
        state: if running {
            InstanceState::Running
        } else {
            InstanceState::Terminated
        },
        state_reason: (!running).then(|| "the node's namespaces are gone".to_owned()),
        launched_at: rec.launched_at,
    }
}

/// A security group id that stays the same for a cluster's network.
fn security_group_id(plan: &NetworkPlan) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in plan.bridge.bytes().chain(plan.subnet_id.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("sg-{:017x}", h & 0x0fff_ffff_ffff_ffff)
}

impl Provider for LocalProvider {
    fn check(&self) -> Result<()> {
        super::check_root()
    }

    fn create_network(&self, cluster: &str, vpc_id: &str, subnet_id: &str) -> Result<Network> {
        let addrs = super::run_cmd("ip", &["-4", "-o", "addr"])?;
        let index = free_index(&self.root, &addrs).ok_or_else(|| {
            ProviderError::Invalid(
                "no free subnet: every 10.77.N.0/24 (N = 1 to 250) is taken".into(),
            )
        })?;
        let plan = NetworkPlan::new(index, vpc_id, subnet_id);
        let layout = self.layout(cluster);
        std::fs::create_dir_all(&layout.dir)
            .map_err(super::io(format!("creating {}", layout.dir.display())))?;
        let text = serde_json::to_string_pretty(&plan)
            .map_err(|e| ProviderError::Invalid(e.to_string()))?;
        std::fs::write(layout.network_file(), text).map_err(super::io("writing network.json"))?;
        net::create_bridge(&plan)?;
        image::prepare(&layout, &plan, &self.server.addr(&plan))?;
        Ok(self.network_of(&plan))
    }

    fn network(&self, cluster: &str) -> Option<Network> {
        self.layout(cluster)
            .read_network()
            .map(|p| self.network_of(&p))
    }

    fn create_security_group(&self, cluster: &str) -> Result<String> {
        let plan = self.plan(cluster)?;
        net::load_host_table(&plan, &self.server)?;
        Ok(security_group_id(&plan))
    }

    fn shared_storage(&self, _net: &Network) -> StorageSource {
        // This kernel has no NFS: the cluster's volume is attached to
        // every machine, and each node bind-mounts from it.
        StorageSource::Volume {
            source: super::layout::node_paths::VOLUME.into(),
        }
    }

    fn restore(&self, cluster: &str) -> Result<()> {
        let layout = self.layout(cluster);
        if let Some(plan) = layout.read_network()
            && layout.dir.exists()
        {
            net::create_bridge(&plan)?;
            net::load_host_table(&plan, &self.server)?;
        }
        Ok(())
    }

    fn delete_security_group(&self, cluster: &str) -> Result<()> {
        if let Some(plan) = self.layout(cluster).read_network() {
            net::delete_host_table(&plan);
        }
        Ok(())
    }

    fn delete_network(&self, cluster: &str) -> Result<()> {
        let layout = self.layout(cluster);
        if let Some(plan) = layout.read_network() {
            net::delete_bridge(&plan)?;
        }
        node::remove_tree(&layout.dir)
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Instance> {
        let layout = self.layout(spec.cluster);
        let plan = self.plan(spec.cluster)?;
        let lock = self.lock(spec.cluster);
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let used: Vec<u8> = node::list(&layout).iter().map(|n| n.host_n).collect();
        let host_n = host_number(spec.role, &used).ok_or_else(|| {
            ProviderError::Invalid("no free address in the cluster's subnet".into())
        })?;
        let launched = node::launch(&Launch {
            layout: &layout,
            net: &plan,
            instance_id: spec.instance_id,
            name: spec.name,
            role: spec.role,
            host_n,
            server: &self.server,
            exe: &self.exe,
            user_data: spec.user_data,
            masked: &[],
        });
        match launched {
            Ok(rec) => Ok(instance_of(&rec)),
            Err(e) => {
                let _ = node::remove_tree(&layout.node(spec.instance_id));
                Err(e)
            }
        }
    }

    fn terminate(&self, cluster: &str, instance_id: &str) -> Result<()> {
        let layout = self.layout(cluster);
        let lock = self.lock(cluster);
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        match node::list(&layout)
            .into_iter()
            .find(|n| n.instance_id == instance_id)
        {
            Some(rec) => node::terminate(&layout, &rec),
            None => node::remove_tree(&layout.node(instance_id)),
        }
    }

    fn interrupt(&self, cluster: &str, instance_id: &str) -> Result<()> {
        let rec = node::list(&self.layout(cluster))
            .into_iter()
            .find(|n| n.instance_id == instance_id)
            .ok_or_else(|| ProviderError::Invalid(format!("no instance {instance_id}")))?;
        node::kill(&rec);
        Ok(())
    }

    fn describe(&self, cluster: &str) -> Vec<Instance> {
        node::list(&self.layout(cluster))
            .iter()
            .map(instance_of)
            .collect()
    }

    fn clusters(&self) -> Vec<String> {
        layout::clusters(&self.root)
            .into_iter()
            .map(|l| l.name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_dot_two_and_compute_nodes_take_the_lowest_free_address() {
        assert_eq!(host_number(NodeRole::HeadNode, &[2, 3]), Some(2));
        assert_eq!(host_number(NodeRole::Compute, &[2]), Some(3));
        assert_eq!(host_number(NodeRole::Compute, &[2, 3, 5]), Some(4));
        let full: Vec<u8> = (2..=254).collect();
        assert_eq!(host_number(NodeRole::Compute, &full), None);
    }

    #[test]
    fn a_network_says_where_machines_reach_the_server() {
        let plan = NetworkPlan::new(7, "vpc-1", "subnet-1");
        let n = network_of(&plan, &net::ServerEndpoint::on_gateway(7443));
        assert_eq!(
            (
                n.cidr.as_str(),
                n.server_address.as_str(),
                n.head_address.as_deref()
            ),
            ("10.77.7.0/24", "10.77.7.1", Some("10.77.7.2"))
        );
        assert_eq!(security_group_id(&plan), security_group_id(&plan.clone()));
        assert!(security_group_id(&plan).starts_with("sg-"));
        assert_eq!(security_group_id(&plan).len(), 20);
    }
}
