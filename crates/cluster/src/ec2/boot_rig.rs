//! The boot rig (`airlock debug ec2-boot-rig`): machines for an EC2
//! endpoint that boots nothing (moto). It watches the endpoint's instances
//! that airlock launched and boots each running one as a local machine
//! (`local::node`: namespaces, the host's packages) that runs that
//! instance's user data, at the private IP EC2 gave it; an instance EC2
//! ends stops its machine. Its one bridge takes `10.77.N.0/24`, whose
//! gateway is the server's node endpoint, so the cluster's subnet in EC2
//! must be that CIDR. Each cluster's volume is attached to its machines at
//! [`node_paths::VOLUME`]: the server runs with `--ec2-shared-volume` set
//! to it (this kernel has no NFS). An AMI tagged [`IMAGE_TAG`] =
//! [`WITHOUT_SLURM`] stands for an image without Slurm: its machines have
//! Slurm's daemons masked.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, InstanceAttributeName, InstanceStateName};
use base64::Engine;

use super::client::{self, Bridge, Ec2Settings};
use super::error::aws;
use super::names::{AIRLOCK_ID_TAG, CLUSTER_TAG, NODE_NAME_TAG, NODE_TYPE_TAG};
use super::tag;
use crate::local::layout::{self, ClusterLayout, NetworkPlan, SUBNET_BASE, node_paths};
use crate::local::net::{self, ServerEndpoint};
use crate::local::node::{self, NodeRecord, NodeRole};
use crate::local::{self as local_provider, image};
use crate::provider::{ProviderError, Result};

/// The tag of an AMI whose machines the rig boots without something: its
/// value [`WITHOUT_SLURM`] masks Slurm's daemons, as an image without
/// Slurm would lack them.
pub const IMAGE_TAG: &str = "airlock:boot-rig-image";
pub const WITHOUT_SLURM: &str = "without-slurm";
const SLURM_PROGRAMS: [&str; 2] = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd"];

/// What the rig is started with.
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// Where it keeps its machines (`{root}/{cluster}/…`), removed at the end.
    pub root: PathBuf,
    /// The `airlock` binary machines run.
    pub exe: PathBuf,
    /// The server's node endpoint, `10.77.N.1:PORT`.
    pub node_endpoint: SocketAddr,
    /// An EC2 endpoint (moto's); else `AWS_ENDPOINT_URL` or AWS's.
    pub endpoint_url: Option<String>,
}

/// What one look at EC2 changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RigEvent {
    Booted {
        ec2_id: String,
        name: String,
        ip: String,
    },
    Stopped {
        ec2_id: String,
        name: String,
    },
    /// An instance the rig cannot boot; it is not tried again.
    Refused {
        ec2_id: String,
        reason: String,
    },
    /// What the rig could not undo (a machine, its network, its files).
    Failed {
        what: String,
        reason: String,
    },
}

impl RigEvent {
    pub fn is_failure(&self) -> bool {
        matches!(self, RigEvent::Failed { .. })
    }
}

impl std::fmt::Display for RigEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RigEvent::Booted { ec2_id, name, ip } => write!(f, "booted {ec2_id} ({name}) at {ip}"),
            RigEvent::Stopped { ec2_id, name } => write!(f, "stopped {ec2_id} ({name})"),
            RigEvent::Refused { ec2_id, reason } => write!(f, "cannot boot {ec2_id}: {reason}"),
            RigEvent::Failed { what, reason } => write!(f, "cannot {what}: {reason}"),
        }
    }
}

struct Machine {
    layout: ClusterLayout,
    rec: NodeRecord,
}

pub struct BootRig {
    bridge: Bridge,
    client: Client,
    opts: RigOptions,
    plan: NetworkPlan,
    server: ServerEndpoint,
    /// EC2 instance id → its machine.
    machines: HashMap<String, Machine>,
    refused: HashSet<String>,
}

