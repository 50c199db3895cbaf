//! Unit tests of the v2 loader: one per rule, checking the exact message.

use super::*;
use crate::model;

const BASE: &str = "[aws]
aws_region_name = us-east-1

[global]
cluster_template = default
sanity_check = true

[cluster default]
key_name = k
scheduler = slurm
base_os = ubuntu1804
vpc_settings = default
queue_settings = spot1

[vpc default]
vpc_id = vpc-07edfc27679c9ca80
master_subnet_id = subnet-0ab2754446b2f87a4

[queue spot1]
compute_resource_settings = spot1_resource
compute_type = spot

[compute_resource spot1_resource]
instance_type = c5.large
max_count = 16
";

fn report(text: &str) -> Report {
    load_str(text, &LoadOptions::new("cfg"))
}

/// Loads with a policy catalog that knows only AmazonSSMManagedInstanceCore.
fn report_with_ssm_catalog(text: &str) -> Report {
    let cat = |arn: &str| arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
    let opts = LoadOptions {
        policies: Some(&cat),
        ..LoadOptions::new("cfg")
    };
    load_str(text, &opts)
}

fn messages(r: &Report) -> Vec<String> {
    r.diagnostics.iter().map(|d| d.message.clone()).collect()
}

/// The only diagnostic; fails if there is not exactly one.
fn only(text: &str) -> Diagnostic {
    let r = report(text);
    assert_eq!(r.diagnostics.len(), 1, "diagnostics: {:#?}", messages(&r));
    r.diagnostics.into_iter().next().expect("one diagnostic")
}

fn with(base: &str, find: &str, replace: &str) -> String {
    assert!(base.contains(find), "{find:?} not in base");
    base.replacen(find, replace, 1)
}

#[test]
fn base_config_is_valid_and_fills_defaults() {
    let r = report(BASE);
    assert!(r.diagnostics.is_empty(), "{:?}", messages(&r));
    let m = r.model.expect("model");
    assert_eq!(m.cluster_user.value, "ubuntu");
    let cr = &m.queues[0].compute_resources[0];
    assert_eq!(
        (
            cr.min_count.value,
            cr.initial_count.value,
            cr.max_count.value
        ),
        (0, 0, 16)
    );
    assert_eq!(cr.min_count.source, model::Source::Default);
    assert!(matches!(cr.max_count.source, model::Source::File(s) if s.line == 25));
    assert_eq!(m.scaledown_idletime.value, 10);
    assert_eq!(m.head_node.root_volume_size.value, 35);
    assert_eq!(m.queues[0].compute_type.value, model::ComputeType::Spot);
}

