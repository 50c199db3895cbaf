//! A cluster's launch templates, one for the head node and one per compute
//! resource, as ParallelCluster makes them: AMI, instance type, key pair,
//! root volume, `disable_hyperthreading` as CpuOptions, spot options and
//! placement group.

use super::names;
use airlock_config::model::{ClusterModel, ComputeType};
use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateCpuOptionsRequest,
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

/// The launch template's data for `t`.
pub fn data(t: &Template, image_id: &str, key_name: Option<&str>) -> RequestLaunchTemplateData {
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
    if let Some(pg) = &t.placement_group {
        d = d.placement(
            LaunchTemplatePlacementRequest::builder()
                .group_name(pg)
                .build(),
        );
    }
    d.build()
}
