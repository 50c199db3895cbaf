//! The conversion itself, step for step in the order
//! `Pcluster3ConfigConverter.validate()` and
//! `convert_to_pcluster3_config()` run, so that output keys, warnings and
//! comments come out in the same order.

use super::values::{bucket_name_and_key, getboolean, getfloat, getint, partition, py_split};
use super::{ConvertError, ConvertErrorKind, ConvertOptions, Converted, json};
use crate::ini::{Ini, pystr};
use crate::yaml::emit::{Out, set, to_yaml};

type Map = Vec<(String, Out)>;

/// A failure before it gets the warnings printed so far.
struct Fail {
    kind: ConvertErrorKind,
    message: String,
}

type R<T> = Result<T, Fail>;

fn error(message: impl Into<String>) -> Fail {
    Fail {
        kind: ConvertErrorKind::Conversion,
        message: message.into(),
    }
}

fn unexpected(python_type: &str, message: impl std::fmt::Display) -> Fail {
    Fail {
        kind: ConvertErrorKind::Unexpected,
        message: format!("Unexpected error of type {python_type}: {message}"),
    }
}

fn none_split() -> Fail {
    unexpected(
        "AttributeError",
        "'NoneType' object has no attribute 'split'",
    )
}

/// How a v2 value is read (`get`, `getboolean`, `getint`, `getfloat`).
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Int,
    Float,
}
use Ty::{Bool, Float, Int, Str};

const AMBIGUOUS: &str = "is added to both headnode and scheduling sections. Please review the configuration \
file after conversion and decide whether to further trim down the permissions and specialize.";
const ENCRYPTED_NOTE: &str = "Volume encrypted defaults to True in AWS ParallelCluster version 3 while it defaults to \
False in AWS ParallelCluster version 2.";
const IMDS_NOTE: &str = "In AWS ParallelCluster version 3, access to the Instance Metadata Service(IMDS) on the head \
node is restricted to the cluster administrator. If additional users required access to IMDS, you can set \
HeadNode/Imds/Secured to False.";
const DEFAULT_EBS_NOTE: &str = "The default setup of AWS ParallelCluster version 2 uses an EBS volume to share the \
/shared directory over NFS. This configuration utility preserves this behavior by default. If you do not need the \
/shared directory, you can remove the default-ebs from the SharedStorage section of your configuration.";
const DEFAULT_INSTANCE_TYPE: &str = "t3.micro";

struct Conv<'a> {
    ini: &'a Ini,
    opts: &'a ConvertOptions,
    cluster: String,
    vpc: String,
    comments: String,
    warnings: Vec<String>,
    shared_names: Vec<String>,
}

/// Validates and converts; see the module docs.
pub fn run(ini: &Ini, opts: &ConvertOptions) -> Result<Converted, ConvertError> {
    let mut c = Conv {
        ini,
        opts,
        cluster: String::new(),
        vpc: String::new(),
        comments: String::new(),
        warnings: Vec::new(),
        shared_names: Vec::new(),
    };
    let result = c.validate().and_then(|()| c.convert());
    match result {
        Ok(root) => {
            let mut yaml = comment_block(&c.comments);
            yaml.push_str(&to_yaml(&Out::Map(root)));
            Ok(Converted {
                yaml,
                warnings: c.warnings,
            })
        }
        Err(f) => Err(ConvertError {
            kind: f.kind,
            message: f.message,
            warnings: c.warnings,
        }),
    }
}

