//! v3 YAML loading: the ParallelCluster example configs, YAML 1.1 scalars
//! as PyYAML reads them, schema diagnostics, and the v2→v3 round trip of
//! the seed's config.

use std::path::PathBuf;

use airlock_config::convert::convert;
use airlock_config::model::{ComputeType, Scheduler, Source};
use airlock_config::v2;
use airlock_config::v3::{LoadOptions, load_str};

fn read(parts: &[&str]) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.extend(parts);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn errors(r: &v2::Report) -> Vec<String> {
    r.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn example_configs_load_without_errors() {
    for f in ["slurm.required.yaml", "slurm.full.yaml"] {
        let text = read(&["tests", "corpus", "v3", f]);
        let r = load_str(&text, &LoadOptions::new(f));
        // These examples predate ParallelCluster 3.16, which no longer
        // supports alinux2, login nodes' Ssh/KeyName (3.15) or
        // DevSettings/AwsBatchCliPackage, and the full one gives a t3.micro
        // head node 45 compute nodes, more than 3.16's
        // HeadNodeMemorySizeValidator allows: those are their only errors,
        // as with 3.16 itself.
        let errs = errors(&r);
        let expected = [
            "'alinux2' is not a valid value for Image/Os: ParallelCluster 3.16 no longer supports it",
            "Head node instance type t3.micro has 1.0 GB of memory. Please choose a head node instance type with at least 2.4 GB of memory to manage 45 compute nodes.",
            "Starting with ParallelCluster 3.15, the KeyName parameter is no longer supported for Login Nodes.",
            "Unknown field 'AwsBatchCliPackage' in DevSettings",
        ];
        assert!(!errs.is_empty(), "{f}");
        for e in &errs {
            assert!(expected.iter().any(|x| e.contains(x)), "{f}: {e}");
        }
        let m = r.model.unwrap_or_else(|| panic!("{f}: no model"));
        assert_eq!(m.scheduler.value, Scheduler::Slurm);
        assert_eq!(m.base_os.value, "alinux2");
    }
}

#[test]
fn full_example_fills_the_model_with_spans() {
    let text = read(&["tests", "corpus", "v3", "slurm.full.yaml"]);
    let m = load_str(&text, &LoadOptions::new("slurm.full.yaml"))
        .model
        .unwrap();
    assert_eq!(m.region.value, "us-east-1");
    assert_eq!(m.head_node.instance_type.value, "t3.micro");
    assert_eq!(m.head_node.root_volume_size.value, 40);
    assert_eq!(
        m.key_name.as_ref().map(|k| k.value.as_str()),
        Some("ec2-key-name")
    );
    assert_eq!(
        m.vpc.master_subnet_id.as_ref().map(|k| k.value.as_str()),
        Some("subnet-12345678")
    );
    assert_eq!(
        m.vpc.additional_sg.as_ref().map(|k| k.value.as_str()),
        Some("sg-34567890")
    );
    assert_eq!(m.queues.len(), 2);
    let q2 = &m.queues[1];
    assert_eq!(q2.name, "queue2");
    assert_eq!(q2.compute_type.value, ComputeType::Ondemand);
    assert_eq!(
        q2.placement_group.as_ref().map(|p| p.value.as_str()),
        Some("String")
    );
    let cr = &q2.compute_resources[1];
    assert_eq!(
        (
            cr.instance_type.value.as_str(),
            cr.min_count.value,
            cr.max_count.value
        ),
        ("c5.2xlarge", 1, 15)
    );
    assert_eq!(cr.spot_price.value, 1.1);
    assert_eq!(q2.compute_resources[0].max_count.source, Source::Default);
    // MaxCount: 15 is on line 187, column 21.
    let Source::File(span) = cr.max_count.source else {
        panic!("no span")
    };
    assert_eq!((span.line, span.col), (187, 21));
    assert_eq!(m.compute_root_volume_size.value, 35);
    assert_eq!(m.scaledown_idletime.value, 10);
    assert_eq!(m.tags.value.len(), 2);
    assert_eq!(
        m.additional_iam_policies[0].value,
        "arn:aws:iam::aws:policy/AdministratorAccess"
    );
    assert!(
        m.unsupported_by_local_provider
            .iter()
            .any(|u| u.feature == "Image/CustomAmi")
    );
}

const MINIMAL: &str = "Image:\n  Os: alinux2023\nHeadNode:\n  InstanceType: t3.micro\n  Networking:\n    SubnetId: subnet-1\n    ElasticIp: ELASTIC\nScheduling:\n  Scheduler: slurm\n  SlurmQueues:\n    - Name: q1\n      Networking:\n        SubnetIds: [subnet-1]\n      ComputeResources:\n        - Name: cr1\n          InstanceType: c5.large\n          DisableSimultaneousMultithreading: DHT\n";

fn minimal(elastic: &str, dht: &str) -> String {
    MINIMAL.replace("ELASTIC", elastic).replace("DHT", dht)
}

#[test]
fn yaml11_booleans_are_read_as_pyyaml_reads_them() {
    for (word, want) in [
        ("yes", true),
        ("on", true),
        ("ON", true),
        ("off", false),
        ("No", false),
        ("False", false),
    ] {
        let r = load_str(&minimal(word, word), &LoadOptions::new("c.yaml"));
        assert!(errors(&r).is_empty(), "{word}: {:#?}", errors(&r));
        let m = r.model.unwrap();
        assert_eq!(m.vpc.use_public_ips.value, want, "{word}");
        assert_eq!(m.queues[0].disable_hyperthreading.value, want, "{word}");
    }
}

#[test]
fn boolean_word_where_a_string_is_needed_is_an_error_with_a_hint() {
    let text = MINIMAL
        .replace("Os: alinux2023", "Os: yes")
        .replace("ELASTIC", "true")
        .replace("DHT", "false");
    let r = load_str(&text, &LoadOptions::new("c.yaml"));
    let errs = errors(&r);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("error: Image/Os must be a string, but found boolean `true`"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("--> c.yaml:2:7"), "{}", errs[0]);
    assert!(errs[0].contains("quote the value"), "{}", errs[0]);
}

#[test]
fn unknown_key_is_rejected_with_a_suggestion() {
    let text =
        minimal("true", "false").replace("  InstanceType: t3.micro\n", "  InstanceTyp: t3.micro\n");
    let r = load_str(&text, &LoadOptions::new("c.yaml"));
    let errs = errors(&r);
    assert!(
        errs.iter()
            .any(|e| e.contains("Unknown field 'InstanceTyp' in HeadNode")
                && e.contains("did you mean 'InstanceType'?")
                && e.contains("c.yaml:4:3")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("Missing required field 'InstanceType' in HeadNode")),
        "{errs:#?}"
    );
}

#[test]
fn duplicate_key_is_a_fatal_error_at_the_second_key() {
    let text = minimal("true", "false")
        .replace("  Os: alinux2023\n", "  Os: alinux2023\n  Os: ubuntu2204\n");
    let r = load_str(&text, &LoadOptions::new("c.yaml"));
    assert!(r.model.is_none());
    let errs = errors(&r);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains("duplicate key 'Os'")
            && errs[0].contains("c.yaml:3:3")
            && errs[0].contains("line 2, column 3"),
        "{}",
        errs[0]
    );
}

