//! Reads a schema-checked v3 document into the [`ClusterModel`]: v3 names
//! map to the model's (v2) fields, defaults are ParallelCluster's, and
//! value-level rules (scheduler, OS, capacity type, instance types, counts,
//! names, IAM policies) give diagnostics.

use super::LoadOptions;
use super::schema::bool_text;
use crate::diagnostic::Diagnostic;
use crate::instance_types;
use crate::model::{
    ClusterModel, ComputeResource, ComputeType, CustomActions, HeadNode, Queue, Scheduler, Setting,
    Source, Sourced, StorageKind, StorageSection, Tag, Unsupported, Vpc, cluster_user_for,
};
use crate::span::Span;
use crate::v2::reader::did_you_mean;
use crate::v2::schema::SSH_ALIAS_DEFAULT;
use crate::yaml::{Node, Value};

/// The ParallelCluster 3 version whose rules v3 configurations follow.
pub const PARALLELCLUSTER_3_VERSION: &str = "3.16";

/// Operating systems ParallelCluster 3.16 accepts for `Image/Os`
/// (`pcluster.constants.SUPPORTED_OSES`).
pub const SUPPORTED_OSS: &[&str] = &[
    "alinux2023",
    "ubuntu2204",
    "ubuntu2404",
    "rhel8",
    "rocky8",
    "rhel9",
    "rocky9",
];

/// Operating systems without an official ParallelCluster AMI
/// (`PRIVATE_OSES`): they need `Image/CustomAmi`.
const PRIVATE_OSS: &[&str] = &["rocky8", "rocky9"];

/// Operating systems earlier ParallelCluster 3 versions accepted.
const RETIRED_OSS: &[&str] = &["alinux2", "centos7", "ubuntu1804", "ubuntu2004"];

/// Schedulers ParallelCluster 3.16 accepts (`SUPPORTED_SCHEDULERS`).
pub const SUPPORTED_SCHEDULERS: &[&str] = &["slurm"];

/// ParallelCluster 3's `MAX_NUMBER_OF_QUEUES`.
pub const MAX_QUEUES: usize = 50;
/// `MAX_NUMBER_OF_COMPUTE_RESOURCES_PER_CLUSTER` (and per queue).
pub const MAX_COMPUTE_RESOURCES: usize = 50;
/// `NAME_MAX_LENGTH` of queue and compute resource names.
const NAME_MAX: usize = 25;
/// Tag keys with this prefix are ParallelCluster's own.
const RESERVED_TAG_PREFIX: &str = "parallelcluster:";

fn at<'n>(node: &'n Node, path: &[&str]) -> Option<&'n Node> {
    path.iter().try_fold(node, |n, k| n.get(k))
}

fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(v)) => v,
        _ => &[],
    }
}

fn s(node: &Node, path: &[&str]) -> Option<Sourced<String>> {
    let n = at(node, path)?;
    n.as_str().map(|v| Sourced::file(v.to_string(), n.span))
}

fn b(node: &Node, path: &[&str]) -> Option<Sourced<bool>> {
    let n = at(node, path)?;
    let v = match &n.value {
        Value::Bool(v) => *v,
        Value::Str(t) => bool_text(t)?,
        Value::Int(i @ (0 | 1)) => *i == 1,
        _ => return None,
    };
    Some(Sourced::file(v, n.span))
}

fn i(node: &Node, path: &[&str]) -> Option<Sourced<i64>> {
    let n = at(node, path)?;
    match n.value {
        Value::Int(v) => Some(Sourced::file(v, n.span)),
        _ => None,
    }
}

fn u(node: &Node, path: &[&str], default: u32) -> Sourced<u32> {
    i(node, path).map_or_else(
        || Sourced::default(default),
        |v| Sourced {
            value: u32::try_from(v.value.max(0)).unwrap_or(u32::MAX),
            source: v.source,
        },
    )
}

fn text(node: &Node, path: &[&str]) -> Option<Sourced<String>> {
    let n = at(node, path)?;
    n.value.scalar_text().map(|t| Sourced::file(t, n.span))
}

fn src(n: Option<&Node>) -> Source {
    n.map_or(Source::Default, |n| Source::File(n.span))
}

struct B<'a> {
    text: &'a str,
    opts: &'a LoadOptions<'a>,
    diags: Vec<Diagnostic>,
}

pub fn build(
    doc: &Node,
    text: &str,
    opts: &LoadOptions<'_>,
) -> (Option<ClusterModel>, Vec<Diagnostic>) {
    let mut bld = B {
        text,
        opts,
        diags: Vec::new(),
    };
    let model = bld.model(doc);
    (Some(model), bld.diags)
}