/// The rig's subnet index from the node endpoint: `10.77.N.1`, N in 1..=250.
pub fn subnet_index(endpoint: &SocketAddr) -> Result<u8> {
    let bad = || {
        ProviderError::Invalid(format!(
            "the node endpoint {endpoint} is not {SUBNET_BASE}.N.1:PORT (N from 1 to 250)\n  hint: the rig's bridge is {SUBNET_BASE}.N.0/24 with the server on .1; e.g. --node-endpoint {SUBNET_BASE}.240.1:7443, and make the cluster's EC2 subnet {SUBNET_BASE}.240.0/24"
        ))
    };
    let IpAddr::V4(ip) = endpoint.ip() else {
        return Err(bad());
    };
    let [a, b, n, host] = ip.octets();
    let base_ok = format!("{a}.{b}") == SUBNET_BASE;
    if !base_ok || host != 1 || !(1..=250).contains(&n) || endpoint.port() == 0 {
        return Err(bad());
    }
    Ok(n)
}

/// The host number of `ip` in `plan`'s subnet, if it is a machine's.
pub fn host_number(plan: &NetworkPlan, ip: &str) -> Option<u8> {
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let [a, b, n, host] = ip.octets();
    (format!("{a}.{b}") == SUBNET_BASE && n == plan.index && (2..=254).contains(&host))
        .then_some(host)
}

/// An instance as the rig needs it.
struct Seen {
    ec2_id: String,
    running: bool,
    cluster: Option<String>,
    airlock_id: Option<String>,
    name: Option<String>,
    role: NodeRole,
    ip: String,
    image_id: String,
}

impl BootRig {
    /// Checks root and the endpoint, makes the bridge and the host's
    /// firewall table, and connects to EC2.
    pub fn start(opts: RigOptions) -> Result<Self> {
        local_provider::check_root()?;
        let index = subnet_index(&opts.node_endpoint)?;
        let plan = NetworkPlan::new(index, "ec2-boot-rig", "ec2-boot-rig");
        let addrs = local_provider::run("ip", &["-4", "-o", "addr"], None)?;
        if addrs.contains(&format!(" {SUBNET_BASE}.{index}.")) {
            return Err(ProviderError::Invalid(format!(
                "{} is already in use on this host (a local cluster, or a rig that did not end cleanly: `ip link del {}`)",
                plan.cidr(),
                plan.bridge
            )));
        }
        let settings = Ec2Settings {
            node_endpoint: opts.node_endpoint.to_string(),
            endpoint_url: opts.endpoint_url.clone(),
            ..Ec2Settings::default()
        };
        let (bridge, client, _region) = client::connect(&settings)?;
        let server = ServerEndpoint::on_gateway(opts.node_endpoint.port());
        std::fs::create_dir_all(&opts.root).map_err(local_provider::io(format!(
            "creating {}",
            opts.root.display()
        )))?;
        net::create_bridge(&plan)?;
        net::load_host_table(&plan, &server)?;
        Ok(BootRig {
            bridge,
            client,
            opts,
            plan,
            server,
            machines: HashMap::new(),
            refused: HashSet::new(),
        })
    }

    /// The rig's subnet (the EC2 subnet's CIDR must be this).
    pub fn cidr(&self) -> String {
        self.plan.cidr()
    }

