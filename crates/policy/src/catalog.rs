//! Built-in managed policies, addressed by ARN as in AWS:
//!
//! - `arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore`: the real AWS
//!   policy (version v2): what a node's role needs for its agent to
//!   register, heartbeat and carry sessions;
//! - `arn:aws:iam::aws:policy/AdministratorAccess`: everything;
//! - `arn:aws:iam::aws:policy/AirlockReadOnlyAccess`: airlock's read-only
//!   policy: `Describe*`/`Get*`/`List*` on `airlock`, `ssm`, `ec2`, and
//!   `iam` (plus `iam:Simulate*`), no session start and no recordings;
//! - `arn:aws:iam::aws:policy/AirlockSessionUser`: Session Manager's end-user
//!   quick-start policy: start sessions on any node with the airlock session
//!   documents, resume and terminate only one's own sessions
//!   (`session/${aws:username}-*`), and list nodes and sessions.
//!
//! The airlock policies live in the `aws` namespace so that a config's
//! `additional_iam_policies` can name them like any AWS managed policy.

use std::sync::LazyLock;

use crate::model::Policy;

/// A built-in managed policy.
#[derive(Debug)]
pub struct ManagedPolicy {
    /// `arn:aws:iam::aws:policy/NAME`.
    pub arn: &'static str,
    /// `NAME`.
    pub name: &'static str,
    /// One line, as `get-policy` shows it.
    pub description: &'static str,
    /// The JSON document, as `get-policy-version` shows it.
    pub document: &'static str,
    policy: Policy,
}

impl ManagedPolicy {
    /// The parsed document.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// The AWS managed policy for a node's role.
pub const AMAZON_SSM_MANAGED_INSTANCE_CORE: &str =
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
/// Full access.
pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// airlock's read-only policy.
pub const AIRLOCK_READ_ONLY_ACCESS: &str = "arn:aws:iam::aws:policy/AirlockReadOnlyAccess";
/// airlock's session-user policy.
pub const AIRLOCK_SESSION_USER: &str = "arn:aws:iam::aws:policy/AirlockSessionUser";

const SSM_CORE_DOC: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeAssociation",
                "ssm:GetDeployablePatchSnapshotForInstance",
                "ssm:GetDocument",
                "ssm:DescribeDocument",
                "ssm:GetManifest",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:ListAssociations",
                "ssm:ListInstanceAssociations",
                "ssm:PutInventory",
                "ssm:PutComplianceItems",
                "ssm:PutConfigurePackageResult",
                "ssm:UpdateAssociationStatus",
                "ssm:UpdateInstanceAssociationStatus",
                "ssm:UpdateInstanceInformation"
            ],
            "Resource": "*"
        },
        {
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel"
            ],
            "Resource": "*"
        },
        {
            "Effect": "Allow",
            "Action": [
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply"
            ],
            "Resource": "*"
        }
    ]
}"#;

const ADMIN_DOC: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*"
        }
    ]
}"#;

const READ_ONLY_DOC: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AirlockReadOnly",
            "Effect": "Allow",
            "Action": [
                "airlock:Describe*",
                "airlock:Get*",
                "airlock:List*",
                "ssm:Describe*",
                "ssm:Get*",
                "ssm:List*",
                "ec2:Describe*",
                "iam:Get*",
                "iam:List*",
                "iam:Simulate*"
            ],
            "Resource": "*"
        }
    ]
}"#;

