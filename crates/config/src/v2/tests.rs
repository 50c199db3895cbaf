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
        "key_name = k\ntags = {oops}\n",
    ));
    assert!(
        d.message
            .starts_with("Error parsing JSON parameter 'tags'. key must be a string"),
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
    let cat = |arn: &str| arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
    let opts = LoadOptions {
        policies: Some(&cat),
        ..LoadOptions::new("cfg")
    };
    let r = load_str(&t, &opts);
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
