//! ParallelCluster 2.11's checks that need the instance type catalogue:
//! head and compute architectures agree, the OS and features suit the
//! architecture, and EFA is only asked of instance types that have it.

use crate::instance_types::{self, Arch};
use crate::model::{Queue, Source, Sourced};
use crate::span::Span;

use super::cluster::Loader;
use super::reader::Params;

fn span_of<T>(s: &Sourced<T>) -> Option<Span> {
    match s.source {
        Source::File(span) => Some(span),
        Source::Default => None,
    }
}

/// Where a flag is set true: once per place (a cluster-level flag is shared
/// by every queue).
fn distinct_spans(queues: &[Queue], flag: impl Fn(&Queue) -> &Sourced<bool>) -> Vec<Option<Span>> {
    let mut out = Vec::new();
    for f in queues.iter().map(flag).filter(|f| f.value) {
        let span = span_of(f);
        if !out.contains(&span) {
            out.push(span);
        }
    }
    out
}

/// The architectures ParallelCluster can run on, as it lists them.
fn supported_list(arch: Arch) -> String {
    match arch {
        Arch::X86_64 | Arch::Arm64 => format!("['{}']", arch.as_str()),
        Arch::X86_64Mac | Arch::Arm64Mac => "[]".into(),
    }
}

/// Runs the checks; `hit` says whether the queues come from `queue_settings`.
pub fn check(
    l: &mut Loader<'_>,
    c: &Params,
    head_type: &Sourced<String>,
    base_os: &Sourced<String>,
    queues: &[Queue],
    hit: bool,
) {
    // ParallelCluster derives the cluster's `architecture` from the head node.
    let Some(head) = instance_types::lookup(&head_type.value) else {
        return;
    };
    let arch = head.arch;
    if matches!(arch, Arch::X86_64Mac | Arch::Arm64Mac) {
        l.sink.error(
            span_of(head_type),
            format!(
                "The instance type '{}' used for the 'master_instance_type' parameter is a Mac instance ({}); ParallelCluster supports x86_64 and arm64",
                head.name,
                arch.as_str()
            ),
            "Mac instance",
            Some("choose an x86_64 or arm64 instance type".into()),
        );
        return;
    }
    let compute_key = if hit {
        "instance_type"
    } else {
        "compute_instance_type"
    };
    for q in queues {
        for cr in &q.compute_resources {
            let Some(t) = instance_types::lookup(&cr.instance_type.value) else {
                continue;
            };
            if t.arch != arch {
                l.sink.error(
                    span_of(&cr.instance_type),
                    format!(
                        "The specified compute_instance_type ({}) supports the architectures {}, none of which are compatible with the architecture supported by the master_instance_type ({}).",
                        t.name,
                        supported_list(t.arch),
                        arch.as_str()
                    ),
                    "architecture differs from the head node's",
                    Some(format!(
                        "use {} instance types for both master_instance_type and {compute_key}",
                        arch.as_str()
                    )),
                );
            }
            if hit && q.enable_efa.value && !t.efa {
                l.sink.warn(
                    span_of(&cr.instance_type),
                    format!(
                        "EFA was enabled on queue '{}', but instance type '{}' defined in compute resource settings {} does not support EFA.",
                        q.name, t.name, cr.label
                    ),
                    "no EFA",
                    Some("choose an instance type with EFA (e.g. c5n.18xlarge) or set enable_efa = false".into()),
                );
            }
            if !hit && q.enable_efa.value && !t.efa {
                l.sink.error(
                    span_of(&cr.instance_type),
                    format!(
                        "When using 'enable_efa = compute' it is required to set the 'compute_instance_type' parameter to an instance type that supports EFA; '{}' does not",
                        t.name
                    ),
                    "no EFA",
                    Some(efa_hint(t.name)),
                );
            }
        }
    }

    if arch == Arch::Arm64 {
        if base_os.value == "centos7" {
            l.sink.warn(
                span_of(base_os),
                "Warning: The aarch64 CentOS 7 OS is not validated for the 6th generation aarch64 instances (M6g, C6g, etc.). To proceed please provide a custom_ami, for more info see: https://wiki.centos.org/Cloud/AWS#aarch64_notes".into(),
                "centos7 on arm64",
                None,
            );
            for span in distinct_spans(queues, |q| &q.enable_efa) {
                l.sink.error(
                    span,
                    "EFA currently not supported on centos7 for arm64 architecture".into(),
                    "EFA on centos7/arm64",
                    Some("use another base_os (alinux2, ubuntu1804, ubuntu2004) or x86_64 instance types".into()),
                );
            }
        }
        // 2.11 checks the cluster section's disable_hyperthreading only (a
        // queue's has no architecture validator).
        let ht = c
            .bool("disable_hyperthreading")
            .filter(|b| b.value)
            .map(|b| span_of(&b));
        if let Some(span) = ht {
            l.sink.error(
                span,
                "disable_hyperthreading is only supported on instance types that support these architectures: x86_64".into(),
                "arm64 has one thread per core",
                Some("remove disable_hyperthreading: arm64 instance types have no hyperthreads".into()),
            );
        }
        if c.bool("enable_intel_hpc_platform").is_some_and(|b| b.value) {
            l.sink.error(
                c.span("enable_intel_hpc_platform"),
                "When using enable_intel_hpc_platform = true it is required to use head node and compute instance types and an AMI that support these architectures: ['x86_64']".into(),
                "needs x86_64",
                Some("use x86_64 instance types or remove enable_intel_hpc_platform".into()),
            );
        }
    }
}

/// The nearest instance types with EFA.
fn efa_hint(name: &str) -> String {
    let family = name.split('.').next().unwrap_or(name);
    let same_family: Vec<&str> = instance_types::all()
        .iter()
        .filter(|t| t.efa && t.name.split('.').next() == Some(family))
        .map(|t| t.name)
        .take(3)
        .collect();
    if same_family.is_empty() {
        "choose an instance type with EFA, e.g. c5n.18xlarge or c6i.32xlarge".into()
    } else {
        format!("in the same family, {} support EFA", same_family.join(", "))
    }
}
