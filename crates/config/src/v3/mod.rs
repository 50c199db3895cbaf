//! ParallelCluster 3 YAML configuration into the same [`ClusterModel`] as
//! the v2 INI front end. The YAML is read as PyYAML reads it (YAML 1.1, see
//! [`crate::yaml`]); keys and types are checked against the v3 schema
//! (`schema`); values go into the model with their spans (`build`).
//!
//! The rules are ParallelCluster 3.16's ([`PARALLELCLUSTER_3_VERSION`]):
//! its operating systems (no `alinux2`), Slurm only (no `awsbatch`), at most
//! 50 queues and 50 compute resources, marshmallow's type coercion
//! (`MaxCount: "10"` is 10), no YAML merge keys.
//!
//! ```
//! use airlock_config::v3::{load_str, LoadOptions};
//! let text = "Image:\n  Os: alinux2023\nHeadNode:\n  InstanceType: t3.micro\n  Networking:\n    SubnetId: subnet-1\n\
//!             Scheduling:\n  Scheduler: slurm\n  SlurmQueues:\n    - Name: q1\n      Networking:\n        SubnetIds: [subnet-1]\n\
//!             \x20     ComputeResources:\n        - Name: cr1\n          InstanceType: c5.large\n";
//! let report = load_str(text, &LoadOptions::new("cluster.yaml"));
//! assert!(!report.has_errors(), "{:?}", report.diagnostics);
//! assert_eq!(report.model.unwrap().queues[0].compute_resources[0].max_count.value, 10);
//! ```

mod build;
pub mod schema;

pub use build::{PARALLELCLUSTER_3_VERSION, SUPPORTED_OSS, SUPPORTED_SCHEDULERS};

use crate::diagnostic::Diagnostic;
use crate::v2::{PolicyCatalog, Report};
use crate::yaml::{self, YamlError};

/// How to load a v3 file.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// The file name to print in diagnostics.
    pub file_name: &'a str,
    /// Catalog for `AdditionalIamPolicies`. Without one, only the ARN form
    /// is checked.
    pub policies: Option<&'a dyn PolicyCatalog>,
}

impl<'a> LoadOptions<'a> {
    pub fn new(file_name: &'a str) -> Self {
        LoadOptions {
            file_name,
            policies: None,
        }
    }
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("file_name", &self.file_name)
            .field("policies", &self.policies.is_some())
            .finish()
    }
}

/// A YAML read error as a (fatal) diagnostic.
pub fn yaml_error_diagnostic(e: &YamlError, text: &str, file: &str) -> Diagnostic {
    let label = match e.kind {
        yaml::YamlErrorKind::Syntax => "invalid YAML",
        yaml::YamlErrorKind::DuplicateKey => "duplicate key",
        yaml::YamlErrorKind::UnhashableKey => "not a valid key",
        yaml::YamlErrorKind::UnknownTag => "unknown tag",
        yaml::YamlErrorKind::BadScalar => "cannot read this value",
        yaml::YamlErrorKind::BadMerge => "bad merge",
        yaml::YamlErrorKind::UndefinedAlias => "undefined alias",
        yaml::YamlErrorKind::MultipleDocuments => "second document",
        yaml::YamlErrorKind::TooLarge => "too large",
    };
    let mut d = Diagnostic::error(e.message.clone(), file)
        .at(text, e.span, label)
        .fatal();
    if let Some(h) = &e.hint {
        d = d.with_hint(h.clone());
    }
    d
}

/// Parses and loads v3 YAML text. Never panics; every problem is a
/// diagnostic with file, line and column.
pub fn load_str(text: &str, opts: &LoadOptions<'_>) -> Report {
    let mut doc = match yaml::parse_without_merge_keys(text) {
        Ok(d) => d,
        Err(e) => {
            return Report {
                model: None,
                diagnostics: vec![yaml_error_diagnostic(&e, text, opts.file_name)],
            };
        }
    };
    let mut checker = schema::Checker {
        text,
        file: opts.file_name,
        diags: Vec::new(),
    };
    checker.coerce(&mut doc, &schema::ROOT, "");
    checker.check(&doc, &schema::ROOT, "");
    let mut diagnostics = checker.diags;
    if !matches!(doc.value, yaml::Value::Map(_)) {
        return Report {
            model: None,
            diagnostics,
        };
    }
    let (model, more) = build::build(&doc, text, opts);
    diagnostics.extend(more);
    Report { model, diagnostics }
}
