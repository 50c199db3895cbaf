//! The operations table on the in-process server: no operation does
//! anything for a caller no policy allows, an explicit Deny on one resource
//! binds, and a resource handed over (`iam:PassRole`) is decided too.

use serde_json::{Value, json};

use crate::testing::Harness;

/// One body with every field any operation reads, so each request gets as
/// far as its policy decision.
fn everything() -> Value {
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    json!({
        "UserName": "mallory-made", "RoleName": "AdminRole", "PolicyName": "p",
        "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        "PolicyDocument": policy, "AssumeRolePolicyDocument": policy,
        "AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "Status": "Inactive",
        "PolicySourceArn": "arn:aws:iam::000000000000:user/admin", "ActionNames": ["iam:ListUsers"],
        "ClusterName": "c1", "ClusterConfiguration": "", "ConfigFile": "c.ini",
        "NodeName": "compute-dy-t2micro-1", "KeyName": "k1",
        "PublicKeyMaterial": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHvJ0aGmE6OYsCyuQk+JuQ2JK0S9fJ3+3w0n6m6Xz8Qa k",
        "Name": "SSM-SessionManagerRunShell", "Content": "{}",
        "SessionId": "admin-0123456789abcdef0", "ActivationId": "x",
        "InstanceId": "mi-0123456789abcdef0", "IamRole": "AdminRole", "Target": "mi-0123456789abcdef0",
        "ResourceType": "ManagedInstance", "ResourceId": "mi-0123456789abcdef0",
        "Tags": [{"Key": "Env", "Value": "prod"}], "TagKeys": ["Env"],
        "InstanceOSUser": "ec2-user", "SSHPublicKey": "ssh-ed25519 AAAA",
    })
}

/// A role nodes assume, made by the admin.
async fn create_role(h: &Harness, name: &str) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = json!({"RoleName": name, "AssumeRolePolicyDocument": trust});
    let (st, v) = h.call(&h.admin, "iam", "CreateRole", &body).await;
    assert_eq!(st, 200, "{v}");
}

fn count(h: &Harness, sql: &str) -> i64 {
    h.with_db(|c| c.query_row(sql, [], |r| r.get(0)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operation_does_anything_for_a_caller_without_policies() {
    let h = Harness::new();
    // Things for the operations to find, made by the admin.
    create_role(&h, "AdminRole").await;
    let mallory = h.user("mallory", None);
    let before = (
        count(&h, "SELECT count(*) FROM users"),
        count(&h, "SELECT count(*) FROM roles"),
        count(&h, "SELECT count(*) FROM access_keys"),
    );
    let mut denied = 0;
    for op in super::table() {
        let (st, v) = h.call(&mallory, op.service, op.name, &everything()).await;
        assert!(
            !(200..300).contains(&st),
            "{}:{} answered {st} to a caller no policy allows: {v}",
            op.service,
            op.name
        );
        if v["__type"] == "AccessDeniedException" {
            denied += 1;
        }
    }
    // Most fail at the decision; the rest name something that does not
    // exist (a session, an instance) before there is anything to decide.
    assert!(
        denied >= 30,
        "only {denied} operations reached the policy decision"
    );
    let after = (
        count(&h, "SELECT count(*) FROM users"),
        count(&h, "SELECT count(*) FROM roles"),
        count(&h, "SELECT count(*) FROM access_keys"),
    );
    assert_eq!(before, after, "a refused caller changed the IAM store");
    let allowed = count(
        &h,
        "SELECT count(*) FROM audit_log WHERE principal LIKE '%:user/mallory' AND decision = 'Allow'",
    );
    assert_eq!(allowed, 0, "the audit log shows an Allow for mallory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_deny_on_one_resource_binds_and_others_stay_allowed() {
    let h = Harness::new();
    let ops = h.user(
        "ops",
        Some(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"iam:*","Resource":"*"},
                {"Effect":"Deny","Action":"iam:CreateUser","Resource":"arn:aws:iam::*:user/bob"}]}"#,
        ),
    );
    let (st, v) = h
        .call(&ops, "iam", "CreateUser", &json!({"UserName": "bob"}))
        .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("AccessDeniedException")),
        "{v}"
    );
    assert_eq!(
        count(&h, "SELECT count(*) FROM users WHERE user_name = 'bob'"),
        0
    );
    let (st, v) = h
        .call(&ops, "iam", "CreateUser", &json!({"UserName": "carol"}))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_activation_needs_pass_role_on_its_role() {
    let h = Harness::new();
    create_role(&h, "NodeRole").await;
    let body = json!({"IamRole": "NodeRole"});
    let without = h.user(
        "without",
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:CreateActivation","Resource":"*"}]}"#),
    );
    let (st, v) = h.call(&without, "ssm", "CreateActivation", &body).await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("AccessDeniedException")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap_or("").contains("iam:PassRole"),
        "{v}"
    );
    assert_eq!(count(&h, "SELECT count(*) FROM activations"), 0);
    let with = h.user(
        "with",
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:CreateActivation","iam:PassRole"],"Resource":"*"}]}"#),
    );
    let (st, v) = h.call(&with, "ssm", "CreateActivation", &body).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(count(&h, "SELECT count(*) FROM activations"), 1);
}

