//! A cluster's launch templates, one for the head node and one per compute
//! resource, as ParallelCluster makes them: AMI, instance type, key pair,
//! root volume, `disable_hyperthreading` as CpuOptions, spot options,
//! placement group, and the instance profile of `ec2_iam_role`.

use super::names;
use airlock_config::model::{ClusterModel, ComputeType};
use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateCpuOptionsRequest,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMarketOptionsRequest, LaunchTemplatePlacementRequest,
    LaunchTemplateSpotMarketOptionsRequest, MarketType, RequestLaunchTemplateData,
};

/// One launch template to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    pub instance_type: String,
    pub root_volume_gib: u32,
    /// Cores with one thread each, when hyperthreading is disabled.
    pub cores_without_ht: Option<u32>,
    pub spot: bool,
    /// The spot price cap; 0 means the on-demand price.
    pub spot_price: f64,
    pub placement_group: Option<String>,
}

/// The templates a configuration asks for; the head node's first.
pub fn plan(cluster: &str, m: &ClusterModel) -> Vec<Template> {
    let mut out = vec![Template {
        name: names::head_template(cluster),
        instance_type: m.head_node.instance_type.value.clone(),
        root_volume_gib: m.head_node.root_volume_size.value,
        cores_without_ht: None,
        spot: false,
        spot_price: 0.0,
        placement_group: None,
    }];
    for q in &m.queues {
        for cr in &q.compute_resources {
            let it = &cr.instance_type.value;
            let cores = airlock_config::instance_types::lookup(it).map(|t| t.cores);
            out.push(Template {
                name: names::compute_template(
                    cluster,
                    &q.name,
                    &crate::nodes::instance_type_token(it),
                ),
                instance_type: it.clone(),
                root_volume_gib: m.compute_root_volume_size.value,
                cores_without_ht: cores.filter(|_| q.disable_hyperthreading.value),
                spot: q.compute_type.value == ComputeType::Spot,
                spot_price: cr.spot_price.value,
                // `DYNAMIC`: one the provider makes for the queue.
                placement_group: q.placement_group.as_ref().map(|p| match p.value.as_str() {
                    "DYNAMIC" => names::placement_group(cluster, &q.name),
                    name => name.to_owned(),
                }),
            });
        }
    }
    out
}

/// The instance profile nodes run with: `ec2_iam_role` (v2) or
/// `HeadNode/Iam/InstanceRole` (v3), a role name or ARN, names an instance
/// profile of the same name (the one the console makes with an EC2 role).
/// None: nodes hold no AWS credentials at all (the agent needs none).
pub fn instance_profile(m: &ClusterModel) -> Option<String> {
    let role = m.extra.iter().find(|s| s.key == "ec2_iam_role")?;
    let v = role.value.value.trim();
    let name = v.rsplit('/').next().unwrap_or(v);
    (!name.is_empty() && !name.eq_ignore_ascii_case("NONE")).then(|| name.to_owned())
}

/// The launch template's data for `t`.
pub fn data(
    t: &Template,
    image_id: &str,
    key_name: Option<&str>,
    instance_profile: Option<&str>,
) -> RequestLaunchTemplateData {
    let root = LaunchTemplateBlockDeviceMappingRequest::builder()
        .device_name("/dev/xvda")
        .ebs(
            aws_sdk_ec2::types::LaunchTemplateEbsBlockDeviceRequest::builder()
                .volume_size(t.root_volume_gib as i32)
                .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
                .delete_on_termination(true)
                .build(),
        )
        .build();
    let mut d = RequestLaunchTemplateData::builder()
        .image_id(image_id)
        .instance_type(t.instance_type.as_str().into())
        .block_device_mappings(root)
        .set_key_name(key_name.map(str::to_owned));
    if let Some(cores) = t.cores_without_ht {
        d = d.cpu_options(
            LaunchTemplateCpuOptionsRequest::builder()
                .core_count(cores as i32)
                .threads_per_core(1)
                .build(),
        );
    }
    if t.spot {
        let mut spot = LaunchTemplateSpotMarketOptionsRequest::builder();
        if t.spot_price > 0.0 {
            spot = spot.max_price(t.spot_price.to_string());
        }
        d = d.instance_market_options(
            LaunchTemplateInstanceMarketOptionsRequest::builder()
                .market_type(MarketType::Spot)
                .spot_options(spot.build())
                .build(),
        );
    }
    if let Some(p) = instance_profile {
        d = d.iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(p)
                .build(),
        );
    }
    if let Some(pg) = &t.placement_group {
        d = d.placement(
            LaunchTemplatePlacementRequest::builder()
                .group_name(pg)
                .build(),
        );
    }
    d.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(extra: &str) -> ClusterModel {
        let text = format!(
            "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = default\n\
             [cluster default]\nscheduler = slurm\nbase_os = alinux2\nvpc_settings = v\n\
             queue_settings = q\n{extra}\n[vpc v]\nvpc_id = vpc-1\nmaster_subnet_id = subnet-1\n\
             [queue q]\ncompute_resource_settings = cr\n\
             [compute_resource cr]\ninstance_type = c5.large\n"
        );
        airlock_config::load(&text, "c.ini", None, None)
            .model
            .expect("the configuration loads")
    }

    #[test]
    fn only_a_configured_role_gives_nodes_an_instance_profile() {
        assert_eq!(instance_profile(&model("")), None);
        assert_eq!(
            instance_profile(&model("ec2_iam_role = hpc-nodes")).as_deref(),
            Some("hpc-nodes")
        );
        assert_eq!(
            instance_profile(&model(
                "ec2_iam_role = arn:aws:iam::123456789012:role/team/hpc-nodes"
            ))
            .as_deref(),
            Some("hpc-nodes")
        );
        let d = data(&plan("c", &model(""))[0], "ami-1", None, Some("hpc-nodes"));
        assert_eq!(
            d.iam_instance_profile().and_then(|p| p.name()),
            Some("hpc-nodes")
        );
        assert!(
            data(&plan("c", &model(""))[0], "ami-1", None, None)
                .iam_instance_profile()
                .is_none()
        );
    }
}
