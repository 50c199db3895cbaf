//! `airlock update`'s change set, as `pcluster update` (2.x) computes it:
//! every parameter that differs between a cluster's configuration and a
//! new one, with ParallelCluster's update policy for it, and the outcome of
//! checking that policy against the cluster's compute fleet. Pure: the
//! caller says what the fleet looks like.

use std::collections::BTreeSet;

use airlock_config::model::{ClusterModel, ComputeResource, Queue};

use crate::nodes::groups;

/// How parameters are named: `[section label] key` (v2 INI) or a v3 path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    V2,
    V3,
}

impl Dialect {
    /// The dialect of a configuration file, by the rule `airlock_config::load` uses.
    pub fn of(file_name: &str) -> Self {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Dialect::V3
        } else {
            Dialect::V2
        }
    }
}

/// ParallelCluster's update policies (`pcluster/config/update_policy.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Applied while the cluster runs.
    Supported,
    /// Growing is live; shrinking needs the removed nodes idle (airlock) or
    /// the fleet stopped (ParallelCluster).
    MaxCount,
    /// As [`Policy::MaxCount`], for the static nodes.
    MinCount,
    /// Only with the compute fleet stopped.
    ComputeFleetStop,
    /// Never: the cluster must be created again.
    Unsupported,
}

/// One parameter that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The v2 section (`[compute_resource default]`); empty for v3.
    pub section: String,
    /// The v2 key (`max_count`) or the v3 path
    /// (`Scheduling.SlurmQueues[q].ComputeResources[cr].MaxCount`).
    pub parameter: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub policy: Policy,
    /// The Slurm nodes that exist before and not after (count changes).
    pub removed_nodes: Vec<String>,
}

/// What a check of a change concluded (ParallelCluster's `CheckResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    ActionNeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "SUCCEEDED",
            Outcome::ActionNeeded => "ACTION_NEEDED",
            Outcome::Failed => "FAILED",
        }
    }
}

/// A change with the outcome of its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub change: Change,
    pub outcome: Outcome,
    /// Why it cannot be applied now.
    pub reason: Option<String>,
    /// How to fix it.
    pub action: Option<String>,
}

/// What the checks need to know of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    pub cluster_name: String,
    /// The compute fleet is STOPPED.
    pub stopped: bool,
    /// Compute nodes that are up: a running instance, or not powered down.
    pub up_nodes: BTreeSet<String>,
}

struct Diff<'a> {
    d: Dialect,
    out: &'a mut Vec<Change>,
}

impl Diff<'_> {
    fn push(
        &mut self,
        section: &str,
        (v2, v3): (&str, &str),
        old: Option<String>,
        new: Option<String>,
        policy: Policy,
    ) {
        if old == new {
            return;
        }
        let (section, parameter) = match self.d {
            Dialect::V2 => (section.to_owned(), v2.to_owned()),
            Dialect::V3 => (String::new(), v3.to_owned()),
        };
        self.out.push(Change {
            section,
            parameter,
            old,
            new,
            policy,
            removed_nodes: Vec::new(),
        });
    }
}

fn some<T: ToString>(v: &T) -> Option<String> {
    Some(v.to_string())
}

fn names(q: &Queue, cr: &ComputeResource) -> BTreeSet<String> {
    groups(q, cr).iter().flat_map(|g| g.names()).collect()
}

fn list(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(","))
}

