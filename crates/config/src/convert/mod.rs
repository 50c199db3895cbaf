//! ParallelCluster v2 INI → v3 YAML conversion, as `pcluster3-config-converter`
//! (aws-parallelcluster, branch develop) does it: the same output data and
//! key order, the same `Note:`/`Warning:` lines, the same header comments and
//! the same errors.
//!
//! ```
//! use airlock_config::convert::convert;
//! let ini = "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = c\n\
//!            [cluster c]\nscheduler = slurm\nvpc_settings = v\n[vpc v]\nmaster_subnet_id = subnet-1\n";
//! let out = convert(ini, None, false).unwrap();
//! assert!(out.yaml.contains("Scheduler: slurm"));
//! assert!(out.warnings.iter().any(|w| w.starts_with("Note: Volume encrypted")));
//! ```

mod converter;
pub mod json;
pub mod values;

use thiserror::Error;

use crate::ini::{self, IniError};

/// What the converter cannot know by itself: in ParallelCluster these come
/// from boto3 (the STS account id, the default region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// `-t/--cluster-template`: the `[cluster LABEL]` to convert.
    pub cluster_template: Option<String>,
    /// `--force-convert`: convert parameters that are not officially
    /// supported (`extra_json`, `template_url`, ...).
    pub force_convert: bool,
    /// Account id used in role ARNs made from `ec2_iam_role` and
    /// `iam_lambda_role`.
    pub account_id: String,
    /// Region used when `[aws] aws_region_name` is not set (for role ARNs).
    pub default_region: Option<String>,
}

/// The account id of airlock's single local "account".
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            cluster_template: None,
            force_convert: false,
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            default_region: None,
        }
    }
}

/// A successful conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The v3 YAML text, header comments included.
    pub yaml: String,
    /// The lines the converter prints: `Note: ...` and `Warning: ...`.
    pub warnings: Vec<String>,
}

/// Why conversion stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertErrorKind {
    /// The INI text could not be parsed (bad input).
    Ini(Box<IniError>),
    /// The converter refused the configuration (`ERROR: ...`).
    Conversion,
    /// Something the converter did not anticipate failed (in Python an
    /// uncaught exception: a missing section, a non-boolean value, ...).
    Unexpected,
}

/// A conversion failure. `message` is the converter's text without its
/// `ERROR: ` prefix; `warnings` holds the lines printed before it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ConvertError {
    pub kind: ConvertErrorKind,
    pub message: String,
    pub warnings: Vec<String>,
}

/// Converts v2 INI text to v3 YAML, as `pcluster3-config-converter
/// [-t TEMPLATE] [--force-convert]` does, with the default options.
pub fn convert(
    ini_text: &str,
    cluster_template: Option<&str>,
    force_convert: bool,
) -> Result<Converted, ConvertError> {
    let options = ConvertOptions {
        cluster_template: cluster_template.map(str::to_string),
        force_convert,
        ..ConvertOptions::default()
    };
    convert_with(ini_text, &options)
}

/// Converts v2 INI text to v3 YAML with explicit options.
pub fn convert_with(ini_text: &str, options: &ConvertOptions) -> Result<Converted, ConvertError> {
    let ini = ini::parse(ini_text).map_err(|e| match e.kind {
        // The converter catches only ParsingError (and its subclass
        // MissingSectionHeaderError) and DuplicateOptionError; a
        // DuplicateSectionError reaches its catch-all.
        ini::IniErrorKind::DuplicateSection => ConvertError {
            message: format!(
                "Unexpected error of type {}: {e} (line {})",
                e.kind.python_name(),
                e.span.line
            ),
            kind: ConvertErrorKind::Unexpected,
            warnings: Vec::new(),
        },
        _ => ConvertError {
            message: format!("Error parsing configuration file.\n{e}"),
            kind: ConvertErrorKind::Ini(Box::new(e)),
            warnings: Vec::new(),
        },
    })?;
    converter::run(&ini, options)
}
