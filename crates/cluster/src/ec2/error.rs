//! What an EC2 call's failure tells the user: the call, EC2's error code
//! and message, and a hint for the failures a user can fix.

use crate::provider::ProviderError;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// EC2's error codes for capacity it does not have: the node's resume
/// fails and Slurm requeues the job.
pub const CAPACITY_CODES: [&str; 3] = [
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "MaxSpotInstanceCountExceeded",
];

/// Maps a failed `call` (EC2's action name, e.g. `RunInstances`).
pub fn aws<E>(call: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let detail = match (e.code(), e.message(), status) {
            (Some(code), Some(msg), _) => format!("{code}: {msg}"),
            (Some(code), None, _) => code.to_owned(),
            (None, _, Some(status)) => format!("EC2 answered HTTP {status} with no error code"),
            _ => DisplayErrorContext(&e).to_string(),
        };
        ProviderError::Invalid(describe(call, e.code(), &detail))
    }
}

/// The sentence for a failed call, with a hint where the cause is known.
fn describe(call: &str, code: Option<&str>, detail: &str) -> String {
    let hint = match code {
        Some("AuthFailure" | "UnrecognizedClientException" | "InvalidClientTokenId") => Some(
            "check the AWS credentials the server uses (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ),
        Some("UnauthorizedOperation") => {
            Some("the server's IAM identity lacks this permission; see docs/EC2.md for its policy")
        }
        Some("InvalidKeyPair.NotFound") => {
            Some("create or import the key pair in this region, or fix key_name")
        }
        Some(c) if CAPACITY_CODES.contains(&c) => {
            Some("EC2 has no capacity for this instance type here now; Slurm requeues the job")
        }
        None if detail.contains("credentials") => Some(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`",
        ),
        _ => None,
    };
    match hint {
        Some(h) => format!("EC2 {call} failed: {detail}\n  hint: {h}"),
        None => format!("EC2 {call} failed: {detail}"),
    }
}

/// Whether a provider error is EC2 refusing for lack of capacity.
pub fn is_capacity(e: &ProviderError) -> bool {
    let text = e.to_string();
    CAPACITY_CODES.iter().any(|c| text.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_failures_carry_a_hint_and_others_do_not() {
        let s = describe(
            "RunInstances",
            Some("InvalidKeyPair.NotFound"),
            "InvalidKeyPair.NotFound: The key pair 'k' does not exist",
        );
        assert!(
            s.starts_with("EC2 RunInstances failed: InvalidKeyPair.NotFound"),
            "{s}"
        );
        assert!(s.contains("hint: create or import the key pair"), "{s}");
        let s = describe(
            "DescribeVpcs",
            None,
            "dispatch failure: no credentials in the chain",
        );
        assert!(s.contains("hint: no AWS credentials found"), "{s}");
        let s = describe(
            "RunInstances",
            Some("InsufficientInstanceCapacity"),
            "InsufficientInstanceCapacity: none left",
        );
        assert!(is_capacity(&ProviderError::Invalid(s)));
        let s = describe("DeleteSecurityGroup", Some("DependencyViolation"), "in use");
        assert_eq!(s, "EC2 DeleteSecurityGroup failed: in use");
    }
}
