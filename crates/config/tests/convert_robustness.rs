//! The converter on arbitrary v2-like input: it converts or fails with a
//! message, never panics, and whatever it writes is YAML that reads back.

use airlock_config::convert::convert;
use airlock_config::yaml;
use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("scheduler"),
        Just("vpc_settings"),
        Just("queue_settings"),
        Just("compute_resource_settings"),
        Just("ebs_settings"),
        Just("raid_settings"),
        Just("efs_settings"),
        Just("fsx_settings"),
        Just("tags"),
        Just("master_root_volume_size"),
        Just("spot_price"),
        Just("disable_hyperthreading"),
        Just("enable_efa"),
        Just("pre_install"),
        Just("pre_install_args"),
        Just("s3_read_resource"),
        Just("s3_read_write_resource"),
        Just("ec2_iam_role"),
        Just("dcv_settings"),
        Just("enable"),
        Just("initial_queue_size"),
        Just("maintain_initial_size"),
        Just("placement_group"),
        Just("compute_type"),
        Just("shared_dir"),
        Just("sanity_check"),
        Just("cluster_template"),
        Just("aws_region_name"),
        Just("extra_json"),
        Just("instance_type"),
        Just("min_count"),
        Just("max_count"),
        Just("additional_iam_policies"),
    ];
    let value = prop_oneof![
        Just("slurm".to_string()),
        Just("awsbatch".to_string()),
        Just("default".to_string()),
        Just("q1, q_2".to_string()),
        Just("true".to_string()),
        Just("maybe".to_string()),
        Just("12".to_string()),
        Just("1.5".to_string()),
        Just("{\"a\": [1, 2.5e3, null], \"b\": \"x\"}".to_string()),
        Just("[1]".to_string()),
        Just("{".to_string()),
        Just("arn:aws:s3:::b/k/*".to_string()),
        Just("arn:aws:s3:::/x".to_string()),
        Just("s3://x".to_string()),
        Just("'a \"b\" c'".to_string()),
        Just("%(scheduler)s".to_string()),
        Just("DYNAMIC".to_string()),
        Just("master".to_string()),
        "\\PC{0,8}",
    ];
    let section = prop_oneof![
        Just("[cluster default]"),
        Just("[vpc default]"),
        Just("[global]"),
        Just("[aws]"),
        Just("[queue q1]"),
        Just("[queue q_2]"),
        Just("[compute_resource default]"),
        Just("[ebs default]"),
        Just("[dcv default]"),
        Just("[DEFAULT]"),
    ];
    prop_oneof![
        3 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => section.prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn converter_never_panics_and_writes_readable_yaml(
        lines in prop::collection::vec(line(), 0..30),
        base: bool,
        force: bool,
    ) {
        // A valid base makes many cases convert; random lines then extend it.
        let prefix = if base { BASE } else { "" };
        let text = format!("{prefix}{}", lines.join("\n"));
        if let Ok(out) = convert(&text, None, force) {
            let parsed = yaml::parse(&out.yaml);
            prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), out.yaml);
        }
    }
}

const BASE: &str = "[aws]\naws_region_name = us-east-1\n[cluster default]\nscheduler = slurm\n\
vpc_settings = default\nqueue_settings = q1\n[queue q1]\ncompute_resource_settings = cr\n\
[vpc default]\nmaster_subnet_id = subnet-1\n";

#[test]
fn base_config_converts() {
    assert!(convert(BASE, None, false).is_ok());
}