/// Every parameter that differs between `old` and `new`, in the order of
/// the configuration: cluster, network, queues, compute resources.
pub fn diff(old: &ClusterModel, new: &ClusterModel, d: Dialect) -> Vec<Change> {
    use Policy::*;
    let mut out = Vec::new();
    let mut p = Diff { d, out: &mut out };
    let cluster = format!("[cluster {}]", new.template);
    let c = cluster.as_str();
    let s = |v: &airlock_config::model::Sourced<String>| Some(v.value.clone());
    p.push(
        c,
        ("aws_region_name", "Region"),
        s(&old.region),
        s(&new.region),
        Unsupported,
    );
    p.push(
        c,
        ("scheduler", "Scheduling.Scheduler"),
        some(&old.scheduler.value.as_str()),
        some(&new.scheduler.value.as_str()),
        Unsupported,
    );
    p.push(
        c,
        ("base_os", "Image.Os"),
        s(&old.base_os),
        s(&new.base_os),
        Unsupported,
    );
    p.push(
        c,
        ("key_name", "HeadNode.Ssh.KeyName"),
        old.key_name.as_ref().and_then(s),
        new.key_name.as_ref().and_then(s),
        Unsupported,
    );
    p.push(
        c,
        ("master_instance_type", "HeadNode.InstanceType"),
        s(&old.head_node.instance_type),
        s(&new.head_node.instance_type),
        Unsupported,
    );
    p.push(
        c,
        (
            "master_root_volume_size",
            "HeadNode.LocalStorage.RootVolume.Size",
        ),
        some(&old.head_node.root_volume_size.value),
        some(&new.head_node.root_volume_size.value),
        Unsupported,
    );
    p.push(
        c,
        (
            "compute_root_volume_size",
            "Scheduling.SlurmQueues.ComputeSettings.LocalStorage.RootVolume.Size",
        ),
        some(&old.compute_root_volume_size.value),
        some(&new.compute_root_volume_size.value),
        ComputeFleetStop,
    );
    let policies = |m: &ClusterModel| {
        let v: Vec<String> = m
            .additional_iam_policies
            .iter()
            .map(|p| p.value.clone())
            .collect();
        list(&v)
    };
    p.push(
        c,
        (
            "additional_iam_policies",
            "HeadNode.Iam.AdditionalIamPolicies",
        ),
        policies(old),
        policies(new),
        Supported,
    );
    let tags = |m: &ClusterModel| {
        let v: Vec<String> = m
            .tags
            .value
            .iter()
            .map(|t| format!("{}={}", t.key, t.value))
            .collect();
        list(&v)
    };
    p.push(c, ("tags", "Tags"), tags(old), tags(new), Unsupported);
    p.push(
        c,
        ("shared_dir", "SharedStorage.MountDir"),
        s(&old.shared_dir),
        s(&new.shared_dir),
        Unsupported,
    );
    p.push(
        c,
        (
            "ephemeral_dir",
            "HeadNode.LocalStorage.EphemeralVolume.MountDir",
        ),
        s(&old.ephemeral_dir),
        s(&new.ephemeral_dir),
        Unsupported,
    );
    let ca = |m: &ClusterModel, k: &str| {
        let a = &m.custom_actions;
        let v = match k {
            "pre_install" => &a.pre_install,
            "pre_install_args" => &a.pre_install_args,
            "post_install" => &a.post_install,
            _ => &a.post_install_args,
        };
        v.as_ref().map(|v| v.value.clone())
    };
    for (k, v3) in [
        ("pre_install", "HeadNode.CustomActions.OnNodeStart.Script"),
        (
            "pre_install_args",
            "HeadNode.CustomActions.OnNodeStart.Args",
        ),
        (
            "post_install",
            "HeadNode.CustomActions.OnNodeConfigured.Script",
        ),
        (
            "post_install_args",
            "HeadNode.CustomActions.OnNodeConfigured.Args",
        ),
    ] {
        p.push(c, (k, v3), ca(old, k), ca(new, k), Unsupported);
    }
    let extra = |m: &ClusterModel| {
        let v: Vec<String> = m
            .extra
            .iter()
            .map(|x| format!("{}={}", x.key, x.value.value))
            .collect();
        list(&v)
    };
    p.push(
        c,
        ("extra_json", "DevSettings"),
        extra(old),
        extra(new),
        Unsupported,
    );
    let scaling = "[scaling default]";
    p.push(
        scaling,
        (
            "scaledown_idletime",
            "Scheduling.SlurmSettings.ScaledownIdletime",
        ),
        some(&old.scaledown_idletime.value),
        some(&new.scaledown_idletime.value),
        Supported,
    );
    network(&mut p, old, new);
    storage(&mut p, old, new);
    queues(&mut p, old, new);
    out
}

