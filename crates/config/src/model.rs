//! The normalised cluster model that both the v2 INI and the v3 YAML front
//! ends produce, with defaults filled in and the provenance of every value.

use serde::Serialize;

use crate::span::Span;

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Written in the configuration file at this span.
    File(Span),
    /// Not written: the documented default (or derived from other values).
    Default,
}

/// A value with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    pub fn file(value: T, span: Span) -> Self {
        Sourced {
            value,
            source: Source::File(span),
        }
    }

    pub fn default(value: T) -> Self {
        Sourced {
            value,
            source: Source::Default,
        }
    }
}

/// The job scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Slurm,
    Awsbatch,
}

impl Scheduler {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Slurm => "slurm",
            Scheduler::Awsbatch => "awsbatch",
        }
    }
}

/// Purchasing option of a queue's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeType {
    Ondemand,
    Spot,
}

impl ComputeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ComputeType::Ondemand => "ondemand",
            ComputeType::Spot => "spot",
        }
    }
}

/// The login user of an OS image, as ParallelCluster defines it.
pub fn cluster_user_for(base_os: &str) -> &'static str {
    match base_os {
        "ubuntu1604" | "ubuntu1804" | "ubuntu2004" | "ubuntu2204" => "ubuntu",
        "centos6" | "centos7" | "centos8" => "centos",
        _ => "ec2-user",
    }
}

/// A whole cluster, as `airlock create` builds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterModel {
    /// The `[cluster LABEL]` section (v2) the model was read from.
    pub template: String,
    pub region: Sourced<String>,
    pub scheduler: Sourced<Scheduler>,
    pub base_os: Sourced<String>,
    /// Login user on every node, derived from `base_os`.
    pub cluster_user: Sourced<String>,
    pub key_name: Option<Sourced<String>>,
    pub head_node: HeadNode,
    pub compute_root_volume_size: Sourced<u32>,
    pub vpc: Vpc,
    pub queues: Vec<Queue>,
    pub scaledown_idletime: Sourced<u32>,
    pub additional_iam_policies: Vec<Sourced<String>>,
    pub tags: Sourced<Vec<Tag>>,
    /// `[aliases] ssh`, with `{CFN_USER}`, `{MASTER_IP}` and `{ARGS}`.
    pub ssh_alias: Sourced<String>,
    pub shared_dir: Sourced<String>,
    pub ephemeral_dir: Sourced<String>,
    pub custom_actions: CustomActions,
    pub storage: Vec<StorageSection>,
    /// Other parameters of the cluster section, passed through as written.
    pub extra: Vec<Setting>,
    pub sanity_check: Sourced<bool>,
    pub update_check: Sourced<bool>,
    /// What the configuration asks for that the local provider cannot do.
    pub unsupported_by_local_provider: Vec<Unsupported>,
}

/// The head node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadNode {
    pub instance_type: Sourced<String>,
    pub root_volume_size: Sourced<u32>,
}

/// Network placement, recorded under the AWS names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vpc {
    pub label: String,
    pub vpc_id: Option<Sourced<String>>,
    pub master_subnet_id: Option<Sourced<String>>,
    pub compute_subnet_id: Option<Sourced<String>>,
    pub compute_subnet_cidr: Option<Sourced<String>>,
    pub use_public_ips: Sourced<bool>,
    pub ssh_from: Sourced<String>,
    pub additional_sg: Option<Sourced<String>>,
    pub vpc_security_group_id: Option<Sourced<String>>,
}

/// One Slurm partition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queue {
    pub name: String,
    pub source: Source,
    pub compute_type: Sourced<ComputeType>,
    pub placement_group: Option<Sourced<String>>,
    pub disable_hyperthreading: Sourced<bool>,
    pub enable_efa: Sourced<bool>,
    pub compute_resources: Vec<ComputeResource>,
}

/// One instance type within a queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeResource {
    pub label: String,
    pub source: Source,
    pub instance_type: Sourced<String>,
    pub min_count: Sourced<u32>,
    pub initial_count: Sourced<u32>,
    pub max_count: Sourced<u32>,
    pub spot_price: Sourced<f64>,
}

/// A cluster tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Scripts run on node start.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CustomActions {
    pub pre_install: Option<Sourced<String>>,
    pub pre_install_args: Option<Sourced<String>>,
    pub post_install: Option<Sourced<String>>,
    pub post_install_args: Option<Sourced<String>>,
}

/// Kinds of optional sections validated for form only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    Ebs,
    Efs,
    Fsx,
    Raid,
    Dcv,
    CwLog,
    Dashboard,
}

impl StorageKind {
    /// The v2 section key (`ebs`, `cw_log`, ...).
    pub fn key(self) -> &'static str {
        match self {
            StorageKind::Ebs => "ebs",
            StorageKind::Efs => "efs",
            StorageKind::Fsx => "fsx",
            StorageKind::Raid => "raid",
            StorageKind::Dcv => "dcv",
            StorageKind::CwLog => "cw_log",
            StorageKind::Dashboard => "dashboard",
        }
    }
}

/// An `[ebs]`, `[efs]`, `[fsx]`, `[raid]`, `[dcv]`, `[cw_log]` or `[dashboard]`
/// section with every parameter (defaults included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageSection {
    pub kind: StorageKind,
    pub label: String,
    pub source: Source,
    pub settings: Vec<Setting>,
}

/// A named parameter value kept as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: Sourced<String>,
}

/// Something in the configuration the local provider will not do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unsupported {
    /// What, e.g. `[fsx fs1]` or `custom_ami`.
    pub feature: String,
    pub reason: String,
    pub source: Source,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_user_follows_base_os() {
        assert_eq!(cluster_user_for("ubuntu1804"), "ubuntu");
        assert_eq!(cluster_user_for("ubuntu2004"), "ubuntu");
        assert_eq!(cluster_user_for("alinux2"), "ec2-user");
        assert_eq!(cluster_user_for("alinux"), "ec2-user");
        assert_eq!(cluster_user_for("centos7"), "centos");
        assert_eq!(cluster_user_for("centos8"), "centos");
    }

    #[test]
    fn provenance_serialises_as_file_span_or_default() {
        let v = Sourced::file(3u32, Span::new(2, 5, 10, 1));
        let j = serde_json::to_value(&v).ok();
        let expected = serde_json::json!({"value": 3, "source": {"file": {"line": 2, "col": 5, "offset": 10, "len": 1}}});
        assert_eq!(j, Some(expected));
        let d = serde_json::to_value(Sourced::default(true)).ok();
        assert_eq!(
            d,
            Some(serde_json::json!({"value": true, "source": "default"}))
        );
    }
}
