//! Action names, spelled as AWS spells them, for the operations airlock
//! authorises. Matching is case-insensitive; these are the canonical forms.

/// Session Manager (`ssm:`), as users and agents call it.
pub mod ssm {
    /// Open a session to a node (resources: the instance and the document).
    pub const START_SESSION: &str = "ssm:StartSession";
    /// End a session (resource: the session ARN).
    pub const TERMINATE_SESSION: &str = "ssm:TerminateSession";
    /// Reconnect to a session (resource: the session ARN).
    pub const RESUME_SESSION: &str = "ssm:ResumeSession";
    /// List sessions.
    pub const DESCRIBE_SESSIONS: &str = "ssm:DescribeSessions";
    /// Whether a node can take a session.
    pub const GET_CONNECTION_STATUS: &str = "ssm:GetConnectionStatus";
    /// List managed nodes.
    pub const DESCRIBE_INSTANCE_INFORMATION: &str = "ssm:DescribeInstanceInformation";
    /// Node details.
    pub const DESCRIBE_INSTANCE_PROPERTIES: &str = "ssm:DescribeInstanceProperties";
    /// An agent registers and heartbeats (needs AmazonSSMManagedInstanceCore).
    pub const UPDATE_INSTANCE_INFORMATION: &str = "ssm:UpdateInstanceInformation";
    /// Read a session document.
    pub const GET_DOCUMENT: &str = "ssm:GetDocument";
    /// List session documents.
    pub const LIST_DOCUMENTS: &str = "ssm:ListDocuments";
}

/// The agent's and client's message channels (`ssmmessages:`).
pub mod ssmmessages {
    /// Every `ssmmessages:` action.
    pub const ALL: &str = "ssmmessages:*";
    /// Agent: create its control channel.
    pub const CREATE_CONTROL_CHANNEL: &str = "ssmmessages:CreateControlChannel";
    /// Agent: open its control channel.
    pub const OPEN_CONTROL_CHANNEL: &str = "ssmmessages:OpenControlChannel";
    /// Agent: create a session's data channel.
    pub const CREATE_DATA_CHANNEL: &str = "ssmmessages:CreateDataChannel";
    /// Agent or client: open a session's data channel.
    pub const OPEN_DATA_CHANNEL: &str = "ssmmessages:OpenDataChannel";
}

/// Compute (`ec2:`): nodes and key pairs.
pub mod ec2 {
    /// Launch nodes (head role only).
    pub const RUN_INSTANCES: &str = "ec2:RunInstances";
    /// Terminate nodes (head role only).
    pub const TERMINATE_INSTANCES: &str = "ec2:TerminateInstances";
    /// List nodes.
    pub const DESCRIBE_INSTANCES: &str = "ec2:DescribeInstances";
    /// `airlock ec2 import-key-pair`.
    pub const IMPORT_KEY_PAIR: &str = "ec2:ImportKeyPair";
    /// `airlock ec2 create-key-pair`.
    pub const CREATE_KEY_PAIR: &str = "ec2:CreateKeyPair";
    /// `airlock ec2 describe-key-pairs`.
    pub const DESCRIBE_KEY_PAIRS: &str = "ec2:DescribeKeyPairs";
    /// `airlock ec2 delete-key-pair`.
    pub const DELETE_KEY_PAIR: &str = "ec2:DeleteKeyPair";
}

/// Identity administration (`iam:`).
pub mod iam {
    /// Every `iam:` action.
    pub const ALL: &str = "iam:*";
    /// `airlock iam create-user`.
    pub const CREATE_USER: &str = "iam:CreateUser";
    /// `airlock iam delete-user`.
    pub const DELETE_USER: &str = "iam:DeleteUser";
    /// `airlock iam get-user`.
    pub const GET_USER: &str = "iam:GetUser";
    /// `airlock iam list-users`.
    pub const LIST_USERS: &str = "iam:ListUsers";
    /// `airlock iam tag-user`.
    pub const TAG_USER: &str = "iam:TagUser";
    /// `airlock iam untag-user`.
    pub const UNTAG_USER: &str = "iam:UntagUser";
    /// `airlock iam create-access-key`.
    pub const CREATE_ACCESS_KEY: &str = "iam:CreateAccessKey";
    /// `airlock iam list-access-keys`.
    pub const LIST_ACCESS_KEYS: &str = "iam:ListAccessKeys";
    /// `airlock iam update-access-key` (disable/enable).
    pub const UPDATE_ACCESS_KEY: &str = "iam:UpdateAccessKey";
    /// `airlock iam delete-access-key`.
    pub const DELETE_ACCESS_KEY: &str = "iam:DeleteAccessKey";
    /// `airlock iam attach-user-policy`.
    pub const ATTACH_USER_POLICY: &str = "iam:AttachUserPolicy";
    /// `airlock iam detach-user-policy`.
    pub const DETACH_USER_POLICY: &str = "iam:DetachUserPolicy";
    /// `airlock iam put-user-policy`.
    pub const PUT_USER_POLICY: &str = "iam:PutUserPolicy";
    /// `airlock iam get-user-policy`.
    pub const GET_USER_POLICY: &str = "iam:GetUserPolicy";
    /// `airlock iam delete-user-policy`.
    pub const DELETE_USER_POLICY: &str = "iam:DeleteUserPolicy";
    /// `airlock iam list-user-policies`.
    pub const LIST_USER_POLICIES: &str = "iam:ListUserPolicies";
    /// `airlock iam list-attached-user-policies`.
    pub const LIST_ATTACHED_USER_POLICIES: &str = "iam:ListAttachedUserPolicies";
    /// `airlock iam create-role`.
    pub const CREATE_ROLE: &str = "iam:CreateRole";
    /// `airlock iam delete-role`.
    pub const DELETE_ROLE: &str = "iam:DeleteRole";
    /// `airlock iam get-role`.
    pub const GET_ROLE: &str = "iam:GetRole";
    /// `airlock iam list-roles`.
    pub const LIST_ROLES: &str = "iam:ListRoles";
    /// `airlock iam attach-role-policy`.
    pub const ATTACH_ROLE_POLICY: &str = "iam:AttachRolePolicy";
    /// `airlock iam detach-role-policy`.
    pub const DETACH_ROLE_POLICY: &str = "iam:DetachRolePolicy";
    /// `airlock iam put-role-policy`.
    pub const PUT_ROLE_POLICY: &str = "iam:PutRolePolicy";
    /// `airlock iam get-role-policy`.
    pub const GET_ROLE_POLICY: &str = "iam:GetRolePolicy";
    /// `airlock iam list-role-policies`.
    pub const LIST_ROLE_POLICIES: &str = "iam:ListRolePolicies";
    /// `airlock iam list-attached-role-policies`.
    pub const LIST_ATTACHED_ROLE_POLICIES: &str = "iam:ListAttachedRolePolicies";
    /// `airlock iam get-policy` / `list-policies`.
    pub const GET_POLICY: &str = "iam:GetPolicy";
    /// `airlock iam list-policies`.
    pub const LIST_POLICIES: &str = "iam:ListPolicies";
    /// `airlock iam simulate-principal-policy`.
    pub const SIMULATE_PRINCIPAL_POLICY: &str = "iam:SimulatePrincipalPolicy";
    /// Nodes assume their cluster role (checked against the trust policy).
    pub const PASS_ROLE: &str = "iam:PassRole";
}