fn network(p: &mut Diff<'_>, old: &ClusterModel, new: &ClusterModel) {
    use Policy::*;
    let section = format!("[vpc {}]", new.vpc.label);
    let o =
        |v: &Option<airlock_config::model::Sourced<String>>| v.as_ref().map(|v| v.value.clone());
    let (a, b) = (&old.vpc, &new.vpc);
    p.push(
        &section,
        ("vpc_id", "HeadNode.Networking.VpcId"),
        o(&a.vpc_id),
        o(&b.vpc_id),
        Unsupported,
    );
    p.push(
        &section,
        ("master_subnet_id", "HeadNode.Networking.SubnetId"),
        o(&a.master_subnet_id),
        o(&b.master_subnet_id),
        Unsupported,
    );
    p.push(
        &section,
        (
            "compute_subnet_id",
            "Scheduling.SlurmQueues.Networking.SubnetIds",
        ),
        o(&a.compute_subnet_id),
        o(&b.compute_subnet_id),
        ComputeFleetStop,
    );
    p.push(
        &section,
        ("use_public_ips", "HeadNode.Networking.ElasticIp"),
        some(&a.use_public_ips.value),
        some(&b.use_public_ips.value),
        Unsupported,
    );
    p.push(
        &section,
        ("ssh_from", "HeadNode.Ssh.AllowedIps"),
        Some(a.ssh_from.value.clone()),
        Some(b.ssh_from.value.clone()),
        Supported,
    );
    p.push(
        &section,
        (
            "additional_sg",
            "HeadNode.Networking.AdditionalSecurityGroups",
        ),
        o(&a.additional_sg),
        o(&b.additional_sg),
        Supported,
    );
    p.push(
        &section,
        (
            "vpc_security_group_id",
            "HeadNode.Networking.SecurityGroups",
        ),
        o(&a.vpc_security_group_id),
        o(&b.vpc_security_group_id),
        Unsupported,
    );
}

/// Storage sections: added, removed or changed, none can be updated.
fn storage(p: &mut Diff<'_>, old: &ClusterModel, new: &ClusterModel) {
    let text = |m: &ClusterModel, i: usize| {
        m.storage.get(i).map(|s| {
            let v: Vec<String> = s
                .settings
                .iter()
                .map(|x| format!("{}={}", x.key, x.value.value))
                .collect();
            format!("{} {}: {}", s.kind.key(), s.label, v.join(","))
        })
    };
    for i in 0..old.storage.len().max(new.storage.len()) {
        let Some(st) = new.storage.get(i).or(old.storage.get(i)) else {
            continue;
        };
        let section = format!("[{} {}]", st.kind.key(), st.label);
        let key = format!("{}_settings", st.kind.key());
        p.push(
            &section,
            (&key, "SharedStorage"),
            text(old, i),
            text(new, i),
            Policy::Unsupported,
        );
    }
}