/// The header comments; a value with a line break would end a comment
/// early, so continuation lines get their own `# `.
fn comment_block(comments: &str) -> String {
    let mut out = String::new();
    for line in comments.lines() {
        if !line.starts_with('#') {
            out.push_str("# ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn add_if(map: &mut Map, key: &str, value: Out) {
    if value.truthy() {
        set(map, key, value);
    }
}

fn append_if(list: &mut Vec<Out>, value: Out) {
    if value.truthy() {
        list.push(value);
    }
}

fn s(v: &str) -> Out {
    Out::Str(v.to_string())
}

impl Conv<'_> {
    fn note(&mut self, m: &str) {
        self.warnings.push(format!("Note: {m}"));
    }

    fn warn(&mut self, m: &str) {
        self.warnings.push(format!("Warning: {m}"));
    }

    /// `config_parser.get(section, key, fallback=None)`.
    fn get(&self, section: &str, key: &str) -> R<Option<String>> {
        match self.ini.get(section, key) {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(e)) => Err(unexpected(e.kind.python_name(), &e.message)),
        }
    }

    fn cget(&self, key: &str) -> R<Option<String>> {
        self.get(&self.cluster, key)
    }

    /// `get` where Python only tests truthiness.
    fn cget_nonempty(&self, key: &str) -> R<Option<String>> {
        Ok(self.cget(key)?.filter(|v| !v.is_empty()))
    }

    /// `config_parser.getboolean(section, key, fallback=None)` outside
    /// `convert_single_field` (an invalid value is an uncaught exception).
    fn getbool_raw(&self, section: &str, key: &str) -> R<Option<bool>> {
        match self.get(section, key)? {
            None => Ok(None),
            Some(v) => getboolean(&v)
                .map(Some)
                .map_err(|e| unexpected("ValueError", e)),
        }
    }

    /// `convert_single_field`: reads `section`/`key` as `ty` into `model[k3]`.
    fn field(&self, section: &str, key: &str, model: &mut Map, k3: &str, ty: Ty) -> R<()> {
        let wrong = |e: String| error(format!("Wrong type for {key} in {section} section: {e}"));
        let raw = match self.ini.get(section, key) {
            None => return Ok(()),
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(wrong(e.message)),
        };
        let value = match ty {
            Str => Out::Str(raw),
            Bool => Out::Bool(getboolean(&raw).map_err(wrong)?),
            Int => getint(&raw).map_err(wrong)?,
            Float => getfloat(&raw).map_err(wrong)?,
        };
        set(model, k3, value);
        Ok(())
    }

    fn has_section(&self, name: &str) -> bool {
        name == crate::ini::DEFAULT_SECTION || self.ini.section(name).is_some()
    }

    // ---- validation ----

    fn validate(&mut self) -> R<()> {
        self.validate_cluster_section_name()?;
        self.validate_vpc_settings()?;
        self.validate_required_fields()?;
        self.validate_deprecated_fields()?;
        self.validate_ambiguous_fields()?;
        self.validate_dev_settings()?;
        self.validate_shared_storages_name()?;
        self.validate_slurm_queues()?;
        self.validate_default_ebs()
    }

    fn validate_cluster_section_name(&mut self) -> R<()> {
        let label = self.opts.cluster_template.clone().filter(|l| !l.is_empty());
        if let Some(label) = label {
            self.cluster = format!("cluster {label}");
        } else if let Some(t) = self
            .get("global", "cluster_template")?
            .filter(|t| !t.is_empty())
        {
            self.cluster = format!("cluster {t}");
        } else if self.has_section("cluster default") {
            self.cluster = "cluster default".into();
        } else {
            return Err(error("Can not find a valid cluster section."));
        }
        if self.ini.section(&self.cluster).is_none() {
            return Err(error(
                "The specified cluster section is not in the configuration.",
            ));
        }
        Ok(())
    }

    fn validate_vpc_settings(&mut self) -> R<()> {
        match self.cget_nonempty("vpc_settings")? {
            Some(v) => {
                self.vpc = format!("vpc {}", pystr::strip(&v));
                Ok(())
            }
            None => Err(error("Missing vpc_settings in the configuration file.")),
        }
    }

    fn validate_required_fields(&mut self) -> R<()> {
        self.comments.push_str(&format!("# {ENCRYPTED_NOTE}\n"));
        self.note(ENCRYPTED_NOTE);
        if self.cget("scheduler")?.as_deref() == Some("slurm") {
            self.note(IMDS_NOTE);
            self.comments.push_str(&format!("# {IMDS_NOTE}\n"));
        }
        match self.cget("scheduler")?.as_deref() {
            None | Some("") => Err(error("scheduler must be provided in the config.")),
            Some("sge" | "torque") => Err(error(
                "The provided scheduler is no longer supported in AWS ParallelCluster version 3, please check \
https://docs.aws.amazon.com/parallelcluster/latest/ug/schedulers-v3.html for supported schedulers.",
            )),
            Some("slurm" | "awsbatch") => Ok(()),
            Some(other) => Err(error(format!("Wrong value for scheduler: {other}."))),
        }
    }

    /// `validate_single_field` for the `ignored`, `need_remove` and
    /// `ambiguous` messages.
    fn single(&mut self, section: &str, key: &str, how: &str) -> R<()> {
        let Some(value) = self.get(section, key)?.filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        match how {
            "ignored" => {
                self.comments
                    .push_str(&format!("# {key} = {value} is ignored\n"));
                self.warn(&format!(
                    "Parameter {key} = {value} is no longer supported. Ignoring it during conversion."
                ));
            }
            "need_remove" => {
                return Err(error(format!(
                    "Parameter {key} = {value} is no longer supported. Please remove it and run the converter again."
                )));
            }
            _ => self.warn(&format!("{key} = {value} {AMBIGUOUS}")),
        }
        Ok(())
    }

    fn validate_deprecated_fields(&mut self) -> R<()> {
        let (vpc, cluster) = (self.vpc.clone(), self.cluster.clone());
        self.single(&vpc, "vpc_id", "ignored")?;
        self.single(&vpc, "compute_subnet_cidr", "need_remove")?;
        self.single("global", "update_check", "ignored")?;
        self.single("aliases", "ssh", "ignored")?;
        self.single(&cluster, "encrypted_ephemeral", "ignored")?;
        if self.getbool_raw("global", "sanity_check")? == Some(false) {
            self.warn(
                "Parameter sanity_check = false is no longer supported, please specify `--suppress-validators ALL` \
during cluster creation.",
            );
            self.comments
                .push_str("# sanity_check = false is ignored\n");
        }
        Ok(())
    }

    fn validate_ambiguous_fields(&mut self) -> R<()> {
        let (vpc, cluster) = (self.vpc.clone(), self.cluster.clone());
        for key in [
            "additional_iam_policies",
            "s3_read_write_resource",
            "s3_read_resource",
            "disable_hyperthreading",
            "pre_install",
            "post_install",
            "proxy_server",
        ] {
            self.single(&cluster, key, "ambiguous")?;
        }
        self.single(&vpc, "additional_sg", "ambiguous")?;
        self.single(&vpc, "vpc_security_group_id", "ambiguous")
    }

    fn validate_dev_settings(&mut self) -> R<()> {
        let mut found = Vec::new();
        for p in [
            "extra_json",
            "custom_chef_cookbook",
            "template_url",
            "instance_types_data",
        ] {
            if self.cget_nonempty(p)?.is_some() {
                found.push(format!("'{p}'"));
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let list = format!("[{}]", found.join(", "));
        if self.opts.force_convert {
            self.warn(&format!(
                "Parameters {list} are not officially supported and not recommended.\n"
            ));
            self.comments.push_str(
                "# The configuration parameters under DevSettings are not officially supported and their name or \
structure may change\n# over time without any commitment to be backward compatible.\n",
            );
            Ok(())
        } else {
            Err(error(format!(
                "{list} are not officially supported and not recommended. If you want to proceed with conversion, \
please specify `--force-convert` and rerun the command."
            )))
        }
    }

    fn validate_default_name(&mut self, name: &str, section: &str) {
        if name == "default" {
            // The converter's second sentence is a stray string literal,
            // so the message ends after "Version 3. ".
            let m = format!(
                "'default' is not allowed as a section name for '{section}' in AWS ParallelCluster Version 3. "
            );
            self.warn(&m);
            self.comments.push_str(&format!("# {m}\n"));
        }
    }

    fn validate_underscore_in_name(&mut self, name: &str, section: &str) {
        if name.contains('_') {
            let m = format!(
                "'_' is not allowed in the name of '{section}'. Please rename it before cluster creation."
            );
            self.warn(&m);
            self.comments.push_str(&format!("# {m}\n"));
        }
    }

    fn validate_shared_storages_name(&mut self) -> R<()> {
        for (setting, section) in [
            ("ebs_settings", "ebs"),
            ("fsx_settings", "fsx"),
            ("raid_settings", "raid"),
        ] {
            let Some(labels) = self.cget_nonempty(setting)? else {
                continue;
            };
            for label in labels.split(',') {
                let name = pystr::strip(label).to_string();
                if self.shared_names.contains(&name) {
                    let m = format!(
                        "Duplicate names '{name}' are not allowed in the SharedStorage section. Please change them \
before cluster creation."
                    );
                    self.warn(&m);
                    self.comments.push_str(&format!("# {m}\n"));
                } else {
                    self.shared_names.push(name.clone());
                }
                self.validate_default_name(&name, &format!("{section} {name}"));
            }
        }
        Ok(())
    }

    fn validate_slurm_queues(&mut self) -> R<()> {
        if self.cget("scheduler")?.as_deref() != Some("slurm") {
            return Ok(());
        }
        let Some(queues) = self.cget_nonempty("queue_settings")? else {
            return Ok(());
        };
        for q in queues.split(',') {
            let qname = pystr::strip(q).to_string();
            let qsec = format!("queue {qname}");
            self.validate_default_name(&qname, &qsec);
            self.validate_underscore_in_name(&qname, &qsec);
            // The converter returns (not continues) at a queue without
            // compute resources.
            let Some(crs) = self
                .get(&qsec, "compute_resource_settings")?
                .filter(|v| !v.is_empty())
            else {
                return Ok(());
            };
            for cr in crs.split(',') {
                let crname = pystr::strip(cr).to_string();
                let crsec = format!("compute_resource {crname}");
                self.validate_default_name(&crname, &crsec);
                self.validate_underscore_in_name(&crname, &crsec);
                self.single(&crsec, "initial_count", "ignored")?;
            }
        }
        Ok(())
    }

    fn validate_default_ebs(&mut self) -> R<()> {
        if self.cget_nonempty("ebs_settings")?.is_none() {
            self.note(DEFAULT_EBS_NOTE);
            self.comments.push_str(&format!("# {DEFAULT_EBS_NOTE}\n"));
        }
        Ok(())
    }

    // ---- conversion ----

    fn convert(&mut self) -> R<Map> {
        let mut root = Map::new();
        let cl = self.cluster.clone();
        self.field("aws", "aws_region_name", &mut root, "Region", Str)?;
        let mut image = Map::new();
        self.field(&cl, "custom_ami", &mut image, "CustomAmi", Str)?;
        self.field(&cl, "base_os", &mut image, "Os", Str)?;
        add_if(&mut root, "Image", Out::Map(image));
        self.field(
            &cl,
            "cluster_resource_bucket",
            &mut root,
            "CustomS3Bucket",
            Str,
        )?;
        self.field(
            &cl,
            "additional_cfn_template",
            &mut root,
            "AdditionalResources",
            Str,
        )?;
        self.convert_iam(&mut root)?;
        let mut intel = Map::new();
        self.field(
            &cl,
            "enable_intel_hpc_platform",
            &mut intel,
            "IntelHpcPlatform",
            Bool,
        )?;
        let mut packages = Map::new();
        add_if(&mut packages, "IntelSoftware", Out::Map(intel));
        add_if(&mut root, "AdditionalPackages", Out::Map(packages));
        self.convert_tags(&mut root)?;
        let storage = self.convert_shared_storage()?;
        add_if(&mut root, "SharedStorage", Out::Seq(storage));
        self.convert_monitoring(&mut root)?;
        let head = self.convert_headnode()?;
        add_if(&mut root, "HeadNode", Out::Map(head));
        self.convert_scheduling(&mut root)?;
        self.convert_dev_settings(&mut root)?;
        Ok(root)
    }

    fn region(&self) -> R<String> {
        if let Some(r) = self
            .get("aws", "aws_region_name")?
            .filter(|r| !r.is_empty())
        {
            return Ok(r);
        }
        self.opts.default_region.clone().filter(|r| !r.is_empty()).ok_or_else(|| {
            error("Region not found. Please specify aws_region_name in the configuration or set region in aws_config.")
        })
    }

    fn role_arn(&self, role: &str) -> R<String> {
        let region = self.region()?;
        Ok(format!(
            "arn:{}:iam::{}:role/{role}",
            partition(&region),
            self.opts.account_id
        ))
    }

    fn convert_iam(&self, root: &mut Map) -> R<()> {
        let mut role = Map::new();
        if let Some(r) = self.cget_nonempty("iam_lambda_role")? {
            set(
                &mut role,
                "LambdaFunctionRole",
                Out::Str(self.role_arn(&r)?),
            );
        }
        let mut iam = Map::new();
        add_if(&mut iam, "Role", Out::Map(role));
        add_if(root, "Iam", Out::Map(iam));
        Ok(())
    }

    fn convert_tags(&self, root: &mut Map) -> R<()> {
        let Some(tags) = self.cget_nonempty("tags")? else {
            return Ok(());
        };
        let parsed = json::loads(&tags)
            .map_err(|e| error(format!("Tags should be in the format of dictionary, {e}")))?;
        let Out::Map(entries) = parsed else {
            let ty = match parsed {
                Out::Seq(_) => "list",
                Out::Str(_) => "str",
                Out::Int(_) => "int",
                Out::Float(_) => "float",
                Out::Bool(_) => "bool",
                _ => "NoneType",
            };
            return Err(unexpected(
                "AttributeError",
                format!("'{ty}' object has no attribute 'items'"),
            ));
        };
        let list = entries
            .into_iter()
            .map(|(k, v)| Out::Map(vec![("Key".into(), Out::Str(k)), ("Value".into(), v)]))
            .collect();
        set(root, "Tags", Out::Seq(list));
        Ok(())
    }

    fn convert_shared_storage(&self) -> R<Vec<Out>> {
        let mut all = Vec::new();
        all.extend(self.convert_ebs()?);
        all.extend(self.convert_raid()?);
        all.extend(self.convert_efs()?);
        all.extend(self.convert_fsx()?);
        Ok(all)
    }

    /// `convert_storage_base`: Name, StorageType, MountDir and the settings
    /// (Encrypted first, then `items`).
    fn storage_base(
        &self,
        ty: &str,
        label: &str,
        items: &[(&str, &str, Ty)],
    ) -> R<(Map, Map, String)> {
        let mut section = Map::new();
        let mut settings = Map::new();
        set(&mut section, "Name", s(label));
        let st = match ty {
            "ebs" | "raid" => "Ebs",
            "fsx" => "FsxLustre",
            _ => "Efs",
        };
        set(&mut section, "StorageType", s(st));
        let sl = format!("{ty} {label}");
        self.field(&sl, "shared_dir", &mut section, "MountDir", Str)?;
        self.field(&sl, "encrypted", &mut settings, "Encrypted", Bool)?;
        for (k2, k3, t) in items {
            self.field(&sl, k2, &mut settings, k3, *t)?;
        }
        Ok((section, settings, sl))
    }

    fn convert_ebs(&self) -> R<Vec<Out>> {
        let Some(ebs) = self.cget_nonempty("ebs_settings")? else {
            let dir = self
                .cget_nonempty("shared_dir")?
                .unwrap_or_else(|| "/shared".into());
            return Ok(vec![Out::Map(vec![
                ("MountDir".into(), Out::Str(dir)),
                ("Name".into(), s("default-ebs")),
                ("StorageType".into(), s("Ebs")),
            ])]);
        };
        let items = [
            ("volume_type", "VolumeType", Str),
            ("volume_size", "Size", Int),
            ("volume_iops", "Iops", Int),
            ("ebs_snapshot_id", "SnapshotId", Str),
            ("ebs_kms_key_id", "KmsKeyId", Str),
            ("ebs_volume_id", "VolumeId", Str),
            ("volume_throughput", "Throughput", Int),
        ];
        let labels: Vec<&str> = ebs.split(',').collect();
        let mut out = Vec::new();
        for label in &labels {
            let (mut section, settings, _) =
                self.storage_base("ebs", pystr::strip(label), &items)?;
            if labels.len() == 1 && self.cget_nonempty("shared_dir")?.is_some() {
                let cl = self.cluster.clone();
                self.field(&cl, "shared_dir", &mut section, "MountDir", Str)?;
            }
            add_if(&mut section, "EbsSettings", Out::Map(settings));
            append_if(&mut out, Out::Map(section));
        }
        Ok(out)
    }

    fn convert_raid(&self) -> R<Vec<Out>> {
        let Some(raid) = self.cget_nonempty("raid_settings")? else {
            return Ok(Vec::new());
        };
        let items = [
            ("volume_type", "VolumeType", Str),
            ("volume_size", "Size", Int),
            ("volume_iops", "Iops", Int),
            ("ebs_kms_key_id", "KmsKeyId", Str),
            // Sic: the converter writes "Throughout".
            ("volume_throughput", "Throughout", Int),
        ];
        let mut out = Vec::new();
        for label in raid.split(',') {
            let (mut section, mut settings, sl) =
                self.storage_base("raid", pystr::strip(label), &items)?;
            let mut r = Map::new();
            self.field(&sl, "num_of_raid_volumes", &mut r, "NumberOfVolumes", Int)?;
            self.field(&sl, "raid_type", &mut r, "Type", Int)?;
            add_if(&mut settings, "Raid", Out::Map(r));
            add_if(&mut section, "EbsSettings", Out::Map(settings));
            append_if(&mut out, Out::Map(section));
        }
        Ok(out)
    }

    fn convert_efs(&self) -> R<Vec<Out>> {
        let Some(efs) = self.cget_nonempty("efs_settings")? else {
            return Ok(Vec::new());
        };
        let items = [
            ("performance_mode", "PerformanceMode", Str),
            ("efs_fs_id", "FileSystemId", Str),
            ("efs_kms_key_id", "KmsKeyId", Str),
            ("provisioned_throughput", "ProvisionedThroughput", Int),
            ("throughput_mode", "ThroughputMode", Str),
        ];
        let mut out = Vec::new();
        for label in efs.split(',') {
            let (mut section, settings, _) =
                self.storage_base("efs", pystr::strip(label), &items)?;
            add_if(&mut section, "EfsSettings", Out::Map(settings));
            append_if(&mut out, Out::Map(section));
        }
        Ok(out)
    }

    fn convert_fsx(&self) -> R<Vec<Out>> {
        let Some(fsx) = self.cget_nonempty("fsx_settings")? else {
            return Ok(Vec::new());
        };
        let items = [
            ("auto_import_policy", "AutoImportPolicy", Str),
            ("fsx_fs_id", "FileSystemId", Str),
            ("fsx_kms_key_id", "KmsKeyId", Str),
            ("storage_capacity", "StorageCapacity", Int),
            ("deployment_type", "DeploymentType", Str),
            ("storage_type", "StorageType", Str),
            ("imported_file_chunk_size", "ImportedFileChunkSize", Int),
            ("data_compression_type", "DataCompressionType", Str),
            ("export_path", "ExportPath", Str),
            ("import_path", "ImportPath", Str),
            (
                "weekly_maintenance_start_time",
                "WeeklyMaintenanceStartTime",
                Str,
            ),
            (
                "automatic_backup_retention_days",
                "AutomaticBackupRetentionDays",
                Int,
            ),
            ("copy_tags_to_backups", "CopyTagsToBackups", Bool),
            (
                "daily_automatic_backup_start_time",
                "DailyAutomaticBackupStartTime",
                Str,
            ),
            (
                "per_unit_storage_throughput",
                "PerUnitStorageThroughput",
                Int,
            ),
            ("fsx_backup_id", "BackupId", Str),
            ("drive_cache_type", "DriveCacheType", Str),
        ];
        let mut out = Vec::new();
        for label in fsx.split(',') {
            let (mut section, settings, _) =
                self.storage_base("fsx", pystr::strip(label), &items)?;
            add_if(&mut section, "FsxLustreSettings", Out::Map(settings));
            append_if(&mut out, Out::Map(section));
        }
        Ok(out)
    }

    fn convert_monitoring(&self, root: &mut Map) -> R<()> {
        let mut cloudwatch = Map::new();
        if let Some(cw) = self.cget_nonempty("cw_log_settings")? {
            let sl = format!("cw_log {}", pystr::strip(&cw));
            self.field(&sl, "enable", &mut cloudwatch, "Enabled", Bool)?;
            self.field(
                &sl,
                "retention_days",
                &mut cloudwatch,
                "RetentionInDays",
                Int,
            )?;
        }
        let mut dash_cw = Map::new();
        if let Some(d) = self.cget_nonempty("dashboard_settings")? {
            let sl = format!("dashboard {}", pystr::strip(&d));
            self.field(&sl, "enable", &mut dash_cw, "Enabled", Bool)?;
        }
        let mut logs = Map::new();
        let mut monitoring = Map::new();
        let mut dashboards = Map::new();
        add_if(&mut logs, "CloudWatch", Out::Map(cloudwatch));
        add_if(&mut monitoring, "Logs", Out::Map(logs));
        add_if(&mut dashboards, "CloudWatch", Out::Map(dash_cw));
        add_if(&mut monitoring, "Dashboards", Out::Map(dashboards));
        add_if(root, "Monitoring", Out::Map(monitoring));
        Ok(())
    }

    fn instance_type(&self, node: &mut Map, param: &str) -> R<()> {
        let t = self
            .cget_nonempty(param)?
            .unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.into());
        set(node, "InstanceType", Out::Str(t));
        Ok(())
    }

    fn convert_headnode(&self) -> R<Map> {
        let mut head = Map::new();
        let cl = self.cluster.clone();
        let vpc = self.vpc.clone();
        self.instance_type(&mut head, "master_instance_type")?;
        // Networking
        let mut net = Map::new();
        self.field(&vpc, "master_subnet_id", &mut net, "SubnetId", Str)?;
        self.field(&vpc, "use_public_ips", &mut net, "ElasticIp", Bool)?;
        let mut sgs = Vec::new();
        append_if(
            &mut sgs,
            Out::Str(self.get(&vpc, "vpc_security_group_id")?.unwrap_or_default()),
        );
        let mut extra_sgs = Vec::new();
        append_if(
            &mut extra_sgs,
            Out::Str(self.get(&vpc, "additional_sg")?.unwrap_or_default()),
        );
        let mut proxy = Map::new();
        self.field(&cl, "proxy_server", &mut proxy, "HttpProxyAddress", Str)?;
        add_if(&mut net, "Proxy", Out::Map(proxy));
        add_if(&mut net, "SecurityGroups", Out::Seq(sgs));
        add_if(&mut net, "AdditionalSecurityGroups", Out::Seq(extra_sgs));
        add_if(&mut head, "Networking", Out::Map(net));
        self.field(
            &cl,
            "disable_hyperthreading",
            &mut head,
            "DisableSimultaneousMultithreading",
            Bool,
        )?;
        let mut ssh = Map::new();
        self.field(&cl, "key_name", &mut ssh, "KeyName", Str)?;
        self.field(&vpc, "ssh_from", &mut ssh, "AllowedIps", Str)?;
        add_if(&mut head, "Ssh", Out::Map(ssh));
        self.local_storage(&mut head, "master_root_volume_size")?;
        self.convert_dcv(&mut head)?;
        self.custom_actions(&mut head)?;
        self.node_iam(&mut head)?;
        let mut imds = Map::new();
        if self.cget("scheduler")?.as_deref() == Some("awsbatch") {
            set(&mut imds, "Secured", Out::Bool(false));
        }
        add_if(&mut head, "Imds", Out::Map(imds));
        Ok(head)
    }

    fn local_storage(&self, node: &mut Map, size_param: &str) -> R<()> {
        let cl = self.cluster.clone();
        let mut root_volume = Map::new();
        self.field(&cl, size_param, &mut root_volume, "Size", Int)?;
        let mut eph = Map::new();
        self.field(&cl, "ephemeral_dir", &mut eph, "MountDir", Str)?;
        let mut ls = Map::new();
        add_if(&mut ls, "RootVolume", Out::Map(root_volume));
        add_if(&mut ls, "EphemeralVolume", Out::Map(eph));
        add_if(node, "LocalStorage", Out::Map(ls));
        Ok(())
    }

    fn convert_dcv(&self, head: &mut Map) -> R<()> {
        let mut dcv = Map::new();
        if let Some(d) = self.cget_nonempty("dcv_settings")? {
            let sl = format!("dcv {}", pystr::strip(&d));
            // A plain `get` without fallback: a missing section or option
            // is an uncaught exception in the converter.
            if self.ini.section(&sl).is_none() {
                return Err(unexpected(
                    "NoSectionError",
                    format!("No section: {}", super::values::py_repr(&sl)),
                ));
            }
            match self.get(&sl, "enable")? {
                None => {
                    return Err(unexpected(
                        "NoOptionError",
                        format!(
                            "No option 'enable' in section: {}",
                            super::values::py_repr(&sl)
                        ),
                    ));
                }
                Some(v) if v == "master" => set(&mut dcv, "Enabled", Out::Bool(true)),
                Some(_) => {}
            }
            self.field(&sl, "port", &mut dcv, "Port", Int)?;
            self.field(&sl, "access_from", &mut dcv, "AllowedIps", Str)?;
        }
        add_if(head, "Dcv", Out::Map(dcv));
        Ok(())
    }

    fn custom_actions(&self, node: &mut Map) -> R<()> {
        let cl = self.cluster.clone();
        let mut start = Map::new();
        let mut configured = Map::new();
        self.field(&cl, "pre_install", &mut start, "Script", Str)?;
        self.field(&cl, "post_install", &mut configured, "Script", Str)?;
        let args = |script: &str, args_key: &str| -> R<Vec<Out>> {
            let mut list = Vec::new();
            if let Some(a) = self.cget_nonempty(args_key)? {
                list.push(self.cget(script)?.map_or(Out::Null, Out::Str));
                let cleaned = a.replace(['\'', '"'], "");
                list.extend(py_split(&cleaned).into_iter().map(Out::Str));
            }
            Ok(list)
        };
        add_if(
            &mut start,
            "Args",
            Out::Seq(args("pre_install", "pre_install_args")?),
        );
        add_if(
            &mut configured,
            "Args",
            Out::Seq(args("post_install", "post_install_args")?),
        );
        let mut ca = Map::new();
        add_if(&mut ca, "OnNodeStart", Out::Map(start));
        add_if(&mut ca, "OnNodeConfigured", Out::Map(configured));
        add_if(node, "CustomActions", Out::Map(ca));
        Ok(())
    }

    /// `covert_headnode_iam` (used for the head node and every queue).
    fn node_iam(&self, node: &mut Map) -> R<()> {
        let mut iam = Map::new();
        if let Some(role) = self.cget_nonempty("ec2_iam_role")? {
            set(&mut iam, "InstanceRole", Out::Str(self.role_arn(&role)?));
        }
        let mut policies = Vec::new();
        if let Some(list) = self.cget_nonempty("additional_iam_policies")? {
            for p in list.split(',') {
                policies.push(Out::Map(vec![("Policy".into(), s(pystr::strip(p)))]));
            }
        }
        let mut s3 = Vec::new();
        let no_match = || {
            unexpected(
                "AttributeError",
                "'NoneType' object has no attribute 'groups'",
            )
        };
        if let Some(r) = self.cget_nonempty("s3_read_resource")? {
            let (bucket, key) = bucket_name_and_key(&r).ok_or_else(no_match)?;
            let mut m = vec![("BucketName".to_string(), Out::Str(bucket))];
            if let Some(k) = key.filter(|k| !k.is_empty()) {
                m.push(("KeyName".into(), Out::Str(k)));
            }
            s3.push(Out::Map(m));
        }
        if let Some(rw) = self.cget_nonempty("s3_read_write_resource")? {
            let (bucket, key) = bucket_name_and_key(&rw).ok_or_else(no_match)?;
            if bucket.is_empty() {
                return Err(error(format!(
                    "BucketName is required in 's3_read_write_resource = {rw}' for AWS ParallelCluster version 3 \
configuration."
                )));
            }
            let mut m = vec![
                ("EnableWriteAccess".to_string(), Out::Bool(true)),
                ("BucketName".to_string(), Out::Str(bucket)),
            ];
            if let Some(k) = key.filter(|k| !k.is_empty()) {
                m.push(("KeyName".into(), Out::Str(k)));
            }
            s3.push(Out::Map(m));
        }
        add_if(&mut iam, "AdditionalIamPolicies", Out::Seq(policies));
        add_if(&mut iam, "S3Access", Out::Seq(s3));
        add_if(node, "Iam", Out::Map(iam));
        Ok(())
    }

    fn convert_scheduling(&mut self, root: &mut Map) -> R<()> {
        let cl = self.cluster.clone();
        let mut sched = Map::new();
        self.field(&cl, "scheduler", &mut sched, "Scheduler", Str)?;
        match self.cget("scheduler")?.as_deref() {
            Some("slurm") => {
                self.slurm_settings(&mut sched)?;
                self.slurm_queues(&mut sched)?;
            }
            Some("awsbatch") => self.batch_queues(&mut sched)?,
            _ => {}
        }
        add_if(root, "Scheduling", Out::Map(sched));
        Ok(())
    }

    fn slurm_settings(&self, sched: &mut Map) -> R<()> {
        let mut ss = Map::new();
        if let Some(sc) = self.cget_nonempty("scaling_settings")? {
            let sl = format!("scaling {}", pystr::strip(&sc));
            self.field(&sl, "scaledown_idletime", &mut ss, "ScaledownIdletime", Int)?;
        }
        let mut dns = Map::new();
        self.field(
            &self.cluster,
            "disable_cluster_dns",
            &mut dns,
            "DisableManagedDns",
            Bool,
        )?;
        add_if(&mut ss, "Dns", Out::Map(dns));
        add_if(sched, "SlurmSettings", Out::Map(ss));
        Ok(())
    }

    fn slurm_queues(&mut self, sched: &mut Map) -> R<()> {
        let Some(qs) = self.cget_nonempty("queue_settings")? else {
            return self.sit_queue(sched);
        };
        let mut queues = Vec::new();
        for label in qs.split(',') {
            let q = self.slurm_queue(pystr::strip(label))?;
            append_if(&mut queues, Out::Map(q));
        }
        add_if(sched, "SlurmQueues", Out::Seq(queues));
        Ok(())
    }

    fn capacity_type(&self, section: &str, key: &str, queue: &mut Map) -> R<()> {
        self.field(section, key, queue, "CapacityType", Str)?;
        if let Some((_, Out::Str(v))) = queue.iter_mut().find(|(k, _)| k == "CapacityType") {
            *v = v.to_uppercase();
        }
        Ok(())
    }

    fn slurm_queue(&self, name: &str) -> R<Map> {
        let mut q = Map::new();
        let qsec = format!("queue {name}");
        set(&mut q, "Name", s(name));
        self.capacity_type(&qsec, "compute_type", &mut q)?;
        let crs = self
            .get(&qsec, "compute_resource_settings")?
            .ok_or_else(none_split)?;
        let mut resources = Vec::new();
        for label in crs.split(',') {
            let cr = self.slurm_compute_resource(pystr::strip(label), &qsec)?;
            append_if(&mut resources, Out::Map(cr));
        }
        add_if(&mut q, "ComputeResources", Out::Seq(resources));
        self.custom_actions(&mut q)?;
        self.node_iam(&mut q)?;
        self.queue_networking(&mut q, &qsec)?;
        self.compute_settings(&mut q)?;
        Ok(q)
    }

    fn efa_from_cluster(&self, efa: &mut Map) -> R<()> {
        if self.cget("enable_efa")?.as_deref() == Some("compute") {
            set(efa, "Enabled", Out::Bool(true));
        }
        if self.cget("enable_efa_gdr")?.as_deref() == Some("compute") {
            set(efa, "GdrSupport", Out::Bool(true));
        }
        Ok(())
    }

    fn slurm_compute_resource(&self, name: &str, qsec: &str) -> R<Map> {
        let mut cr = Map::new();
        let mut efa = Map::new();
        let crsec = format!("compute_resource {name}");
        set(&mut cr, "Name", s(name));
        self.efa_from_cluster(&mut efa)?;
        self.field(&crsec, "instance_type", &mut cr, "InstanceType", Str)?;
        self.field(&crsec, "min_count", &mut cr, "MinCount", Int)?;
        self.field(&crsec, "max_count", &mut cr, "MaxCount", Int)?;
        self.field(&crsec, "spot_price", &mut cr, "SpotPrice", Float)?;
        self.field(
            qsec,
            "disable_hyperthreading",
            &mut cr,
            "DisableSimultaneousMultithreading",
            Bool,
        )?;
        self.field(qsec, "enable_efa", &mut efa, "Enabled", Bool)?;
        self.field(qsec, "enable_efa_gdr", &mut efa, "GdrSupport", Bool)?;
        if self.getbool_raw(qsec, "disable_hyperthreading")?.is_none() {
            self.field(
                &self.cluster,
                "disable_hyperthreading",
                &mut cr,
                "DisableSimultaneousMultithreading",
                Bool,
            )?;
        }
        add_if(&mut cr, "Efa", Out::Map(efa));
        Ok(cr)
    }

    /// `convert_base_queue_networking`.
    fn base_queue_networking(&self) -> R<Map> {
        let vpc = self.vpc.clone();
        let mut net = Map::new();
        let field = if self
            .get(&vpc, "compute_subnet_id")?
            .is_some_and(|v| !v.is_empty())
        {
            "compute_subnet_id"
        } else {
            "master_subnet_id"
        };
        let mut subnets = Vec::new();
        append_if(
            &mut subnets,
            Out::Str(self.get(&vpc, field)?.unwrap_or_default()),
        );
        let mut sgs = Vec::new();
        append_if(
            &mut sgs,
            Out::Str(self.get(&vpc, "vpc_security_group_id")?.unwrap_or_default()),
        );
        let mut extra = Vec::new();
        append_if(
            &mut extra,
            Out::Str(self.get(&vpc, "additional_sg")?.unwrap_or_default()),
        );
        add_if(&mut net, "SubnetIds", Out::Seq(subnets));
        add_if(&mut net, "SecurityGroups", Out::Seq(sgs));
        add_if(&mut net, "AdditionalSecurityGroups", Out::Seq(extra));
        Ok(net)
    }

    fn queue_networking(&self, q: &mut Map, placement_section: &str) -> R<()> {
        let mut net = self.base_queue_networking()?;
        let mut pg = Map::new();
        match self.get(placement_section, "placement_group")?.as_deref() {
            Some("DYNAMIC") => set(&mut pg, "Enabled", Out::Bool(true)),
            Some(p) if !p.is_empty() => set(&mut pg, "Id", s(p)),
            _ => {}
        }
        add_if(&mut net, "PlacementGroup", Out::Map(pg));
        let mut proxy = Map::new();
        self.field(
            &self.cluster,
            "proxy_server",
            &mut proxy,
            "HttpProxyAddress",
            Str,
        )?;
        add_if(&mut net, "Proxy", Out::Map(proxy));
        add_if(q, "Networking", Out::Map(net));
        Ok(())
    }

    fn compute_settings(&self, q: &mut Map) -> R<()> {
        let mut cs = Map::new();
        self.local_storage(&mut cs, "compute_root_volume_size")?;
        add_if(q, "ComputeSettings", Out::Map(cs));
        Ok(())
    }

    fn sit_queue(&mut self, sched: &mut Map) -> R<()> {
        let cl = self.cluster.clone();
        let mut q = Map::new();
        set(&mut q, "Name", s("default-queue"));
        self.compute_settings(&mut q)?;
        self.capacity_type(&cl, "cluster_type", &mut q)?;
        self.custom_actions(&mut q)?;
        self.node_iam(&mut q)?;
        self.queue_networking(&mut q, &cl)?;
        // SIT compute resource.
        let mut cr = Map::new();
        let mut efa = Map::new();
        set(&mut cr, "Name", s("default-resource"));
        self.field(&cl, "spot_price", &mut cr, "SpotPrice", Float)?;
        self.field(&cl, "max_queue_size", &mut cr, "MaxCount", Int)?;
        self.field(
            &cl,
            "disable_hyperthreading",
            &mut cr,
            "DisableSimultaneousMultithreading",
            Bool,
        )?;
        let initial = match self.cget("initial_queue_size")? {
            None => None,
            Some(v) => Some(getint(&v).map_err(|e| unexpected("ValueError", e))?),
        };
        let maintain = self.getbool_raw(&cl, "maintain_initial_size")?;
        match initial {
            Some(n) if n.truthy() && maintain == Some(true) => set(&mut cr, "MinCount", n),
            _ => self.single(&cl, "initial_queue_size", "ignored")?,
        }
        self.instance_type(&mut cr, "compute_instance_type")?;
        self.efa_from_cluster(&mut efa)?;
        add_if(&mut cr, "Efa", Out::Map(efa));
        let mut resources = Vec::new();
        append_if(&mut resources, Out::Map(cr));
        add_if(&mut q, "ComputeResources", Out::Seq(resources));
        let mut queues = Vec::new();
        append_if(&mut queues, Out::Map(q));
        add_if(sched, "SlurmQueues", Out::Seq(queues));
        Ok(())
    }

    fn batch_queues(&self, sched: &mut Map) -> R<()> {
        let cl = self.cluster.clone();
        let mut q = Map::new();
        set(&mut q, "Name", s("batch-queue"));
        self.capacity_type(&cl, "cluster_type", &mut q)?;
        let net = self.base_queue_networking()?;
        add_if(&mut q, "Networking", Out::Map(net));
        let mut cr = Map::new();
        set(&mut cr, "Name", s("batch-compute"));
        self.field(&cl, "min_vcpus", &mut cr, "MinvCpus", Int)?;
        self.field(&cl, "max_vcpus", &mut cr, "MaxvCpus", Int)?;
        self.field(&cl, "desired_vcpus", &mut cr, "DesiredvCpus", Int)?;
        self.field(
            &cl,
            "spot_bid_percentage",
            &mut cr,
            "SpotBidPercentage",
            Float,
        )?;
        let mut types = Vec::new();
        match self.cget_nonempty("compute_instance_type")? {
            Some(list) => types.extend(list.split(',').map(|t| s(pystr::strip(t)))),
            None => types.push(s(DEFAULT_INSTANCE_TYPE)),
        }
        add_if(&mut cr, "InstanceTypes", Out::Seq(types));
        let mut resources = Vec::new();
        append_if(&mut resources, Out::Map(cr));
        add_if(&mut q, "ComputeResources", Out::Seq(resources));
        let mut queues = Vec::new();
        append_if(&mut queues, Out::Map(q));
        add_if(sched, "AwsBatchQueues", Out::Seq(queues));
        Ok(())
    }

    fn convert_dev_settings(&self, root: &mut Map) -> R<()> {
        let cl = self.cluster.clone();
        let mut dev = Map::new();
        let mut cookbook = Map::new();
        self.field(&cl, "extra_json", &mut cookbook, "ExtraChefAttributes", Str)?;
        self.field(
            &cl,
            "custom_chef_cookbook",
            &mut cookbook,
            "ChefCookbook",
            Str,
        )?;
        self.field(&cl, "template_url", &mut dev, "ClusterTemplate", Str)?;
        self.field(
            &cl,
            "instance_types_data",
            &mut dev,
            "InstanceTypesData",
            Str,
        )?;
        add_if(&mut dev, "Cookbook", Out::Map(cookbook));
        add_if(root, "DevSettings", Out::Map(dev));
        Ok(())
    }
}
