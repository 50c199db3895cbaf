//! The built-in managed policies and what they grant.

use airlock_policy::{EvalDecision, Request, actions, arn, catalog, evaluate};

fn node_role() -> String {
    arn::assumed_role("123456789012", "cluster-compute", "i-0123456789abcdef0")
}

fn decide(policy_arn: &str, action: &str, resource: &str) -> EvalDecision {
    let Some(p) = catalog::get(policy_arn) else {
        panic!("{policy_arn} is built in");
    };
    evaluate(
        [(policy_arn, p)],
        &Request::new(node_role(), action, resource),
    )
    .effect
}

/// The actions of AmazonSSMManagedInstanceCore (policy version v2).
const SSM_CORE_ACTIONS: [&str; 25] = [
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
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
];

#[test]
fn ssm_managed_instance_core_grants_exactly_its_actions() {
    for a in SSM_CORE_ACTIONS {
        assert_eq!(
            decide(catalog::AMAZON_SSM_MANAGED_INSTANCE_CORE, a, "*"),
            EvalDecision::Allowed,
            "{a}"
        );
    }
    for a in [
        actions::ssm::START_SESSION,
        "ssm:SendCommand",
        actions::ec2::RUN_INSTANCES,
        actions::iam::CREATE_USER,
        "ssm:GetParametersByPath",
    ] {
        assert_eq!(
            decide(catalog::AMAZON_SSM_MANAGED_INSTANCE_CORE, a, "*"),
            EvalDecision::ImplicitDeny,
            "{a}"
        );
    }
}

#[test]
fn ssm_managed_instance_core_document_lists_each_action_once() {
    let Some(entry) = catalog::entry(catalog::AMAZON_SSM_MANAGED_INSTANCE_CORE) else {
        panic!("built in");
    };
    let count =
        entry.document.matches("\"ssm").count() + entry.document.matches("\"ec2messages").count();
    assert_eq!(count, SSM_CORE_ACTIONS.len());
    assert_eq!(entry.name, "AmazonSSMManagedInstanceCore");
}

#[test]
fn agent_registration_needs_the_managed_policy() {
    assert_eq!(
        decide(
            catalog::AMAZON_SSM_MANAGED_INSTANCE_CORE,
            actions::ssm::UPDATE_INSTANCE_INFORMATION,
            "*"
        ),
        EvalDecision::Allowed
    );
    assert_eq!(
        decide(
            catalog::AIRLOCK_READ_ONLY_ACCESS,
            actions::ssm::UPDATE_INSTANCE_INFORMATION,
            "*"
        ),
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn administrator_access_allows_everything() {
    for a in [
        actions::iam::CREATE_USER,
        actions::airlock::DELETE_CLUSTER,
        "anything:AtAll",
    ] {
        assert_eq!(
            decide(catalog::ADMINISTRATOR_ACCESS, a, "*"),
            EvalDecision::Allowed,
            "{a}"
        );
    }
}

#[test]
fn read_only_access_reads_but_never_changes_or_connects() {
    for a in [
        actions::airlock::DESCRIBE_CLUSTER,
        actions::airlock::LIST_CLUSTERS,
        actions::ssm::DESCRIBE_SESSIONS,
        actions::ec2::DESCRIBE_INSTANCES,
        actions::iam::LIST_USERS,
        actions::iam::SIMULATE_PRINCIPAL_POLICY,
    ] {
        assert_eq!(
            decide(catalog::AIRLOCK_READ_ONLY_ACCESS, a, "*"),
            EvalDecision::Allowed,
            "{a}"
        );
    }
    for a in [
        actions::ssm::START_SESSION,
        actions::ssm::TERMINATE_SESSION,
        actions::airlock::CREATE_CLUSTER,
        actions::airlock::REPLAY_SESSION,
        actions::iam::CREATE_ACCESS_KEY,
        actions::ec2::TERMINATE_INSTANCES,
    ] {
        assert_eq!(
            decide(catalog::AIRLOCK_READ_ONLY_ACCESS, a, "*"),
            EvalDecision::ImplicitDeny,
            "{a}"
        );
    }
}

#[test]
fn catalog_lookups_are_exact() {
    assert!(catalog::is_known(
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    ));
    assert!(!catalog::is_known(
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore "
    ));
    assert!(!catalog::is_known("AmazonSSMManagedInstanceCore"));
    // Every AWS managed policy (moto 5.2.6's data) and airlock's two.
    assert_eq!(catalog::all().len(), 1595 + 2);
    assert!(catalog::all().iter().all(|p| catalog::get(p.arn).is_some()));
}

#[test]
fn s3_read_only_access_reads_objects_but_never_writes_them() {
    let arn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    for a in ["s3:GetObject", "s3:ListBucket", "s3:ListAllMyBuckets"] {
        assert_eq!(
            decide(arn, a, "arn:aws:s3:::bucket/key"),
            EvalDecision::Allowed,
            "{a}"
        );
    }
    for a in [
        "s3:PutObject",
        "s3:DeleteObject",
        actions::ec2::DESCRIBE_INSTANCES,
        actions::ssm::START_SESSION,
    ] {
        assert_eq!(
            decide(arn, a, "arn:aws:s3:::bucket/key"),
            EvalDecision::ImplicitDeny,
            "{a}"
        );
    }
}

#[test]
fn aws_read_only_access_describes_but_never_changes() {
    let arn = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    for a in [
        actions::ec2::DESCRIBE_INSTANCES,
        actions::iam::LIST_USERS,
        actions::ssm::DESCRIBE_SESSIONS,
        "s3:GetObject",
    ] {
        assert_eq!(decide(arn, a, "*"), EvalDecision::Allowed, "{a}");
    }
    for a in [
        actions::ec2::RUN_INSTANCES,
        actions::iam::CREATE_USER,
        actions::ssm::START_SESSION,
        "s3:PutObject",
    ] {
        assert_eq!(decide(arn, a, "*"), EvalDecision::ImplicitDeny, "{a}");
    }
}

#[test]
fn an_aws_managed_policy_with_a_resource_grants_only_there() {
    // CloudWatchAgentServerPolicy: ssm:GetParameter on AmazonCloudWatch-* only.
    let arn = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";
    let param = |name: &str| format!("arn:aws:ssm:us-east-1:123456789012:parameter/{name}");
    assert_eq!(
        decide(arn, "ssm:GetParameter", &param("AmazonCloudWatch-linux")),
        EvalDecision::Allowed
    );
    assert_eq!(
        decide(arn, "ssm:GetParameter", &param("db-password")),
        EvalDecision::ImplicitDeny
    );
    assert_eq!(decide(arn, "logs:PutLogEvents", "*"), EvalDecision::Allowed);
    let Some(entry) = catalog::entry(arn) else {
        panic!("{arn} is an AWS managed policy");
    };
    assert!(entry.is_aws() && entry.default_version.starts_with('v'));
    assert!(catalog::entry(catalog::AIRLOCK_SESSION_USER).is_some_and(|p| !p.is_aws()));
}
