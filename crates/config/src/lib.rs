//! Cluster configuration: ParallelCluster v2 INI and v3 YAML into one typed
//! cluster model, with validation and v2→v3 conversion. Pure: no I/O.
//!
//! - [`ini`]: INI text read exactly as Python's `configparser` reads it;
//! - [`diagnostic`]: errors and warnings that point at the offending text;
//! - [`model`]: the normalised [`model::ClusterModel`];
//! - [`v2`]: ParallelCluster 2.11 INI into the model, with its validators;
//! - [`instance_types`]: the built-in EC2 instance type catalog;
//! - [`managed_policies`]: the built-in catalog of AWS managed IAM policies.

#![forbid(unsafe_code)]

pub mod diagnostic;
pub mod ini;
pub mod instance_types;
pub mod managed_policies;
pub mod model;
pub mod span;
pub mod v2;

pub use diagnostic::{Diagnostic, Severity};
pub use model::ClusterModel;
pub use span::Span;
pub mod convert;
pub mod v3;
pub mod yaml;

/// Loads a configuration of either format: v3 YAML when the file name ends
/// in `.yaml`/`.yml`, else v2 INI (`template` picks a `[cluster …]`).
pub fn load(
    text: &str,
    file_name: &str,
    template: Option<&str>,
    policies: Option<&dyn v2::PolicyCatalog>,
) -> v2::Report {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        v3::load_str(
            text,
            &v3::LoadOptions {
                file_name,
                policies,
            },
        )
    } else {
        v2::load_str(
            text,
            &v2::LoadOptions {
                file_name,
                template,
                policies,
            },
        )
    }
}