impl B<'_> {
    fn error(&mut self, span: Span, msg: String, label: &str, hint: Option<String>) {
        let mut d = Diagnostic::error(msg, self.opts.file_name).at(self.text, span, label);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.diags.push(d);
    }

    fn one_of(&mut self, v: &Sourced<String>, what: &str, allowed: &[&str]) -> bool {
        if allowed.contains(&v.value.as_str()) {
            return true;
        }
        if let Source::File(span) = v.source {
            let hint = match did_you_mean(&v.value, allowed.iter().copied()) {
                Some(s) => format!("did you mean '{s}'?"),
                None => format!("use one of: {}", allowed.join(", ")),
            };
            self.error(
                span,
                format!("'{}' is not a valid value for {what}", v.value),
                "invalid value",
                Some(hint),
            );
        }
        false
    }

    /// 3.16's `InstanceArchitectureCompatibilityValidator` (compute types
    /// of the head node's architecture) and `HeadNodeMemorySizeValidator`
    /// (the head node holds 0.6 GB plus 1 GB per 25 compute nodes, up to 16).
    fn head_node_fits(&mut self, head_type: &Sourced<String>, queues: &[Queue]) {
        let Some(head) = instance_types::lookup(&head_type.value) else {
            return;
        };
        for cr in queues.iter().flat_map(|q| &q.compute_resources) {
            let Some(t) = instance_types::lookup(&cr.instance_type.value) else {
                continue;
            };
            if let (true, Source::File(span)) = (t.arch != head.arch, cr.instance_type.source) {
                self.error(
                    span,
                    format!(
                        "The specified compute instance type ({}) supports the architectures ['{}'], none of which are compatible with the architecture supported by the head node instance type ({}).",
                        t.name,
                        t.arch.as_str(),
                        head.arch.as_str()
                    ),
                    "architecture differs from the head node's",
                    Some(format!("use {} instance types for the head node and the compute resources", head.arch.as_str())),
                );
            }
        }
        let nodes: u64 = queues
            .iter()
            .flat_map(|q| &q.compute_resources)
            .map(|cr| u64::from(cr.max_count.value))
            .sum();
        let have = head.memory_mib as f64 / 1024.0;
        let need = (nodes as f64 / 25.0 + 0.6).min(16.0);
        if have < need {
            let span = match head_type.source {
                Source::File(sp) => sp,
                Source::Default => Span::default(),
            };
            self.error(
                span,
                format!(
                    "Head node instance type {} has {} GB of memory. Please choose a head node instance type with at least {} GB of memory to manage {nodes} compute nodes.",
                    head.name,
                    crate::yaml::emit::python_float_repr(have),
                    crate::yaml::emit::python_float_repr(need)
                ),
                "too little memory for the compute fleet",
                Some("choose a larger head node instance type or lower MaxCount".into()),
            );
        }
    }

    /// A value earlier ParallelCluster 3 versions took and 3.16 does not.
    fn retired(&mut self, v: &Sourced<String>, what: &str, hint: &str) {
        if let Source::File(span) = v.source {
            self.error(
                span,
                format!(
                    "'{}' is not a valid value for {what}: ParallelCluster {PARALLELCLUSTER_3_VERSION} no longer supports it",
                    v.value
                ),
                "not in ParallelCluster 3.16",
                Some(hint.to_string()),
            );
        }
    }

    /// ParallelCluster's `MaxCountValidator`.
    fn at_most(&mut self, span: Span, count: usize, max: usize, what: &str) {
        if count > max {
            self.error(
                span,
                format!(
                    "Invalid number of {what} ({count}) specified. Currently only supports up to {max} {what}."
                ),
                "too many",
                Some(format!("ParallelCluster 3 allows at most {max}")),
            );
        }
    }

    /// `Tags` lists: no reserved `parallelcluster:` keys, no repeated key,
    /// keys of at most 128 characters and values of at most 256.
    fn check_tags(&mut self, node: &Node) {
        let mut seen: Vec<String> = Vec::new();
        for t in items(Some(node)) {
            let Some(key) = at(t, &["Key"]) else { continue };
            let Some(k) = key.as_str().map(str::to_string) else {
                continue;
            };
            if k.starts_with(RESERVED_TAG_PREFIX) && k != "parallelcluster:custom_resource" {
                self.error(
                    key.span,
                    format!(
                        "The tag key prefix '{RESERVED_TAG_PREFIX}' is reserved and cannot be used."
                    ),
                    "reserved tag key",
                    Some(
                        "ParallelCluster sets parallelcluster: tags itself; use another key".into(),
                    ),
                );
            }
            if seen.contains(&k) {
                self.error(
                    key.span,
                    format!("Duplicate tag key ({k}) detected. Tags keys should be unique within the Tags section."),
                    "duplicate tag key",
                    None,
                );
            }
            if k.chars().count() > 128 {
                self.error(
                    key.span,
                    "Tags/Key must be at most 128 characters long".into(),
                    "too long",
                    None,
                );
            }
            if let Some(v) =
                at(t, &["Value"]).filter(|v| v.as_str().is_some_and(|v| v.chars().count() > 256))
            {
                self.error(
                    v.span,
                    "Tags/Value must be at most 256 characters long".into(),
                    "too long",
                    None,
                );
            }
            seen.push(k);
        }
    }

    fn instance_type(&mut self, t: &Sourced<String>, what: &str) {
        if let (Err(e), Source::File(span)) = (instance_types::check(&t.value), t.source) {
            self.error(
                span,
                format!(
                    "The instance type '{}' used for {what} is not a known instance type",
                    t.value
                ),
                "unknown instance type",
                Some(e.hint()),
            );
        }
    }

    fn model(&mut self, doc: &Node) -> ClusterModel {
        let scheduler_text = s(doc, &["Scheduling", "Scheduler"])
            .unwrap_or_else(|| Sourced::default("slurm".into()));
        if scheduler_text.value == "awsbatch" {
            self.retired(
                &scheduler_text,
                "Scheduling/Scheduler",
                "use Scheduler: slurm",
            );
        } else {
            self.one_of(
                &scheduler_text,
                "Scheduling/Scheduler",
                SUPPORTED_SCHEDULERS,
            );
        }
        let scheduler = Sourced {
            value: if scheduler_text.value == "awsbatch" {
                Scheduler::Awsbatch
            } else {
                Scheduler::Slurm
            },
            source: scheduler_text.source,
        };
        let base_os =
            s(doc, &["Image", "Os"]).unwrap_or_else(|| Sourced::default("alinux2".into()));
        // 3.16's OsCustomAmiValidator: no official AMI for these.
        if let (true, Source::File(span), None) = (
            PRIVATE_OSS.contains(&base_os.value.as_str()),
            base_os.source,
            s(doc, &["Image", "CustomAmi"]),
        ) {
            self.error(
                span,
                format!(
                    "ParallelCluster has no official AMI for {}. Please build your own AMI using pcluster build-image command, as explained in the documentation: https://docs.aws.amazon.com/parallelcluster/latest/ug/building-custom-ami-v3.html",
                    base_os.value
                ),
                "no official AMI",
                Some("set Image/CustomAmi to an AMI built for this OS".into()),
            );
        }
        if RETIRED_OSS.contains(&base_os.value.as_str()) {
            let hint = format!("use one of: {}", SUPPORTED_OSS.join(", "));
            self.retired(&base_os, "Image/Os", &hint);
        } else {
            self.one_of(&base_os, "Image/Os", SUPPORTED_OSS);
        }
        let cluster_user = Sourced {
            value: cluster_user_for(&base_os.value).to_string(),
            source: base_os.source,
        };
        let head_type = s(doc, &["HeadNode", "InstanceType"])
            .unwrap_or_else(|| Sourced::default("t3.micro".into()));
        self.instance_type(&head_type, "HeadNode/InstanceType");
        let head_node = HeadNode {
            instance_type: head_type,
            root_volume_size: u(doc, &["HeadNode", "LocalStorage", "RootVolume", "Size"], 35),
        };
        let queues = match scheduler.value {
            Scheduler::Slurm => self.slurm_queues(doc),
            Scheduler::Awsbatch => self.batch_queues(doc),
        };
        self.head_node_fits(&head_node.instance_type, &queues);
        let first_queue = match scheduler.value {
            Scheduler::Slurm => items(at(doc, &["Scheduling", "SlurmQueues"])).first(),
            Scheduler::Awsbatch => items(at(doc, &["Scheduling", "AwsBatchQueues"])).first(),
        };
        let compute_root_volume_size = first_queue.map_or_else(
            || Sourced::default(35),
            |q| {
                u(
                    q,
                    &["ComputeSettings", "LocalStorage", "RootVolume", "Size"],
                    35,
                )
            },
        );
        let vpc = self.vpc(doc, first_queue);
        if let Some(t) = doc.get("Tags") {
            self.check_tags(t);
        }
        let storage = self.storage(doc);
        let mut unsupported = Vec::new();
        self.unsupported(doc, scheduler.clone(), &storage, &mut unsupported);
        let shared_dir = storage
            .iter()
            .find(|st| st.kind == StorageKind::Ebs || st.kind == StorageKind::Raid)
            .and_then(|st| st.settings.iter().find(|x| x.key == "shared_dir"))
            .map_or_else(
                || Sourced::default("/shared".to_string()),
                |x| x.value.clone(),
            );
        ClusterModel {
            template: "default".into(),
            region: s(doc, &["Region"]).unwrap_or_else(|| Sourced::default("us-east-1".into())),
            scheduler,
            base_os,
            cluster_user,
            key_name: s(doc, &["HeadNode", "Ssh", "KeyName"]),
            head_node,
            compute_root_volume_size,
            vpc,
            queues,
            scaledown_idletime: u(
                doc,
                &["Scheduling", "SlurmSettings", "ScaledownIdletime"],
                10,
            ),
            additional_iam_policies: self.policies(doc),
            tags: tags(doc),
            ssh_alias: Sourced::default(SSH_ALIAS_DEFAULT.into()),
            shared_dir,
            ephemeral_dir: s(
                doc,
                &["HeadNode", "LocalStorage", "EphemeralVolume", "MountDir"],
            )
            .unwrap_or_else(|| Sourced::default("/scratch".into())),
            custom_actions: custom_actions(doc),
            storage,
            extra: extra(doc),
            sanity_check: Sourced::default(true),
            update_check: Sourced::default(true),
            unsupported_by_local_provider: unsupported,
        }
    }

    fn vpc(&mut self, doc: &Node, first_queue: Option<&Node>) -> Vpc {
        let net = |k: &str| s(doc, &["HeadNode", "Networking", k]);
        let first_of = |k: &str| {
            items(at(doc, &["HeadNode", "Networking", k]))
                .first()
                .and_then(|n| n.as_str().map(|v| Sourced::file(v.to_string(), n.span)))
        };
        let elastic = at(doc, &["HeadNode", "Networking", "ElasticIp"]);
        let use_public_ips = match elastic.map(|n| &n.value) {
            Some(Value::Bool(v)) => {
                Sourced::file(*v, elastic.map_or_else(Span::default, |n| n.span))
            }
            Some(Value::Str(_)) => {
                Sourced::file(true, elastic.map_or_else(Span::default, |n| n.span))
            }
            _ => Sourced::default(true),
        };
        let compute_subnet_id = first_queue.and_then(|q| {
            items(at(q, &["Networking", "SubnetIds"]))
                .first()
                .and_then(|n| n.as_str().map(|v| Sourced::file(v.to_string(), n.span)))
        });
        Vpc {
            label: "default".into(),
            vpc_id: None,
            master_subnet_id: net("SubnetId"),
            compute_subnet_id,
            compute_subnet_cidr: None,
            use_public_ips,
            ssh_from: s(doc, &["HeadNode", "Ssh", "AllowedIps"])
                .unwrap_or_else(|| Sourced::default("0.0.0.0/0".into())),
            additional_sg: first_of("AdditionalSecurityGroups"),
            vpc_security_group_id: first_of("SecurityGroups"),
        }
    }

    fn check_name(&mut self, name: &Sourced<String>, what: &str, lower_only: bool, max: usize) {
        let mut chars = name.value.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || (!lower_only && c.is_ascii_alphabetic()));
        let rest_ok = chars.all(|c| {
            c == '-'
                || c.is_ascii_digit()
                || c.is_ascii_lowercase()
                || (!lower_only && c.is_ascii_alphabetic())
        });
        if name.value == "default" {
            if let Source::File(span) = name.source {
                self.error(
                    span,
                    format!("It is forbidden to use 'default' as a {what} name."),
                    "reserved name",
                    Some(format!("name the {what} something else")),
                );
            }
            return;
        }
        if first_ok && rest_ok && name.value.len() <= max {
            return;
        }
        if let Source::File(span) = name.source {
            let letters = if lower_only {
                "lowercase letters"
            } else {
                "letters"
            };
            self.error(
                span,
                format!(
                    "Invalid {what} name '{}': it must begin with a letter, contain only {letters}, digits and hyphens, and be at most {max} characters long",
                    name.value
                ),
                "invalid name",
                Some(format!("e.g. '{}'", name.value.to_lowercase().replace(['_', ' '], "-"))),
            );
        }
    }

    fn slurm_queues(&mut self, doc: &Node) -> Vec<Queue> {
        let mut out: Vec<Queue> = Vec::new();
        if let Some(list) = at(doc, &["Scheduling", "SlurmQueues"]) {
            let queues = items(Some(list));
            self.at_most(list.span, queues.len(), MAX_QUEUES, "SlurmQueues");
            let total: usize = queues
                .iter()
                .map(|q| items(q.get("ComputeResources")).len())
                .sum();
            self.at_most(
                list.span,
                total,
                MAX_COMPUTE_RESOURCES,
                "ComputeResources per Cluster",
            );
            for q in queues {
                if let Some(crs) = q.get("ComputeResources") {
                    let n = items(Some(crs)).len();
                    self.at_most(
                        crs.span,
                        n,
                        MAX_COMPUTE_RESOURCES,
                        "ComputeResources per Queue",
                    );
                }
                if let Some(t) = q.get("Tags") {
                    self.check_tags(t);
                }
                for cr in items(q.get("ComputeResources")) {
                    if let Some(t) = cr.get("Tags") {
                        self.check_tags(t);
                    }
                }
            }
        }
        for q in items(at(doc, &["Scheduling", "SlurmQueues"])) {
            let name = s(q, &["Name"]).unwrap_or_else(|| Sourced::default(String::new()));
            self.check_name(&name, "queue", true, NAME_MAX);
            if let (true, Source::File(span)) =
                (out.iter().any(|p| p.name == name.value), name.source)
            {
                self.error(
                    span,
                    format!("Duplicate queue name '{}'", name.value),
                    "duplicate",
                    Some("queue names must be unique".into()),
                );
            }
            let ct = s(q, &["CapacityType"]).unwrap_or_else(|| Sourced::default("ONDEMAND".into()));
            self.one_of(
                &ct,
                &format!("the CapacityType of queue '{}'", name.value),
                &["ONDEMAND", "SPOT"],
            );
            let compute_type = Sourced {
                value: if ct.value == "SPOT" {
                    ComputeType::Spot
                } else {
                    ComputeType::Ondemand
                },
                source: ct.source,
            };
            let placement_group = match (
                b(q, &["Networking", "PlacementGroup", "Enabled"]),
                s(q, &["Networking", "PlacementGroup", "Id"])
                    .or_else(|| s(q, &["Networking", "PlacementGroup", "Name"])),
            ) {
                (_, Some(id)) => Some(id),
                (Some(e), None) if e.value => Some(Sourced {
                    value: "DYNAMIC".into(),
                    source: e.source,
                }),
                _ => None,
            };
            let mut resources: Vec<ComputeResource> = Vec::new();
            let mut dht: Option<Sourced<bool>> = None;
            let mut efa: Option<Sourced<bool>> = None;
            for cr in items(q.get("ComputeResources")) {
                let label = s(cr, &["Name"]).unwrap_or_else(|| Sourced::default(String::new()));
                self.check_name(&label, "compute resource", true, NAME_MAX);
                if let (true, Source::File(span)) = (
                    resources.iter().any(|r| r.label == label.value),
                    label.source,
                ) {
                    self.error(
                        span,
                        format!(
                            "Duplicate compute resource name '{}' in queue '{}'",
                            label.value, name.value
                        ),
                        "duplicate",
                        Some("compute resource names must be unique within a queue".into()),
                    );
                }
                let it = s(cr, &["InstanceType"])
                    .or_else(|| {
                        items(cr.get("Instances"))
                            .first()
                            .and_then(|n| s(n, &["InstanceType"]))
                    })
                    .unwrap_or_else(|| Sourced::default("t3.micro".into()));
                self.instance_type(&it, &format!("compute resource '{}'", label.value));
                if let (true, Source::File(span)) = (
                    resources.iter().any(|r| r.instance_type.value == it.value),
                    it.source,
                ) {
                    self.error(span, format!("Instance type '{}' is used by more than one compute resource of queue '{}'", it.value, name.value), "duplicate instance type", Some("each compute resource of a queue needs its own instance type".into()));
                }
                let min = u(cr, &["MinCount"], 0);
                let max = u(cr, &["MaxCount"], 10);
                if let (Source::File(span), true) = (max.source, max.value < 1) {
                    self.error(
                        span,
                        "MaxCount must be at least 1".into(),
                        "too small",
                        None,
                    );
                }
                if min.value > max.value {
                    let span = match min.source {
                        Source::File(sp) => sp,
                        Source::Default => cr.span,
                    };
                    self.error(
                        span,
                        format!(
                            "MinCount ({}) must be lower than or equal to MaxCount ({})",
                            min.value, max.value
                        ),
                        "MinCount > MaxCount",
                        Some("raise MaxCount or lower MinCount".into()),
                    );
                }
                let spot = at(cr, &["SpotPrice"]);
                let spot_price = match spot.map(|n| &n.value) {
                    Some(Value::Float(f)) => {
                        Sourced::file(*f, spot.map_or_else(Span::default, |n| n.span))
                    }
                    Some(Value::Int(n)) => {
                        Sourced::file(*n as f64, spot.map_or_else(Span::default, |n| n.span))
                    }
                    _ => Sourced::default(0.0),
                };
                if dht.is_none() {
                    dht = b(cr, &["DisableSimultaneousMultithreading"]);
                }
                if efa.is_none() {
                    efa = b(cr, &["Efa", "Enabled"]);
                }
                resources.push(ComputeResource {
                    label: label.value.clone(),
                    source: src(Some(cr)),
                    instance_type: it,
                    min_count: min.clone(),
                    initial_count: min,
                    max_count: max,
                    spot_price,
                });
            }
            out.push(Queue {
                name: name.value.clone(),
                source: src(Some(q)),
                compute_type,
                placement_group,
                disable_hyperthreading: dht.unwrap_or_else(|| Sourced::default(false)),
                enable_efa: efa.unwrap_or_else(|| Sourced::default(false)),
                compute_resources: resources,
            });
        }
        out
    }

    fn batch_queues(&mut self, doc: &Node) -> Vec<Queue> {
        let mut out = Vec::new();
        for q in items(at(doc, &["Scheduling", "AwsBatchQueues"])) {
            let name = s(q, &["Name"]).unwrap_or_else(|| Sourced::default(String::new()));
            let ct = s(q, &["CapacityType"]).unwrap_or_else(|| Sourced::default("ONDEMAND".into()));
            self.one_of(
                &ct,
                &format!("the CapacityType of queue '{}'", name.value),
                &["ONDEMAND", "SPOT"],
            );
            let mut resources = Vec::new();
            for cr in items(q.get("ComputeResources")) {
                let label = s(cr, &["Name"]).map_or_else(String::new, |v| v.value);
                let it = items(cr.get("InstanceTypes"))
                    .first()
                    .and_then(|n| n.as_str().map(|v| Sourced::file(v.to_string(), n.span)))
                    .unwrap_or_else(|| Sourced::default("optimal".into()));
                resources.push(ComputeResource {
                    label,
                    source: src(Some(cr)),
                    instance_type: it,
                    min_count: u(cr, &["MinvCpus"], 0),
                    initial_count: u(cr, &["DesiredvCpus"], 4),
                    max_count: u(cr, &["MaxvCpus"], 10),
                    spot_price: at(cr, &["SpotBidPercentage"]).map_or_else(
                        || Sourced::default(0.0),
                        |n| match n.value {
                            Value::Float(f) => Sourced::file(f, n.span),
                            Value::Int(v) => Sourced::file(v as f64, n.span),
                            _ => Sourced::default(0.0),
                        },
                    ),
                });
            }
            out.push(Queue {
                name: name.value,
                source: src(Some(q)),
                compute_type: Sourced {
                    value: if ct.value == "SPOT" {
                        ComputeType::Spot
                    } else {
                        ComputeType::Ondemand
                    },
                    source: ct.source,
                },
                placement_group: None,
                disable_hyperthreading: Sourced::default(false),
                enable_efa: Sourced::default(false),
                compute_resources: resources,
            });
        }
        out
    }

    /// `AdditionalIamPolicies` of the head node and every queue, each ARN
    /// once, checked against the policy catalog.
    fn policies(&mut self, doc: &Node) -> Vec<Sourced<String>> {
        let mut lists: Vec<&Node> = Vec::new();
        lists.extend(at(doc, &["HeadNode", "Iam", "AdditionalIamPolicies"]));
        for q in items(at(doc, &["Scheduling", "SlurmQueues"])) {
            lists.extend(at(q, &["Iam", "AdditionalIamPolicies"]));
        }
        let mut out: Vec<Sourced<String>> = Vec::new();
        for p in lists.iter().flat_map(|l| items(Some(l))) {
            let Some(arn) = s(p, &["Policy"]) else {
                continue;
            };
            if out.iter().any(|o| o.value == arn.value) {
                continue;
            }
            let known = crate::v2::cluster::policy_known(self.opts.policies, &arn.value);
            if let (false, Source::File(span)) = (known, arn.source) {
                let hint = crate::v2::cluster::policy_hint(self.opts.policies, &arn.value);
                self.error(
                    span,
                    format!("The IAM policy '{}' in AdditionalIamPolicies is not a known managed policy", arn.value),
                    "unknown policy",
                    Some(hint),
                );
            }
            out.push(arn);
        }
        out
    }

    fn storage(&mut self, doc: &Node) -> Vec<StorageSection> {
        let mut out = Vec::new();
        for st in items(doc.get("SharedStorage")) {
            let name = s(st, &["Name"]).map_or_else(String::new, |v| v.value);
            let ty = s(st, &["StorageType"]).unwrap_or_else(|| Sourced::default(String::new()));
            let allowed = [
                "Ebs",
                "Efs",
                "FsxLustre",
                "FsxOpenZfs",
                "FsxOntap",
                "FileCache",
            ];
            self.one_of(
                &ty,
                &format!("the StorageType of shared storage '{name}'"),
                &allowed,
            );
            let (kind, settings_key, table): (StorageKind, &str, &[(&str, &str)]) =
                match ty.value.as_str() {
                    "Ebs" if at(st, &["EbsSettings", "Raid"]).is_some() => {
                        (StorageKind::Raid, "EbsSettings", EBS_KEYS)
                    }
                    "Ebs" => (StorageKind::Ebs, "EbsSettings", EBS_KEYS),
                    "Efs" => (StorageKind::Efs, "EfsSettings", EFS_KEYS),
                    "FsxLustre" => (StorageKind::Fsx, "FsxLustreSettings", FSX_KEYS),
                    "FsxOpenZfs" => (StorageKind::Fsx, "FsxOpenZfsSettings", &[]),
                    "FsxOntap" => (StorageKind::Fsx, "FsxOntapSettings", &[]),
                    _ => (StorageKind::Fsx, "FileCacheSettings", &[]),
                };
            let mut settings = Vec::new();
            if let Some(v) = s(st, &["MountDir"]) {
                settings.push(Setting {
                    key: "shared_dir".into(),
                    value: v,
                });
            }
            if !matches!(ty.value.as_str(), "Ebs" | "Efs" | "FsxLustre") {
                settings.push(Setting {
                    key: "StorageType".into(),
                    value: ty.clone(),
                });
            }
            flatten(st.get(settings_key), table, "", &mut settings);
            out.push(StorageSection {
                kind,
                label: name,
                source: src(Some(st)),
                settings,
            });
        }
        let simple: [(StorageKind, &[&str], KeyTable); 3] = [
            (
                StorageKind::Dcv,
                &["HeadNode", "Dcv"],
                &[
                    ("Enabled", "enable"),
                    ("Port", "port"),
                    ("AllowedIps", "access_from"),
                ],
            ),
            (
                StorageKind::CwLog,
                &["Monitoring", "Logs", "CloudWatch"],
                &[("Enabled", "enable"), ("RetentionInDays", "retention_days")],
            ),
            (
                StorageKind::Dashboard,
                &["Monitoring", "Dashboards", "CloudWatch"],
                &[("Enabled", "enable")],
            ),
        ];
        for (kind, path, table) in simple {
            let Some(n) = at(doc, path) else { continue };
            let mut settings = Vec::new();
            flatten(Some(n), table, "", &mut settings);
            if kind == StorageKind::Dcv {
                for x in settings
                    .iter_mut()
                    .filter(|x| x.key == "enable" && x.value.value == "true")
                {
                    x.value.value = "master".into();
                }
            }
            out.push(StorageSection {
                kind,
                label: "default".into(),
                source: Source::File(n.span),
                settings,
            });
        }
        out
    }

    fn unsupported(
        &mut self,
        doc: &Node,
        scheduler: Sourced<Scheduler>,
        storage: &[StorageSection],
        out: &mut Vec<Unsupported>,
    ) {
        if scheduler.value == Scheduler::Awsbatch {
            out.push(Unsupported {
                feature: "Scheduler: awsbatch".into(),
                reason: "the local provider runs Slurm only".into(),
                source: scheduler.source,
            });
        }
        for st in storage {
            let plain_ebs = st.kind == StorageKind::Ebs
                && !st
                    .settings
                    .iter()
                    .any(|x| x.key == "ebs_volume_id" || x.key == "ebs_snapshot_id");
            let on = st.settings.iter().any(|x| {
                x.key == "enable" && (x.value.value == "true" || x.value.value == "master")
            });
            let relevant = match st.kind {
                StorageKind::Dcv => on,
                StorageKind::CwLog | StorageKind::Dashboard => false,
                _ => !plain_ebs,
            };
            if relevant {
                out.push(Unsupported {
                    feature: format!("{} {}", st.kind.key(), st.label),
                    reason: "the local provider has no such AWS service; the directory is not provisioned".into(),
                    source: st.source,
                });
            }
        }
        let items_: [(&[&str], &str, &str); 7] = [
            (
                &["Image", "CustomAmi"],
                "Image/CustomAmi",
                "nodes run the host's own OS image",
            ),
            (
                &["HeadNode", "CustomActions"],
                "HeadNode/CustomActions",
                "bootstrap scripts are not fetched or run by the local provider",
            ),
            (
                &["AdditionalPackages", "IntelSoftware", "IntelHpcPlatform"],
                "AdditionalPackages/IntelSoftware",
                "the Intel HPC platform is not installed by the local provider",
            ),
            (
                &["DevSettings", "Cookbook", "ChefCookbook"],
                "DevSettings/Cookbook/ChefCookbook",
                "the local provider does not run Chef",
            ),
            (
                &["DirectoryService"],
                "DirectoryService",
                "the local provider does not join a directory",
            ),
            (
                &["LoginNodes"],
                "LoginNodes",
                "the local provider builds a head node and compute nodes only",
            ),
            (
                &["Scheduling", "SlurmSettings", "Database"],
                "Scheduling/SlurmSettings/Database",
                "the local provider does not connect to an external database",
            ),
        ];
        for (path, feature, reason) in items_ {
            let Some(n) = at(doc, path) else { continue };
            if matches!(n.value, Value::Bool(false)) {
                continue;
            }
            out.push(Unsupported {
                feature: feature.into(),
                reason: reason.into(),
                source: Source::File(n.span),
            });
        }
        for q in items(at(doc, &["Scheduling", "SlurmQueues"])) {
            for cr in items(q.get("ComputeResources")) {
                if let Some(e) = b(cr, &["Efa", "Enabled"]).filter(|e| e.value) {
                    out.push(Unsupported {
                        feature: "Efa".into(),
                        reason: "there is no EFA network on the local provider".into(),
                        source: e.source,
                    });
                }
            }
        }
    }
}

