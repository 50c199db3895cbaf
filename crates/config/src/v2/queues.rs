//! Compute queues: `[queue]` and `[compute_resource]` sections of a
//! multi-queue (HIT) cluster, or the single queue of a SIT cluster section.

use crate::instance_types;
use crate::model::{ComputeResource, ComputeType, Queue, Scheduler, Source, Sourced};

use super::cluster::{Loader, to_u32};
use super::reader::Params;

fn compute_type(p: &Params, key: &str) -> Sourced<ComputeType> {
    let v = p
        .str(key)
        .unwrap_or_else(|| Sourced::default("ondemand".into()));
    Sourced {
        value: if v.value == "spot" {
            ComputeType::Spot
        } else {
            ComputeType::Ondemand
        },
        source: v.source,
    }
}

/// `queue_settings` queues.
pub fn hit(l: &mut Loader<'_>, c: &Params, scheduler: Scheduler) -> Vec<Queue> {
    if scheduler != Scheduler::Slurm {
        l.sink.error(
            c.span("queue_settings"),
            "queue_settings is supported only with slurm scheduler".into(),
            "needs scheduler = slurm",
            Some("remove queue_settings or set scheduler = slurm".into()),
        );
    }
    if let Some(raw) = c.raw("queue_settings").cloned() {
        for label in raw.text.split(',').map(str::trim) {
            if label.chars().any(|ch| ch.is_ascii_uppercase())
                || label == "default"
                || label.contains('_')
            {
                let span = l.sub_span(raw.value_span, label);
                l.sink.error(
                    Some(span),
                    format!(
                        "Invalid queue name '{label}'. Queue section names can be at most 30 chars long, must begin with a letter and only contain lowercase letters, digits and hyphens. It is forbidden to use 'default' as a queue section name."
                    ),
                    "invalid queue name",
                    Some(format!("try '{}'", label.to_lowercase().replace('_', "-"))),
                );
            }
        }
    }
    let mut out = Vec::new();
    for (label, q) in l.settings(c, "queue_settings") {
        for key in ["enable_efa", "enable_efa_gdr", "disable_hyperthreading"] {
            if q.is_set(key) && c.is_set(key) {
                l.sink.error(
                    q.span(key),
                    format!(
                        "Parameter '{key}' can be used only in 'cluster' or in 'queue' section"
                    ),
                    "also set in the cluster section",
                    Some(format!(
                        "remove '{key}' from [{}] or from the queue",
                        c.name
                    )),
                );
            }
        }
        let enable_efa = q
            .bool("enable_efa")
            .unwrap_or_else(|| Sourced::default(false));
        if q.bool("enable_efa_gdr").is_some_and(|v| v.value) && !enable_efa.value {
            l.sink.error(
                q.span("enable_efa_gdr"),
                "The parameter 'enable_efa_gdr' can be used only in combination with 'enable_efa'"
                    .into(),
                "needs enable_efa = true",
                Some("add `enable_efa = true` to this queue".into()),
            );
        }
        l.require(
            &q,
            "compute_resource_settings",
            "add `compute_resource_settings = <label>` naming a [compute_resource <label>] section"
                .into(),
        );
        let ctype = compute_type(&q, "compute_type");
        let mut resources: Vec<ComputeResource> = Vec::new();
        for (cr_label, r) in l.settings(&q, "compute_resource_settings") {
            if let Some(cr) = compute_resource(l, &label, &cr_label, &r, ctype.value) {
                if resources
                    .iter()
                    .any(|x| x.instance_type.value == cr.instance_type.value)
                {
                    let span = match cr.instance_type.source {
                        Source::File(s) => Some(s),
                        Source::Default => None,
                    };
                    l.sink.error(
                        span,
                        format!(
                            "Duplicate instance type '{}' found in queue '{label}'. Compute resources in the same queue must use different instance types",
                            cr.instance_type.value
                        ),
                        "duplicate instance type",
                        Some("merge the two compute resources or use another instance type".into()),
                    );
                }
                resources.push(cr);
            }
        }
        out.push(Queue {
            name: label,
            source: q.source(),
            compute_type: ctype,
            placement_group: q.str("placement_group"),
            disable_hyperthreading: q
                .bool("disable_hyperthreading")
                .or_else(|| c.bool("disable_hyperthreading"))
                .unwrap_or_else(|| Sourced::default(false)),
            enable_efa,
            compute_resources: resources,
        });
    }
    out
}

