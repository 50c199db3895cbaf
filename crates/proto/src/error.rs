//! The API's error: its body on the wire (`{"__type": Code, "message": …}`,
//! as AWS's JSON protocols send it), and every code the server sends, with
//! its HTTP status, in one enum.

use serde::{Deserialize, Serialize};

macro_rules! wire_name {
    ($name:ident) => {
        stringify!($name)
    };
    ($name:ident $wire:literal) => {
        $wire
    };
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident $(($wire:literal))? = $status:literal,)*) => {
        /// An error code the server sends. Each has one HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, for tests and documentation.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as it travels in `__type`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => wire_name!($name $($wire)?),)*
                }
            }

            /// The HTTP status the code is sent with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $status,)*
                }
            }

            /// The code of a `__type`, if it is one of ours.
            pub fn parse(s: &str) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }
    };
}

error_codes! {
    // Requests that cannot be read.
    SerializationException = 400,
    ValidationError = 400,
    ValidationException = 400,
    InvalidAction = 400,
    InvalidInput = 400,
    InvalidArgsException = 400,
    InvalidNextToken = 400,
    UnsupportedOperation = 400,
    // Who is calling.
    MissingAuthenticationTokenException = 403,
    IncompleteSignatureException = 400,
    InvalidSignatureException = 403,
    UnrecognizedClientException = 403,
    AccessDeniedException = 403,
    // The console's sign-in and cookie session.
    InvalidSignInLink = 403,
    NotSignedIn = 401,
    ExpiredSession = 401,
    InvalidOrigin = 403,
    InvalidCsrfToken = 403,
    // IAM.
    NoSuchEntity = 404,
    EntityAlreadyExists = 409,
    DeleteConflict = 409,
    LimitExceeded = 409,
    MalformedPolicyDocument = 400,
    InvalidUser = 400,
    // Tags.
    InvalidTag = 400,
    TooManyTagsError = 400,
    // Managed instances.
    InvalidActivation = 400,
    InvalidActivationId = 400,
    InvalidInstanceId = 400,
    InvalidResourceId = 400,
    DoesNotExistException = 400,
    // Sessions.
    InvalidDocument = 400,
    InvalidDocumentContent = 400,
    InvalidTarget = 400,
    TargetNotConnected = 400,
    SessionError = 400,
    SessionEnded = 403,
    // EC2 key pairs and instances (EC2's dotted codes).
    InvalidKeyPairNotFound("InvalidKeyPair.NotFound") = 400,
    InvalidKeyPairDuplicate("InvalidKeyPair.Duplicate") = 400,
    InvalidKeyFormat("InvalidKey.Format") = 400,
    InvalidInstanceIdNotFound("InvalidInstanceID.NotFound") = 400,
    // Clusters.
    NotFoundException = 404,
    ConflictException = 409,
    TooManyUpdates = 409,
    HeadNodeUnavailable = 400,
    InsufficientInstanceCapacity = 400,
    SubnetLimitExceeded = 400,
    // The server itself.
    InternalFailure = 500,
    ServiceUnavailable = 503,
    /// The state directory's disk is full.
    InsufficientStorageException = 507,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An error body as it travels. The client keeps codes it does not know
/// (a newer server's) as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "__type")]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// The code, if this side knows it.
    pub fn known_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_has_an_error_status() {
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert!((400..600).contains(&c.status()), "{c}");
        }
        assert_eq!(ErrorCode::parse("NoSuchThing"), None);
        assert_eq!(
            ErrorCode::parse("InvalidKeyPair.NotFound"),
            Some(ErrorCode::InvalidKeyPairNotFound)
        );
    }

    #[test]
    fn bodies_have_the_aws_shape() {
        let b = ErrorBody {
            code: ErrorCode::NoSuchEntity.to_string(),
            message: "m".into(),
        };
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(text, r#"{"__type":"NoSuchEntity","message":"m"}"#);
        let back: ErrorBody = serde_json::from_str(r#"{"__type":"Newer"}"#).unwrap();
        assert_eq!((back.known_code(), back.message.as_str()), (None, ""));
    }
}