#[test]
fn unknown_parameter_is_rejected_with_hint() {
    let d = only(&with(
        BASE,
        "scheduler = slurm\n",
        "scheduler = slurm\nschedular_typo = slurm\n",
    ));
    assert_eq!(
        d.message,
        "The configuration parameter 'schedular_typo' is not allowed in the [cluster default] section"
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean 'scheduler'?"));
    let s = d.span.expect("span");
    assert_eq!((s.line, s.col, s.len), (11, 1, 14));
    assert_eq!(d.source_line.as_deref(), Some("schedular_typo = slurm"));
}

#[test]
fn invalid_section_label_is_rejected() {
    let t = with(BASE, "[queue spot1]", "[queue spot1]").replace("spot1_resource", "1resource");
    let d = only(&t);
    assert_eq!(
        d.message,
        "Failed validation for section compute_resource 1resource. Section names can be at most 30 chars long, must begin with a letter and only contain alphanumeric characters, hyphens and underscores."
    );
}

#[test]
fn cluster_name_pattern_is_enforced() {
    assert!(validate_cluster_name("ssm-cluster").is_ok());
    assert!(validate_cluster_name(&format!("a{}", "b".repeat(59))).is_ok());
    assert!(validate_cluster_name(&format!("a{}", "b".repeat(60))).is_err());
    assert!(validate_cluster_name("1cluster").is_err());
    assert!(validate_cluster_name("my_cluster").is_err());
    assert_eq!(
        validate_cluster_name("my_cluster").map_err(|e| e.to_string()),
        Err("Invalid cluster name 'my_cluster': it must start with a letter, contain only letters, digits and hyphens, and be at most 60 characters long".into())
    );
}

#[test]
fn more_than_five_queues_is_an_error() {
    let mut t = with(
        BASE,
        "queue_settings = spot1",
        "queue_settings = q1,q2,q3,q4,q5,q6",
    );
    for i in 1..=6 {
        t.push_str(&format!("[queue q{i}]\ncompute_resource_settings = r{i}\n[compute_resource r{i}]\ninstance_type = c5.large\n"));
    }
    let r = report(&t);
    assert_eq!(
        messages(&r),
        vec!["Invalid number of 'queue' sections specified. Max 5 expected."]
    );
}

#[test]
fn more_than_three_compute_resources_is_an_error() {
    let mut t = with(
        BASE,
        "compute_resource_settings = spot1_resource",
        "compute_resource_settings = a,b,c,d",
    );
    for (n, ty) in [
        ("a", "c5.large"),
        ("b", "c5.xlarge"),
        ("c", "c5.2xlarge"),
        ("d", "c5.4xlarge"),
    ] {
        t.push_str(&format!("[compute_resource {n}]\ninstance_type = {ty}\n"));
    }
    let r = report(&t);
    assert_eq!(
        messages(&r),
        vec!["Invalid number of 'compute_resource' sections specified. Max 3 expected."]
    );
}

#[test]
fn duplicate_instance_type_in_queue_is_an_error() {
    let mut t = with(
        BASE,
        "compute_resource_settings = spot1_resource",
        "compute_resource_settings = spot1_resource, other",
    );
    t.push_str("[compute_resource other]\ninstance_type = c5.large\n");
    let d = only(&t);
    assert_eq!(
        d.message,
        "Duplicate instance type 'c5.large' found in queue 'spot1'. Compute resources in the same queue must use different instance types"
    );
}

#[test]
fn max_count_must_be_at_least_one() {
    let d = only(&with(BASE, "max_count = 16", "max_count = 0"));
    assert_eq!(
        d.message,
        "Parameter 'max_count' must be 1 or greater than 1"
    );
}

#[test]
fn counts_must_be_ordered() {
    let r = report(&with(
        BASE,
        "max_count = 16",
        "max_count = 4\nmin_count = 2\ninitial_count = 5",
    ));
    assert_eq!(
        messages(&r),
        vec!["Parameter 'initial_count' must be lower than or equal to 'max_count'"]
    );
    let r = report(&with(
        BASE,
        "max_count = 16",
        "max_count = 4\nmin_count = 3\ninitial_count = 1",
    ));
    assert_eq!(
        messages(&r),
        vec!["Parameter 'initial_count' must be greater than or equal to 'min_count'"]
    );
    let r = report(&with(
        BASE,
        "max_count = 16",
        "max_count = 2\nmin_count = 3\ninitial_count = 3",
    ));
    assert_eq!(
        messages(&r),
        vec![
            "Parameter 'max_count' must be greater than or equal to min_count",
            "Parameter 'initial_count' must be lower than or equal to 'max_count'"
        ]
    );
}

#[test]
fn initial_count_defaults_to_min_count() {
    let m = report(&with(
        BASE,
        "max_count = 16",
        "max_count = 16\nmin_count = 2",
    ))
    .model
    .expect("model");
    assert_eq!(m.queues[0].compute_resources[0].initial_count.value, 2);
}

#[test]
fn vpc_and_subnet_ids_must_have_aws_form() {
    let d = only(&with(
        BASE,
        "vpc_id = vpc-07edfc27679c9ca80",
        "vpc_id = vpc-XYZ",
    ));
    assert_eq!(
        d.message,
        "The configuration parameter 'vpc_id' has an invalid value 'vpc-XYZ'"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("expected 'vpc-' followed by 8 or 17 lowercase letters or digits")
    );
    let d = only(&with(
        BASE,
        "master_subnet_id = subnet-0ab2754446b2f87a4",
        "master_subnet_id = sn-0ab2754446b2f87a4",
    ));
    assert_eq!(
        d.message,
        "The configuration parameter 'master_subnet_id' has an invalid value 'sn-0ab2754446b2f87a4'"
    );
    let d = only(&with(
        BASE,
        "master_subnet_id",
        "vpc_security_group_id = sg-1\nmaster_subnet_id",
    ));
    assert_eq!(
        d.message,
        "The configuration parameter 'vpc_security_group_id' has an invalid value 'sg-1'"
    );
}

#[test]
fn tags_must_be_a_json_object_without_version() {
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\ntags = { \"Version\" : \"1\" }\n",
    ));
    assert_eq!(
        d.message,
        "The key 'Version' used in your 'tags' configuration parameter is a reserved one, please change it."
    );
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\ntags = [1, 2]\n",
    ));
    assert_eq!(
        d.message,
        "The configuration parameter 'tags' must be a JSON object"
    );
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\ntags = {\"a\" 1}\n",
    ));
    assert!(
        d.message
            .starts_with("Error parsing JSON parameter 'tags'. expected `:`"),
        "{}",
        d.message
    );
}

