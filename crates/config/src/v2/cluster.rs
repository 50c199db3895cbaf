//! The `[cluster]` section and everything it refers to, assembled into a
//! [`ClusterModel`]; cluster-wide validators; `sanity_check` handling.

use crate::diagnostic::Severity;
use crate::ini::{Ini, Span};
use crate::instance_types;
use crate::model::{
    ClusterModel, CustomActions, HeadNode, Scheduler, Setting, Source, Sourced, Tag, Unsupported,
    Vpc, cluster_user_for,
};

use super::reader::{self, Params, Sink, did_you_mean};
use super::schema::{self, Kind, ParamDef};
use super::{LoadOptions, Report, queues, storage};

/// Shared state of one load.
pub struct Loader<'a> {
    pub ini: &'a Ini,
    pub sink: Sink<'a>,
    pub opts: &'a LoadOptions<'a>,
}

pub fn load(ini: &Ini, text: &str, opts: &LoadOptions<'_>) -> Report {
    let mut l = Loader {
        ini,
        sink: Sink {
            text,
            file: opts.file_name,
            diags: Vec::new(),
        },
        opts,
    };
    l.unknown_sections();
    let model = l.cluster();
    let sanity = model
        .as_ref()
        .map_or_else(|| l.global_sanity_check(), |m| m.sanity_check.value);
    let mut diagnostics = l.sink.diags;
    // File order; diagnostics without a location last.
    diagnostics.sort_by_key(|d| d.span.map_or(usize::MAX, |s| s.offset));
    if !sanity {
        // ParallelCluster prints validator errors and carries on.
        for d in diagnostics.iter_mut().filter(|d| d.is_error() && !d.fatal) {
            d.severity = Severity::Warning;
        }
    }
    Report { model, diagnostics }
}

impl<'a> Loader<'a> {
    pub fn read(&mut self, name: &str, defs: Vec<&'static ParamDef>) -> Params {
        reader::read(self.ini, &mut self.sink, name, defs)
    }

    fn global_sanity_check(&self) -> bool {
        match self.ini.get("global", "sanity_check") {
            Some(Ok(v)) => reader::parse_bool(v.trim()).unwrap_or(true),
            _ => true,
        }
    }

    /// Warn about sections no ParallelCluster version knows (typos).
    fn unknown_sections(&mut self) {
        for s in &self.ini.sections {
            let key = s.name.split(' ').next().unwrap_or_default();
            if schema::SECTION_KEYS.contains(&key) {
                continue;
            }
            let hint = match did_you_mean(key, schema::SECTION_KEYS.iter().copied()) {
                Some(k) => format!(
                    "did you mean [{k}{}]?",
                    s.name.get(key.len()..).unwrap_or_default()
                ),
                None => format!("known sections are: {}", schema::SECTION_KEYS.join(", ")),
            };
            self.sink.warn(
                Some(s.span),
                format!(
                    "Section [{}] is not a ParallelCluster section and is ignored",
                    s.name
                ),
                "unknown section",
                Some(hint),
            );
        }
    }

    /// Span of `needle` inside the first line of the value at `span`.
    pub fn sub_span(&self, span: Span, needle: &str) -> Span {
        let Some(text) = self.sink.text.get(span.offset..span.end()) else {
            return span;
        };
        let first = text.split(['\n', '\r']).next().unwrap_or_default();
        match first.find(needle) {
            Some(i) if !needle.is_empty() => {
                let col = span
                    .col
                    .saturating_add(u32::try_from(first[..i].chars().count()).unwrap_or(0));
                Span::new(span.line, col, span.offset + i, needle.len())
            }
            _ => span,
        }
    }

    /// Error unless the section label matches ParallelCluster's pattern.
    pub fn check_label(&mut self, key: &str, label: &str, span: Option<Span>) -> bool {
        if schema::valid_section_label(label) {
            return true;
        }
        self.sink
            .error(
                span,
                format!(
                    "Failed validation for section {key} {label}. Section names can be at most 30 chars long, must begin with a letter and only contain alphanumeric characters, hyphens and underscores."
                ),
                "invalid section label",
                Some("rename the section, e.g. [cluster my-cluster_1]".into()),
            )
            .fatal = true;
        false
    }

