//! `[ebs] [efs] [fsx] [raid] [dcv] [cw_log] [dashboard]`: read and validated
//! for form only (the local provider implements none of them).

use crate::model::{Setting, StorageKind, StorageSection, Unsupported};

use super::cluster::Loader;
use super::reader::Params;

const KINDS: &[(StorageKind, &str)] = &[
    (StorageKind::Ebs, "ebs_settings"),
    (StorageKind::Efs, "efs_settings"),
    (StorageKind::Fsx, "fsx_settings"),
    (StorageKind::Raid, "raid_settings"),
    (StorageKind::Dcv, "dcv_settings"),
    (StorageKind::CwLog, "cw_log_settings"),
    (StorageKind::Dashboard, "dashboard_settings"),
];

/// Every referenced optional section, with defaults filled in.
pub fn load(l: &mut Loader<'_>, c: &Params) -> Vec<StorageSection> {
    let mut out = Vec::new();
    for (kind, key) in KINDS {
        let sections = l.settings(c, key);
        if *kind == StorageKind::Ebs
            && sections.len() > 1
            && sections.iter().any(|(_, p)| !p.is_set("shared_dir"))
        {
            l.sink.error(
                c.span(key),
                "When using more than 1 EBS volume, shared_dir is required under each EBS section"
                    .into(),
                "shared_dir missing in some [ebs] section",
                Some("add shared_dir to every [ebs] section listed here".into()),
            );
        }
        for (label, p) in sections {
            validate(l, *kind, &p);
            out.push(StorageSection {
                kind: *kind,
                label,
                source: p.source(),
                settings: p
                    .all_text()
                    .into_iter()
                    .map(|(k, v)| Setting {
                        key: k.to_string(),
                        value: v,
                    })
                    .collect(),
            });
        }
    }
    out
}

fn validate(l: &mut Loader<'_>, kind: StorageKind, p: &Params) {
    if let Some(dir) = p.raw("shared_dir") {
        let t = dir.text.as_str();
        if t == "NONE" || t == "/NONE" {
            l.sink.error(
                Some(dir.value_span),
                format!("{t} cannot be used as a shared directory"),
                "reserved",
                None,
            );
        }
    }
    match kind {
        StorageKind::Ebs | StorageKind::Raid => ebs(l, p),
        StorageKind::Efs => {
            let mode = p
                .str("throughput_mode")
                .map(|v| v.value)
                .unwrap_or_default();
            let provisioned = p
                .float("provisioned_throughput")
                .is_some_and(|v| v.value != 0.0);
            if mode != "provisioned" && provisioned {
                l.sink.error(
                    p.span("provisioned_throughput"),
                    "When specifying 'provisioned_throughput', the 'throughput_mode' must be set to 'provisioned'".into(),
                    "needs throughput_mode = provisioned",
                    None,
                );
            }
            if mode == "provisioned" && !provisioned {
                l.sink.error(
                    p.span("throughput_mode").or(p.span),
                    "When specifying 'throughput_mode' to 'provisioned', the 'provisioned_throughput' option must be specified".into(),
                    "needs provisioned_throughput",
                    None,
                );
            }
        }
        StorageKind::Fsx => fsx(l, p),
        _ => {}
    }
}

