//! One JSON line per configuration file, for the differential test against
//! ParallelCluster (scripts/catalogue/differential.py):
//! `cargo run -p airlock-config --example config_check -- FILE...`
//! prints `{"file", "accept", "errors", "error_lines", "warnings"}` (the
//! line each error points at, or null); v3 for `.yaml`/`.yml`.
//!
//! Policies: an AWS managed policy ARN is checked against the built-in
//! catalogue; a customer policy ARN is taken to exist (the reference's IAM
//! lookup is stubbed the same way).

/// Customer managed policies exist; AWS managed ones are the catalogue's.
fn customer_policy(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", account, rest]
        if *account != "aws" && rest.starts_with("policy/"))
}

fn main() {
    for path in std::env::args().skip(1) {
        let line = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let policies = airlock_config::managed_policies::WithAwsManaged(customer_policy);
                let r = airlock_config::load(&text, &path, None, Some(&policies));
                let of = |sev: airlock_config::Severity| -> Vec<String> {
                    r.diagnostics
                        .iter()
                        .filter(|d| d.severity == sev)
                        .map(|d| d.message.clone())
                        .collect()
                };
                let error_lines: Vec<Option<u32>> = r
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == airlock_config::Severity::Error)
                    .map(|d| d.span.map(|s| s.line))
                    .collect();
                serde_json::json!({
                    "file": path,
                    "accept": !r.has_errors(),
                    "errors": of(airlock_config::Severity::Error),
                    "error_lines": error_lines,
                    "warnings": of(airlock_config::Severity::Warning),
                })
            }
            Err(e) => serde_json::json!({"file": path, "accept": false, "errors": [e.to_string()]}),
        };
        println!("{line}");
    }
}
