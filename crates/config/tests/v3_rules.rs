//! ParallelCluster 3.16's rules for v3 YAML that go beyond the schema's
//! shape: marshmallow's type coercion, the limits on queues and compute
//! resources, names, reserved tag keys, merge keys, and the operating
//! systems and schedulers 3.16 supports.

use airlock_config::Severity;
use airlock_config::v2::Report;
use airlock_config::v3::{LoadOptions, load_str};

const BASE: &str = "Image:
  Os: alinux2023
HeadNode:
  InstanceType: t3.micro
  Networking:
    SubnetId: subnet-1
Scheduling:
  Scheduler: slurm
  SlurmQueues:
    - Name: q1
      Networking:
        SubnetIds: [subnet-1]
      ComputeResources:
        - Name: cr1
          InstanceType: c5.large
          MaxCount: 4
";

fn load(text: &str) -> Report {
    load_str(text, &LoadOptions::new("c.yaml"))
}

fn with(find: &str, replace: &str) -> String {
    assert!(BASE.contains(find), "{find:?}");
    BASE.replacen(find, replace, 1)
}

fn messages(r: &Report, severity: Severity) -> Vec<String> {
    r.diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| d.message.clone())
        .collect()
}

fn errors(r: &Report) -> Vec<String> {
    messages(r, Severity::Error)
}

fn max_count(r: &Report) -> Option<u32> {
    r.model
        .as_ref()
        .map(|m| m.queues[0].compute_resources[0].max_count.value)
}

#[test]
fn base_is_valid() {
    let r = load(BASE);
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

#[test]
fn integers_are_coerced_as_marshmallow_coerces_them() {
    for written in ["\"10\"", "10.0", "\" 10 \"", "'1_0'", "+10"] {
        let r = load(&with("MaxCount: 4", &format!("MaxCount: {written}")));
        assert!(r.diagnostics.is_empty(), "{written}: {:?}", r.diagnostics);
        assert_eq!(max_count(&r), Some(10), "{written}");
    }
}

#[test]
fn a_fractional_integer_is_truncated_with_a_warning() {
    let r = load(&with("MaxCount: 4", "MaxCount: 10.5"));
    assert_eq!(errors(&r), Vec::<String>::new());
    assert_eq!(
        messages(&r, Severity::Warning),
        vec![
            "Scheduling/SlurmQueues[0]/ComputeResources[0]/MaxCount is 10.5; ParallelCluster reads it as the integer 10"
        ]
    );
    assert_eq!(max_count(&r), Some(10));
}

#[test]
fn text_that_is_not_an_integer_is_still_refused() {
    for written in ["\"10.5\"", "ten", "true", "\"1__0\""] {
        let r = load(&with("MaxCount: 4", &format!("MaxCount: {written}")));
        assert!(
            errors(&r)
                .iter()
                .any(|e| e.contains("MaxCount must be an integer")),
            "{written}: {:?}",
            errors(&r)
        );
    }
}

#[test]
fn spot_price_text_is_a_number() {
    let r = load(&with(
        "MaxCount: 4",
        "MaxCount: 4\n          SpotPrice: \"0.5\"",
    ));
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let price = r
        .model
        .map(|m| m.queues[0].compute_resources[0].spot_price.value);
    assert_eq!(price, Some(0.5));
    let r = load(&with(
        "MaxCount: 4",
        "MaxCount: 4\n          SpotPrice: nan",
    ));
    assert_eq!(errors(&r).len(), 1, "{:?}", errors(&r));
}

fn queues(n: usize, crs_each: usize) -> String {
    let mut t = BASE
        .split("  SlurmQueues:\n")
        .next()
        .unwrap_or_default()
        // A head node with the memory 3.16 asks for so many compute nodes.
        .replace("InstanceType: t3.micro", "InstanceType: m5.4xlarge");
    t.push_str("  SlurmQueues:\n");
    for q in 0..n {
        t.push_str(&format!(
            "    - Name: q{q}\n      Networking:\n        SubnetIds: [subnet-1]\n      ComputeResources:\n"
        ));
        for c in 0..crs_each {
            let ty = ["c5.large", "c5.xlarge", "m5.large", "t3.small"][c % 4];
            t.push_str(&format!(
                "        - Name: cr{c}\n          InstanceType: {ty}\n"
            ));
        }
    }
    t
}

#[test]
fn at_most_50_queues() {
    assert_eq!(errors(&load(&queues(50, 1))), Vec::<String>::new());
    let errs = errors(&load(&queues(51, 1)));
    assert!(
        errs.contains(
            &"Invalid number of SlurmQueues (51) specified. Currently only supports up to 50 SlurmQueues."
                .to_string()
        ),
        "{errs:?}"
    );
}

#[test]
fn at_most_50_compute_resources_per_cluster() {
    assert_eq!(errors(&load(&queues(25, 2))), Vec::<String>::new());
    let errs = errors(&load(&queues(26, 2)));
    assert_eq!(
        errs,
        vec![
            "Invalid number of ComputeResources per Cluster (52) specified. Currently only supports up to 50 ComputeResources per Cluster."
        ]
    );
}

#[test]
fn parallelcluster_tag_keys_are_reserved() {
    let t = format!(
        "{BASE}Tags:\n  - Key: parallelcluster:version\n    Value: x\n  - Key: team\n    Value: a\n  - Key: team\n    Value: b\n"
    );
    assert_eq!(
        errors(&load(&t)),
        vec![
            "The tag key prefix 'parallelcluster:' is reserved and cannot be used.",
            "Duplicate tag key (team) detected. Tags keys should be unique within the Tags section.",
        ]
    );
}

#[test]
fn compute_resource_names_are_lowercase() {
    let errs = errors(&load(&with("Name: cr1", "Name: Cr1")));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("Invalid compute resource name 'Cr1'"),
        "{errs:?}"
    );
    let errs = errors(&load(&with("Name: q1", "Name: default")));
    assert_eq!(
        errs,
        vec!["It is forbidden to use 'default' as a queue name."]
    );
}