#[test]
fn tags_keep_file_order() {
    let m = report(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\ntags = {\"b\": \"1\", \"a\": 2}\n",
    ))
    .model
    .expect("model");
    let keys: Vec<(&str, &str)> = m
        .tags
        .value
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(keys, vec![("b", "1"), ("a", "2")]);
}

#[test]
fn unknown_settings_reference_names_missing_section() {
    let d = only(&with(
        BASE,
        "queue_settings = spot1",
        "queue_settings = spot2",
    ));
    assert_eq!(
        d.message,
        "Section '[queue spot2]' not found in the config file."
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean 'spot1'? ([queue spot1] exists)")
    );
    let s = d.span.expect("span");
    assert_eq!((s.line, s.col), (13, 18));
}

#[test]
fn queue_names_without_underscore_or_upper_case() {
    let t = BASE
        .replace("spot1]", "Spot_1]")
        .replace("queue_settings = spot1", "queue_settings = Spot_1");
    let r = report(&t);
    assert_eq!(
        messages(&r),
        vec![
            "Invalid queue name 'Spot_1'. Queue section names can be at most 30 chars long, must begin with a letter and only contain lowercase letters, digits and hyphens. It is forbidden to use 'default' as a queue section name."
        ]
    );
}

#[test]
fn scheduler_and_base_os_must_be_allowed_values() {
    let d = only(&with(BASE, "scheduler = slurm", "scheduler = slurrm"));
    assert_eq!(
        d.message,
        "The configuration parameter 'scheduler' has an invalid value 'slurrm'"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean 'slurm'? allowed values are: awsbatch, slurm")
    );
    let d = only(&with(BASE, "base_os = ubuntu1804", "base_os = ubuntu1604"));
    assert_eq!(
        d.message,
        "The configuration parameter 'base_os' has an invalid value 'ubuntu1604'"
    );
}

#[test]
fn sanity_check_false_turns_errors_into_warnings() {
    let t = with(BASE, "sanity_check = true", "sanity_check = false")
        .replace("max_count = 16", "max_count = 0");
    let r = report(&t);
    assert!(!r.has_errors());
    assert_eq!(r.warning_count(), 1);
    assert_eq!(
        r.diagnostics[0].message,
        "Parameter 'max_count' must be 1 or greater than 1"
    );
    assert!(r.model.is_some());
}

#[test]
fn sanity_check_false_keeps_fatal_errors() {
    let t = with(BASE, "sanity_check = true", "sanity_check = false")
        .replace("instance_type = c5.large\n", "");
    let r = report(&t);
    assert_eq!(
        messages(&r),
        vec!["Configuration parameter 'instance_type' must have a value"]
    );
    assert!(r.has_errors());
}

