//! What the clusters service can fail with, and its one translation into
//! the API's error (`impl From<ClusterError> for ApiError`). Each message
//! is the sentence the user reads; server faults keep their cause for the
//! log.

use airlock_cluster::local::ProviderError;

use crate::api_error::{ApiError, ErrorCode};
use crate::iam::error::IamError;

/// A failure of the cluster stacks, key pairs, node launches or the fleet.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Cluster {0} does not exist (see `airlock list`).")]
    NotFound(String),
    #[error(
        "Cluster {0} already exists (stack airlock-{0} exists). Choose another name or delete it first with `airlock delete {0}`."
    )]
    AlreadyExists(String),
    #[error("Cluster {0} is already being deleted.")]
    BeingDeleted(String),
    /// An update or a fleet change on a stack that is not settled.
    #[error(
        "Cluster {cluster} is {status}: it can be changed only when CREATE_COMPLETE, UPDATE_COMPLETE or UPDATE_ROLLBACK_COMPLETE."
    )]
    NotSettled { cluster: String, status: String },
    #[error("The key pair '{0}' does not exist")]
    KeyPairNotFound(String),
    /// A configuration's `key_name` names no key pair.
    #[error(
        "key_name: The key pair '{0}' does not exist (import it with `airlock ec2 import-key-pair --key-name {0} --public-key-material file://KEY.pub`)"
    )]
    KeyNameNotFound(String),
    #[error("The keypair '{0}' already exists.")]
    KeyPairDuplicate(String),
    #[error("Key is not in valid OpenSSH public key format: {0}")]
    KeyFormat(#[source] ssh_key::Error),
    #[error("Invalid key name '{0}': 1 to 255 printable ASCII characters")]
    KeyName(String),
    #[error("the head node of cluster {0} is not running")]
    HeadNodeUnavailable(String),
    #[error("{node} is not running in cluster {cluster}")]
    NodeNotRunning { cluster: String, node: String },
    #[error("the cluster subnet has no free address")]
    NoFreeAddress,
    #[error("no free 10.77.x.0/24 subnet for another cluster")]
    NoFreeSubnet,
    /// A request or configuration the service cannot act on.
    #[error("{0}")]
    Invalid(String),
    /// The local provider failed (or needs root).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The database failed; the user reads that it did, the log why.
    #[error("the server's database failed; see the server log")]
    Database(#[from] rusqlite::Error),
    /// A server fault with the cause for the log; `what` is what users read.
    #[error("{what}")]
    Fault {
        what: String,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A server fault that its message describes in full.
    #[error("{0}")]
    Internal(String),
    /// The IAM store failed (the nodes' roles).
    #[error(transparent)]
    Iam(#[from] IamError),
    /// The instances store failed (the nodes' registrations).
    #[error(transparent)]
    Instance(#[from] crate::instances::error::InstanceError),
    /// A failure of another part of the server (authorisation, the
    /// connection pool), already in the API's terms.
    #[error("{}", .0.message)]
    Api(#[from] ApiError),
}

impl ClusterError {
    /// A server fault whose message is the cause's own text.
    pub fn fault(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ClusterError::Fault {
            what: cause.to_string(),
            cause: Box::new(cause),
        }
    }
    /// A server fault: `what` for the user, `cause` for the log.
    pub fn fault_because(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ClusterError::Fault {
            what: what.into(),
            cause: Box::new(cause),
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        let code = match e {
            // The API's own reading of SQLite errors (a full disk is a 507).
            ClusterError::Database(db) => return ApiError::from(db),
            ClusterError::Api(a) => return a,
            ClusterError::Iam(i) => return ApiError::from(i),
            ClusterError::Instance(i) => return ApiError::from(i),
            ClusterError::Fault { what, cause } => {
                return ApiError::internal_because(what, BoxedCause(cause));
            }
            ClusterError::Provider(ProviderError::NotRoot) => ErrorCode::UnsupportedOperation,
            ClusterError::Provider(p) => return ApiError::internal_because(p.to_string(), p),
            ClusterError::Internal(_) => ErrorCode::InternalFailure,
            ClusterError::NotFound(_) => ErrorCode::NotFoundException,
            ClusterError::AlreadyExists(_)
            | ClusterError::BeingDeleted(_)
            | ClusterError::NotSettled { .. } => ErrorCode::ConflictException,
            ClusterError::KeyPairNotFound(_) | ClusterError::KeyNameNotFound(_) => {
                ErrorCode::InvalidKeyPairNotFound
            }
            ClusterError::KeyPairDuplicate(_) => ErrorCode::InvalidKeyPairDuplicate,
            ClusterError::KeyFormat(_) => ErrorCode::InvalidKeyFormat,
            ClusterError::KeyName(_) | ClusterError::Invalid(_) => ErrorCode::ValidationError,
            ClusterError::HeadNodeUnavailable(_) => ErrorCode::HeadNodeUnavailable,
            ClusterError::NodeNotRunning { .. } => ErrorCode::InvalidInstanceIdNotFound,
            ClusterError::NoFreeAddress => ErrorCode::InsufficientInstanceCapacity,
            ClusterError::NoFreeSubnet => ErrorCode::SubnetLimitExceeded,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A boxed cause as an `Error` of its own (`Box<dyn Error>` is not one).
#[derive(Debug)]
struct BoxedCause(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for BoxedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BoxedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_keeps_its_sentence_and_gets_its_code() {
        let a = ApiError::from(ClusterError::NotFound("c1".into()));
        assert_eq!(a.code, ErrorCode::NotFoundException);
        assert_eq!(a.message, "Cluster c1 does not exist (see `airlock list`).");
        let a = ApiError::from(ClusterError::BeingDeleted("c1".into()));
        assert_eq!(a.code, ErrorCode::ConflictException);
        let a = ApiError::from(ClusterError::Provider(ProviderError::NotRoot));
        assert_eq!(a.code, ErrorCode::UnsupportedOperation);
        assert!(a.cause.is_none());
        let a = ApiError::from(ClusterError::Provider(ProviderError::Invalid("x".into())));
        assert_eq!(
            (a.code, a.message.as_str()),
            (ErrorCode::InternalFailure, "x")
        );
        assert!(a.cause.is_some());
        let a = ApiError::from(ClusterError::Database(rusqlite::Error::InvalidQuery));
        assert_eq!(a.code, ErrorCode::InternalFailure);
        assert!(a.cause.is_some());
        let io = std::io::Error::other("disk on fire");
        let a = ApiError::from(ClusterError::fault_because("cannot write", io));
        assert_eq!(a.message, "cannot write");
        assert_eq!(a.cause.unwrap().to_string(), "disk on fire");
        let a = ApiError::from(ClusterError::Api(ApiError::access_denied("no")));
        assert_eq!(
            (a.code, a.message.as_str()),
            (ErrorCode::AccessDeniedException, "no")
        );
    }
}
