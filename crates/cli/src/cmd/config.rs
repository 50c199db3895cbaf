//! `airlock config`: validate a cluster configuration, show the model it
//! describes (with where each value came from), and convert v2 to v3.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use airlock_config::ClusterModel;
use airlock_config::model::{Source, Sourced};
use airlock_config::v2::{self, LoadOptions, PolicyCatalog, Report};

use crate::Global;

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file and print every error and warning, by the
    /// rules of ParallelCluster 2.11 (v2 INI) or ParallelCluster 3.16 (v3 YAML).
    Validate(FileArgs),
    /// Print the cluster model with defaults filled in and their origin.
    Show(FileArgs),
    /// Convert a ParallelCluster v2 INI file to v3 YAML.
    Convert(crate::cmd::config_convert::ConvertArgs),
}

#[derive(clap::Args, Clone, Debug)]
pub struct FileArgs {
    /// Configuration file [default: $AIRLOCK_CLUSTER_CONFIG, else cluster-config in $AIRLOCK_CONFIG_DIR or ~/.airlock].
    #[arg(short = 'c', long = "config", env = "AIRLOCK_CLUSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// The [cluster TEMPLATE] section to use instead of [global] cluster_template.
    #[arg(short = 't', long = "cluster-template")]
    pub template: Option<String>,
}

/// `additional_iam_policies` checked against the built-in managed policies.
struct BuiltinPolicies;

impl PolicyCatalog for BuiltinPolicies {
    fn is_known(&self, arn: &str) -> bool {
        airlock_policy::catalog::is_known(arn)
    }

    fn known_arns(&self) -> Vec<String> {
        airlock_policy::catalog::all()
            .iter()
            .map(|p| p.arn.to_string())
            .collect()
    }
}

/// Exit code for bad input.
const BAD_INPUT: i32 = 2;

pub fn run(g: &Global, cmd: ConfigCommand) -> anyhow::Result<i32> {
    match cmd {
        ConfigCommand::Validate(a) => validate(&a),
        ConfigCommand::Show(a) => show(&a, g.json),
        ConfigCommand::Convert(a) => crate::cmd::config_convert::run(a),
    }
}

/// `-c FILE`, else `$AIRLOCK_CLUSTER_CONFIG` (through clap), else
/// `~/.airlock/cluster-config`.
/// `-c FILE`, else `cluster-config` in the configuration directory:
/// `config_dir` (`$AIRLOCK_CONFIG_DIR`) or `~/.airlock`.
pub fn config_path(
    explicit: Option<&Path>,
    config_dir: Option<&Path>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    match (explicit, config_dir) {
        (Some(p), _) => Some(p.to_path_buf()),
        (None, Some(d)) => Some(d.join("cluster-config")),
        (None, None) => home.map(|h| h.join(".airlock").join("cluster-config")),
    }
}

/// Read and load the file; on a read failure print why and return `None`.
fn load(a: &FileArgs) -> Option<(String, Report)> {
    load_for_create(a).map(|(name, _, report)| (name, report))
}

/// The file's name, text and report (what `airlock create` sends).
pub fn load_for_create(a: &FileArgs) -> Option<(String, String, Report)> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let dir = std::env::var_os("AIRLOCK_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let Some(path) = config_path(a.config.as_deref(), dir.as_deref(), home.as_deref()) else {
        eprintln!(
            "error: no configuration file: pass -c FILE or set AIRLOCK_CLUSTER_CONFIG (HOME is not set)"
        );
        return None;
    };
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read the cluster configuration {name}: {e}");
            eprintln!("  = help: pass the file with -c FILE or set AIRLOCK_CLUSTER_CONFIG");
            return None;
        }
    };
    let catalog = BuiltinPolicies;
    let is_yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let report = if is_yaml {
        let opts = airlock_config::v3::LoadOptions {
            file_name: &name,
            policies: Some(&catalog),
        };
        airlock_config::v3::load_str(&text, &opts)
    } else {
        let opts = LoadOptions {
            file_name: &name,
            template: a.template.as_deref(),
            policies: Some(&catalog),
        };
        v2::load_str(&text, &opts)
    };
    Some((name, text, report))
}

fn print_diagnostics(report: &Report) {
    for d in &report.diagnostics {
        eprintln!("{d}\n");
    }
}

/// `name: N errors, M warnings` (or that it is valid).
pub fn summary(name: &str, report: &Report) -> String {
    let (e, w) = (report.error_count(), report.warning_count());
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if e == 0 {
        format!("{name}: configuration is valid ({})", plural(w, "warning"))
    } else {
        format!("{name}: {}, {}", plural(e, "error"), plural(w, "warning"))
    }
}