#[test]
fn additional_iam_policies_are_checked_against_the_catalog() {
    let t = with(
        BASE,
        "key_name = k\n",
        "key_name = k\nadditional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore, arn:aws:iam::aws:policy/Nope\n",
    );
    let r = report_with_ssm_catalog(&t);
    assert_eq!(
        messages(&r),
        vec![
            "The IAM policy 'arn:aws:iam::aws:policy/Nope' in 'additional_iam_policies' is not a known managed policy"
        ]
    );
    let s = r.diagnostics[0].span.expect("span");
    assert_eq!(s.len, "arn:aws:iam::aws:policy/Nope".len());
    assert_eq!(r.model.map(|m| m.additional_iam_policies.len()), Some(2));
}

#[test]
fn policy_form_is_checked_without_a_catalog() {
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\nadditional_iam_policies = AmazonSSMManagedInstanceCore\n",
    ));
    assert_eq!(
        d.message,
        "The IAM policy 'AmazonSSMManagedInstanceCore' in 'additional_iam_policies' is not a known managed policy"
    );
}

#[test]
fn unknown_instance_type_suggests_nearest() {
    let d = only(&with(
        BASE,
        "instance_type = c5.large",
        "instance_type = c5.lage",
    ));
    assert_eq!(
        d.message,
        "The instance type 'c5.lage' used for the 'instance_type' parameter is not a known instance type"
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean 'c5.large'"))
    );
}

#[test]
fn missing_cluster_template_defaults_to_default_and_t_selects_another() {
    let t = BASE
        .replace("cluster_template = default\n", "")
        .replace("[cluster default]", "[cluster other]");
    let d = only(&t);
    assert_eq!(
        d.message,
        "Section '[cluster default]' not found in the config file."
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("choose one of: other (with -t or cluster_template in [global])")
    );
    let opts = LoadOptions {
        template: Some("other"),
        ..LoadOptions::new("cfg")
    };
    let r = load_str(&t, &opts);
    assert!(r.diagnostics.is_empty(), "{:?}", messages(&r));
    assert_eq!(r.model.map(|m| m.template), Some("other".to_string()));
}

#[test]
fn missing_vpc_settings_requires_vpc_id() {
    let d = only(&BASE.replace("vpc_settings = default\n", ""));
    assert_eq!(
        d.message,
        "Configuration parameter 'vpc_id' must have a value"
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("vpc_settings"))
    );
}

#[test]
fn ini_syntax_error_becomes_a_located_diagnostic() {
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\nKEY_NAME = j\n",
    ));
    assert_eq!(
        d.message,
        "option 'key_name' in section 'cluster default' already exists"
    );
    assert_eq!(d.span.map(|s| s.line), Some(10));
}

#[test]
fn typo_in_section_key_is_warned() {
    let r = report(&format!("{BASE}[qeueu x]\na = 1\n"));
    assert_eq!(
        messages(&r),
        vec!["Section [qeueu x] is not a ParallelCluster section and is ignored"]
    );
    assert_eq!(
        r.diagnostics[0].hint.as_deref(),
        Some("did you mean [queue x]?")
    );
    assert!(!r.has_errors());
}

#[test]
fn sit_cluster_becomes_one_compute_queue() {
    let t = "[global]\ncluster_template = s\n[cluster s]\nkey_name = k\nscheduler = slurm\nbase_os = centos7\nvpc_settings = v\n\
             compute_instance_type = t2.large\ninitial_queue_size = 1\nmax_queue_size = 2\nmaintain_initial_size = true\ncluster_type = spot\n\
             [vpc v]\nvpc_id = vpc-12345678\nmaster_subnet_id = subnet-12345678\n";
    let r = report(t);
    assert!(r.diagnostics.is_empty(), "{:?}", messages(&r));
    let m = r.model.expect("model");
    assert_eq!(m.cluster_user.value, "centos");
    let q = &m.queues[0];
    assert_eq!(
        (q.name.as_str(), q.compute_type.value),
        ("compute", model::ComputeType::Spot)
    );
    let cr = &q.compute_resources[0];
    assert_eq!(
        (
            cr.min_count.value,
            cr.initial_count.value,
            cr.max_count.value
        ),
        (1, 1, 2)
    );
}