#[test]
fn yaml_merge_keys_are_refused() {
    let t = "Defaults: &d\n  InstanceType: t3.micro\n"
        .to_string()
        .replace("Defaults", "x-defaults");
    let t = format!(
        "{t}{}",
        BASE.replace(
            "HeadNode:\n  InstanceType: t3.micro\n",
            "HeadNode:\n  <<: *d\n"
        )
    );
    let r = load(&t);
    assert!(r.model.is_none());
    let errs = errors(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("could not determine a constructor for the tag 'tag:yaml.org,2002:merge'"),
        "{errs:?}"
    );
}

#[test]
fn os_and_scheduler_follow_parallelcluster_3_16() {
    let errs = errors(&load(&with("Os: alinux2023", "Os: alinux2")));
    assert_eq!(
        errs,
        vec![
            "'alinux2' is not a valid value for Image/Os: ParallelCluster 3.16 no longer supports it"
        ]
    );
    let errs = errors(&load(&with("Scheduler: slurm", "Scheduler: awsbatch")));
    assert!(
        errs.contains(
            &"'awsbatch' is not a valid value for Scheduling/Scheduler: ParallelCluster 3.16 no longer supports it"
                .to_string()
        ),
        "{errs:?}"
    );
    for os in airlock_config::v3::SUPPORTED_OSS {
        // rocky8/9 have no official AMI: they need a CustomAmi.
        let image = format!("Os: {os}\n  CustomAmi: ami-0123456789abcdef0");
        let r = load(&with("Os: alinux2023", &image));
        assert_eq!(errors(&r), Vec::<String>::new(), "{os}");
    }
}

#[test]
fn head_node_memory_must_suit_the_compute_fleet() {
    // 0.6 GB plus 1 GB per 25 compute nodes: t3.micro (1 GiB) manages 10.
    assert_eq!(
        errors(&load(&with("MaxCount: 4", "MaxCount: 10"))),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(&load(&with("MaxCount: 4", "MaxCount: 16"))),
        vec![
            "Head node instance type t3.micro has 1.0 GB of memory. Please choose a head node instance type with at least 1.24 GB of memory to manage 16 compute nodes."
        ]
    );
}

#[test]
fn compute_architecture_must_match_the_head_node() {
    assert_eq!(
        errors(&load(&with(
            "InstanceType: c5.large",
            "InstanceType: c6g.large"
        ))),
        vec![
            "The specified compute instance type (c6g.large) supports the architectures ['arm64'], none of which are compatible with the architecture supported by the head node instance type (x86_64)."
        ]
    );
}

#[test]
fn rocky_needs_a_custom_ami_and_nan_is_not_a_price() {
    let errs = errors(&load(&with("Os: alinux2023", "Os: rocky9")));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("ParallelCluster has no official AMI for rocky9."));
    let errs = errors(&load(&with(
        "MaxCount: 4",
        "MaxCount: 4\n          SpotPrice: .nan",
    )));
    assert_eq!(
        errs,
        vec![
            "Scheduling/SlurmQueues[0]/ComputeResources[0]/SpotPrice: Special numeric values (nan or infinity) are not permitted."
        ]
    );
}

#[test]
fn fields_3_16_removed_are_refused() {
    let login = format!(
        "{BASE}LoginNodes:\n  Pools:\n    - Name: login\n      InstanceType: t3.small\n      Count: 1\n      Networking:\n        SubnetIds: [subnet-1]\n      Ssh:\n        KeyName: k\n"
    );
    let errs = errors(&load(&login));
    assert_eq!(
        errs,
        vec![
            "LoginNodes/Pools[0]/Ssh/KeyName: Starting with ParallelCluster 3.15, the KeyName parameter is no longer supported for Login Nodes. Remove from the configuration and try again."
        ]
    );
    let dev = format!("{BASE}DevSettings:\n  AwsBatchCliPackage: s3://x\n");
    assert_eq!(
        errors(&load(&dev)),
        vec!["Unknown field 'AwsBatchCliPackage' in DevSettings"]
    );
}
