//! What the IAM store can fail with, in IAM's words; turned into the API's
//! error once, by `From<IamError> for ApiError`.

use crate::api_error::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error(
        "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length 1 to 64"
    )]
    InvalidName { field: &'static str, name: String },
    #[error("User with name {0} already exists.")]
    UserExists(String),
    #[error("Role with name {0} already exists.")]
    RoleExists(String),
    #[error("A policy called {0} already exists. Duplicate names are not allowed.")]
    PolicyExists(String),
    #[error("The user with name {0} cannot be found.")]
    NoSuchUser(String),
    #[error("The role with name {0} cannot be found.")]
    NoSuchRole(String),
    #[error("The Access Key with id {0} cannot be found.")]
    NoSuchAccessKey(String),
    #[error("The {kind} policy with name {name} cannot be found.")]
    NoSuchInlinePolicy { kind: &'static str, name: String },
    #[error("Policy {0} does not exist or is not attachable.")]
    NotAttachable(String),
    #[error("Policy {arn} was not found attached to {principal}.")]
    NotAttached { arn: String, principal: String },
    #[error(
        "Cannot delete entity, must delete access keys and detach or delete policies first (user {user} has {keys} keys and {policies} policies)."
    )]
    UserInUse {
        user: String,
        keys: i64,
        policies: i64,
    },
    #[error("Cannot exceed quota for AccessKeysPerUser: 2")]
    AccessKeyQuota,
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

impl IamError {
    /// The state directory's disk is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, IamError::Database(e) if crate::api_error::is_disk_full(e))
    }
}

impl From<IamError> for ApiError {
    fn from(e: IamError) -> ApiError {
        let code = match &e {
            IamError::InvalidName { .. } => ErrorCode::ValidationError,
            IamError::UserExists(_) | IamError::RoleExists(_) | IamError::PolicyExists(_) => {
                ErrorCode::EntityAlreadyExists
            }
            IamError::NoSuchUser(_)
            | IamError::NoSuchRole(_)
            | IamError::NoSuchAccessKey(_)
            | IamError::NoSuchInlinePolicy { .. }
            | IamError::NotAttachable(_)
            | IamError::NotAttached { .. } => ErrorCode::NoSuchEntity,
            IamError::UserInUse { .. } => ErrorCode::DeleteConflict,
            IamError::AccessKeyQuota => ErrorCode::LimitExceeded,
            // A full disk reads as such; any other fault keeps its cause.
            IamError::Database(_) => ErrorCode::InternalFailure,
        };
        if let IamError::Database(e) = e {
            return ApiError::from(e);
        }
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_gets_iams_code_and_words() {
        let e = ApiError::from(IamError::NoSuchUser("bob".into()));
        assert_eq!(
            (e.status(), e.code, e.message.as_str()),
            (
                404,
                ErrorCode::NoSuchEntity,
                "The user with name bob cannot be found."
            )
        );
        let e = ApiError::from(IamError::AccessKeyQuota);
        assert_eq!((e.status(), e.code), (409, ErrorCode::LimitExceeded));
        let e = ApiError::from(IamError::Database(rusqlite::Error::InvalidQuery));
        assert_eq!(e.code, ErrorCode::InternalFailure);
        assert!(e.cause.is_some(), "the database error is kept for the log");
    }
}