fn compute_resource(
    l: &mut Loader<'_>,
    queue: &str,
    label: &str,
    r: &Params,
    ctype: ComputeType,
) -> Option<ComputeResource> {
    if !l.require(
        r,
        "instance_type",
        "add `instance_type = c5.large` (for example)".into(),
    ) {
        return None;
    }
    let instance_type = r.str("instance_type")?;
    let min = r.int("min_count").unwrap_or_else(|| Sourced::default(0));
    let max = r.int("max_count").unwrap_or_else(|| Sourced::default(10));
    let initial = r
        .int("initial_count")
        .unwrap_or_else(|| Sourced::default(min.value));
    let spot_price = r
        .float("spot_price")
        .unwrap_or_else(|| Sourced::default(0.0));
    let sp = |k: &str, d: Option<crate::ini::Span>| r.span(k).or(d).or(r.span);
    let mut errs: Vec<(Option<crate::ini::Span>, &str, &str)> = Vec::new();
    if min.value < 0 {
        errs.push((
            sp("min_count", None),
            "Parameter 'min_count' must be 0 or greater than 0",
            "negative",
        ));
    }
    if max.value < 1 {
        errs.push((
            sp("max_count", None),
            "Parameter 'max_count' must be 1 or greater than 1",
            "must be at least 1",
        ));
    }
    if max.value < min.value {
        errs.push((
            sp("max_count", r.span("min_count")),
            "Parameter 'max_count' must be greater than or equal to min_count",
            "below min_count",
        ));
    }
    if initial.value < min.value {
        errs.push((
            sp("initial_count", r.span("min_count")),
            "Parameter 'initial_count' must be greater than or equal to 'min_count'",
            "below min_count",
        ));
    }
    if initial.value > max.value {
        errs.push((
            sp("initial_count", r.span("max_count")),
            "Parameter 'initial_count' must be lower than or equal to 'max_count'",
            "above max_count",
        ));
    }
    if spot_price.value < 0.0 {
        errs.push((
            sp("spot_price", None),
            "Parameter 'spot_price' must be 0 or greater than 0",
            "negative",
        ));
    }
    for (span, msg, label_text) in errs {
        l.sink.error(span, msg.to_string(), label_text, Some("counts must satisfy 0 <= min_count <= initial_count <= max_count and max_count >= 1".into()));
    }
    if l.instance_type(&instance_type, "instance_type")
        && ctype == ComputeType::Spot
        && let Some(t) = instance_types::lookup(&instance_type.value).filter(|t| !t.spot)
    {
        {
            let span = match instance_type.source {
                Source::File(s) => Some(s),
                Source::Default => None,
            };
            l.sink.error(
                span,
                format!("Usage class 'spot' is not supported by instance type '{}' of compute resource '{label}'", t.name),
                "on-demand only",
                Some(format!("set compute_type = ondemand in [queue {queue}] or choose another instance type")),
            );
        }
    }
    Some(ComputeResource {
        label: label.to_string(),
        source: r.source(),
        instance_type,
        min_count: to_u32(min),
        initial_count: to_u32(initial),
        max_count: to_u32(max),
        spot_price,
    })
}

/// A single-queue cluster section, as `pcluster-config convert` turns it
/// into queue `compute` with compute resource `default`.
pub fn sit(l: &mut Loader<'_>, c: &Params, scheduler: Scheduler) -> Vec<Queue> {
    let initial = c
        .int("initial_queue_size")
        .unwrap_or_else(|| Sourced::default(0));
    let max = c
        .int("max_queue_size")
        .unwrap_or_else(|| Sourced::default(10));
    let maintain = c
        .bool("maintain_initial_size")
        .unwrap_or_else(|| Sourced::default(false));
    if scheduler == Scheduler::Awsbatch {
        let (min_v, des_v, max_v) = (
            c.int("min_vcpus"),
            c.int("desired_vcpus"),
            c.int("max_vcpus"),
        );
        if let (Some(mn), Some(de), Some(mx)) = (min_v, des_v, max_v) {
            let checks = [
                (
                    de.value < mn.value,
                    "desired_vcpus must be greater than or equal to min_vcpus",
                    "desired_vcpus",
                ),
                (
                    de.value > mx.value,
                    "desired_vcpus must be fewer than or equal to max_vcpus",
                    "desired_vcpus",
                ),
                (
                    mx.value < mn.value,
                    "max_vcpus must be greater than or equal to min_vcpus",
                    "max_vcpus",
                ),
            ];
            for (bad, msg, key) in checks {
                if bad {
                    l.sink
                        .error(c.span(key).or(c.span), msg.into(), "out of range", None);
                }
            }
        }
    } else {
        let min_size = if maintain.value { initial.value } else { 0 };
        if initial.value > max.value {
            l.sink.error(
                c.span("initial_queue_size").or(c.span),
                "initial_queue_size must be fewer than or equal to max_queue_size".into(),
                "above max_queue_size",
                None,
            );
        }
        if max.value < min_size {
            l.sink.error(
                c.span("max_queue_size").or(c.span),
                "max_queue_size must be greater than or equal to initial_queue_size".into(),
                "below initial_queue_size",
                None,
            );
        }
        if maintain.value && initial.value == 0 {
            l.sink.error(
                c.span("maintain_initial_size"),
                "maintain_initial_size cannot be set to true if initial_queue_size is 0".into(),
                "initial_queue_size is 0",
                None,
            );
        }
    }
    if c.str("key_name").is_none() {
        l.sink.warn(
            c.span,
            "If you do not specify a key pair, you can't connect to the instance unless you choose an AMI that is configured to allow users another way to log in".into(),
            "no key_name",
            Some("add `key_name = <key pair>` (see `airlock ec2 describe-key-pairs`)".into()),
        );
    }
    if scheduler != Scheduler::Slurm {
        return Vec::new();
    }
    let instance_type = c
        .str("compute_instance_type")
        .unwrap_or_else(|| Sourced::default(super::schema::DEFAULT_INSTANCE_TYPE.into()));
    l.instance_type(&instance_type, "compute_instance_type");
    let min_count = if maintain.value {
        initial.clone()
    } else {
        Sourced {
            value: 0,
            source: maintain.source,
        }
    };
    vec![Queue {
        name: "compute".into(),
        source: Source::Default,
        compute_type: compute_type(c, "cluster_type"),
        placement_group: c.str("placement_group"),
        disable_hyperthreading: c
            .bool("disable_hyperthreading")
            .unwrap_or_else(|| Sourced::default(false)),
        enable_efa: match c.str("enable_efa") {
            Some(v) => Sourced {
                value: true,
                source: v.source,
            },
            None => Sourced::default(false),
        },
        compute_resources: vec![ComputeResource {
            label: "default".into(),
            source: Source::Default,
            instance_type,
            min_count: to_u32(min_count),
            initial_count: to_u32(initial),
            max_count: to_u32(max),
            spot_price: c
                .float("spot_price")
                .unwrap_or_else(|| Sourced::default(0.0)),
        }],
    }]
}
