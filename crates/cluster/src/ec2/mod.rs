//! The EC2 provider (feature `ec2`): a cluster's security group, launch
//! templates, placement groups and instances on AWS, or on an
//! EC2-compatible endpoint such as moto, through the AWS SDK for Rust. The
//! VPC and subnet are the user's (the configuration names them); nothing
//! else of a cluster outlives `delete_network`.
//!
//! The provider interface is synchronous: each call runs on the provider's
//! own runtime and the caller waits for it.

pub mod boot_rig;
mod client;
mod error;
mod names;
mod templates;

pub use client::Ec2Settings;
pub use error::is_capacity;
pub use names::{AIRLOCK_CLUSTER_TAG, AIRLOCK_ID_TAG, CLUSTER_TAG};

use crate::provider::{
    Instance, InstanceState, LaunchSpec, Network, NodeRole, Provider, ProviderError, Result,
    StorageSource,
};
use airlock_config::model::{ClusterModel, Source};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, InstanceStateName, IpPermission, IpRange, LaunchTemplateSpecification,
    PlacementStrategy, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use client::Bridge;
use error::aws;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// How long a launch waits for `running`, and a teardown for a security
/// group's instances to let go of it.
const WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(500);

/// Tags of the security group that remember the cluster's network.
const SUBNET_TAG: &str = "airlock:subnet-id";
const CIDR_TAG: &str = "airlock:subnet-cidr";
/// The tag of a launch template whose placement group the provider made
/// (`placement_group = DYNAMIC`), for `delete_network` to delete.
const PLACEMENT_GROUP_TAG: &str = "airlock:placement-group";

