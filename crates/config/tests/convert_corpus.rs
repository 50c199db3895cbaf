//! The v2→v3 converter against the outputs of the real
//! `pcluster3-config-converter` (tests/corpus/v2-to-v3, copied from
//! aws-parallelcluster's own converter tests), with the flags and expected
//! warning texts of its `test_pcluster3_config_converter.py`.

use std::path::PathBuf;

use airlock_config::convert::{ConvertErrorKind, ConvertOptions, convert, convert_with};
use airlock_config::yaml;

fn corpus(name: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "corpus",
        "v2-to-v3",
        name,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The converter's tests mock the STS account id as "1234567" and the
/// region lookup as "us-west-1".
fn options(template: Option<&str>, force: bool) -> ConvertOptions {
    ConvertOptions {
        cluster_template: template.map(str::to_string),
        force_convert: force,
        account_id: "1234567".into(),
        default_region: Some("us-west-1".into()),
    }
}

fn header_comments(text: &str) -> Vec<&str> {
    text.lines().take_while(|l| l.starts_with('#')).collect()
}

const AMB: &str = "is added to both headnode and scheduling sections. Please review the configuration file after \
conversion and decide whether to further trim down the permissions and specialize.";
const ENC: &str = "Note: Volume encrypted defaults to True in AWS ParallelCluster version 3 while it defaults to False \
in AWS ParallelCluster version 2.";
const IMDS: &str = "Note: In AWS ParallelCluster version 3, access to the Instance Metadata Service(IMDS) on the head \
node is restricted to the cluster administrator. If additional users required access to IMDS, you can set \
HeadNode/Imds/Secured to False.";

fn ignored(p: &str) -> String {
    format!("Warning: Parameter {p} is no longer supported. Ignoring it during conversion.")
}

fn amb(p: &str) -> String {
    format!("Warning: {p} {AMB}")
}

/// Converts `ini` and checks: output equals the expected YAML as data, the
/// header comments are identical, and every expected warning was given.
fn check(
    ini: &str,
    expected_yaml: &str,
    template: Option<&str>,
    force: bool,
    expected_warnings: &[String],
) {
    let out = convert_with(&corpus(ini), &options(template, force))
        .unwrap_or_else(|e| panic!("{ini}: {e}"));
    let expected_text = corpus(expected_yaml);
    let got = yaml::parse(&out.yaml)
        .unwrap_or_else(|e| panic!("{ini}: our output does not parse: {e}\n{}", out.yaml));
    let want = yaml::parse(&expected_text).unwrap_or_else(|e| panic!("{expected_yaml}: {e}"));
    assert!(
        got.value.data_eq(&want.value),
        "{ini}: output differs from {expected_yaml}\n--- ours ---\n{}",
        out.yaml
    );
    assert_eq!(
        header_comments(&out.yaml),
        header_comments(&expected_text),
        "{ini}: header comments"
    );
    for w in expected_warnings {
        assert!(
            out.warnings.iter().any(|g| g.trim_end() == w),
            "{ini}: missing warning {w:?}\ngot: {:#?}",
            out.warnings
        );
    }
    // Each "# ..." comment but the DevSettings one has a matching printed line.
    assert!(out.warnings.len() >= header_comments(&out.yaml).len() - 1);
}

#[test]
fn slurm_full_with_force_convert_matches_converter_output() {
    let mut w = vec![
        ENC.to_string(),
        IMDS.to_string(),
        ignored("vpc_id = vpc-0e0f223cc35256b9a"),
        ignored("update_check = true"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
        ignored("encrypted_ephemeral = true"),
    ];
    for p in [
        "additional_iam_policies = arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "s3_read_write_resource = arn:aws:s3:::test/hello/*",
        "s3_read_resource = arn:aws:s3:::testbucket/*",
        "pre_install = s3://testbucket/pre_install.sh",
        "post_install = s3://testbucket/post_install.sh",
        "proxy_server = https://x.x.x.x:8080",
        "additional_sg = sg-xxxxxx",
        "vpc_security_group_id = sg-xxxxxx",
    ] {
        w.push(amb(p));
    }
    w.extend([
        "Warning: Parameters ['extra_json', 'custom_chef_cookbook', 'template_url', 'instance_types_data'] are not \
officially supported and not recommended."
            .to_string(),
        "Warning: Duplicate names 'custom1' are not allowed in the SharedStorage section. Please change them before \
cluster creation."
            .to_string(),
        "Warning: '_' is not allowed in the name of 'compute_resource ondemand_i1'. Please rename it before cluster \
creation."
            .to_string(),
        "Warning: '_' is not allowed in the name of 'compute_resource ondemand_i3'. Please rename it before cluster \
creation."
            .to_string(),
        ignored("initial_count = 2"),
        "Warning: '_' is not allowed in the name of 'compute_resource ondemand_i2'. Please rename it before cluster \
creation."
            .to_string(),
    ]);
    check(
        "slurm_full.ini",
        "slurm_full.yaml",
        Some("default"),
        true,
        &w,
    );
    // Here the expected list is complete, so the order is checked too.
    let out = convert_with(&corpus("slurm_full.ini"), &options(Some("default"), true)).unwrap();
    let got: Vec<&str> = out.warnings.iter().map(|s| s.trim_end()).collect();
    assert_eq!(got, w.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn slurm_required_with_template_matches_converter_output() {
    let w = [
        ENC.to_string(),
        IMDS.to_string(),
        ignored("vpc_id = vpc-123"),
        ignored("update_check = true"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
    ];
    check(
        "slurm_required.ini",
        "slurm_required.yaml",
        Some("cluster_label1"),
        false,
        &w,
    );
}

#[test]
fn awsbatch_required_matches_converter_output() {
    let w = [
        ENC.to_string(),
        ignored("vpc_id = vpc-0e0f223cc35256b9a"),
        ignored("update_check = true"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
        "Warning: Parameter sanity_check = false is no longer supported, please specify `--suppress-validators ALL` \
during cluster creation."
            .to_string(),
    ];
    check(
        "awsbatch_required.ini",
        "awsbatch_required.yaml",
        None,
        false,
        &w,
    );
}

#[test]
fn awsbatch_full_with_force_convert_matches_converter_output() {
    let mut w = vec![
        ENC.to_string(),
        ignored("vpc_id = vpc-0e0f223cc35256b9a"),
        ignored("update_check = true"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
        ignored("encrypted_ephemeral = true"),
        "Warning: Parameter sanity_check = false is no longer supported, please specify `--suppress-validators ALL` \
during cluster creation."
            .to_string(),
    ];
    for p in [
        "s3_read_resource = arn:aws:s3:::testbucket/*",
        "disable_hyperthreading = true",
        "pre_install = s3://testbucket/pre_install.sh",
        "post_install = s3://testbucket/post_install.sh",
        "proxy_server = https://x.x.x.x:8080",
        "additional_sg = sg-xxxxxx",
        "vpc_security_group_id = sg-xxxxxx",
    ] {
        w.push(amb(p));
    }
    w.push(
        "Warning: Parameters ['extra_json'] are not officially supported and not recommended."
            .into(),
    );
    w.push(
        "Warning: Duplicate names 'custom1' are not allowed in the SharedStorage section. Please change them before \
cluster creation."
            .into(),
    );
    check(
        "awsbatch_full.ini",
        "awsbatch_full.yaml",
        Some("default"),
        true,
        &w,
    );
}

#[test]
fn sit_base_matches_converter_output() {
    let w = [
        ENC.to_string(),
        IMDS.to_string(),
        ignored("vpc_id = vpc-12345678"),
        ignored("update_check = false"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
    ];
    check("sit_base.ini", "sit_base.yaml", None, false, &w);
}

#[test]
fn sit_full_matches_converter_output() {
    let mut w = vec![
        ENC.to_string(),
        IMDS.to_string(),
        ignored("vpc_id = vpc-12345678"),
        ignored("update_check = false"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
    ];
    for p in [
        "s3_read_write_resource = arn:aws:s3:::test/hello/*",
        "s3_read_resource = arn:aws:s3:::testbucket/*",
        "disable_hyperthreading = false",
        "pre_install = s3://testbucket/pre_install.sh",
        "post_install = s3://testbucket/post_install.sh",
    ] {
        w.push(amb(p));
    }
    w.push(ignored("initial_queue_size = 2"));
    check("sit_full.ini", "sit_full.yaml", None, false, &w);
}

#[test]
fn command_line_example_matches_converter_output() {
    let w = [
        ENC.to_string(),
        IMDS.to_string(),
        ignored("vpc_id = vpc-12345678"),
        ignored("update_check = true"),
        ignored("ssh = ssh {CFN_USER}@{MASTER_IP} {ARGS}"),
        ignored("encrypted_ephemeral = true"),
        amb("additional_iam_policies = arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
        amb("pre_install = s3://testbucket/scripts/pre_install.sh"),
        amb("post_install = s3://testbucekt/scripts/post_install.sh"),
    ];
    check(
        "command_pcluster.config.ini",
        "command_pcluster.config.yaml",
        None,
        false,
        &w,
    );
}

fn error_of(ini: &str, template: Option<&str>, force: bool) -> String {
    let e = convert(&corpus(ini), template, force).expect_err("conversion should fail");
    assert_eq!(e.kind, ConvertErrorKind::Conversion, "{ini}: {e}");
    format!("ERROR: {e}")
}

#[test]
fn slurm_full_without_force_convert_fails_with_dev_settings_error() {
    assert_eq!(
        error_of("slurm_full.ini", None, false),
        "ERROR: ['extra_json', 'custom_chef_cookbook', 'template_url', 'instance_types_data'] are not officially \
supported and not recommended. If you want to proceed with conversion, please specify `--force-convert` and rerun \
the command."
    );
}

#[test]
fn compute_subnet_cidr_is_refused() {
    assert_eq!(
        error_of("compute_subnet_cidr.ini", None, false),
        "ERROR: Parameter compute_subnet_cidr = 0.0.0.0/16 is no longer supported. Please remove it and run the \
converter again."
    );
}

#[test]
fn missing_vpc_settings_is_refused() {
    assert_eq!(
        error_of("missing_vpc.ini", None, false),
        "ERROR: Missing vpc_settings in the configuration file."
    );
}

#[test]
fn unknown_cluster_template_is_refused() {
    assert_eq!(
        error_of("slurm_full.ini", Some("invalid_cluster_label"), false),
        "ERROR: The specified cluster section is not in the configuration."
    );
}

#[test]
fn warnings_before_an_error_are_kept() {
    let e = convert(&corpus("compute_subnet_cidr.ini"), None, false).unwrap_err();
    assert!(
        e.warnings
            .iter()
            .any(|w| w.starts_with("Warning: Parameter vpc_id = ")),
        "{:?}",
        e.warnings
    );
}

#[test]
fn duplicate_section_is_the_converters_duplicate_section_error() {
    let ini = "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = c\n\
               [cluster c]\nscheduler = slurm\n[cluster c]\nbase_os = alinux2\n";
    let e = convert(ini, None, false).unwrap_err();
    assert_eq!(e.kind, ConvertErrorKind::Unexpected);
    assert_eq!(
        e.message,
        "Unexpected error of type DuplicateSectionError: section 'cluster c' already exists (line 7)"
    );
    // A duplicate option stays a parsing error, as the converter catches it.
    let e = convert("[aws]\na = 1\na = 2\n", None, false).unwrap_err();
    assert!(matches!(e.kind, ConvertErrorKind::Ini(_)), "{e:?}");
}