/// v3 setting names with their v2 names.
type KeyTable = &'static [(&'static str, &'static str)];

const EBS_KEYS: &[(&str, &str)] = &[
    ("VolumeType", "volume_type"),
    ("Size", "volume_size"),
    ("Iops", "volume_iops"),
    ("SnapshotId", "ebs_snapshot_id"),
    ("KmsKeyId", "ebs_kms_key_id"),
    ("VolumeId", "ebs_volume_id"),
    ("Throughput", "volume_throughput"),
    ("Encrypted", "encrypted"),
    ("NumberOfVolumes", "num_of_raid_volumes"),
    ("Type", "raid_type"),
];
const EFS_KEYS: &[(&str, &str)] = &[
    ("PerformanceMode", "performance_mode"),
    ("FileSystemId", "efs_fs_id"),
    ("KmsKeyId", "efs_kms_key_id"),
    ("ProvisionedThroughput", "provisioned_throughput"),
    ("ThroughputMode", "throughput_mode"),
    ("Encrypted", "encrypted"),
];
const FSX_KEYS: &[(&str, &str)] = &[
    ("AutoImportPolicy", "auto_import_policy"),
    ("FileSystemId", "fsx_fs_id"),
    ("KmsKeyId", "fsx_kms_key_id"),
    ("StorageCapacity", "storage_capacity"),
    ("DeploymentType", "deployment_type"),
    ("StorageType", "storage_type"),
    ("ImportedFileChunkSize", "imported_file_chunk_size"),
    ("DataCompressionType", "data_compression_type"),
    ("ExportPath", "export_path"),
    ("ImportPath", "import_path"),
    (
        "WeeklyMaintenanceStartTime",
        "weekly_maintenance_start_time",
    ),
    (
        "AutomaticBackupRetentionDays",
        "automatic_backup_retention_days",
    ),
    ("CopyTagsToBackups", "copy_tags_to_backups"),
    (
        "DailyAutomaticBackupStartTime",
        "daily_automatic_backup_start_time",
    ),
    ("PerUnitStorageThroughput", "per_unit_storage_throughput"),
    ("BackupId", "fsx_backup_id"),
    ("DriveCacheType", "drive_cache_type"),
    ("Encrypted", "encrypted"),
];