#[test]
fn storage_sections_are_validated_for_form_and_marked_unsupported() {
    let t = with(BASE, "key_name = k\n", "key_name = k\nefs_settings = e\n")
        + "[efs e]\nshared_dir = efs\nthroughput_mode = provisioned\n";
    let d = only(&t);
    assert_eq!(
        d.message,
        "When specifying 'throughput_mode' to 'provisioned', the 'provisioned_throughput' option must be specified"
    );
    let t = with(BASE, "key_name = k\n", "key_name = k\nebs_settings = a\n")
        + "[ebs a]\nshared_dir = /data\nvolume_type = st1\n";
    let r = report(&t);
    assert_eq!(
        messages(&r),
        vec!["The size of st1 volumes must be at least 500 GiB"]
    );
    let m = r.model.expect("model");
    assert_eq!(
        m.unsupported_by_local_provider
            .first()
            .map(|u| u.feature.as_str()),
        Some("[ebs a]")
    );
}

#[test]
fn wrong_types_are_reported() {
    let d = only(&with(BASE, "max_count = 16", "max_count = many"));
    assert_eq!(
        d.message,
        "Configuration parameter 'max_count' must be an Integer"
    );
    let d = only(&with(
        BASE,
        "master_subnet_id",
        "use_public_ips = maybe\nmaster_subnet_id",
    ));
    assert_eq!(
        d.message,
        "Configuration parameter 'use_public_ips' must be a Boolean"
    );
}

#[test]
fn awsbatch_requires_alinux2() {
    let t = BASE
        .replace("queue_settings = spot1\n", "")
        .replace("scheduler = slurm", "scheduler = awsbatch");
    let r = report(&t);
    assert!(messages(&r).contains(
        &"'awsbatch' scheduler supports the following Operating Systems: ['alinux2']".to_string()
    ));
}

#[test]
fn any_aws_managed_policy_is_accepted_with_the_aws_catalog() {
    let t = with(
        BASE,
        "key_name = k\n",
        "key_name = k\nadditional_iam_policies = arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy, arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\n",
    );
    // A caller's catalog alone knows only its own policies.
    assert_eq!(report_with_ssm_catalog(&t).error_count(), 2);
    let ssm = |arn: &str| arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
    let cat = crate::managed_policies::WithAwsManaged(ssm);
    let opts = LoadOptions {
        policies: Some(&cat),
        ..LoadOptions::new("cfg")
    };
    let r = load_str(&t, &opts);
    assert_eq!(messages(&r), Vec::<String>::new());
    assert_eq!(r.model.map(|m| m.additional_iam_policies.len()), Some(2));
}

#[test]
fn bare_managed_policy_name_is_refused_with_its_arn_as_hint() {
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\nadditional_iam_policies = CloudWatchAgentServerPolicy\n",
    ));
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "did you mean 'arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy'? policies are named by ARN"
        )
    );
}

#[test]
fn graviton_compute_with_x86_head_is_an_architecture_mismatch() {
    let d = only(&with(
        BASE,
        "instance_type = c5.large",
        "instance_type = c6g.large",
    ));
    assert_eq!(
        d.message,
        "The specified compute_instance_type (c6g.large) supports the architectures ['arm64'], none of which are compatible with the architecture supported by the master_instance_type (x86_64)."
    );
    let arm = with(
        BASE,
        "instance_type = c5.large",
        "instance_type = c6g.large",
    );
    let arm = with(
        &arm,
        "base_os = ubuntu1804\n",
        "base_os = ubuntu1804\nmaster_instance_type = m6g.large\n",
    );
    assert_eq!(messages(&report(&arm)), Vec::<String>::new());
}