fn ebs(l: &mut Loader<'_>, p: &Params) {
    let vtype = p.str("volume_type").map(|v| v.value).unwrap_or_default();
    let size = p.int("volume_size").map_or(20, |v| v.value);
    let bounds = match vtype.as_str() {
        "standard" => Some((1, 1024)),
        "io1" => Some((4, 16 * 1024)),
        "io2" => Some((4, 64 * 1024)),
        "gp2" | "gp3" => Some((1, 16 * 1024)),
        "st1" | "sc1" => Some((500, 16 * 1024)),
        _ => None,
    };
    let span = p.span("volume_size").or(p.span);
    if let Some((min, max)) = bounds {
        if size > max {
            l.sink.error(
                span,
                format!("The size of {vtype} volumes can not exceed {max} GiB"),
                "too large",
                None,
            );
        } else if size < min {
            l.sink.error(
                span,
                format!("The size of {vtype} volumes must be at least {min} GiB"),
                "too small",
                None,
            );
        }
    }
    let iops_bounds = match vtype.as_str() {
        "io1" => Some((100, 64000, 50)),
        "io2" => Some((100, 256_000, 1000)),
        "gp3" => Some((3000, 16000, 500)),
        _ => None,
    };
    if let (Some((lo, hi, ratio)), Some(iops)) = (iops_bounds, p.int("volume_iops")) {
        let ispan = p.span("volume_iops");
        if iops.value != 0 && (iops.value < lo || iops.value > hi) {
            l.sink.error(
                ispan,
                format!(
                    "IOPS rate must be between {lo} and {hi} when provisioning {vtype} volumes."
                ),
                "out of range",
                None,
            );
        }
        if iops.value != 0 && iops.value > size.saturating_mul(ratio) {
            #[allow(clippy::cast_precision_loss)]
            let r = iops.value as f64 / size.max(1) as f64;
            l.sink.error(
                ispan,
                format!("IOPS to volume size ratio of {r} is too high; maximum is {ratio}."),
                "too high",
                None,
            );
        }
    }
}

fn fsx(l: &mut Loader<'_>, p: &Params) {
    let has = |k: &str| p.is_set(k);
    let s = |k: &str| p.span(k).or(p.span);
    let mut errs: Vec<(Option<crate::ini::Span>, String)> = Vec::new();
    if has("imported_file_chunk_size") && !has("import_path") {
        errs.push((s("imported_file_chunk_size"), "When specifying 'imported_file_chunk_size', the 'import_path' option must be specified".into()));
    }
    if has("export_path") && !has("import_path") {
        errs.push((
            s("export_path"),
            "When specifying 'export_path', the 'import_path' option must be specified".into(),
        ));
    }
    if has("auto_import_policy") && !has("import_path") {
        errs.push((
            s("auto_import_policy"),
            "When specifying 'auto_import_policy', the 'import_path' option must be specified"
                .into(),
        ));
    }
    let deployment = p.str("deployment_type").map(|v| v.value);
    if deployment.as_deref() == Some("PERSISTENT_1") {
        if !has("per_unit_storage_throughput") {
            errs.push((s("deployment_type"), "'per_unit_storage_throughput' must be specified when 'deployment_type = PERSISTENT_1'".into()));
        }
    } else {
        if has("fsx_kms_key_id") {
            errs.push((
                s("fsx_kms_key_id"),
                "'fsx_kms_key_id' can only be used when 'deployment_type = PERSISTENT_1'".into(),
            ));
        }
        if has("per_unit_storage_throughput") {
            errs.push((s("per_unit_storage_throughput"), "'per_unit_storage_throughput' can only be used when 'deployment_type = PERSISTENT_1'".into()));
        }
    }
    // 2.11's validate_backup_options: a retention of 0 counts as none.
    let retention = p
        .int("automatic_backup_retention_days")
        .filter(|v| v.value != 0);
    if retention.is_none() && has("daily_automatic_backup_start_time") {
        errs.push((s("daily_automatic_backup_start_time"), "When specifying 'daily_automatic_backup_start_time', the 'automatic_backup_retention_days' option must be specified".into()));
    }
    if retention.is_none() && has("copy_tags_to_backups") {
        errs.push((s("copy_tags_to_backups"), "When specifying 'copy_tags_to_backups', the 'automatic_backup_retention_days' option must be specified".into()));
    }
    if retention.is_some() {
        let at = s("automatic_backup_retention_days");
        if deployment.as_deref() != Some("PERSISTENT_1") {
            errs.push((
                at,
                "FSx automatic backup features can be used only with 'PERSISTENT_1' file systems"
                    .into(),
            ));
        }
        if [
            "imported_file_chunk_size",
            "import_path",
            "export_path",
            "auto_import_policy",
        ]
        .into_iter()
        .any(has)
        {
            errs.push((
                at,
                "Backups cannot be created on S3-linked file systems".into(),
            ));
        }
    }
    // 2.11's validate_storage_type_options.
    let throughput = p.int("per_unit_storage_throughput").map(|v| v.value);
    if p.str("storage_type").is_some_and(|t| t.value == "HDD") {
        if deployment.as_deref() != Some("PERSISTENT_1") {
            errs.push((
                s("storage_type"),
                "For HDD filesystems, 'deployment_type' must be 'PERSISTENT_1'".into(),
            ));
        }
        if !throughput.is_some_and(|t| [12, 40].contains(&t)) {
            errs.push((s("per_unit_storage_throughput"), "For HDD filesystems, 'per_unit_storage_throughput' can only have the following values: [12, 40]".into()));
        }
    } else {
        if p.str("drive_cache_type").is_some_and(|t| t.value != "NONE") {
            errs.push((
                s("drive_cache_type"),
                "'drive_cache_type' features can be used only with HDD filesystems".into(),
            ));
        }
        if throughput.is_some_and(|t| t != 0 && ![50, 100, 200].contains(&t)) {
            errs.push((s("per_unit_storage_throughput"), "For SSD filesystems, 'per_unit_storage_throughput' can only have the following values: [50, 100, 200]".into()));
        }
    }
    if let (Some(backup), Some(compression)) = (
        p.str("fsx_backup_id"),
        p.str("data_compression_type").filter(|c| c.value != "NONE"),
    ) {
        errs.push((
            s("data_compression_type"),
            format!(
                "FSx data compression option ({}) cannot be specified when creating a filesystem from backup ({}). To fix, please unspecify 'fsx_backup_id' or 'data_compression_type'.",
                compression.value, backup.value
            ),
        ));
    }
    if !has("fsx_fs_id") && !has("fsx_backup_id") {
        match p.int("storage_capacity").map(|v| v.value) {
            None => errs.push((
                p.span,
                "When specifying 'fsx' section, the 'storage_capacity' option must be specified"
                    .into(),
            )),
            Some(cap) => {
                let msg = match deployment.as_deref() {
                    Some("SCRATCH_1") if !(cap == 1200 || cap == 2400 || cap % 3600 == 0) => Some(
                        "Capacity for FSx SCRATCH_1 filesystem is 1,200 GB, 2,400 GB or increments of 3,600 GB",
                    ),
                    Some("SCRATCH_2") | Some("PERSISTENT_1")
                        if !(cap == 1200 || cap % 2400 == 0)
                            && p.str("storage_type").is_none_or(|t| t.value != "HDD") =>
                    {
                        Some(
                            "Capacity for FSx SCRATCH_2 and PERSISTENT_1 filesystems is 1,200 GB or increments of 2,400 GB",
                        )
                    }
                    _ => None,
                };
                if let Some(m) = msg {
                    errs.push((s("storage_capacity"), m.into()));
                }
            }
        }
    }
    for (span, msg) in errs {
        l.sink.error(span, msg, "fsx", None);
    }
}