fn validate(a: &FileArgs) -> anyhow::Result<i32> {
    let Some((name, report)) = load(a) else {
        return Ok(BAD_INPUT);
    };
    print_diagnostics(&report);
    eprintln!("{}", summary(&name, &report));
    Ok(if report.has_errors() { BAD_INPUT } else { 0 })
}

fn show(a: &FileArgs, json: bool) -> anyhow::Result<i32> {
    let Some((name, report)) = load(a) else {
        return Ok(BAD_INPUT);
    };
    print_diagnostics(&report);
    if let Some(m) = &report.model {
        if json {
            println!("{}", serde_json::to_string_pretty(m)?);
        } else {
            print!("{}", render_tree(m, &name));
        }
    }
    if report.has_errors() {
        eprintln!("{}", summary(&name, &report));
        return Ok(BAD_INPUT);
    }
    Ok(0)
}

fn origin(file: &str, s: Source) -> String {
    match s {
        Source::File(sp) => format!("{file}:{}:{}", sp.line, sp.col),
        Source::Default => "default".to_string(),
    }
}

struct Tree<'a> {
    out: String,
    file: &'a str,
}

impl Tree<'_> {
    fn line(&mut self, depth: usize, key: &str, value: &str, source: Source) {
        let indent = "  ".repeat(depth);
        let key = format!("{indent}{key}");
        let _ = writeln!(
            self.out,
            "{key:<34} {value:<44} {}",
            origin(self.file, source)
        );
    }

    fn v<T: ToString>(&mut self, depth: usize, key: &str, v: &Sourced<T>) {
        self.line(depth, key, &v.value.to_string(), v.source);
    }

    fn opt<T: ToString>(&mut self, depth: usize, key: &str, v: Option<&Sourced<T>>) {
        match v {
            Some(v) => self.v(depth, key, v),
            None => self.line(depth, key, "-", Source::Default),
        }
    }

    fn head(&mut self, depth: usize, title: &str) {
        let _ = writeln!(self.out, "{}{title}", "  ".repeat(depth));
    }
}