/// A settled cluster's row, as CreateCluster would store it.
fn cluster_row(name: &str, config: &str) -> crate::clusters::store::ClusterRow {
    use crate::clusters::{ComputeFleetStatus, StackStatus};
    crate::clusters::store::ClusterRow {
        cluster_name: name.into(),
        stack_name: format!("airlock-{name}"),
        stack_status: StackStatus::CreateComplete,
        config_file: "/home/u/cluster.ini".into(),
        config_text: config.into(),
        template: None,
        cluster_user: "centos".into(),
        key_name: None,
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_id: "subnet-0123456789abcdef0".into(),
        net_index: None,
        head_instance_id: None,
        master_private_ip: None,
        created_by: "arn:aws:iam::000000000000:user/admin".into(),
        norollback: false,
        creation_time: String::new(),
        last_updated_time: String::new(),
        compute_fleet_status: ComputeFleetStatus::Running,
        compute_fleet_updated_time: String::new(),
    }
}

/// What the pcluster 3 aliases of the CLI read from the cluster API's
/// answers (crates/cli/src/cmd/pcluster3.rs, whose fixtures copy these):
/// the stack, its region, ARN, version and tags, and each node's type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_answers_carry_what_the_pcluster_3_aliases_read() {
    use crate::clusters::store;

    let h = Harness::new();
    let config = "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = default\n\
[cluster default]\nscheduler = slurm\nbase_os = centos7\nmaster_instance_type = t3.small\n\
tags = {\"team\": \"hpc\"}\nvpc_settings = v\nqueue_settings = q\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\
[queue q]\ncompute_resource_settings = cr\n[compute_resource cr]\ninstance_type = t3.micro\nmax_count = 2\n";
    let row = cluster_row("demo", config);
    h.with_db(|c| store::insert(c, &row))
        .expect("the cluster row");
    let demo = json!({"ClusterName": "demo"});

    let (st, v) = h.call(&h.admin, "cluster", "DescribeCluster", &demo).await;
    assert_eq!(st, 200, "{v}");
    let account = v["ClusterArn"].as_str().and_then(|a| a.split(':').nth(4));
    assert!(account.is_some_and(|a| !a.is_empty()), "{v}");
    assert_eq!(
        v["ClusterArn"],
        format!(
            "arn:aws:airlock:us-east-1:{}:cluster/demo",
            account.unwrap_or_default()
        ),
    );
    assert_eq!(
        (&v["Region"], &v["Version"], &v["Tags"]),
        (
            &json!("us-east-1"),
            &json!(crate::VERSION),
            &json!([{"Key": "team", "Value": "hpc"}])
        )
    );
    let c = &v["Cluster"];
    for key in [
        "ClusterName",
        "StackStatus",
        "ConfigFile",
        "CreationTime",
        "LastUpdatedTime",
        "ComputeFleetStatus",
    ] {
        assert!(c[key].is_string(), "Cluster.{key}: {v}");
    }
    assert!(v["Resources"].is_array(), "{v}");

    let (st, v) = h
        .call(&h.admin, "cluster", "ListClusters", &json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    let item = &v["Clusters"][0];
    for key in [
        "ClusterName",
        "StackStatus",
        "Version",
        "Region",
        "ClusterArn",
    ] {
        assert!(item[key].is_string(), "Clusters[0].{key}: {v}");
    }

    // No machines (the harness's provider has none), but the answer's shape.
    let (st, v) = h
        .call(&h.admin, "cluster", "DescribeClusterInstances", &demo)
        .await;
    assert_eq!((st, &v["Instances"]), (200, &json!([])), "{v}");
}