    /// Fatal "must have a value" error for a required parameter.
    pub fn require(&mut self, p: &Params, key: &str, hint: String) -> bool {
        if p.is_set(key) {
            return true;
        }
        self.sink
            .error(
                p.span,
                format!("Configuration parameter '{key}' must have a value"),
                &format!("[{}] has no '{key}'", p.name),
                Some(hint),
            )
            .fatal = true;
        false
    }

    /// Resolve a `*_settings` parameter to the sections it names, reading each.
    pub fn settings(&mut self, owner: &Params, key: &str) -> Vec<(String, Params)> {
        let Some(def) = owner.defs.iter().find(|d| d.key == key) else {
            return Vec::new();
        };
        let Kind::Settings { section, max } = def.kind else {
            return Vec::new();
        };
        let Some(raw) = owner.raw(key).cloned() else {
            return Vec::new();
        };
        if raw.text.is_empty() {
            return Vec::new();
        }
        let labels: Vec<String> = raw.text.split(',').map(|s| s.trim().to_string()).collect();
        let vspan = Some(raw.value_span);
        if labels.len() > max {
            let msg = if max == 1 {
                format!(
                    "The value of '{key}' parameter is invalid. It can only contain a single {section} section label."
                )
            } else {
                format!("Invalid number of '{section}' sections specified. Max {max} expected.")
            };
            self.sink.error(
                vspan,
                msg,
                "too many sections",
                Some(format!("list at most {max} labels")),
            );
        }
        let mut out: Vec<(String, Params)> = Vec::new();
        for label in labels {
            let lspan = Some(self.sub_span(raw.value_span, &label));
            if label.is_empty() {
                // 2.11 looks an empty label (a stray comma) up as the
                // default section.
                let name = format!("{section} default");
                if self.ini.section(&name).is_none() {
                    self.sink.error(
                        vspan,
                        format!("Section '[{name}]' not found in the config file."),
                        "empty section label",
                        Some(format!(
                            "remove the stray comma from '{key}': an empty label names [{name}]"
                        )),
                    );
                    continue;
                }
            }
            let label = if label.is_empty() {
                "default".to_string()
            } else {
                label
            };
            let form_ok = !label.is_empty()
                && label.len() <= 64
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !form_ok {
                let short: String = label.chars().take(20).collect();
                self.sink.error(
                    lspan,
                    format!(
                        "Invalid label '{short}' in param '{key}'. Section labels can only contain alphanumeric characters, dashes or underscores."
                    ),
                    "invalid label",
                    Some("separate labels with commas only".into()),
                );
                continue;
            }
            if out.iter().any(|(l, _)| *l == label) {
                self.sink.error(
                    lspan,
                    format!(
                        "Multiple reference to section '[{section} {label}]'. Only one reference to each section is allowed from the same configuration file."
                    ),
                    "listed twice",
                    Some("remove the duplicate label".into()),
                );
                continue;
            }
            let name = format!("{section} {label}");
            let Some(sec) = self.ini.section(&name) else {
                let prefix = format!("{section} ");
                let existing: Vec<&str> = self
                    .ini
                    .section_names()
                    .filter_map(|n| n.strip_prefix(prefix.as_str()))
                    .collect();
                let hint = match did_you_mean(&label, existing.iter().copied()) {
                    Some(s) => format!("did you mean '{s}'? ([{section} {s}] exists)"),
                    None if existing.is_empty() => format!("add a [{section} {label}] section"),
                    None => format!(
                        "add a [{section} {label}] section; existing: {}",
                        existing.join(", ")
                    ),
                };
                self.sink.error(
                    lspan,
                    format!("Section '[{name}]' not found in the config file."),
                    "unknown section label",
                    Some(hint),
                );
                continue;
            };
            let span = Some(sec.span);
            if !self.check_label(section, &label, span) {
                continue;
            }
            let params = self.read(&name, schema::section_params(section).iter().collect());
            out.push((label, params));
        }
        out
    }