pub struct Ec2Provider {
    bridge: Bridge,
    client: Client,
    region: String,
    settings: Ec2Settings,
    networks: Mutex<HashMap<String, Network>>,
    /// Instances airlock terminated: EC2 lists them for an hour, but they
    /// are not deaths for the fleet manager to act on.
    forgotten: Mutex<HashSet<String>>,
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tags_of(kind: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

/// ParallelCluster's tag, and airlock's own by which it finds what it made.
fn cluster_tag(cluster: &str) -> Vec<(String, String)> {
    vec![
        (CLUSTER_TAG.to_owned(), cluster.to_owned()),
        (AIRLOCK_CLUSTER_TAG.to_owned(), cluster.to_owned()),
    ]
}

fn invalid(s: impl Into<String>) -> ProviderError {
    ProviderError::Invalid(s.into())
}

impl Ec2Provider {
    /// Connects with the standard AWS credential chain and region
    /// resolution (environment, `~/.aws/config` and `credentials`,
    /// profiles); `AWS_ENDPOINT_URL` is honoured.
    pub fn connect(settings: Ec2Settings) -> Result<Self> {
        let (bridge, client, region) = client::connect(&settings)?;
        Ok(Ec2Provider {
            bridge,
            client,
            region,
            settings,
            networks: Mutex::default(),
            forgotten: Mutex::default(),
        })
    }

    /// The region the provider works in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Refuses a configuration written for another region.
    pub fn check_region(&self, config_region: &str) -> Result<()> {
        if config_region == self.region() {
            return Ok(());
        }
        Err(invalid(format!(
            "the configuration's region is {config_region}, but the EC2 provider works in {}\n  hint: set aws_region_name (v2) or Region (v3) to {}, or start the server with AWS_REGION={config_region}",
            self.region(),
            self.region()
        )))
    }

    /// Makes the cluster's launch templates (and `DYNAMIC` placement
    /// groups) from its configuration, after checking the key pair.
    pub fn create_launch_templates(&self, cluster: &str, m: &ClusterModel) -> Result<()> {
        let image = m
            .extra
            .iter()
            .find(|s| s.key == "custom_ami")
            .map(|s| s.value.value.clone())
            .or_else(|| self.settings.image_id.clone())
            .ok_or_else(|| {
                invalid(
                    "no AMI for the cluster's nodes\n  hint: set custom_ami in the configuration, or start the server with --ec2-image-id (see docs/EC2.md for what the image needs)",
                )
            })?;
        let key = m.key_name.as_ref().map(|k| k.value.clone());
        let profile = templates::instance_profile(m);
        let plan = templates::plan(cluster, m);
        let dynamic_groups: BTreeSet<String> = m
            .queues
            .iter()
            .filter(|q| {
                q.placement_group
                    .as_ref()
                    .is_some_and(|p| p.value == "DYNAMIC")
            })
            .map(|q| names::placement_group(cluster, &q.name))
            .collect();
        let (c, tags) = (self.client.clone(), cluster_tag(cluster));
        self.bridge.call(async move {
            if let Some(k) = &key {
                c.describe_key_pairs()
                    .key_names(k)
                    .send()
                    .await
                    .map_err(aws("DescribeKeyPairs"))?;
            }
            for g in &dynamic_groups {
                c.create_placement_group()
                    .group_name(g)
                    .strategy(PlacementStrategy::Cluster)
                    .tag_specifications(tags_of(ResourceType::PlacementGroup, &tags))
                    .send()
                    .await
                    .map_err(aws("CreatePlacementGroup"))?;
            }
            for t in &plan {
                let mut tags = tags.clone();
                if let Some(g) = t
                    .placement_group
                    .as_ref()
                    .filter(|g| dynamic_groups.contains(*g))
                {
                    tags.push((PLACEMENT_GROUP_TAG.into(), g.clone()));
                }
                c.create_launch_template()
                    .launch_template_name(&t.name)
                    .launch_template_data(templates::data(
                        t,
                        &image,
                        key.as_deref(),
                        profile.as_deref(),
                    ))
                    .tag_specifications(tags_of(ResourceType::LaunchTemplate, &tags))
                    .send()
                    .await
                    .map_err(aws("CreateLaunchTemplate"))?;
            }
            Ok(())
        })
    }

    /// The cluster's security group id, if it has one.
    fn security_group_id(&self, cluster: &str) -> Result<Option<String>> {
        let c = self.client.clone();
        let (name, cluster) = (names::security_group(cluster), cluster.to_owned());
        self.bridge.call(async move {
            let out = c
                .describe_security_groups()
                .filters(filter("group-name", &name))
                .filters(filter(&format!("tag:{CLUSTER_TAG}"), &cluster))
                .send()
                .await
                .map_err(aws("DescribeSecurityGroups"))?;
            Ok(out
                .security_groups()
                .first()
                .and_then(|g| g.group_id())
                .map(str::to_owned))
        })
    }

    /// The cluster's EC2 instances (not airlock's view of them).
    fn instances(&self, cluster: &str) -> Result<Vec<aws_sdk_ec2::types::Instance>> {
        let (c, cluster) = (self.client.clone(), cluster.to_owned());
        self.bridge.call(async move {
            let mut out = Vec::new();
            let mut pages = c
                .describe_instances()
                .filters(filter(&format!("tag:{CLUSTER_TAG}"), &cluster))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(aws("DescribeInstances"))?;
                for r in page.reservations() {
                    out.extend(r.instances().iter().cloned());
                }
            }
            Ok(out)
        })
    }

    /// The EC2 id of the instance airlock knows as `airlock_id`.
    fn ec2_id(&self, cluster: &str, airlock_id: &str) -> Result<Option<String>> {
        Ok(self
            .instances(cluster)?
            .into_iter()
            .find(|i| tag(i.tags(), AIRLOCK_ID_TAG) == Some(airlock_id))
            .and_then(|i| i.instance_id().map(str::to_owned)))
    }
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// airlock's view of an EC2 instance; `None` for one without airlock's
/// tags.
fn to_instance(i: &aws_sdk_ec2::types::Instance) -> Option<Instance> {
    let tags = i.tags();
    let state = match i.state().and_then(|s| s.name()) {
        Some(InstanceStateName::Pending) => InstanceState::Pending,
        Some(InstanceStateName::Running) => InstanceState::Running,
        Some(InstanceStateName::ShuttingDown | InstanceStateName::Stopping) => {
            InstanceState::ShuttingDown
        }
        _ => InstanceState::Terminated,
    };
    let reason = i.state_reason();
    Some(Instance {
        instance_id: tag(tags, AIRLOCK_ID_TAG)?.to_owned(),
        name: tag(tags, names::NODE_NAME_TAG)?.to_owned(),
        role: match tag(tags, names::NODE_TYPE_TAG)? {
            "HeadNode" => NodeRole::HeadNode,
            _ => NodeRole::Compute,
        },
        private_ip: i.private_ip_address().unwrap_or_default().to_owned(),
        state,
        // EC2's code (`Server.SpotInstanceTermination`) and message.
        state_reason: reason.map(|r| {
            format!(
                "{}: {}",
                r.code().unwrap_or_default(),
                r.message().unwrap_or_default()
            )
        }),
        launched_at: i
            .launch_time()
            .map(|t| t.secs().max(0) as u64)
            .unwrap_or_default(),
    })
}

/// The address of a node endpoint `IP:PORT` (`[IPv6]:PORT`), without the
/// port: what a network's `server_address` is.
fn endpoint_host(endpoint: &str) -> String {
    endpoint
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| endpoint.to_owned())
}

/// Whether airlock (or a user) ended the instance, rather than EC2.
fn user_initiated(i: &aws_sdk_ec2::types::Instance) -> bool {
    i.state_reason()
        .and_then(|r| r.code())
        .is_some_and(|c| c == "Client.UserInitiatedShutdown")
}

impl Provider for Ec2Provider {
    fn check(&self) -> Result<()> {
        let c = self.client.clone();
        self.bridge.call(async move {
            c.describe_availability_zones()
                .send()
                .await
                .map_err(aws("DescribeAvailabilityZones"))?;
            Ok(())
        })
    }