#[test]
fn efa_on_a_type_without_efa_is_a_warning_naming_the_queue() {
    let t = with(
        BASE,
        "compute_type = spot\n",
        "compute_type = spot\nenable_efa = true\n",
    );
    let d = only(&t);
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(
        d.message,
        "EFA was enabled on queue 'spot1', but instance type 'c5.large' defined in compute resource settings spot1_resource does not support EFA."
    );
    let efa = with(
        &t,
        "instance_type = c5.large",
        "instance_type = c5n.18xlarge",
    );
    assert_eq!(messages(&report(&efa)), Vec::<String>::new());
}

#[test]
fn disable_hyperthreading_on_arm_is_refused() {
    let t = with(
        BASE,
        "base_os = ubuntu1804\n",
        "base_os = ubuntu1804\nmaster_instance_type = m6g.large\n",
    );
    let t = with(&t, "instance_type = c5.large", "instance_type = c6g.large");
    let in_cluster = with(
        &t,
        "base_os = ubuntu1804\n",
        "base_os = ubuntu1804\ndisable_hyperthreading = true\n",
    );
    let d = only(&in_cluster);
    assert_eq!(
        d.message,
        "disable_hyperthreading is only supported on instance types that support these architectures: x86_64"
    );
    assert_eq!(d.severity, Severity::Error);
    // 2.11 has no architecture check on a queue's disable_hyperthreading.
    let in_queue = with(
        &t,
        "compute_type = spot\n",
        "compute_type = spot\ndisable_hyperthreading = true\n",
    );
    assert_eq!(messages(&report(&in_queue)), Vec::<String>::new());
}

#[test]
fn centos7_on_arm_warns_and_refuses_efa() {
    let t = with(
        BASE,
        "base_os = ubuntu1804\n",
        "base_os = centos7\nmaster_instance_type = c6gn.large\n",
    );
    let t = with(
        &t,
        "instance_type = c5.large",
        "instance_type = c6gn.16xlarge",
    );
    let r = report(&t);
    assert_eq!(
        r.diagnostics.iter().map(|d| d.severity).collect::<Vec<_>>(),
        vec![Severity::Warning],
        "{:?}",
        messages(&r)
    );
    assert!(messages(&r)[0].starts_with("Warning: The aarch64 CentOS 7 OS is not validated"));
    let efa = with(
        &t,
        "compute_type = spot\n",
        "compute_type = spot\nenable_efa = true\n",
    );
    assert!(
        messages(&report(&efa))
            .contains(&"EFA currently not supported on centos7 for arm64 architecture".to_string())
    );
}

#[test]
fn root_volume_between_25_and_34_warns_naming_the_2_11_minimum() {
    let t = with(
        BASE,
        "base_os = ubuntu1804\n",
        "base_os = ubuntu1804\ncompute_root_volume_size = 25\n",
    );
    let d = only(&t);
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message
            .contains("ParallelCluster 2.11 requires at least 35 (GiB)"),
        "{}",
        d.message
    );
    let ok = with(
        BASE,
        "base_os = ubuntu1804\n",
        "base_os = ubuntu1804\ncompute_root_volume_size = 35\n",
    );
    assert_eq!(messages(&report(&ok)), Vec::<String>::new());
    let low = with(
        BASE,
        "base_os = ubuntu1804\n",
        "base_os = ubuntu1804\ncompute_root_volume_size = 24\n",
    );
    assert!(report(&low).has_errors());
}

#[test]
fn tags_and_extra_json_are_read_as_yaml_safe_load_reads_them() {
    let m = report(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\ntags = {Name: x, 'b': 'c', n: 1}\nextra_json = {cluster: {ganglia_enabled: 'yes'}}\n",
    ))
    .model
    .expect("model");
    let tags: Vec<(&str, &str)> = m
        .tags
        .value
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(tags, vec![("Name", "x"), ("b", "c"), ("n", "1")]);
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\nextra_json = {cluster: [}\n",
    ));
    assert!(
        d.message
            .starts_with("Error parsing JSON parameter 'extra_json'. "),
        "{}",
        d.message
    );
    let d = only(&with(
        BASE,
        "key_name = k\n",
        "key_name = k\ntags = {Version: 2}\n",
    ));
    assert!(d.message.starts_with("The key 'Version'"), "{}", d.message);
}