    fn cluster(&mut self) -> Option<ClusterModel> {
        let aws = self.read("aws", schema::AWS.iter().collect());
        let global = self.read("global", schema::GLOBAL.iter().collect());
        let aliases = self.read("aliases", schema::ALIASES.iter().collect());
        let template = match self.opts.template {
            Some(t) => t.to_string(),
            None => global
                .str("cluster_template")
                .map_or_else(|| "default".into(), |v| v.value),
        };
        let name = format!("cluster {template}");
        let Some(section) = self.ini.section(&name) else {
            let existing: Vec<&str> = self
                .ini
                .section_names()
                .filter_map(|n| n.strip_prefix("cluster "))
                .collect();
            let hint = match did_you_mean(&template, existing.iter().copied()) {
                Some(s) => format!(
                    "did you mean '{s}'? choose it with `-t {s}` or `cluster_template = {s}` in [global]"
                ),
                None if existing.is_empty() => "add a [cluster default] section".into(),
                None => format!(
                    "choose one of: {} (with -t or cluster_template in [global])",
                    existing.join(", ")
                ),
            };
            let span = global.span("cluster_template");
            self.sink
                .error(
                    span,
                    format!("Section '[{name}]' not found in the config file."),
                    "no such cluster section",
                    Some(hint),
                )
                .fatal = true;
            return None;
        };
        let section_span = section.span;
        self.check_label("cluster", &template, Some(section_span));
        let hit = section.entry("queue_settings").is_some();
        let extra_defs = if hit {
            schema::CLUSTER_HIT
        } else {
            schema::CLUSTER_SIT
        };
        let defs: Vec<&'static ParamDef> = schema::CLUSTER_COMMON
            .iter()
            .chain(extra_defs.iter())
            .collect();
        let c = self.read(&name, defs);

        self.require(&c, "scheduler", "add `scheduler = slurm`".into());
        self.require(
            &c,
            "base_os",
            format!(
                "add `base_os = ` one of {}",
                schema::SUPPORTED_OSS.join(", ")
            ),
        );
        let scheduler_text =
            text_any(&c, "scheduler").unwrap_or_else(|| Sourced::default("slurm".into()));
        let scheduler = Sourced {
            value: if scheduler_text.value == "awsbatch" {
                Scheduler::Awsbatch
            } else {
                Scheduler::Slurm
            },
            source: scheduler_text.source,
        };
        let base_os = text_any(&c, "base_os").unwrap_or_else(|| Sourced::default("alinux2".into()));
        let cluster_user = Sourced {
            value: cluster_user_for(&base_os.value).to_string(),
            source: base_os.source,
        };
        if scheduler.value == Scheduler::Awsbatch
            && c.is_set("base_os")
            && base_os.value != "alinux2"
        {
            self.sink.error(
                c.span("scheduler"),
                "'awsbatch' scheduler supports the following Operating Systems: ['alinux2']".into(),
                "scheduler",
                Some("set base_os = alinux2".into()),
            );
        }

        let vpc = self.vpc(&c, &name);
        let scaling = self.settings(&c, "scaling_settings");
        let scaledown_idletime = scaling
            .first()
            .and_then(|(_, p)| p.int("scaledown_idletime"))
            .map_or_else(|| Sourced::default(10), to_u32);

        let head_type = c
            .str("master_instance_type")
            .unwrap_or_else(|| Sourced::default(schema::DEFAULT_INSTANCE_TYPE.into()));
        self.instance_type(&head_type, "master_instance_type");
        let head_node = HeadNode {
            instance_type: head_type,
            root_volume_size: c
                .int("master_root_volume_size")
                .map_or_else(|| Sourced::default(35), to_u32),
        };

        let queues = if hit {
            queues::hit(self, &c, scheduler.value)
        } else {
            queues::sit(self, &c, scheduler.value)
        };

        super::hardware::check(self, &c, &head_node.instance_type, &base_os, &queues, hit);
        for key in ["master_root_volume_size", "compute_root_volume_size"] {
            self.root_volume_below_2_11(&c, key);
        }
        self.cfn_scheduler_slots(&c);

        let tags = self.tags(&c);
        let additional_iam_policies = self.policies(&c);
        let storage = storage::load(self, &c);

        let mut unsupported = storage::unsupported(&storage);
        self.unsupported_params(&c, scheduler.clone(), &mut unsupported);

        let extra_keys = [
            "proxy_server",
            "ec2_iam_role",
            "s3_read_resource",
            "s3_read_write_resource",
            "template_url",
            "encrypted_ephemeral",
            "custom_ami",
            "extra_json",
            "additional_cfn_template",
            "custom_chef_cookbook",
            "enable_intel_hpc_platform",
            "enable_efa",
            "enable_efa_gdr",
            "hit_template_url",
            "cw_dashboard_template_url",
            "cluster_resource_bucket",
            "iam_lambda_role",
            "instance_types_data",
            "disable_cluster_dns",
            "placement",
            "min_vcpus",
            "desired_vcpus",
            "max_vcpus",
            "spot_bid_percentage",
        ];
        let extra = extra_keys
            .iter()
            .filter(|k| c.defs.iter().any(|d| d.key == **k))
            .filter_map(|k| {
                c.str(k).map(|v| Setting {
                    key: (*k).to_string(),
                    value: v,
                })
            })
            .collect();

        Some(ClusterModel {
            template,
            region: aws
                .str("aws_region_name")
                .unwrap_or_else(|| Sourced::default("us-east-1".into())),
            scheduler,
            base_os,
            cluster_user,
            key_name: c.str("key_name"),
            head_node,
            compute_root_volume_size: c
                .int("compute_root_volume_size")
                .map_or_else(|| Sourced::default(35), to_u32),
            vpc,
            queues,
            scaledown_idletime,
            additional_iam_policies,
            tags,
            ssh_alias: aliases
                .str("ssh")
                .unwrap_or_else(|| Sourced::default(schema::SSH_ALIAS_DEFAULT.into())),
            shared_dir: c
                .str("shared_dir")
                .unwrap_or_else(|| Sourced::default("/shared".into())),
            ephemeral_dir: c
                .str("ephemeral_dir")
                .unwrap_or_else(|| Sourced::default("/scratch".into())),
            custom_actions: CustomActions {
                pre_install: c.str("pre_install"),
                pre_install_args: c.str("pre_install_args"),
                post_install: c.str("post_install"),
                post_install_args: c.str("post_install_args"),
            },
            storage,
            extra,
            sanity_check: global
                .bool("sanity_check")
                .unwrap_or_else(|| Sourced::default(true)),
            update_check: global
                .bool("update_check")
                .unwrap_or_else(|| Sourced::default(true)),
            unsupported_by_local_provider: unsupported,
        })
    }