fn queues(p: &mut Diff<'_>, old: &ClusterModel, new: &ClusterModel) {
    use Policy::*;
    let cluster = format!("[cluster {}]", new.template);
    let qnames = |m: &ClusterModel| {
        let v: Vec<String> = m.queues.iter().map(|q| q.name.clone()).collect();
        list(&v)
    };
    p.push(
        &cluster,
        ("queue_settings", "Scheduling.SlurmQueues"),
        qnames(old),
        qnames(new),
        ComputeFleetStop,
    );
    for nq in &new.queues {
        let Some(oq) = old.queues.iter().find(|q| q.name == nq.name) else {
            continue;
        };
        let section = format!("[queue {}]", nq.name);
        let path = |k: &str| format!("Scheduling.SlurmQueues[{}].{k}", nq.name);
        p.push(
            &section,
            ("compute_type", &path("CapacityType")),
            some(&oq.compute_type.value.as_str()),
            some(&nq.compute_type.value.as_str()),
            ComputeFleetStop,
        );
        p.push(
            &section,
            ("placement_group", &path("Networking.PlacementGroup")),
            oq.placement_group.as_ref().map(|v| v.value.clone()),
            nq.placement_group.as_ref().map(|v| v.value.clone()),
            ComputeFleetStop,
        );
        p.push(
            &section,
            (
                "disable_hyperthreading",
                &path("ComputeResources.DisableSimultaneousMultithreading"),
            ),
            some(&oq.disable_hyperthreading.value),
            some(&nq.disable_hyperthreading.value),
            ComputeFleetStop,
        );
        p.push(
            &section,
            ("enable_efa", &path("ComputeResources.Efa.Enabled")),
            some(&oq.enable_efa.value),
            some(&nq.enable_efa.value),
            ComputeFleetStop,
        );
        let crs = |q: &Queue| {
            let v: Vec<String> = q
                .compute_resources
                .iter()
                .map(|c| c.label.clone())
                .collect();
            list(&v)
        };
        p.push(
            &section,
            ("compute_resource_settings", &path("ComputeResources")),
            crs(oq),
            crs(nq),
            ComputeFleetStop,
        );
        for ncr in &nq.compute_resources {
            let Some(ocr) = oq.compute_resources.iter().find(|c| c.label == ncr.label) else {
                continue;
            };
            compute_resource(p, (oq, ocr), (nq, ncr));
        }
    }
}

fn compute_resource(
    p: &mut Diff<'_>,
    (oq, o): (&Queue, &ComputeResource),
    (nq, n): (&Queue, &ComputeResource),
) {
    use Policy::*;
    let section = format!("[compute_resource {}]", n.label);
    let path = |k: &str| {
        format!(
            "Scheduling.SlurmQueues[{}].ComputeResources[{}].{k}",
            nq.name, n.label
        )
    };
    p.push(
        &section,
        ("instance_type", &path("InstanceType")),
        Some(o.instance_type.value.clone()),
        Some(n.instance_type.value.clone()),
        ComputeFleetStop,
    );
    let before = p.out.len();
    p.push(
        &section,
        ("min_count", &path("MinCount")),
        some(&o.min_count.value),
        some(&n.min_count.value),
        MinCount,
    );
    p.push(
        &section,
        ("max_count", &path("MaxCount")),
        some(&o.max_count.value),
        some(&n.max_count.value),
        MaxCount,
    );
    let removed: Vec<String> = names(oq, o).difference(&names(nq, n)).cloned().collect();
    for c in &mut p.out[before..] {
        c.removed_nodes = removed.clone();
    }
    // v3 has no initial count (it is MinCount, checked above).
    if p.d == Dialect::V2 {
        p.push(
            &section,
            ("initial_count", ""),
            some(&o.initial_count.value),
            some(&n.initial_count.value),
            ComputeFleetStop,
        );
    }
    p.push(
        &section,
        ("spot_price", &path("SpotPrice")),
        some(&o.spot_price.value),
        some(&n.spot_price.value),
        Supported,
    );
}

/// ParallelCluster's "how to fix" for a change that needs the fleet stopped.
fn stop_first(fleet: &Fleet) -> String {
    format!(
        "Stop the compute fleet with the following command:\nairlock stop {}",
        fleet.cluster_name
    )
}