    /// The region the configuration names (a region it does not write,
    /// ParallelCluster takes from the environment, as the provider did),
    /// then the key pair and the launch templates.
    fn prepare(&self, cluster: &str, m: &ClusterModel) -> Result<()> {
        if matches!(m.region.source, Source::File(_)) {
            self.check_region(&m.region.value)?;
        }
        self.create_launch_templates(cluster, m)
    }

    fn create_network(&self, cluster: &str, vpc_id: &str, subnet_id: &str) -> Result<Network> {
        let c = self.client.clone();
        let (vpc, subnet) = (vpc_id.to_owned(), subnet_id.to_owned());
        let cidr = self.bridge.call(async move {
            let out = c
                .describe_subnets()
                .subnet_ids(&subnet)
                .send()
                .await
                .map_err(aws("DescribeSubnets"))?;
            let s = out
                .subnets()
                .first()
                .ok_or_else(|| invalid(format!("subnet {subnet} does not exist")))?;
            if s.vpc_id() != Some(vpc.as_str()) {
                return Err(invalid(format!(
                    "subnet {subnet} is in {}, not in vpc_id {vpc}\n  hint: set master_subnet_id to a subnet of {vpc}",
                    s.vpc_id().unwrap_or("another VPC")
                )));
            }
            Ok(s.cidr_block().unwrap_or_default().to_owned())
        })?;
        let net = Network {
            physical_id: subnet_id.to_owned(),
            cidr,
            server_address: endpoint_host(&self.settings.node_endpoint),
            head_address: None,
        };
        self.lock_networks().insert(cluster.to_owned(), net.clone());
        Ok(net)
    }