/// Scalar settings of a mapping (nested mappings flattened with `/`),
/// named by their v2 key where one exists.
fn flatten(node: Option<&Node>, table: &[(&str, &str)], prefix: &str, out: &mut Vec<Setting>) {
    let Some(Value::Map(entries)) = node.map(|n| &n.value) else {
        return;
    };
    for (k, v) in entries {
        let Value::Str(key) = &k.value else { continue };
        match &v.value {
            Value::Map(_) if prefix.is_empty() => flatten(Some(v), table, key, out),
            Value::Seq(list) => {
                let parts: Vec<String> =
                    list.iter().filter_map(|n| n.value.scalar_text()).collect();
                out.push(Setting {
                    key: join(prefix, key),
                    value: Sourced::file(parts.join(","), v.span),
                });
            }
            val => {
                let Some(t) = val.scalar_text() else { continue };
                let name = table
                    .iter()
                    .find(|(k3, _)| k3 == key)
                    .map_or_else(|| join(prefix, key), |(_, k2)| (*k2).to_string());
                out.push(Setting {
                    key: name,
                    value: Sourced::file(t, v.span),
                });
            }
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}/{key}")
    }
}

fn tags(doc: &Node) -> Sourced<Vec<Tag>> {
    let Some(n) = doc.get("Tags") else {
        return Sourced::default(Vec::new());
    };
    let list = items(Some(n))
        .iter()
        .filter_map(|t| {
            let key = text(t, &["Key"])?.value;
            let value = text(t, &["Value"]).map_or_else(String::new, |v| v.value);
            Some(Tag { key, value })
        })
        .collect();
    Sourced::file(list, n.span)
}

