//! The parameters ParallelCluster 2.11 accepts in each section
//! (`mappings.py`), with their types, defaults and allowed values.

/// How a parameter's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
    /// configparser's `getboolean`: 1/yes/true/on, 0/no/false/off.
    Bool,
    Json,
    /// Comma-separated list.
    List,
    /// Comma-separated labels of `[section label]` sections, at most `max`.
    Settings {
        section: &'static str,
        max: usize,
    },
}

/// A restriction on a parameter's value, checked when it is read.
#[derive(Debug, Clone, Copy)]
pub enum Allowed {
    Any,
    OneOf(&'static [&'static str]),
    Str(fn(&str) -> bool, &'static str),
    Int(fn(i64) -> bool, &'static str),
    Float(fn(f64) -> bool, &'static str),
}

/// One public parameter of a section.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub key: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub allowed: Allowed,
    pub required: bool,
}

const fn p(key: &'static str, kind: Kind) -> ParamDef {
    ParamDef {
        key,
        kind,
        default: None,
        allowed: Allowed::Any,
        required: false,
    }
}

const fn d(key: &'static str, kind: Kind, default: &'static str) -> ParamDef {
    ParamDef {
        key,
        kind,
        default: Some(default),
        allowed: Allowed::Any,
        required: false,
    }
}

const fn a(mut def: ParamDef, allowed: Allowed) -> ParamDef {
    def.allowed = allowed;
    def
}

const fn req(mut def: ParamDef) -> ParamDef {
    def.required = true;
    def
}

const fn settings(key: &'static str, section: &'static str, max: usize) -> ParamDef {
    p(key, Kind::Settings { section, max })
}

use Kind::{Bool, Float, Int, Json, List, Str};

/// Operating systems ParallelCluster 2.11 supports.
pub const SUPPORTED_OSS: &[&str] = &["alinux2", "ubuntu1804", "ubuntu2004", "centos7"];
/// Schedulers ParallelCluster 2.11 supports.
pub const SCHEDULERS: &[&str] = &["awsbatch", "slurm"];
const VOLUME_TYPES: &[&str] = &["standard", "io1", "io2", "gp2", "st1", "sc1", "gp3"];
/// The default `[aliases] ssh` template.
pub const SSH_ALIAS_DEFAULT: &str = "ssh {CFN_USER}@{MASTER_IP} {ARGS}";
/// A free-tier type, as ParallelCluster picks when none is given.
pub const DEFAULT_INSTANCE_TYPE: &str = "t2.micro";

const VPC_ID: Allowed = Allowed::Str(
    vpc_id,
    "'vpc-' followed by 8 or 17 lowercase letters or digits",
);
const SUBNET_ID: Allowed = Allowed::Str(
    subnet_id,
    "'subnet-' followed by 8 or 17 lowercase letters or digits",
);
const SG_ID: Allowed = Allowed::Str(
    sg_id,
    "'sg-' followed by 8 or 17 lowercase letters or digits",
);
const CIDR: Allowed = Allowed::Str(cidr, "an IPv4 CIDR block such as 10.0.0.0/16");
const FILE_PATH: Allowed = Allowed::Str(file_path, "a path whose components do not start with '.'");
/// ParallelCluster 2.11 asks for at least 35 GiB, 2.10 for at least 25; the
/// seed config (written for 2.10.3) uses 30, so the 2.10 bound is kept.
const ROOT_VOLUME: Allowed = Allowed::Int(|v| v >= 25, "an integer of at least 25 (GiB)");

pub const AWS: &[ParamDef] = &[
    p("aws_access_key_id", Str),
    p("aws_secret_access_key", Str),
    p("aws_region_name", Str),
];

pub const GLOBAL: &[ParamDef] = &[
    d("cluster_template", Str, "default"),
    d("update_check", Bool, "true"),
    d("sanity_check", Bool, "true"),
];

pub const ALIASES: &[ParamDef] = &[d("ssh", Str, SSH_ALIAS_DEFAULT)];

pub const SCALING: &[ParamDef] = &[d("scaledown_idletime", Int, "10")];

pub const VPC: &[ParamDef] = &[
    req(a(p("vpc_id", Str), VPC_ID)),
    req(a(p("master_subnet_id", Str), SUBNET_ID)),
    a(d("ssh_from", Str, "0.0.0.0/0"), CIDR),
    a(p("additional_sg", Str), SG_ID),
    a(p("compute_subnet_id", Str), SUBNET_ID),
    a(p("compute_subnet_cidr", Str), CIDR),
    d("use_public_ips", Bool, "true"),
    a(p("vpc_security_group_id", Str), SG_ID),
];

pub const EBS: &[ParamDef] = &[
    a(p("shared_dir", Str), FILE_PATH),
    a(
        p("ebs_snapshot_id", Str),
        Allowed::Str(
            |v| aws_id(v, "snap-"),
            "'snap-' followed by 8 or 17 lowercase letters or digits",
        ),
    ),
    a(d("volume_type", Str, "gp2"), Allowed::OneOf(VOLUME_TYPES)),
    d("volume_size", Int, "20"),
    p("volume_iops", Int),
    d("encrypted", Bool, "false"),
    p("ebs_kms_key_id", Str),
    a(
        p("ebs_volume_id", Str),
        Allowed::Str(
            |v| aws_id(v, "vol-"),
            "'vol-' followed by 8 or 17 lowercase letters or digits",
        ),
    ),
    d("volume_throughput", Int, "125"),
];

pub const EFS: &[ParamDef] = &[
    a(p("shared_dir", Str), FILE_PATH),
    a(
        p("efs_fs_id", Str),
        Allowed::Str(
            efs_fs_id,
            "'fs-' followed by 8 or 17 lowercase letters or digits",
        ),
    ),
    a(
        d("performance_mode", Str, "generalPurpose"),
        Allowed::OneOf(&["generalPurpose", "maxIO"]),
    ),
    p("efs_kms_key_id", Str),
    a(
        p("provisioned_throughput", Float),
        Allowed::Float(
            provisioned_throughput,
            "a number from 0.0 to 1024.0 with at most one decimal",
        ),
    ),
    d("encrypted", Bool, "false"),
    a(
        d("throughput_mode", Str, "bursting"),
        Allowed::OneOf(&["provisioned", "bursting"]),
    ),
];

pub const RAID: &[ParamDef] = &[
    a(p("shared_dir", Str), FILE_PATH),
    a(
        p("raid_type", Int),
        Allowed::Int(|v| v == 0 || v == 1, "0 or 1"),
    ),
    a(
        d("num_of_raid_volumes", Int, "2"),
        Allowed::Int(|v| (2..=5).contains(&v), "an integer from 2 to 5"),
    ),
    a(d("volume_type", Str, "gp2"), Allowed::OneOf(VOLUME_TYPES)),
    d("volume_size", Int, "20"),
    p("volume_iops", Int),
    d("encrypted", Bool, "false"),
    p("ebs_kms_key_id", Str),
    d("volume_throughput", Int, "125"),
];

pub const FSX: &[ParamDef] = &[
    a(p("shared_dir", Str), FILE_PATH),
    a(
        p("fsx_fs_id", Str),
        Allowed::Str(
            fsx_fs_id,
            "'fs-' followed by 17 lowercase letters or digits",
        ),
    ),
    p("storage_capacity", Int),
    p("fsx_kms_key_id", Str),
    p("imported_file_chunk_size", Int),
    a(
        p("export_path", Str),
        Allowed::Str(|v| v.starts_with("s3://"), "an s3:// URI"),
    ),
    a(
        p("import_path", Str),
        Allowed::Str(|v| v.starts_with("s3://"), "an s3:// URI"),
    ),
    a(
        p("weekly_maintenance_start_time", Str),
        Allowed::Str(weekly_time, "d:HH:MM with d from 1 (Monday) to 7"),
    ),
    a(
        p("deployment_type", Str),
        Allowed::OneOf(&["SCRATCH_1", "SCRATCH_2", "PERSISTENT_1"]),
    ),
    a(
        p("per_unit_storage_throughput", Int),
        Allowed::Int(
            |v| [50, 100, 200, 12, 40].contains(&v),
            "one of 50, 100, 200, 12, 40",
        ),
    ),
    a(
        p("daily_automatic_backup_start_time", Str),
        Allowed::Str(daily_time, "HH:MM"),
    ),
    a(
        p("automatic_backup_retention_days", Int),
        Allowed::Int(|v| (0..=35).contains(&v), "an integer from 0 to 35"),
    ),
    p("copy_tags_to_backups", Bool),
    a(
        p("fsx_backup_id", Str),
        Allowed::Str(backup_id, "'backup-' followed by at least 8 hex digits"),
    ),
    a(
        p("auto_import_policy", Str),
        Allowed::OneOf(&["NEW", "NEW_CHANGED", "NEW_CHANGED_DELETED"]),
    ),
    a(p("storage_type", Str), Allowed::OneOf(&["SSD", "HDD"])),
    a(
        d("drive_cache_type", Str, "NONE"),
        Allowed::OneOf(&["READ"]),
    ),
    a(
        d("data_compression_type", Str, "NONE"),
        Allowed::OneOf(&["LZ4"]),
    ),
];

pub const DCV: &[ParamDef] = &[
    a(p("enable", Str), Allowed::OneOf(&["master"])),
    d("port", Int, "8443"),
    a(d("access_from", Str, "0.0.0.0/0"), CIDR),
];

pub const CW_LOG: &[ParamDef] = &[
    d("enable", Bool, "true"),
    a(
        d("retention_days", Int, "14"),
        Allowed::Int(
            |v| {
                [
                    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653,
                ]
                .contains(&v)
            },
            "one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653",
        ),
    ),
];

pub const DASHBOARD: &[ParamDef] = &[d("enable", Bool, "true")];

pub const COMPUTE_RESOURCE: &[ParamDef] = &[
    req(p("instance_type", Str)),
    d("min_count", Int, "0"),
    d("max_count", Int, "10"),
    p("initial_count", Int),
    d("spot_price", Float, "0"),
    p("enable_efa_gdr", Bool),
];

pub const QUEUE: &[ParamDef] = &[
    a(
        d("compute_type", Str, "ondemand"),
        Allowed::OneOf(&["ondemand", "spot"]),
    ),
    p("enable_efa", Bool),
    p("enable_efa_gdr", Bool),
    p("disable_hyperthreading", Bool),
    p("placement_group", Str),
    req(settings("compute_resource_settings", "compute_resource", 3)),
];

pub const CLUSTER_COMMON: &[ParamDef] = &[
    p("key_name", Str),
    req(a(p("scheduler", Str), Allowed::OneOf(SCHEDULERS))),
    p("master_instance_type", Str),
    a(d("master_root_volume_size", Int, "35"), ROOT_VOLUME),
    req(a(p("base_os", Str), Allowed::OneOf(SUPPORTED_OSS))),
    a(d("compute_root_volume_size", Int, "35"), ROOT_VOLUME),
    p("proxy_server", Str),
    p("ec2_iam_role", Str),
    p("s3_read_resource", Str),
    p("s3_read_write_resource", Str),
    p("template_url", Str),
    a(d("shared_dir", Str, "/shared"), FILE_PATH),
    a(p("enable_efa", Str), Allowed::OneOf(&["compute"])),
    a(p("enable_efa_gdr", Str), Allowed::OneOf(&["compute"])),
    a(d("ephemeral_dir", Str, "/scratch"), FILE_PATH),
    d("encrypted_ephemeral", Bool, "false"),
    a(
        p("custom_ami", Str),
        Allowed::Str(
            |v| aws_id(v, "ami-"),
            "'ami-' followed by 8 or 17 lowercase letters or digits",
        ),
    ),
    p("pre_install", Str),
    p("pre_install_args", Str),
    p("post_install", Str),
    p("post_install_args", Str),
    p("extra_json", Json),
    p("additional_cfn_template", Str),
    p("tags", Json),
    p("custom_chef_cookbook", Str),
    d("enable_intel_hpc_platform", Bool, "false"),
    settings("scaling_settings", "scaling", 1),
    settings("vpc_settings", "vpc", 1),
    settings("ebs_settings", "ebs", 5),
    settings("efs_settings", "efs", 1),
    settings("raid_settings", "raid", 1),
    settings("fsx_settings", "fsx", 1),
    settings("dcv_settings", "dcv", 1),
    settings("cw_log_settings", "cw_log", 1),
    settings("dashboard_settings", "dashboard", 1),
    p("additional_iam_policies", List),
    p("hit_template_url", Str),
    p("cw_dashboard_template_url", Str),
    p("cluster_resource_bucket", Str),
    p("iam_lambda_role", Str),
    p("instance_types_data", Json),
];

/// Extra parameters of a single-queue (SIT) cluster section.
pub const CLUSTER_SIT: &[ParamDef] = &[
    p("placement_group", Str),
    a(
        d("placement", Str, "compute"),
        Allowed::OneOf(&["cluster", "compute"]),
    ),
    p("compute_instance_type", Str),
    d("initial_queue_size", Int, "0"),
    d("max_queue_size", Int, "10"),
    d("maintain_initial_size", Bool, "false"),
    d("min_vcpus", Int, "0"),
    d("desired_vcpus", Int, "4"),
    d("max_vcpus", Int, "10"),
    a(
        d("cluster_type", Str, "ondemand"),
        Allowed::OneOf(&["ondemand", "spot"]),
    ),
    d("spot_price", Float, "0"),
    a(
        d("spot_bid_percentage", Int, "0"),
        Allowed::Int(|v| (0..=100).contains(&v), "an integer from 0 to 100"),
    ),
    d("disable_hyperthreading", Bool, "false"),
];

/// Extra parameters of a multi-queue (HIT) cluster section.
pub const CLUSTER_HIT: &[ParamDef] = &[
    settings("queue_settings", "queue", 5),
    p("disable_hyperthreading", Bool),
    d("disable_cluster_dns", Bool, "false"),
];

/// Section keys that are not tied to a cluster template.
pub const GLOBAL_SECTIONS: &[&str] = &["aws", "global", "aliases"];

/// Every section key ParallelCluster 2.11 knows.
pub const SECTION_KEYS: &[&str] = &[
    "aws",
    "global",
    "aliases",
    "cluster",
    "vpc",
    "queue",
    "compute_resource",
    "scaling",
    "ebs",
    "efs",
    "fsx",
    "raid",
    "dcv",
    "cw_log",
    "dashboard",
];

/// The parameter table of a (non-cluster) section key.
pub fn section_params(key: &str) -> &'static [ParamDef] {
    match key {
        "aws" => AWS,
        "global" => GLOBAL,
        "aliases" => ALIASES,
        "scaling" => SCALING,
        "vpc" => VPC,
        "ebs" => EBS,
        "efs" => EFS,
        "raid" => RAID,
        "fsx" => FSX,
        "dcv" => DCV,
        "cw_log" => CW_LOG,
        "dashboard" => DASHBOARD,
        "compute_resource" => COMPUTE_RESOURCE,
        "queue" => QUEUE,
        _ => &[],
    }
}

