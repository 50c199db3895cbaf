//! The seed's configuration (`examples/ssm.ini`, byte for byte as published,
//! Japanese inline comment included) validates with no error, and one
//! warning: its `master_root_volume_size = 30` is below ParallelCluster
//! 2.11's minimum of 35 (2.10, which it was written for, took it).

use airlock_config::model::{ComputeType, Scheduler, Source};
use airlock_config::v2::{LoadOptions, load_str};

const SSM: &str = include_str!("../../../examples/ssm.ini");

#[test]
fn seed_config_validates_with_only_the_root_volume_warning() {
    let r = load_str(SSM, &LoadOptions::new("ssm"));
    let shown: Vec<String> = r.diagnostics.iter().map(ToString::to_string).collect();
    assert!(!r.has_errors(), "{}", shown.join("\n"));
    let messages: Vec<&str> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "The configuration parameter 'master_root_volume_size' is 30: ParallelCluster 2.11 requires at least 35 (GiB); airlock accepts 25 and up, as ParallelCluster 2.10 did"
        ],
        "{}",
        shown.join("\n")
    );
}

#[test]
fn seed_config_model_has_the_seed_values() {
    let m = load_str(SSM, &LoadOptions::new("ssm"))
        .model
        .expect("model");
    assert_eq!(m.template, "default");
    assert_eq!(m.region.value, "us-east-1");
    assert_eq!(m.scheduler.value, Scheduler::Slurm);
    assert_eq!(m.cluster_user.value, "ubuntu");
    assert_eq!(m.head_node.instance_type.value, "t3.micro");
    assert_eq!(m.head_node.root_volume_size.value, 30);
    assert_eq!(
        m.key_name.as_ref().map(|k| k.value.as_str()),
        Some("sandbox-key-useast1")
    );
    assert_eq!(
        m.vpc.vpc_id.as_ref().map(|v| v.value.as_str()),
        Some("vpc-07edfc27679c9ca80")
    );
    // The inline comment after `use_public_ips = true` is stripped.
    assert!(m.vpc.use_public_ips.value);
    assert!(matches!(m.vpc.use_public_ips.source, Source::File(s) if s.line == 35 && s.len == 4));
    assert_eq!(m.queues.len(), 1);
    let q = &m.queues[0];
    assert_eq!(
        (q.name.as_str(), q.compute_type.value),
        ("spot1", ComputeType::Spot)
    );
    assert_eq!(
        q.placement_group.as_ref().map(|p| p.value.as_str()),
        Some("DYNAMIC")
    );
    let cr = &q.compute_resources[0];
    assert_eq!(
        (
            cr.instance_type.value.as_str(),
            cr.min_count.value,
            cr.max_count.value
        ),
        ("c5.large", 0, 16)
    );
    assert_eq!(
        m.tags
            .value
            .first()
            .map(|t| (t.key.as_str(), t.value.as_str())),
        Some(("Name", "Blog-Sample-ClusterSSM"))
    );
    assert_eq!(
        m.additional_iam_policies
            .iter()
            .map(|p| p.value.as_str())
            .collect::<Vec<_>>(),
        vec!["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    );
    assert_eq!(m.ssh_alias.value, "ssh {CFN_USER}@{MASTER_IP} {ARGS}");
    assert_eq!(m.scaledown_idletime.source, Source::Default);
    assert!(m.unsupported_by_local_provider.is_empty());
}

#[test]
fn seed_config_model_serialises_to_json() {
    let m = load_str(SSM, &LoadOptions::new("ssm"))
        .model
        .expect("model");
    let j = serde_json::to_value(&m).expect("json");
    assert_eq!(
        j["queues"][0]["compute_resources"][0]["max_count"]["value"],
        16
    );
    assert_eq!(j["scaledown_idletime"]["source"], "default");
}