#[test]
fn invalid_values_are_reported() {
    let text = minimal("true", "false")
        .replace("Scheduler: slurm", "Scheduler: slurmm")
        .replace("c5.large", "c5.larg")
        .replace("Name: q1", "Name: Queue_1");
    let r = load_str(&text, &LoadOptions::new("c.yaml"));
    let errs = errors(&r).join("\n");
    assert!(
        errs.contains("'slurmm' is not a valid value for Scheduling/Scheduler"),
        "{errs}"
    );
    assert!(errs.contains("did you mean 'slurm'?"), "{errs}");
    assert!(errs.contains("The instance type 'c5.larg'"), "{errs}");
    assert!(errs.contains("Invalid queue name 'Queue_1'"), "{errs}");
}

#[test]
fn syntax_error_points_at_the_line() {
    let r = load_str(
        "Image:\n  Os: alinux2\n HeadNode: x\n",
        &LoadOptions::new("c.yaml"),
    );
    assert!(r.model.is_none());
    let errs = errors(&r);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("c.yaml:3:"), "{}", errs[0]);
}

#[test]
fn converted_seed_config_loads_into_the_same_model_as_v2() {
    let ini = read(&["..", "..", "examples", "ssm.ini"]);
    let v2r = v2::load_str(&ini, &v2::LoadOptions::new("ssm"));
    // (v2 validation is tested elsewhere; only its model is compared here.)
    let a = v2r.model.expect("v2 model");
    let yaml = convert(&ini, None, false).unwrap().yaml;
    let v3r = load_str(&yaml, &LoadOptions::new("ssm.yaml"));
    // The converter itself warns that '_' is not allowed in v3 names, and
    // it keeps base_os = ubuntu1804, which ParallelCluster 3.16 no longer
    // supports.
    let errs: Vec<String> = errors(&v3r)
        .into_iter()
        .filter(|e| !e.contains("Invalid compute resource name 'spot1_resource'"))
        .filter(|e| !e.contains("'ubuntu1804' is not a valid value for Image/Os"))
        // 3.16 wants 1.24 GB on a head node for 16 compute nodes; t3.micro has 1.
        .filter(|e| !e.contains("Head node instance type t3.micro has 1.0 GB of memory"))
        .collect();
    assert!(errs.is_empty(), "{errs:#?}\n{yaml}");
    let b = v3r.model.unwrap();
    assert_eq!(a.region.value, b.region.value);
    assert_eq!(a.scheduler.value, b.scheduler.value);
    assert_eq!(a.base_os.value, b.base_os.value);
    assert_eq!(a.cluster_user.value, b.cluster_user.value);
    assert_eq!(
        a.key_name.as_ref().map(|k| &k.value),
        b.key_name.as_ref().map(|k| &k.value)
    );
    assert_eq!(
        a.head_node.instance_type.value,
        b.head_node.instance_type.value
    );
    assert_eq!(
        a.head_node.root_volume_size.value,
        b.head_node.root_volume_size.value
    );
    assert_eq!(
        a.vpc.master_subnet_id.as_ref().map(|v| &v.value),
        b.vpc.master_subnet_id.as_ref().map(|v| &v.value)
    );
    assert_eq!(
        a.vpc.compute_subnet_id.as_ref().map(|v| &v.value),
        b.vpc.compute_subnet_id.as_ref().map(|v| &v.value)
    );
    assert_eq!(a.vpc.use_public_ips.value, b.vpc.use_public_ips.value);
    assert_eq!(a.scaledown_idletime.value, b.scaledown_idletime.value);
    assert_eq!(
        a.compute_root_volume_size.value,
        b.compute_root_volume_size.value
    );
    assert_eq!(a.shared_dir.value, b.shared_dir.value);
    let pol = |m: &airlock_config::ClusterModel| {
        m.additional_iam_policies
            .iter()
            .map(|p| p.value.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(pol(&a), pol(&b));
    assert_eq!(a.tags.value, b.tags.value);
    assert_eq!(a.queues.len(), b.queues.len());
    for (qa, qb) in a.queues.iter().zip(&b.queues) {
        assert_eq!(qa.name, qb.name);
        assert_eq!(qa.compute_type.value, qb.compute_type.value);
        assert_eq!(
            qa.placement_group.as_ref().map(|p| &p.value),
            qb.placement_group.as_ref().map(|p| &p.value)
        );
        assert_eq!(
            qa.disable_hyperthreading.value,
            qb.disable_hyperthreading.value
        );
        assert_eq!(qa.compute_resources.len(), qb.compute_resources.len());
        for (ca, cb) in qa.compute_resources.iter().zip(&qb.compute_resources) {
            assert_eq!(ca.label, cb.label);
            assert_eq!(ca.instance_type.value, cb.instance_type.value);
            assert_eq!(ca.min_count.value, cb.min_count.value);
            assert_eq!(ca.max_count.value, cb.max_count.value);
            assert_eq!(ca.spot_price.value, cb.spot_price.value);
        }
    }
}