    fn vpc(&mut self, c: &Params, cluster_name: &str) -> Vpc {
        let sections = self.settings(c, "vpc_settings");
        let (label, p) = match sections.into_iter().next() {
            Some(x) => x,
            None => {
                // ParallelCluster creates an empty [vpc default] when vpc_settings is absent.
                let p = self.read("vpc <absent>", schema::VPC.iter().collect());
                ("default".to_string(), p)
            }
        };
        if p.span.is_none() {
            if !c.is_set("vpc_settings") {
                let hint = if self.ini.section_names().any(|n| n.starts_with("vpc ")) {
                    format!(
                        "add `vpc_settings = <label>` to [{cluster_name}]: a [vpc] section is read only when vpc_settings names it"
                    )
                } else {
                    format!(
                        "add a [vpc default] section with vpc_id and master_subnet_id, and `vpc_settings = default` to [{cluster_name}]"
                    )
                };
                self.sink
                    .error(
                        c.span,
                        "Configuration parameter 'vpc_id' must have a value".into(),
                        "this cluster has no vpc_settings",
                        Some(hint),
                    )
                    .fatal = true;
            }
        } else {
            self.require(&p, "vpc_id", "add `vpc_id = vpc-0123456789abcdef0`".into());
            self.require(
                &p,
                "master_subnet_id",
                "add `master_subnet_id = subnet-0123456789abcdef0`".into(),
            );
        }
        Vpc {
            label,
            vpc_id: p.str("vpc_id"),
            master_subnet_id: p.str("master_subnet_id"),
            compute_subnet_id: p.str("compute_subnet_id"),
            compute_subnet_cidr: p.str("compute_subnet_cidr"),
            use_public_ips: p
                .bool("use_public_ips")
                .unwrap_or_else(|| Sourced::default(true)),
            ssh_from: p
                .str("ssh_from")
                .unwrap_or_else(|| Sourced::default("0.0.0.0/0".into())),
            additional_sg: p.str("additional_sg"),
            vpc_security_group_id: p.str("vpc_security_group_id"),
        }
    }