/// Cluster lifecycle and airlock's own operations (`airlock:`).
pub mod airlock {
    /// Every `airlock:` action.
    pub const ALL: &str = "airlock:*";
    /// `airlock create`.
    pub const CREATE_CLUSTER: &str = "airlock:CreateCluster";
    /// `airlock delete`.
    pub const DELETE_CLUSTER: &str = "airlock:DeleteCluster";
    /// `airlock status`.
    pub const DESCRIBE_CLUSTER: &str = "airlock:DescribeCluster";
    /// `airlock list`.
    pub const LIST_CLUSTERS: &str = "airlock:ListClusters";
    /// `airlock update`.
    pub const UPDATE_CLUSTER: &str = "airlock:UpdateCluster";
    /// `airlock start|stop` (`update-compute-fleet`).
    pub const UPDATE_COMPUTE_FLEET: &str = "airlock:UpdateComputeFleet";
    /// `describe-compute-fleet`.
    pub const DESCRIBE_COMPUTE_FLEET: &str = "airlock:DescribeComputeFleet";
    /// `airlock instances`.
    pub const DESCRIBE_CLUSTER_INSTANCES: &str = "airlock:DescribeClusterInstances";
    /// Slurm `ResumeProgram` (head role).
    pub const RESUME_NODES: &str = "airlock:ResumeNodes";
    /// Slurm `SuspendProgram` (head role).
    pub const SUSPEND_NODES: &str = "airlock:SuspendNodes";
    /// Replay a session recording. Deliberately outside `Get*`/`List*`/
    /// `Describe*`: recordings can hold secrets, so read-only access
    /// does not include them.
    pub const REPLAY_SESSION: &str = "airlock:ReplaySession";
    /// `airlock audit`.
    pub const LOOKUP_EVENTS: &str = "airlock:LookupEvents";
}

/// Condition keys airlock puts in the request context.
pub mod keys {
    /// The caller's user name (users only).
    pub const USERNAME: &str = "aws:username";
    /// The caller's unique id.
    pub const USERID: &str = "aws:userid";
    /// The caller's ARN.
    pub const PRINCIPAL_ARN: &str = "aws:PrincipalArn";
    /// The caller's account.
    pub const PRINCIPAL_ACCOUNT: &str = "aws:PrincipalAccount";
    /// `User`, `AssumedRole`, ...
    pub const PRINCIPAL_TYPE: &str = "aws:PrincipalType";
    /// Prefix of the caller's tags: `aws:PrincipalTag/KEY`.
    pub const PRINCIPAL_TAG_PREFIX: &str = "aws:PrincipalTag/";
    /// Prefix of the target's tags: `aws:ResourceTag/KEY`.
    pub const RESOURCE_TAG_PREFIX: &str = "aws:ResourceTag/";
    /// Prefix of the target node's tags as Session Manager names them: `ssm:resourceTag/KEY`.
    pub const SSM_RESOURCE_TAG_PREFIX: &str = "ssm:resourceTag/";
    /// The client's address.
    pub const SOURCE_IP: &str = "aws:SourceIp";
    /// Request time, ISO 8601.
    pub const CURRENT_TIME: &str = "aws:CurrentTime";
    /// Request time, epoch seconds.
    pub const EPOCH_TIME: &str = "aws:EpochTime";
    /// Whether the request came over TLS.
    pub const SECURE_TRANSPORT: &str = "aws:SecureTransport";
    /// The server's region.
    pub const REQUESTED_REGION: &str = "aws:RequestedRegion";
    /// Set to `true` when a session start checks the user's right to the session document.
    pub const SSM_SESSION_DOCUMENT_ACCESS_CHECK: &str = "ssm:SessionDocumentAccessCheck";
    /// Tag keys in a tagging request (multivalued).
    pub const TAG_KEYS: &str = "aws:TagKeys";
}