/// The model as an indented list, one value per line with its origin
/// (`FILE:LINE:COL` or `default`).
pub fn render_tree(m: &ClusterModel, file: &str) -> String {
    let mut t = Tree {
        out: String::new(),
        file,
    };
    t.head(0, &format!("cluster {}", m.template));
    t.v(1, "region", &m.region);
    t.line(
        1,
        "scheduler",
        m.scheduler.value.as_str(),
        m.scheduler.source,
    );
    t.v(1, "base_os", &m.base_os);
    t.v(1, "cluster_user", &m.cluster_user);
    t.opt(1, "key_name", m.key_name.as_ref());
    t.head(1, "head_node");
    t.v(2, "instance_type", &m.head_node.instance_type);
    t.v(2, "root_volume_size", &m.head_node.root_volume_size);
    t.v(1, "compute_root_volume_size", &m.compute_root_volume_size);
    t.head(1, &format!("vpc {}", m.vpc.label));
    t.opt(2, "vpc_id", m.vpc.vpc_id.as_ref());
    t.opt(2, "master_subnet_id", m.vpc.master_subnet_id.as_ref());
    t.opt(2, "compute_subnet_id", m.vpc.compute_subnet_id.as_ref());
    t.v(2, "use_public_ips", &m.vpc.use_public_ips);
    // ParallelCluster opens port 22 to ssh_from; airlock's nodes listen on
    // nothing reachable from outside their cluster (ssh goes through
    // `airlock proxy`), so the value is shown as what it opens: nothing.
    t.line(
        2,
        "ssh_from",
        &format!("{} (nothing inbound is opened)", m.vpc.ssh_from.value),
        m.vpc.ssh_from.source,
    );
    for q in &m.queues {
        t.line(1, &format!("queue {}", q.name), "", q.source);
        t.line(
            2,
            "compute_type",
            q.compute_type.value.as_str(),
            q.compute_type.source,
        );
        t.opt(2, "placement_group", q.placement_group.as_ref());
        t.v(2, "disable_hyperthreading", &q.disable_hyperthreading);
        for cr in &q.compute_resources {
            t.line(2, &format!("compute_resource {}", cr.label), "", cr.source);
            t.v(3, "instance_type", &cr.instance_type);
            t.v(3, "min_count", &cr.min_count);
            t.v(3, "initial_count", &cr.initial_count);
            t.v(3, "max_count", &cr.max_count);
            t.v(3, "spot_price", &cr.spot_price);
        }
    }
    t.v(1, "scaledown_idletime", &m.scaledown_idletime);
    for p in &m.additional_iam_policies {
        t.v(1, "additional_iam_policy", p);
    }
    let tags: Vec<String> = m
        .tags
        .value
        .iter()
        .map(|x| format!("{}={}", x.key, x.value))
        .collect();
    t.line(1, "tags", &tags.join(", "), m.tags.source);
    t.v(1, "ssh_alias", &m.ssh_alias);
    t.v(1, "shared_dir", &m.shared_dir);
    t.v(1, "ephemeral_dir", &m.ephemeral_dir);
    for s in &m.storage {
        t.line(1, &format!("{} {}", s.kind.key(), s.label), "", s.source);
        for x in &s.settings {
            t.v(2, &x.key, &x.value);
        }
    }
    for x in &m.extra {
        t.v(1, &x.key, &x.value);
    }
    t.v(1, "sanity_check", &m.sanity_check);
    for u in &m.unsupported_by_local_provider {
        t.line(
            1,
            &format!("unsupported: {}", u.feature),
            &u.reason,
            u.source,
        );
    }
    t.out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSM: &str = include_str!("../../../../examples/ssm.ini");

    #[test]
    fn validate_help_names_the_parallelcluster_versions_it_follows() {
        let mut cli = <crate::Cli as clap::CommandFactory>::command();
        let help = cli
            .find_subcommand_mut("config")
            .and_then(|c| c.find_subcommand_mut("validate"))
            .map(|v| v.render_long_help().to_string())
            .unwrap_or_default();
        // As one line, whatever the wrapping.
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let v3 = format!(
            "ParallelCluster {}",
            airlock_config::v3::PARALLELCLUSTER_3_VERSION
        );
        assert!(help.contains(&v3), "{help}");
        assert!(help.contains("ParallelCluster 2.11"), "{help}");
    }

    #[test]
    fn explicit_file_wins_over_home_default() {
        let home = Some(Path::new("/home/u"));
        let p = config_path(Some(Path::new("x.ini")), Some(Path::new("/etc/a")), home);
        assert_eq!(p, Some(PathBuf::from("x.ini")));
        let p = config_path(None, None, home);
        assert_eq!(p, Some(PathBuf::from("/home/u/.airlock/cluster-config")));
        // AIRLOCK_CONFIG_DIR moves the default with the profiles.
        let p = config_path(None, Some(Path::new("/etc/a")), home);
        assert_eq!(p, Some(PathBuf::from("/etc/a/cluster-config")));
        assert_eq!(config_path(None, None, None), None);
    }

    /// The line of `config show`'s tree for `key`, for the seed's config.
    fn seed_tree_line(key: &str) -> String {
        let r = v2::load_str(SSM, &LoadOptions::new("ssm"));
        let tree = render_tree(r.model.as_ref().expect("model"), "ssm");
        tree.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn tree_shows_values_with_their_origin() {
        let line = seed_tree_line("max_count");
        assert!(line.contains("16") && line.ends_with("ssm:44:13"), "{line}");
        let line = seed_tree_line("scaledown_idletime");
        assert!(line.ends_with("default"), "{line}");
    }

    #[test]
    fn tree_says_ssh_from_opens_nothing_inbound() {
        let line = seed_tree_line("ssh_from");
        assert!(
            line.contains("0.0.0.0/0 (nothing inbound is opened)") && line.ends_with("default"),
            "{line}"
        );
    }

    #[test]
    fn summary_counts_errors_and_warnings() {
        let r = v2::load_str(SSM, &LoadOptions::new("ssm"));
        assert_eq!(
            summary("ssm", &r),
            // master_root_volume_size = 30: ParallelCluster 2.11's minimum is 35.
            "ssm: configuration is valid (1 warning)"
        );
        let bad = SSM.replace("max_count = 16", "max_count = 0");
        let r = v2::load_str(&bad, &LoadOptions::new("ssm"));
        assert_eq!(summary("ssm", &r), "ssm: 1 error, 1 warning");
    }

    #[test]
    fn seed_policy_is_a_builtin_managed_policy() {
        assert!(BuiltinPolicies.is_known("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"));
        assert!(!BuiltinPolicies.is_known("arn:aws:iam::aws:policy/Nope"));
    }
}