    /// ParallelCluster 2.11 wants root volumes of at least 35 GiB; 2.10 took
    /// 25 and the seed's config says 30, so 25 to 34 pass with a warning.
    fn root_volume_below_2_11(&mut self, c: &Params, key: &str) {
        if let Some(v) = c.int(key).filter(|v| (25..35).contains(&v.value)) {
            self.sink.warn(
                c.span(key),
                format!(
                    "The configuration parameter '{key}' is {}: ParallelCluster 2.11 requires at least 35 (GiB); airlock accepts 25 and up, as ParallelCluster 2.10 did",
                    v.value
                ),
                "below ParallelCluster 2.11's minimum of 35",
                Some(format!("set `{key} = 35` for a configuration ParallelCluster 2.11 accepts too")),
            );
        }
    }

    /// 2.11's extra_json_validator and disable_hyperthreading_validator:
    /// `cfn_scheduler_slots` in extra_json warns, and is refused together
    /// with the cluster section's disable_hyperthreading = true (a queue's
    /// has no validator in 2.11).
    fn cfn_scheduler_slots(&mut self, c: &Params) {
        let Some(raw) = c.raw("extra_json").cloned() else {
            return;
        };
        let slots = super::reader::json_param(&raw.text)
            .ok()
            .and_then(|p| p.value.get("cluster")?.get("cfn_scheduler_slots").cloned())
            .is_some_and(|v| match v {
                serde_json::Value::Null | serde_json::Value::Bool(false) => false,
                serde_json::Value::String(s) => !s.is_empty(),
                serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            });
        if !slots {
            return;
        }
        let span = Some(raw.value_span);
        self.sink.warn(
            span,
            "It is highly recommended to use the disable_hyperthreading parameter in order to control the hyper-threading configuration in the cluster rather than using cfn_scheduler_slots in extra_json".into(),
            "cfn_scheduler_slots",
            None,
        );
        if c.bool("disable_hyperthreading").is_some_and(|b| b.value) {
            self.sink.error(
                span,
                "cfn_scheduler_slots cannot be set in addition to disable_hyperthreading = true"
                    .into(),
                "conflicts with disable_hyperthreading",
                Some("remove cfn_scheduler_slots from extra_json".into()),
            );
        }
    }

    /// Catalog check for an instance type value.
    pub fn instance_type(&mut self, t: &Sourced<String>, key: &str) -> bool {
        match instance_types::check(&t.value) {
            Ok(_) => true,
            Err(e) => {
                let span = match t.source {
                    Source::File(s) => Some(s),
                    Source::Default => None,
                };
                self.sink.error(
                    span,
                    format!("The instance type '{}' used for the '{key}' parameter is not a known instance type", t.value),
                    "unknown instance type",
                    Some(e.hint()),
                );
                false
            }
        }
    }

