//! ParallelCluster 2.11 INI configuration into the [`ClusterModel`], with
//! 2.11's defaults and validators. Every problem is a [`Diagnostic`] that
//! names the file, line and column, quotes the text and gives a hint.
//!
//! ```
//! use airlock_config::v2::{load_str, LoadOptions};
//! let text = "[global]\ncluster_template = c\n[cluster c]\nscheduler = slurm\nbase_os = alinux2\n\
//!             vpc_settings = v\nqueue_settings = q\n[vpc v]\nvpc_id = vpc-12345678\n\
//!             master_subnet_id = subnet-12345678\n[queue q]\ncompute_resource_settings = r\n\
//!             [compute_resource r]\ninstance_type = c5.large\n";
//! let report = load_str(text, &LoadOptions::new("cfg"));
//! assert!(!report.has_errors(), "{:?}", report.diagnostics);
//! let model = report.model.unwrap();
//! assert_eq!(model.cluster_user.value, "ec2-user");
//! assert_eq!(model.queues[0].compute_resources[0].max_count.value, 10);
//! ```

pub(crate) mod cluster;
mod hardware;
mod queues;
pub mod reader;
pub mod schema;
mod storage;

use std::fmt;

use crate::diagnostic::{Diagnostic, Severity};
use crate::ini::{self, Ini, IniError};
use crate::model::ClusterModel;

/// Knows which IAM policy ARNs exist (the policy crate's managed policies).
pub trait PolicyCatalog {
    fn is_known(&self, arn: &str) -> bool;
    /// Known ARNs, used to suggest a near match.
    fn known_arns(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<F: Fn(&str) -> bool> PolicyCatalog for F {
    fn is_known(&self, arn: &str) -> bool {
        self(arn)
    }
}

/// How to load a file.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// The file name to print in diagnostics.
    pub file_name: &'a str,
    /// `-t TEMPLATE`: the `[cluster TEMPLATE]` to use instead of
    /// `[global] cluster_template` (default `default`).
    pub template: Option<&'a str>,
    /// Catalog for `additional_iam_policies`. Without one, only the ARN form
    /// (`arn:PARTITION:iam::ACCOUNT|aws:policy/NAME`) is checked.
    pub policies: Option<&'a dyn PolicyCatalog>,
}

impl<'a> LoadOptions<'a> {
    pub fn new(file_name: &'a str) -> Self {
        LoadOptions {
            file_name,
            template: None,
            policies: None,
        }
    }
}

impl fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("file_name", &self.file_name)
            .field("template", &self.template)
            .field("policies", &self.policies.is_some())
            .finish()
    }
}

/// The result of loading: the model (unless the file could not be read into
/// one) and every diagnostic, in file order where possible.
#[derive(Debug, Clone)]
pub struct Report {
    pub model: Option<ClusterModel>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

/// Parse and load v2 INI text.
pub fn load_str(text: &str, opts: &LoadOptions<'_>) -> Report {
    match ini::parse(text) {
        Ok(ini) => load(&ini, text, opts),
        Err(e) => Report {
            model: None,
            diagnostics: vec![ini_error_diagnostic(&e, text, opts.file_name)],
        },
    }
}

/// Load an already parsed file; `text` is its source, for quoting lines.
pub fn load(ini: &Ini, text: &str, opts: &LoadOptions<'_>) -> Report {
    cluster::load(ini, text, opts)
}

/// An INI syntax error as a diagnostic.
pub fn ini_error_diagnostic(e: &IniError, text: &str, file: &str) -> Diagnostic {
    let label = match e.kind {
        ini::IniErrorKind::MissingSectionHeader => "outside any section",
        ini::IniErrorKind::DuplicateSection => "duplicate section",
        ini::IniErrorKind::DuplicateOption => "duplicate key",
        ini::IniErrorKind::Parsing => "cannot parse this line",
    };
    let mut d = Diagnostic::error(e.message.clone(), file)
        .at(text, e.span, label)
        .fatal();
    if let Some(h) = &e.hint {
        d = d.with_hint(h.clone());
    }
    if !e.other_spans.is_empty() {
        let lines: Vec<String> = e.other_spans.iter().map(|s| s.line.to_string()).collect();
        let extra = format!("lines {} have the same problem", lines.join(", "));
        d.hint = Some(match d.hint.take() {
            Some(h) => format!("{h}; {extra}"),
            None => extra,
        });
    }
    d
}

/// A cluster name that ParallelCluster would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Invalid cluster name '{0}': it must start with a letter, contain only letters, digits and hyphens, and be at most 60 characters long"
)]
pub struct InvalidClusterName(pub String);

/// `^[a-zA-Z][a-zA-Z0-9-]{0,59}$`.
pub fn validate_cluster_name(name: &str) -> Result<(), InvalidClusterName> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 60
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(InvalidClusterName(name.to_string()))
    }
}

#[cfg(test)]
mod tests;