/// BASE with an `[fsx fs]` section holding `settings`.
fn with_fsx(settings: &str) -> String {
    let t = with(
        BASE,
        "vpc_settings = default\n",
        "vpc_settings = default\nfsx_settings = fs\n",
    );
    format!("{t}\n[fsx fs]\nshared_dir = /fsx\nstorage_capacity = 1200\n{settings}")
}

#[test]
fn fsx_backups_are_refused_on_s3_linked_file_systems() {
    let r = report(&with_fsx(
        "deployment_type = PERSISTENT_1\nper_unit_storage_throughput = 50\nimport_path = s3://bucket\nautomatic_backup_retention_days = 7\n",
    ));
    let errors: Vec<&str> = r
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        errors,
        vec!["Backups cannot be created on S3-linked file systems"]
    );
    let r = report(&with_fsx(
        "deployment_type = PERSISTENT_1\nper_unit_storage_throughput = 50\nautomatic_backup_retention_days = 7\ncopy_tags_to_backups = true\n",
    ));
    assert!(!r.has_errors(), "{:?}", messages(&r));
}

#[test]
fn fsx_backup_options_need_retention_days_and_persistent_1() {
    let r = report(&with_fsx(
        "deployment_type = SCRATCH_2\ncopy_tags_to_backups = true\n",
    ));
    assert!(messages(&r).contains(
        &"When specifying 'copy_tags_to_backups', the 'automatic_backup_retention_days' option must be specified".to_string()
    ));
    let r = report(&with_fsx(
        "deployment_type = SCRATCH_2\nautomatic_backup_retention_days = 3\n",
    ));
    assert!(
        messages(&r).contains(
            &"FSx automatic backup features can be used only with 'PERSISTENT_1' file systems"
                .to_string()
        )
    );
}

#[test]
fn fsx_storage_type_rules_follow_2_11() {
    let r = report(&with_fsx(
        "deployment_type = PERSISTENT_1\nper_unit_storage_throughput = 40\n",
    ));
    assert!(messages(&r).contains(
        &"For SSD filesystems, 'per_unit_storage_throughput' can only have the following values: [50, 100, 200]".to_string()
    ));
    let r = report(&with_fsx(
        "deployment_type = PERSISTENT_1\nstorage_type = HDD\nper_unit_storage_throughput = 12\ndrive_cache_type = READ\n",
    ));
    assert!(!r.has_errors(), "{:?}", messages(&r));
}

#[test]
fn trailing_comma_in_queue_settings_names_the_default_section_as_2_11_does() {
    let d = only(&with(
        BASE,
        "queue_settings = spot1\n",
        "queue_settings = spot1,\n",
    ));
    assert_eq!(
        d.message,
        "Section '[queue default]' not found in the config file."
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("remove the stray comma from 'queue_settings': an empty label names [queue default]")
    );
}

#[test]
fn cfn_scheduler_slots_warns_and_conflicts_with_disable_hyperthreading() {
    let slots = with(
        BASE,
        "key_name = k\n",
        "key_name = k\nextra_json = { \"cluster\" : { \"cfn_scheduler_slots\" : \"cores\" } }\n",
    );
    let d = only(&slots);
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message
            .starts_with("It is highly recommended to use the disable_hyperthreading parameter")
    );
    let both = with(
        &slots,
        "key_name = k\n",
        "key_name = k\ndisable_hyperthreading = true\n",
    );
    assert_eq!(
        report(&both)
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.as_str())
            .collect::<Vec<_>>(),
        vec!["cfn_scheduler_slots cannot be set in addition to disable_hyperthreading = true"]
    );
}