    fn tags(&mut self, c: &Params) -> Sourced<Vec<Tag>> {
        let Some(raw) = c.raw("tags").cloned() else {
            return Sourced::default(Vec::new());
        };
        let span = Some(raw.value_span);
        // A value that does not parse was reported by the reader.
        let Ok(parsed) = super::reader::json_param(&raw.text) else {
            return Sourced::default(Vec::new());
        };
        let map = match parsed.value {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => return Sourced::default(Vec::new()),
            _ => {
                self.sink.error(
                    span,
                    "The configuration parameter 'tags' must be a JSON object".into(),
                    "not a JSON object",
                    Some("write tags as { \"key\" : \"value\", ... }".into()),
                );
                return Sourced::default(Vec::new());
            }
        };
        let tags: Vec<Tag> = parsed
            .keys
            .iter()
            .filter_map(|k| map.get(k).map(|v| (k, v)))
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                },
            })
            .collect();
        if map.contains_key("Version") {
            let vspan = self.sub_span(raw.value_span, "\"Version\"");
            self.sink.error(
                Some(vspan),
                "The key 'Version' used in your 'tags' configuration parameter is a reserved one, please change it."
                    .into(),
                "reserved tag key",
                Some("airlock sets the Version tag itself; use another key".into()),
            );
        }
        Sourced::file(tags, raw.value_span)
    }

    fn policies(&mut self, c: &Params) -> Vec<Sourced<String>> {
        let Some(raw) = c.raw("additional_iam_policies").cloned() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for arn in raw.text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let span = self.sub_span(raw.value_span, arn);
            if !policy_known(self.opts.policies, arn) {
                let hint = policy_hint(self.opts.policies, arn);
                self.sink.error(
                    Some(span),
                    format!("The IAM policy '{arn}' in 'additional_iam_policies' is not a known managed policy"),
                    "unknown policy",
                    Some(hint),
                );
            }
            out.push(Sourced::file(arn.to_string(), span));
        }
        out
    }

    fn unsupported_params(
        &mut self,
        c: &Params,
        scheduler: Sourced<Scheduler>,
        out: &mut Vec<Unsupported>,
    ) {
        if scheduler.value == Scheduler::Awsbatch {
            out.push(Unsupported {
                feature: "scheduler = awsbatch".into(),
                reason: "the local provider runs Slurm only".into(),
                source: scheduler.source,
            });
        }
        let items = [
            ("custom_ami", "nodes run the host's own OS image"),
            (
                "pre_install",
                "bootstrap scripts are not fetched or run by the local provider",
            ),
            (
                "post_install",
                "bootstrap scripts are not fetched or run by the local provider",
            ),
            (
                "enable_efa",
                "there is no EFA network on the local provider",
            ),
            (
                "enable_intel_hpc_platform",
                "the Intel HPC platform is not installed by the local provider",
            ),
            (
                "custom_chef_cookbook",
                "the local provider does not run Chef",
            ),
        ];
        for (key, reason) in items {
            let set = match c.bool(key) {
                Some(b) if key == "enable_intel_hpc_platform" => b.value,
                _ => c.str(key).is_some(),
            };
            if set {
                out.push(Unsupported {
                    feature: key.into(),
                    reason: reason.into(),
                    source: c.span(key).map_or(Source::Default, Source::File),
                });
            }
        }
    }
}

/// The written text even if it failed validation (for the model under
/// `sanity_check = false`), else the default.
pub fn text_any(p: &Params, key: &str) -> Option<Sourced<String>> {
    match p.raw.iter().find(|(k, _)| *k == key) {
        Some((_, r)) if !r.text.is_empty() => Some(Sourced::file(r.text.clone(), r.value_span)),
        _ => p.str(key),
    }
}

/// Clamp an integer into `u32` for the model (validators report negatives).
pub fn to_u32(v: Sourced<i64>) -> Sourced<u32> {
    Sourced {
        value: u32::try_from(v.value.max(0)).unwrap_or(u32::MAX),
        source: v.source,
    }
}

/// Whether `arn` may be attached: with a catalog, a policy it knows (wrap it
/// in [`crate::managed_policies::WithAwsManaged`] to add every AWS managed
/// policy); without one, any well-formed policy ARN.
pub(crate) fn policy_known(cat: Option<&dyn super::PolicyCatalog>, arn: &str) -> bool {
    match cat {
        Some(cat) => cat.is_known(arn),
        None => policy_arn_form(arn),
    }
}

/// The help line for a policy that is not known: the ARN of a bare AWS
/// managed policy name, else a near catalog ARN, else the ARN form.
pub(crate) fn policy_hint(cat: Option<&dyn super::PolicyCatalog>, arn: &str) -> String {
    if let Some(full) = crate::managed_policies::arn_for_name(arn) {
        return format!("did you mean '{full}'? policies are named by ARN");
    }
    let suggestion = cat
        .map(|cat| cat.known_arns())
        .and_then(|all| did_you_mean(arn, all.iter().map(String::as_str)).map(str::to_string));
    match suggestion {
        Some(s) => format!("did you mean '{s}'?"),
        None => "use the ARN of a managed policy, e.g. arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".into(),
    }
}

/// `arn:PARTITION:iam::(aws|ACCOUNT):policy/NAME` (v2 and v3 alike).
pub(crate) fn policy_arn_form(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_lit, partition, iam, region, account, rest] = parts.as_slice() else {
        return false;
    };
    *arn_lit == "arn"
        && partition.starts_with("aws")
        && *iam == "iam"
        && region.is_empty()
        && (*account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        && rest.strip_prefix("policy/").is_some_and(|n| !n.is_empty())
}
