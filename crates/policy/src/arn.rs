//! ARN builders for the resources airlock names, and a small ARN parser.
//! Account id and region are always parameters; the partition is `aws`.

use std::fmt;

/// The partition every airlock ARN uses.
pub const PARTITION: &str = "aws";

/// `arn:aws:iam::ACCOUNT:user/NAME`
pub fn user(account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:user/{name}")
}

/// `arn:aws:iam::ACCOUNT:role/NAME`
pub fn role(account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:role/{name}")
}

/// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`: a node acting in its role.
pub fn assumed_role(account: &str, role: &str, session: &str) -> String {
    format!("arn:{PARTITION}:sts::{account}:assumed-role/{role}/{session}")
}

/// `arn:aws:iam::ACCOUNT:root`: the account as a principal.
pub fn account_root(account: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:root")
}

/// `arn:aws:iam::ACCOUNT:policy/NAME`: a customer managed policy.
pub fn policy(account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:policy/{name}")
}

/// `arn:aws:iam::aws:policy/NAME`: a built-in managed policy.
pub fn managed_policy(name: &str) -> String {
    format!("arn:{PARTITION}:iam::aws:policy/{name}")
}

/// `arn:aws:ec2:REGION:ACCOUNT:instance/ID`
pub fn instance(region: &str, account: &str, instance_id: &str) -> String {
    format!("arn:{PARTITION}:ec2:{region}:{account}:instance/{instance_id}")
}

/// `arn:aws:ssm:REGION:ACCOUNT:session/ID` (session ids start with the user name).
pub fn session(region: &str, account: &str, session_id: &str) -> String {
    format!("arn:{PARTITION}:ssm:{region}:{account}:session/{session_id}")
}

/// `arn:aws:ssm:REGION:ACCOUNT:document/NAME`: a document the account owns
/// (such as `SSM-SessionManagerRunShell`).
pub fn document(region: &str, account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:ssm:{region}:{account}:document/{name}")
}

/// `arn:aws:ssm:REGION::document/NAME`: an AWS-owned document (such as
/// `AWS-StartSSHSession`), which has no account.
pub fn aws_document(region: &str, name: &str) -> String {
    format!("arn:{PARTITION}:ssm:{region}::document/{name}")
}

/// `arn:aws:airlock:REGION:ACCOUNT:cluster/NAME`
pub fn cluster(region: &str, account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:airlock:{region}:{account}:cluster/{name}")
}

/// `arn:aws:ec2:REGION:ACCOUNT:key-pair/NAME`
pub fn key_pair(region: &str, account: &str, name: &str) -> String {
    format!("arn:{PARTITION}:ec2:{region}:{account}:key-pair/{name}")
}

/// An ARN split into its parts: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    /// e.g. `aws`.
    pub partition: String,
    /// e.g. `ec2`.
    pub service: String,
    /// Empty for global services such as IAM.
    pub region: String,
    /// Empty for AWS-owned resources.
    pub account: String,
    /// Everything after the fifth colon, e.g. `instance/i-0123`.
    pub resource: String,
}

impl Arn {
    /// Splits `s`; `None` unless it has the `arn:` prefix, six parts and
    /// non-empty partition, service and resource.
    pub fn parse(s: &str) -> Option<Arn> {
        let mut parts = s.splitn(6, ':');
        if parts.next() != Some("arn") {
            return None;
        }
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Arn {
            partition: partition.into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_produce_aws_shaped_arns() {
        assert_eq!(
            user("123456789012", "alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(
            role("123456789012", "head"),
            "arn:aws:iam::123456789012:role/head"
        );
        assert_eq!(
            instance("us-east-1", "123456789012", "i-0123"),
            "arn:aws:ec2:us-east-1:123456789012:instance/i-0123"
        );
        assert_eq!(
            session("us-east-1", "123456789012", "alice-0c3b"),
            "arn:aws:ssm:us-east-1:123456789012:session/alice-0c3b"
        );
        assert_eq!(
            aws_document("us-east-1", "AWS-StartSSHSession"),
            "arn:aws:ssm:us-east-1::document/AWS-StartSSHSession"
        );
        assert_eq!(
            document("us-east-1", "123456789012", "SSM-SessionManagerRunShell"),
            "arn:aws:ssm:us-east-1:123456789012:document/SSM-SessionManagerRunShell"
        );
        assert_eq!(
            managed_policy("AmazonSSMManagedInstanceCore"),
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
        );
        assert_eq!(account_root("1"), "arn:aws:iam::1:root");
        assert_eq!(policy("1", "p"), "arn:aws:iam::1:policy/p");
        assert_eq!(
            assumed_role("1", "r", "i-1"),
            "arn:aws:sts::1:assumed-role/r/i-1"
        );
        assert_eq!(cluster("r", "1", "c"), "arn:aws:airlock:r:1:cluster/c");
        assert_eq!(key_pair("r", "1", "k"), "arn:aws:ec2:r:1:key-pair/k");
    }

    #[test]
    fn parse_round_trips_and_keeps_colons_in_resource() {
        let s = "arn:aws:logs:us-east-1:1:log-group:app:*";
        let Some(a) = Arn::parse(s) else {
            panic!("parse");
        };
        assert_eq!(a.resource, "log-group:app:*");
        assert_eq!(a.to_string(), s);
        assert_eq!(
            Arn::parse("arn:aws:iam::1:user/a").map(|a| a.region),
            Some(String::new())
        );
        assert_eq!(Arn::parse("arn:aws:iam::1"), None);
        assert_eq!(Arn::parse("urn:aws:iam::1:user/a"), None);
    }
}