fn lower_alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `^PREFIX[0-9a-z]{8}$|^PREFIX[0-9a-z]{17}$`.
pub fn aws_id(v: &str, prefix: &str) -> bool {
    v.strip_prefix(prefix)
        .is_some_and(|rest| (rest.len() == 8 || rest.len() == 17) && lower_alnum(rest))
}

pub fn vpc_id(v: &str) -> bool {
    aws_id(v, "vpc-")
}

pub fn subnet_id(v: &str) -> bool {
    aws_id(v, "subnet-")
}

pub fn sg_id(v: &str) -> bool {
    aws_id(v, "sg-")
}

/// `^fs-[0-9a-z]{8}$|^fs-[0-9a-z]{17}|NONE$` (as `re.match` applies it).
fn efs_fs_id(v: &str) -> bool {
    aws_id(v, "fs-") || v.starts_with("NONE") && v.len() == 4 || fsx_fs_id(v)
}

/// `^fs-[0-9a-z]{17}|NONE$` (as `re.match` applies it).
fn fsx_fs_id(v: &str) -> bool {
    v == "NONE"
        || v.strip_prefix("fs-")
            .and_then(|r| r.get(..17))
            .is_some_and(lower_alnum)
}

fn two_digits(s: &str, max: u32) -> bool {
    s.len() == 2
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|n| n <= max)
}