    /// One look at EC2: boots what is newly running, stops what ended.
    pub fn step(&mut self) -> Result<Vec<RigEvent>> {
        let seen = self.instances()?;
        let mut events = Vec::new();
        let live: HashSet<&str> = seen
            .iter()
            .filter(|s| s.running)
            .map(|s| s.ec2_id.as_str())
            .collect();
        let ended: Vec<String> = self
            .machines
            .keys()
            .filter(|id| !live.contains(id.as_str()))
            .cloned()
            .collect();
        for id in ended {
            // A machine that would not stop is kept, and tried again.
            if let Some(m) = self.machines.remove(&id) {
                let e = stop(&id, &m);
                if e.is_failure() {
                    self.machines.insert(id, m);
                }
                events.push(e);
            }
        }
        for s in seen.iter().filter(|s| s.running) {
            if self.machines.contains_key(&s.ec2_id) || self.refused.contains(&s.ec2_id) {
                continue;
            }
            match self.boot(s) {
                Ok(m) => {
                    events.push(RigEvent::Booted {
                        ec2_id: s.ec2_id.clone(),
                        name: m.rec.name.clone(),
                        ip: m.rec.ip.clone(),
                    });
                    self.machines.insert(s.ec2_id.clone(), m);
                }
                Err(e) => {
                    self.refused.insert(s.ec2_id.clone());
                    events.push(RigEvent::Refused {
                        ec2_id: s.ec2_id.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(events)
    }

    fn boot(&self, s: &Seen) -> Result<Machine> {
        let missing = |what: &str| ProviderError::Invalid(format!("it has no {what} tag"));
        let cluster = s.cluster.as_deref().ok_or_else(|| missing(CLUSTER_TAG))?;
        let airlock_id = s
            .airlock_id
            .as_deref()
            .ok_or_else(|| missing(AIRLOCK_ID_TAG))?;
        let name = s.name.as_deref().ok_or_else(|| missing(NODE_NAME_TAG))?;
        let host_n = host_number(&self.plan, &s.ip).ok_or_else(|| {
            ProviderError::Invalid(format!(
                "its private IP {:?} is not in the rig's subnet {}\n  hint: make the cluster's EC2 subnet {}",
                s.ip,
                self.plan.cidr(),
                self.plan.cidr()
            ))
        })?;
        let user_data = self.user_data(&s.ec2_id)?;
        let masked: Vec<String> = match self.image_kind(&s.image_id)?.as_deref() {
            Some(WITHOUT_SLURM) => SLURM_PROGRAMS.iter().map(|p| p.to_string()).collect(),
            Some(other) => {
                return Err(ProviderError::Invalid(format!(
                    "its image {} has {IMAGE_TAG}={other:?}; the rig knows only {WITHOUT_SLURM:?}",
                    s.image_id
                )));
            }
            None => Vec::new(),
        };
        let layout = ClusterLayout::new(&self.opts.root, cluster);
        if layout.read_network().is_none() {
            std::fs::create_dir_all(&layout.dir).map_err(local_provider::io(format!(
                "creating {}",
                layout.dir.display()
            )))?;
            let text = serde_json::to_string_pretty(&self.plan)
                .map_err(|e| ProviderError::Invalid(e.to_string()))?;
            std::fs::write(layout.network_file(), text)
                .map_err(local_provider::io("writing network.json"))?;
            image::prepare(&layout, &self.plan, &self.plan.gateway())?;
        }
        let launched = node::launch(&node::Launch {
            layout: &layout,
            net: &self.plan,
            instance_id: airlock_id,
            name,
            role: s.role,
            host_n,
            server: &self.server,
            exe: &self.opts.exe,
            user_data: &user_data,
            masked: &masked,
        });
        match launched {
            Ok(rec) => Ok(Machine { layout, rec }),
            Err(e) => {
                let _ = node::remove_tree(&layout.node(airlock_id));
                Err(e)
            }
        }
    }

    /// What the rig's tag on the image says it lacks, if anything.
    fn image_kind(&self, image_id: &str) -> Result<Option<String>> {
        if image_id.is_empty() {
            return Ok(None);
        }
        let (c, id) = (self.client.clone(), image_id.to_owned());
        self.bridge.call(async move {
            let out = c
                .describe_images()
                .image_ids(id)
                .send()
                .await
                .map_err(aws("DescribeImages"))?;
            Ok(out
                .images()
                .first()
                .and_then(|i| tag(i.tags(), IMAGE_TAG))
                .map(str::to_owned))
        })
    }

    /// The instance's user data, decoded.
    fn user_data(&self, ec2_id: &str) -> Result<String> {
        let (c, id) = (self.client.clone(), ec2_id.to_owned());
        let b64 = self.bridge.call(async move {
            let out = c
                .describe_instance_attribute()
                .instance_id(id)
                .attribute(InstanceAttributeName::UserData)
                .send()
                .await
                .map_err(aws("DescribeInstanceAttribute"))?;
            Ok(out
                .user_data()
                .and_then(|v| v.value())
                .unwrap_or_default()
                .to_owned())
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| ProviderError::Invalid(format!("its user data is not base64: {e}")))?;
        String::from_utf8(bytes)
            .map_err(|_| ProviderError::Invalid("its user data is not UTF-8 text".into()))
    }

    /// Every instance airlock launched, as EC2 lists it.
    fn instances(&self) -> Result<Vec<Seen>> {
        let c = self.client.clone();
        self.bridge.call(async move {
            let mut out = Vec::new();
            let mut pages = c
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("tag-key")
                        .values(AIRLOCK_ID_TAG)
                        .build(),
                )
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(aws("DescribeInstances"))?;
                for i in page.reservations().iter().flat_map(|r| r.instances()) {
                    let t = i.tags();
                    let owned = |k: &str| tag(t, k).map(str::to_owned);
                    out.push(Seen {
                        ec2_id: i.instance_id().unwrap_or_default().to_owned(),
                        running: matches!(
                            i.state().and_then(|s| s.name()),
                            Some(InstanceStateName::Running)
                        ),
                        cluster: owned(CLUSTER_TAG),
                        airlock_id: owned(AIRLOCK_ID_TAG),
                        name: owned(NODE_NAME_TAG),
                        role: match tag(t, NODE_TYPE_TAG) {
                            Some("HeadNode") => NodeRole::HeadNode,
                            _ => NodeRole::Compute,
                        },
                        ip: i.private_ip_address().unwrap_or_default().to_owned(),
                        image_id: i.image_id().unwrap_or_default().to_owned(),
                    });
                }
            }
            Ok(out)
        })
    }

    /// Stops every machine and removes the bridge, the host's table and
    /// the rig's files. Returns what it stopped, and what it could not
    /// undo ([`RigEvent::Failed`]).
    pub fn shutdown(mut self) -> Vec<RigEvent> {
        let mut events: Vec<RigEvent> =
            self.machines.drain().map(|(id, m)| stop(&id, &m)).collect();
        let failed = |what: String, e: ProviderError| RigEvent::Failed {
            what,
            reason: e.to_string(),
        };
        net::delete_host_table(&self.plan);
        if let Err(e) = net::delete_bridge(&self.plan) {
            events.push(failed(format!("remove the bridge {}", self.plan.bridge), e));
        }
        for l in layout::clusters(&self.opts.root) {
            if let Err(e) = node::remove_tree(&l.dir) {
                events.push(failed(format!("remove {}", l.dir.display()), e));
            }
        }
        let _ = std::fs::remove_dir(&self.opts.root);
        events
    }
}

/// Stops a machine: [`RigEvent::Stopped`], or [`RigEvent::Failed`].
fn stop(ec2_id: &str, m: &Machine) -> RigEvent {
    match node::terminate(&m.layout, &m.rec) {
        Ok(()) => RigEvent::Stopped {
            ec2_id: ec2_id.to_owned(),
            name: m.rec.name.clone(),
        },
        Err(e) => RigEvent::Failed {
            what: format!("stop {ec2_id} ({})", m.rec.name),
            reason: e.to_string(),
        },
    }
}

/// Where the rig's machines find the cluster's volume (the server's
/// `--ec2-shared-volume`).
pub const SHARED_VOLUME: &str = node_paths::VOLUME;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_endpoint_must_be_the_gateway_of_a_rig_subnet() {
        let ok: SocketAddr = "10.77.240.1:7443".parse().unwrap();
        assert_eq!(subnet_index(&ok).unwrap(), 240);
        for bad in [
            "10.77.240.2:7443",
            "10.78.240.1:7443",
            "10.77.0.1:7443",
            "10.77.251.1:7443",
            "127.0.0.1:7443",
            "10.77.240.1:0",
            "[fd00::1]:7443",
        ] {
            let e = subnet_index(&bad.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains("hint: the rig's bridge"), "{bad}: {e}");
        }
    }

    #[test]
    fn machines_take_their_ec2_address_in_the_rig_subnet() {
        let plan = NetworkPlan::new(240, "v", "s");
        assert_eq!(host_number(&plan, "10.77.240.4"), Some(4));
        for bad in [
            "10.77.240.1",
            "10.77.240.255",
            "10.77.241.4",
            "10.0.1.4",
            "",
            "x",
        ] {
            assert_eq!(host_number(&plan, bad), None, "{bad}");
        }
    }
}
