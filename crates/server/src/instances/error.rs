//! What the managed-instance store can fail with, in SSM's words; turned
//! into the API's error once, by `From<InstanceError> for ApiError`.

use crate::api_error::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("RegistrationLimit must be between 1 and 1000")]
    RegistrationLimit,
    #[error(
        "ExpiresInSeconds must be between 1 and {max} (an activation expires at most 30 days after it is created), not {got}"
    )]
    ActivationExpiry { max: i64, got: i64 },
    #[error("Activation {0} does not exist.")]
    NoSuchActivation(String),
    #[error(
        "The activation is not valid: the id or code is wrong, it has expired, or its registration limit is reached."
    )]
    InvalidActivation,
    #[error("the CSR was refused: {0}")]
    CsrRefused(String),
    #[error("Instance {0} is not a managed instance.")]
    NotManaged(String),
    #[error("{0} is not a managed instance.")]
    NotManagedResource(String),
    #[error("Cluster {cluster} has no node {node} running (see `airlock instances {cluster}`).")]
    NoSuchNode { cluster: String, node: String },
    #[error(
        "Cluster {cluster} has no head node registered (no instance tagged {cluster_tag}={cluster}, {node_type_tag}=HeadNode)."
    )]
    NoHeadNode {
        cluster: String,
        cluster_tag: &'static str,
        node_type_tag: &'static str,
    },
    /// Each candidate as `CLUSTER/NODE (id)` when it is a cluster's node,
    /// else by its id.
    #[error(
        "Target {target} names {} instances: {}. Name one of them{}.",
        candidates.len(),
        candidates.join(", "),
        if candidates.iter().any(|c| c.contains('/')) { " as CLUSTER/NODE (e.g. CLUSTER/head) or by its instance id" } else { " by its instance id" }
    )]
    AmbiguousTarget {
        target: String,
        candidates: Vec<String>,
    },
    #[error("Target {0} is not a managed instance (see `airlock instances`).")]
    UnknownTarget(String),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

impl From<InstanceError> for ApiError {
    fn from(e: InstanceError) -> ApiError {
        let code = match &e {
            InstanceError::RegistrationLimit => ErrorCode::ValidationError,
            InstanceError::ActivationExpiry { .. } => ErrorCode::ValidationException,
            InstanceError::NoSuchActivation(_) => ErrorCode::InvalidActivationId,
            InstanceError::InvalidActivation => ErrorCode::InvalidActivation,
            InstanceError::CsrRefused(_) => ErrorCode::ValidationError,
            InstanceError::NotManaged(_) => ErrorCode::InvalidInstanceId,
            InstanceError::NotManagedResource(_) => ErrorCode::InvalidResourceId,
            InstanceError::NoSuchNode { .. }
            | InstanceError::NoHeadNode { .. }
            | InstanceError::AmbiguousTarget { .. }
            | InstanceError::UnknownTarget(_) => ErrorCode::InvalidTarget,
            InstanceError::Database(_) => ErrorCode::InternalFailure,
        };
        match e {
            InstanceError::Database(e) => ApiError::from(e),
            e => ApiError::new(code, e.to_string()),
        }
    }
}