    fn network(&self, cluster: &str) -> Option<Network> {
        if let Some(n) = self.lock_networks().get(cluster) {
            return Some(n.clone());
        }
        // After a restart: the security group's tags remember it.
        let (c, name) = (self.client.clone(), names::security_group(cluster));
        let endpoint = endpoint_host(&self.settings.node_endpoint);
        let net = self
            .bridge
            .call(async move {
                let out = c
                    .describe_security_groups()
                    .filters(filter("group-name", &name))
                    .send()
                    .await
                    .map_err(aws("DescribeSecurityGroups"))?;
                Ok(out.security_groups().first().and_then(|g| {
                    Some(Network {
                        physical_id: tag(g.tags(), SUBNET_TAG)?.to_owned(),
                        cidr: tag(g.tags(), CIDR_TAG)?.to_owned(),
                        server_address: endpoint,
                        head_address: None,
                    })
                }))
            })
            .ok()
            .flatten()?;
        self.lock_networks().insert(cluster.to_owned(), net.clone());
        Some(net)
    }

    fn create_security_group(&self, cluster: &str) -> Result<String> {
        let net = self
            .network(cluster)
            .ok_or_else(|| invalid(format!("cluster {cluster} has no network")))?;
        let c = self.client.clone();
        let name = names::security_group(cluster);
        let server = client::egress_cidr_and_port(&self.settings.node_endpoint)?;
        let mut tags = cluster_tag(cluster);
        tags.push((SUBNET_TAG.into(), net.physical_id.clone()));
        tags.push((CIDR_TAG.into(), net.cidr.clone()));
        self.bridge.call(async move {
            let vpc = c
                .describe_subnets()
                .subnet_ids(&net.physical_id)
                .send()
                .await
                .map_err(aws("DescribeSubnets"))?
                .subnets()
                .first()
                .and_then(|s| s.vpc_id().map(str::to_owned))
                .ok_or_else(|| invalid(format!("subnet {} is gone", net.physical_id)))?;
            let id = c
                .create_security_group()
                .group_name(&name)
                .description("airlock cluster nodes: intra-cluster traffic, HTTPS out to the airlock server only")
                .vpc_id(vpc)
                .tag_specifications(tags_of(ResourceType::SecurityGroup, &tags))
                .send()
                .await
                .map_err(aws("CreateSecurityGroup"))?
                .group_id()
                .map(str::to_owned)
                .ok_or_else(|| invalid("CreateSecurityGroup returned no id"))?;
            let itself = IpPermission::builder()
                .ip_protocol("-1")
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(&id).build())
                .build();
            c.authorize_security_group_ingress()
                .group_id(&id)
                .ip_permissions(itself.clone())
                .send()
                .await
                .map_err(aws("AuthorizeSecurityGroupIngress"))?;
            // Out: the cluster itself and the airlock server, nothing else.
            let anywhere = IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build();
            c.revoke_security_group_egress()
                .group_id(&id)
                .ip_permissions(anywhere)
                .send()
                .await
                .map_err(aws("RevokeSecurityGroupEgress"))?;
            let (cidr, port) = server;
            let to_server = IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port.into())
                .to_port(port.into())
                .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build();
            c.authorize_security_group_egress()
                .group_id(&id)
                .ip_permissions(itself)
                .ip_permissions(to_server)
                .send()
                .await
                .map_err(aws("AuthorizeSecurityGroupEgress"))?;
            Ok(id)
        })
    }

    fn shared_storage(&self, net: &Network) -> StorageSource {
        match &self.settings.shared_volume {
            Some(source) => StorageSource::Volume {
                source: source.clone(),
            },
            None => StorageSource::Nfs {
                server: net.head_address.clone().unwrap_or_else(|| "head".into()),
            },
        }
    }

    fn restore(&self, cluster: &str) -> Result<()> {
        // EC2 keeps everything across a server restart; relearn the
        // network.
        self.network(cluster)
            .map(|_| ())
            .ok_or_else(|| invalid(format!("cluster {cluster} has no security group on EC2")))
    }

    fn delete_security_group(&self, cluster: &str) -> Result<()> {
        let Some(id) = self.security_group_id(cluster)? else {
            return Ok(());
        };
        let c = self.client.clone();
        self.bridge.call(async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                match c.delete_security_group().group_id(&id).send().await {
                    Ok(_) => return Ok(()),
                    // Instances still shutting down hold it.
                    Err(e)
                        if aws_sdk_ec2::error::ProvideErrorMetadata::code(&e)
                            == Some("DependencyViolation")
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(POLL).await
                    }
                    Err(e) => return Err(aws("DeleteSecurityGroup")(e)),
                }
            }
        })
    }

    fn delete_network(&self, cluster: &str) -> Result<()> {
        let (c, key) = (self.client.clone(), format!("tag:{AIRLOCK_CLUSTER_TAG}"));
        let cluster_name = cluster.to_owned();
        self.bridge.call(async move {
            let templates = c
                .describe_launch_templates()
                .filters(filter(&key, &cluster_name))
                .send()
                .await
                .map_err(aws("DescribeLaunchTemplates"))?;
            for t in templates.launch_templates() {
                if let Some(id) = t.launch_template_id() {
                    c.delete_launch_template()
                        .launch_template_id(id)
                        .send()
                        .await
                        .map_err(aws("DeleteLaunchTemplate"))?;
                }
            }
            // The placement groups the provider made, as their templates
            // remember them (a user's own group is left alone).
            let made: BTreeSet<&str> = templates
                .launch_templates()
                .iter()
                .filter_map(|t| tag(t.tags(), PLACEMENT_GROUP_TAG))
                .collect();
            for name in made {
                c.delete_placement_group()
                    .group_name(name)
                    .send()
                    .await
                    .map_err(aws("DeletePlacementGroup"))?;
            }
            Ok(())
        })?;
        self.lock_networks().remove(cluster);
        Ok(())
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Instance> {
        let (template, placement) = names::template_for(spec.cluster, spec.role, spec.name)
            .ok_or_else(|| invalid(format!("{} is not a node name of ours", spec.name)))?;
        let net = self
            .network(spec.cluster)
            .ok_or_else(|| invalid(format!("cluster {} has no network", spec.cluster)))?;
        let sg = self
            .security_group_id(spec.cluster)?
            .ok_or_else(|| invalid(format!("cluster {} has no security group", spec.cluster)))?;
        let tags = names::instance_tags(
            spec.cluster,
            spec.role,
            spec.name,
            spec.instance_id,
            placement.as_ref(),
        );
        let user_data = client::base64(spec.user_data);
        let c = self.client.clone();
        let ec2 = self.bridge.call(async move {
            let out = c
                .run_instances()
                .launch_template(
                    LaunchTemplateSpecification::builder()
                        .launch_template_name(&template)
                        .version("$Latest")
                        .build(),
                )
                .min_count(1)
                .max_count(1)
                .subnet_id(&net.physical_id)
                .security_group_ids(sg)
                .user_data(user_data)
                .tag_specifications(tags_of(ResourceType::Instance, &tags))
                .tag_specifications(tags_of(ResourceType::Volume, &tags))
                .send()
                .await
                .map_err(aws("RunInstances"))?;
            let id = out
                .instances()
                .first()
                .and_then(|i| i.instance_id())
                .map(str::to_owned)
                .ok_or_else(|| invalid("RunInstances returned no instance"))?;
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let out = c
                    .describe_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .map_err(aws("DescribeInstances"))?;
                let i = out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .next()
                    .cloned();
                match i.as_ref().and_then(|i| i.state()).and_then(|s| s.name()) {
                    Some(InstanceStateName::Running) => return Ok(i),
                    Some(InstanceStateName::Pending) | None => {}
                    Some(other) => {
                        let why = i
                            .as_ref()
                            .and_then(|i| i.state_reason())
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given");
                        return Err(invalid(format!(
                            "instance {id} went {} instead of running: {why}",
                            other.as_str()
                        )));
                    }
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(invalid(format!(
                        "instance {id} was not running after {} s",
                        WAIT.as_secs()
                    )));
                }
                tokio::time::sleep(POLL).await;
            }
        })?;
        ec2.as_ref()
            .and_then(to_instance)
            .ok_or_else(|| invalid("the launched instance lost its tags"))
    }

    fn terminate(&self, cluster: &str, instance_id: &str) -> Result<()> {
        self.lock_forgotten().insert(instance_id.to_owned());
        let Some(id) = self.ec2_id(cluster, instance_id)? else {
            return Ok(());
        };
        let c = self.client.clone();
        self.bridge.call(async move {
            c.terminate_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(aws("TerminateInstances"))?;
            Ok(())
        })
    }

    fn interrupt(&self, _cluster: &str, _instance_id: &str) -> Result<()> {
        Err(invalid(
            "an EC2 spot reclaim cannot be simulated from airlock\n  hint: use AWS Fault Injection Service's aws:ec2:send-spot-instance-interruptions",
        ))
    }

    fn describe(&self, cluster: &str) -> Vec<Instance> {
        self.try_describe(cluster).unwrap_or_default()
    }

    fn try_describe(&self, cluster: &str) -> Result<Vec<Instance>> {
        let forgotten = self.lock_forgotten().clone();
        Ok(self
            .instances(cluster)?
            .iter()
            .filter(|i| {
                // What airlock terminated is gone; what died by itself is
                // shown until the fleet manager forgets it.
                let gone = !matches!(
                    i.state().and_then(|s| s.name()),
                    Some(InstanceStateName::Pending | InstanceStateName::Running)
                );
                !(gone && user_initiated(i))
            })
            .filter_map(to_instance)
            .filter(|i| i.is_running() || !forgotten.contains(&i.instance_id))
            .collect())
    }

    fn clusters(&self) -> Vec<String> {
        let c = self.client.clone();
        self.bridge
            .call(async move {
                // Only what airlock made: ParallelCluster's own resources
                // carry CLUSTER_TAG too.
                let mut out = BTreeSet::new();
                let key = |k: &str| Filter::builder().name("tag-key").values(k).build();
                let groups = c
                    .describe_security_groups()
                    .filters(key(AIRLOCK_CLUSTER_TAG))
                    .send()
                    .await
                    .map_err(aws("DescribeSecurityGroups"))?;
                for g in groups.security_groups() {
                    out.extend(tag(g.tags(), AIRLOCK_CLUSTER_TAG).map(str::to_owned));
                }
                let templates = c
                    .describe_launch_templates()
                    .filters(key(AIRLOCK_CLUSTER_TAG))
                    .send()
                    .await
                    .map_err(aws("DescribeLaunchTemplates"))?;
                for t in templates.launch_templates() {
                    out.extend(tag(t.tags(), AIRLOCK_CLUSTER_TAG).map(str::to_owned));
                }
                let instances = c
                    .describe_instances()
                    .filters(key(AIRLOCK_ID_TAG))
                    .send()
                    .await
                    .map_err(aws("DescribeInstances"))?;
                for i in instances.reservations().iter().flat_map(|r| r.instances()) {
                    let live = !matches!(
                        i.state().and_then(|s| s.name()),
                        Some(InstanceStateName::Terminated)
                    );
                    if live {
                        out.extend(tag(i.tags(), CLUSTER_TAG).map(str::to_owned));
                    }
                }
                Ok(out.into_iter().collect())
            })
            .unwrap_or_default()
    }
}

impl Ec2Provider {
    fn lock_networks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Network>> {
        self.networks.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn lock_forgotten(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.forgotten.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_host;

    #[test]
    fn a_network_names_the_server_by_address_without_the_port() {
        assert_eq!(endpoint_host("10.0.0.5:7443"), "10.0.0.5");
        assert_eq!(endpoint_host("[fd00::1]:7443"), "fd00::1");
    }
}