fn daily_time(v: &str) -> bool {
    if v.starts_with("NONE") {
        return true;
    }
    matches!(v.split_once(':'), Some((h, m)) if two_digits(h, 23) && two_digits(m, 59))
}

fn weekly_time(v: &str) -> bool {
    if v.starts_with("NONE") {
        return true;
    }
    matches!(v.split_once(':'), Some((d, rest)) if matches!(d, "1" | "2" | "3" | "4" | "5" | "6" | "7") && daily_time(rest) && !rest.starts_with("NONE"))
}

fn backup_id(v: &str) -> bool {
    v.strip_prefix("backup-").is_some_and(|r| {
        r.len() >= 8
            && r.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn provisioned_throughput(v: f64) -> bool {
    (0.0..=1024.0).contains(&v) && ((v * 10.0).round() - v * 10.0).abs() < 1e-9
}

/// The `cidr` pattern: dotted quad without leading zeros, `/0`..`/32`.
pub fn cidr(v: &str) -> bool {
    let Some((ip, bits)) = v.split_once('/') else {
        return false;
    };
    let octet = |s: &str| {
        !s.is_empty()
            && s.len() <= 3
            && s.bytes().all(|b| b.is_ascii_digit())
            && !(s.len() > 1 && s.starts_with('0'))
            && s.parse::<u32>().is_ok_and(|n| n <= 255)
    };
    let parts: Vec<&str> = ip.split('.').collect();
    let bits_ok = !bits.is_empty()
        && bits.len() <= 2
        && bits.bytes().all(|b| b.is_ascii_digit())
        && !(bits.len() > 1 && bits.starts_with('0'))
        && bits.parse::<u32>().is_ok_and(|n| n <= 32);
    parts.len() == 4 && parts.iter().all(|p| octet(p)) && bits_ok
}

/// `^\/?[^\/.\\][^\/\\]*(\/[^\/.\\][^\/]*)*$`.
pub fn file_path(v: &str) -> bool {
    let body = v.strip_prefix('/').unwrap_or(v);
    for (i, seg) in body.split('/').enumerate() {
        let mut chars = seg.chars();
        match chars.next() {
            None | Some('.') | Some('\\') => return false,
            Some(_) => {}
        }
        if i == 0 && chars.any(|c| c == '\\') {
            return false;
        }
    }
    true
}

/// Section label: `^[a-zA-Z][a-zA-Z0-9-_]{0,29}$`.
pub fn valid_section_label(label: &str) -> bool {
    let mut chars = label.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && label.len() <= 30
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_forms_need_8_or_17_lowercase_alnum() {
        assert!(vpc_id("vpc-07edfc27679c9ca80"));
        assert!(vpc_id("vpc-12345678"));
        assert!(!vpc_id("vpc-1234567"));
        assert!(!vpc_id("vpc-07EDFC27679C9CA80"));
        assert!(subnet_id("subnet-0ab2754446b2f87a4"));
        assert!(!subnet_id("sub-0ab2754446b2f87a4"));
    }

    #[test]
    fn cidr_rejects_leading_zeros_and_bad_prefix() {
        assert!(cidr("0.0.0.0/0"));
        assert!(cidr("10.1.255.0/24"));
        assert!(!cidr("10.01.0.0/16"));
        assert!(!cidr("10.0.0.0/33"));
        assert!(!cidr("10.0.0/8"));
    }

    #[test]
    fn file_path_rejects_dot_components() {
        assert!(file_path("/shared"));
        assert!(file_path("sharedebs"));
        assert!(file_path("/a/b"));
        assert!(!file_path("/a/.b"));
        assert!(!file_path("/"));
        assert!(!file_path("a//b"));
    }

    #[test]
    fn section_labels_follow_parallelcluster_pattern() {
        assert!(valid_section_label("spot1_resource"));
        assert!(valid_section_label("a-b"));
        assert!(!valid_section_label("1abc"));
        assert!(!valid_section_label("a.b"));
        assert!(!valid_section_label(&"a".repeat(31)));
        assert!(valid_section_label(&"a".repeat(30)));
    }

    #[test]
    fn fsx_times_follow_patterns() {
        assert!(daily_time("03:00"));
        assert!(!daily_time("24:00"));
        assert!(weekly_time("1:00:00"));
        assert!(!weekly_time("8:00:00"));
    }
}