/// `OnNodeStart` → pre_install, `OnNodeConfigured` → post_install; the
/// converter repeats the script as the first `Args` item, which is dropped.
fn custom_actions(doc: &Node) -> CustomActions {
    let action = |name: &str| {
        let script = s(doc, &["HeadNode", "CustomActions", name, "Script"]);
        let args_node = at(doc, &["HeadNode", "CustomActions", name, "Args"]);
        let args = args_node.and_then(|n| {
            let mut parts: Vec<String> = items(Some(n))
                .iter()
                .filter_map(|a| a.value.scalar_text())
                .collect();
            if script
                .as_ref()
                .is_some_and(|sc| parts.first() == Some(&sc.value))
            {
                parts.remove(0);
            }
            (!parts.is_empty()).then(|| Sourced::file(parts.join(" "), n.span))
        });
        (script, args)
    };
    let (pre_install, pre_install_args) = action("OnNodeStart");
    let (post_install, post_install_args) = action("OnNodeConfigured");
    CustomActions {
        pre_install,
        pre_install_args,
        post_install,
        post_install_args,
    }
}

/// v3 values the model keeps as text, under their v2 names.
fn extra(doc: &Node) -> Vec<Setting> {
    let map: [(&str, &[&str]); 11] = [
        (
            "proxy_server",
            &["HeadNode", "Networking", "Proxy", "HttpProxyAddress"],
        ),
        ("ec2_iam_role", &["HeadNode", "Iam", "InstanceRole"]),
        ("custom_ami", &["Image", "CustomAmi"]),
        (
            "extra_json",
            &["DevSettings", "Cookbook", "ExtraChefAttributes"],
        ),
        ("additional_cfn_template", &["AdditionalResources"]),
        (
            "custom_chef_cookbook",
            &["DevSettings", "Cookbook", "ChefCookbook"],
        ),
        (
            "enable_intel_hpc_platform",
            &["AdditionalPackages", "IntelSoftware", "IntelHpcPlatform"],
        ),
        ("cluster_resource_bucket", &["CustomS3Bucket"]),
        ("iam_lambda_role", &["Iam", "Roles", "LambdaFunctionsRole"]),
        ("instance_types_data", &["DevSettings", "InstanceTypesData"]),
        (
            "disable_cluster_dns",
            &["Scheduling", "SlurmSettings", "Dns", "DisableManagedDns"],
        ),
    ];
    map.iter()
        .filter_map(|(k, path)| {
            text(doc, path).map(|v| Setting {
                key: (*k).to_string(),
                value: v,
            })
        })
        .collect()
}
