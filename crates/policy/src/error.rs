//! The one error type of the crate: a malformed policy document, named the way
//! IAM names it (`MalformedPolicyDocument`), with where and why.

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON at all (or has a duplicate key): line and column
    /// are 1-based, as editors show them.
    #[error("MalformedPolicyDocument: invalid JSON at line {line}, column {column}: {reason}")]
    Json {
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What the JSON parser found.
        reason: String,
    },
    /// The JSON is well formed but is not a valid policy. `path` names the
    /// element, e.g. `Statement[1].Condition.StringEquals`; it is empty for
    /// the document itself.
    #[error("MalformedPolicyDocument: {}{reason}", path_prefix(.path))]
    Malformed {
        /// JSON path of the offending element.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl PolicyError {
    /// The JSON path of a structural fault (`None` for invalid JSON).
    pub fn path(&self) -> Option<&str> {
        match self {
            PolicyError::Json { .. } => None,
            PolicyError::Malformed { path, .. } => Some(path),
        }
    }

    /// The reason, without location.
    pub fn reason(&self) -> &str {
        match self {
            PolicyError::Json { reason, .. } | PolicyError::Malformed { reason, .. } => reason,
        }
    }

    pub(crate) fn malformed(path: &crate::parse::Path, reason: impl Into<String>) -> Self {
        PolicyError::Malformed {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}