/// What the local provider cannot provide, one entry per section.
pub fn unsupported(storage: &[StorageSection]) -> Vec<Unsupported> {
    storage
        .iter()
        .filter(|s| {
            // A referenced [cw_log]/[dashboard] with enable = false asks for nothing.
            !matches!(s.kind, StorageKind::CwLog | StorageKind::Dashboard)
                || s.settings
                    .iter()
                    .any(|x| x.key == "enable" && x.value.value != "false")
        })
        .map(|s| Unsupported {
            feature: format!("[{} {}]", s.kind.key(), s.label),
            reason: match s.kind {
                StorageKind::Ebs => {
                    "no EBS volumes: shared_dir becomes a directory shared by all nodes"
                }
                StorageKind::Efs => "no EFS: shared_dir becomes a directory shared by all nodes",
                StorageKind::Fsx => {
                    "no FSx for Lustre: shared_dir becomes a directory shared by all nodes"
                }
                StorageKind::Raid => {
                    "no RAID of EBS volumes: shared_dir becomes a directory shared by all nodes"
                }
                StorageKind::Dcv => {
                    "NICE DCV is not available; use `airlock connect` or port forwarding"
                }
                StorageKind::CwLog => "logs stay on the nodes; there is no CloudWatch Logs",
                StorageKind::Dashboard => "there is no CloudWatch dashboard",
            }
            .into(),
            source: s.source,
        })
        .collect()
}