/// `airlock delete` prints every resource's events, the last ones after the
/// stack is gone: a deleted stack's events stay readable (as CloudFormation
/// keeps them) until a stack of the same name is created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stacks_events_stay_readable_until_the_name_is_reused() {
    use crate::clusters::StackStatus;
    use crate::clusters::store;

    let h = Harness::new();
    let row = cluster_row("gone", "");
    h.with_db(|c| store::insert(c, &row))
        .expect("the cluster row");
    let before = h
        .with_db(|c| store::events(c, "gone", 0))
        .expect("events")
        .last()
        .map_or(0, |e| e.event_id);
    h.with_db(|c| {
        for logical in ["HeadNode", "Network"] {
            store::set_resource(
                c,
                "gone",
                logical,
                None,
                StackStatus::DeleteInProgress,
                None,
            )?;
            store::set_resource(c, "gone", logical, None, StackStatus::DeleteComplete, None)?;
        }
        store::remove(c, "gone")
    })
    .expect("the stack torn down and removed");

    let gone = json!({"ClusterName": "gone", "After": before});
    let (st, v) = h.call(&h.admin, "cluster", "DescribeCluster", &gone).await;
    assert_eq!(
        (st, &v["__type"]),
        (404, &json!("NotFoundException")),
        "{v}"
    );
    let (st, v) = h
        .call(&h.admin, "cluster", "DescribeClusterEvents", &gone)
        .await;
    assert_eq!(st, 200, "{v}");
    let seen: Vec<String> = v["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                e["LogicalResourceId"].as_str().unwrap_or_default(),
                e["ResourceStatus"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "HeadNode DELETE_IN_PROGRESS",
            "HeadNode DELETE_COMPLETE",
            "Network DELETE_IN_PROGRESS",
            "Network DELETE_COMPLETE"
        ],
        "{v}"
    );
    // A name no stack ever had is still not found.
    let (_, v) = h
        .call(
            &h.admin,
            "cluster",
            "DescribeClusterEvents",
            &json!({"ClusterName": "never"}),
        )
        .await;
    assert_eq!(v["__type"], "NotFoundException", "{v}");
    // A new stack of the name starts its own history.
    h.with_db(|c| store::insert(c, &row))
        .expect("the cluster row again");
    let events = h.with_db(|c| store::events(c, "gone", 0)).expect("events");
    assert!(
        events
            .iter()
            .all(|e| !e.resource_status.starts_with("DELETE")),
        "{:?}",
        events
            .iter()
            .map(|e| &e.resource_status)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_aws_managed_policy_grants_exactly_its_documents_actions() {
    let h = Harness::new();
    let auditor = h.user("auditor", None);
    h.user("reader", None);
    for (user, policy) in [
        ("auditor", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
        ("reader", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
    ] {
        let body = json!({"UserName": user, "PolicyArn": policy});
        let (st, v) = h.call(&h.admin, "iam", "AttachUserPolicy", &body).await;
        assert_eq!(st, 200, "{policy}: {v}");
    }
    // ReadOnlyAccess: iam:List* and ec2:Describe*, nothing that changes.
    let (st, v) = h.call(&auditor, "iam", "ListUsers", &json!({})).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = h
        .call(&auditor, "ec2", "DescribeKeyPairs", &json!({}))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = h
        .call(&auditor, "iam", "CreateUser", &json!({"UserName": "x"}))
        .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("AccessDeniedException")),
        "{v}"
    );
    // AmazonS3ReadOnlyAccess: s3:Get*/List*, not s3:PutObject nor anything else.
    let account = h.with_db(|c| crate::iam::store::account_id(c).expect("the account"));
    let body = json!({
        "PolicySourceArn": format!("arn:aws:iam::{account}:user/reader"),
        "ActionNames": ["s3:GetObject", "s3:ListBucket", "s3:PutObject", "iam:ListUsers"],
    });
    let (st, v) = h
        .call(&h.admin, "iam", "SimulatePrincipalPolicy", &body)
        .await;
    assert_eq!(st, 200, "{v}");
    let decisions: Vec<(&str, &str)> = v["EvaluationResults"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["EvalActionName"].as_str().unwrap_or(""),
                        r["EvalDecision"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        decisions,
        [
            ("s3:GetObject", "allowed"),
            ("s3:ListBucket", "allowed"),
            ("s3:PutObject", "implicitDeny"),
            ("iam:ListUsers", "implicitDeny"),
        ],
        "{v}"
    );
    // A name AWS does not publish is still refused.
    let body = json!({"UserName": "reader", "PolicyArn": "arn:aws:iam::aws:policy/NoSuchPolicy"});
    let (st, v) = h.call(&h.admin, "iam", "AttachUserPolicy", &body).await;
    assert!((400..500).contains(&st), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_policies_takes_iams_scope() {
    let h = Harness::new();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let body = json!({"PolicyName": "mine", "PolicyDocument": doc});
    let (st, v) = h.call(&h.admin, "iam", "CreatePolicy", &body).await;
    assert_eq!(st, 200, "{v}");
    let mut counts = Vec::new();
    for scope in [
        json!({}),
        json!({"Scope": "AWS"}),
        json!({"Scope": "Local"}),
    ] {
        let (st, v) = h.call(&h.admin, "iam", "ListPolicies", &scope).await;
        assert_eq!(st, 200, "{v}");
        counts.push(v["Policies"].as_array().map_or(0, Vec::len));
    }
    let builtin = airlock_policy::catalog::all().len();
    assert_eq!(counts, [builtin + 1, builtin, 1]);
    let (st, v) = h
        .call(&h.admin, "iam", "ListPolicies", &json!({"Scope": "Mine"}))
        .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("ValidationError")),
        "{v}"
    );
}