const SESSION_USER_DOC: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "StartSessions",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": [
                "arn:aws:ec2:*:*:instance/*",
                "arn:aws:ssm:*:*:managed-instance/*",
                "arn:aws:ssm:*:*:document/SSM-SessionManagerRunShell",
                "arn:aws:ssm:*:*:document/AWS-StartInteractiveCommand",
                "arn:aws:ssm:*:*:document/AWS-StartNonInteractiveCommand",
                "arn:aws:ssm:*:*:document/AWS-StartPortForwardingSession",
                "arn:aws:ssm:*:*:document/AWS-StartPortForwardingSessionToRemoteHost",
                "arn:aws:ssm:*:*:document/AWS-StartSSHSession"
            ]
        },
        {
            "Sid": "ConsoleSignIn",
            "Effect": "Allow",
            "Action": "airlock:CreateConsoleSignInToken",
            "Resource": "arn:aws:iam::*:user/${aws:username}"
        },
        {
            "Sid": "OwnSessions",
            "Effect": "Allow",
            "Action": [
                "ssm:ResumeSession",
                "ssm:TerminateSession",
                "ssmmessages:OpenDataChannel"
            ],
            "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*"
        },
        {
            "Sid": "SessionDocuments",
            "Effect": "Allow",
            "Action": "ssm:GetDocument",
            "Resource": "arn:aws:ssm:*:*:document/*",
            "Condition": {
                "BoolIfExists": {
                    "ssm:SessionDocumentAccessCheck": "true"
                }
            }
        },
        {
            "Sid": "ListNodesAndSessions",
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeSessions",
                "ssm:GetConnectionStatus",
                "ssm:DescribeInstanceInformation",
                "ssm:DescribeInstanceProperties",
                "ec2:DescribeInstances",
                "airlock:DescribeCluster",
                "airlock:DescribeClusterInstances",
                "airlock:ListClusters"
            ],
            "Resource": "*"
        }
    ]
}"#;

const ENTRIES: &[(&str, &str, &str, &str)] = &[
    (
        AMAZON_SSM_MANAGED_INSTANCE_CORE,
        "AmazonSSMManagedInstanceCore",
        "The policy for Amazon EC2 Role to enable AWS Systems Manager service core functionality.",
        SSM_CORE_DOC,
    ),
    (
        ADMINISTRATOR_ACCESS,
        "AdministratorAccess",
        "Provides full access to AWS services and resources.",
        ADMIN_DOC,
    ),
    (
        AIRLOCK_READ_ONLY_ACCESS,
        "AirlockReadOnlyAccess",
        "Read-only access to airlock clusters, nodes, sessions and identities (no sessions, no recordings).",
        READ_ONLY_DOC,
    ),
    (
        AIRLOCK_SESSION_USER,
        "AirlockSessionUser",
        "Start sessions on cluster nodes and manage one's own sessions, as Session Manager's end-user policy does.",
        SESSION_USER_DOC,
    ),
];

static CATALOG: LazyLock<Vec<ManagedPolicy>> = LazyLock::new(|| {
    ENTRIES
        .iter()
        .filter_map(|(arn, name, description, document)| {
            // Constant documents; a unit test proves every one parses.
            let policy = Policy::parse(document).ok()?;
            Some(ManagedPolicy {
                arn,
                name,
                description,
                document,
                policy,
            })
        })
        .collect()
});

/// Every built-in managed policy.
pub fn all() -> &'static [ManagedPolicy] {
    &CATALOG
}

/// Whether `arn` names a built-in managed policy (exact, case-sensitive).
pub fn is_known(arn: &str) -> bool {
    entry(arn).is_some()
}

/// The built-in policy named by `arn`.
pub fn get(arn: &str) -> Option<&'static Policy> {
    entry(arn).map(ManagedPolicy::policy)
}

/// The built-in policy's entry (ARN, name, description, JSON document).
pub fn entry(arn: &str) -> Option<&'static ManagedPolicy> {
    CATALOG.iter().find(|p| p.arn == arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_document_parses() {
        assert_eq!(all().len(), ENTRIES.len());
        for (arn, ..) in ENTRIES {
            assert!(is_known(arn), "{arn}");
        }
    }

    #[test]
    fn unknown_and_miscased_arns_are_not_known() {
        assert!(!is_known(
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCor"
        ));
        assert!(!is_known(
            "arn:aws:iam::aws:policy/amazonssmmanagedinstancecore"
        ));
        assert!(get("arn:aws:iam::123456789012:policy/Custom").is_none());
    }
}