/// Checks each change against the fleet, as `pcluster update` does.
pub fn check(changes: Vec<Change>, fleet: &Fleet) -> Vec<Checked> {
    changes
        .into_iter()
        .map(|change| {
            let fail = |outcome, reason: String, action: String| (outcome, Some(reason), Some(action));
            let (outcome, reason, action) = match change.policy {
                Policy::Supported => (Outcome::Succeeded, None, None),
                Policy::MaxCount | Policy::MinCount => {
                    let busy: Vec<&String> = change
                        .removed_nodes
                        .iter()
                        .filter(|n| fleet.up_nodes.contains(*n))
                        .collect();
                    if fleet.stopped || busy.is_empty() {
                        (Outcome::Succeeded, None, None)
                    } else {
                        let list: Vec<&str> = busy.iter().map(|s| s.as_str()).collect();
                        let why = if change.policy == Policy::MaxCount {
                            "Shrinking a queue requires the compute fleet to be stopped first"
                        } else {
                            "The applied change may cause existing nodes to be terminated hence requires the compute fleet to be stopped first"
                        };
                        fail(
                            Outcome::ActionNeeded,
                            format!("{why} (up: {})", list.join(", ")),
                            stop_first(fleet),
                        )
                    }
                }
                Policy::ComputeFleetStop if fleet.stopped => (Outcome::Succeeded, None, None),
                Policy::ComputeFleetStop => fail(
                    Outcome::ActionNeeded,
                    "All compute nodes must be stopped".into(),
                    stop_first(fleet),
                ),
                Policy::Unsupported => {
                    let k = &change.parameter;
                    let fix = match &change.old {
                        Some(v) => format!("Restore '{k}' value to '{v}'"),
                        None => format!("Remove the parameter '{k}'"),
                    };
                    fail(
                        Outcome::Failed,
                        format!("Update actions are not currently supported for the '{k}' parameter"),
                        format!("{fix}. If you need this change, please consider creating a new cluster instead of updating the existing one."),
                    )
                }
            };
            Checked {
                change,
                outcome,
                reason,
                action,
            }
        })
        .collect()
}

/// Whether every change can be applied now.
pub fn applicable(set: &[Checked]) -> bool {
    set.iter().all(|c| c.outcome == Outcome::Succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_config::v2::{LoadOptions, load_str};

    const SEED: &str = "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = default\n\
        [cluster default]\nkey_name = k\nscheduler = slurm\nbase_os = ubuntu1804\nmaster_instance_type = t3.micro\n\
        vpc_settings = default\nqueue_settings = spot1\n[vpc default]\nvpc_id = vpc-1\nmaster_subnet_id = subnet-1\n\
        [queue spot1]\ncompute_resource_settings = r\ncompute_type = spot\n\
        [compute_resource r]\ninstance_type = c5.large\nmax_count = 16\n";

    fn model(text: &str) -> ClusterModel {
        let r = load_str(text, &LoadOptions::new("c.ini"));
        r.model.expect("the configuration loads")
    }

    fn fleet(stopped: bool, up: &[&str]) -> Fleet {
        Fleet {
            cluster_name: "c".into(),
            stopped,
            up_nodes: up.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn growing_max_count_is_live() {
        let new = SEED.replace("max_count = 16", "max_count = 32");
        let set = check(
            diff(&model(SEED), &model(&new), Dialect::V2),
            &fleet(false, &["spot1-dy-c5large-1"]),
        );
        assert_eq!(set.len(), 1, "{set:?}");
        let c = &set[0];
        assert_eq!(
            (c.change.section.as_str(), c.change.parameter.as_str()),
            ("[compute_resource r]", "max_count")
        );
        assert_eq!(
            (c.change.old.as_deref(), c.change.new.as_deref()),
            (Some("16"), Some("32"))
        );
        assert_eq!(c.outcome, Outcome::Succeeded);
        assert!(applicable(&set));
    }

    #[test]
    fn shrinking_needs_the_removed_nodes_idle_or_the_fleet_stopped() {
        let new = SEED.replace("max_count = 16", "max_count = 14");
        let changes = diff(&model(SEED), &model(&new), Dialect::V2);
        assert_eq!(
            changes[0].removed_nodes,
            ["spot1-dy-c5large-15", "spot1-dy-c5large-16"]
        );
        assert!(applicable(&check(
            changes.clone(),
            &fleet(false, &["spot1-dy-c5large-1"])
        )));
        let busy = check(changes.clone(), &fleet(false, &["spot1-dy-c5large-16"]));
        assert_eq!(busy[0].outcome, Outcome::ActionNeeded);
        let why = busy[0].reason.as_deref().unwrap_or_default();
        assert!(why.starts_with("Shrinking a queue requires the compute fleet to be stopped first (up: spot1-dy-c5large-16)"), "{why}");
        assert!(
            busy[0]
                .action
                .as_deref()
                .unwrap_or_default()
                .contains("airlock stop c")
        );
        assert!(applicable(&check(
            changes,
            &fleet(true, &["spot1-dy-c5large-16"])
        )));
    }

    #[test]
    fn the_head_node_cannot_change_and_a_new_queue_needs_the_fleet_stopped() {
        let new = SEED.replace(
            "master_instance_type = t3.micro",
            "master_instance_type = c5.xlarge",
        );
        let set = check(
            diff(&model(SEED), &model(&new), Dialect::V2),
            &fleet(true, &[]),
        );
        assert_eq!(set[0].change.parameter, "master_instance_type");
        assert_eq!(set[0].outcome, Outcome::Failed);
        assert_eq!(
            set[0].reason.as_deref(),
            Some(
                "Update actions are not currently supported for the 'master_instance_type' parameter"
            )
        );
        assert!(
            set[0]
                .action
                .as_deref()
                .unwrap_or_default()
                .starts_with("Restore 'master_instance_type' value to 't3.micro'.")
        );
        let new = SEED.replace("queue_settings = spot1", "queue_settings = spot1, q2")
            + "[queue q2]\ncompute_resource_settings = r2\n[compute_resource r2]\ninstance_type = t3.micro\nmax_count = 2\n";
        let changes = diff(&model(SEED), &model(&new), Dialect::V2);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].parameter, "queue_settings");
        assert_eq!(changes[0].new.as_deref(), Some("spot1,q2"));
        assert_eq!(
            check(changes.clone(), &fleet(false, &[]))[0].outcome,
            Outcome::ActionNeeded
        );
        assert!(applicable(&check(changes, &fleet(true, &[]))));
    }

    #[test]
    fn v3_names_parameters_by_path() {
        let yaml = "Region: us-east-1\nImage:\n  Os: ubuntu2004\nHeadNode:\n  InstanceType: t3.micro\n  Networking:\n    SubnetId: subnet-1\n  Ssh:\n    KeyName: k\n\
            Scheduling:\n  Scheduler: slurm\n  SlurmQueues:\n  - Name: q1\n    ComputeResources:\n    - Name: cr1\n      InstanceType: c5.large\n      MaxCount: 4\n    Networking:\n      SubnetIds:\n      - subnet-1\n";
        let load = |t: &str| {
            airlock_config::load(t, "c.yaml", None, None)
                .model
                .expect("the configuration loads")
        };
        let set = diff(
            &load(yaml),
            &load(&yaml.replace("MaxCount: 4", "MaxCount: 8")),
            Dialect::V3,
        );
        assert_eq!(set.len(), 1, "{set:?}");
        assert_eq!(
            set[0].parameter,
            "Scheduling.SlurmQueues[q1].ComputeResources[cr1].MaxCount"
        );
        assert_eq!(set[0].section, "");
        assert!(diff(&load(yaml), &load(yaml), Dialect::V3).is_empty());
        // MinCount is one change (v3 has no separate initial count), live
        // when the nodes it takes from the dynamic range are idle.
        let more = yaml.replace("MaxCount: 4", "MaxCount: 4\n      MinCount: 1");
        let set = diff(&load(yaml), &load(&more), Dialect::V3);
        assert_eq!(set.len(), 1, "{set:?}");
        assert_eq!(set[0].policy, Policy::MinCount);
        assert!(applicable(&check(set, &Fleet::default())));
    }
}
